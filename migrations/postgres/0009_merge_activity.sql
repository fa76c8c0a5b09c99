-- A merge and an unmerge show in each affected conversation's thread.
ALTER TABLE conversation_activity DROP CONSTRAINT conversation_activity_kind_check;
ALTER TABLE conversation_activity ADD CONSTRAINT conversation_activity_kind_check
    CHECK (kind IN ('note', 'status', 'priority', 'assignee', 'team', 'label_added', 'label_removed', 'contact_merged', 'contact_unmerged'));
