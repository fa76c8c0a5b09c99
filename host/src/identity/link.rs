//! Linking a channel's sender to a stored identity and contact, inside the ingest
//! transaction. A new identity joins an existing contact only by a strong key: the same
//! E.164 phone (WhatsApp ↔ SMS) or the same verified email ([`Party::email_verified`]: an
//! address a plugin merely reports could be anyone's). A display name never links. Merged-away
//! contacts are followed to the contact they were merged into.

use crate::model::Party;
use crate::store::db::{sql, Conn, Millis};
use crate::store::StoreError;

/// A customer's identity on one channel, as stored after resolving a message's sender.
pub(crate) struct IdentityRef {
    pub id: i64,
    pub contact_id: i64,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    /// The contact's unresolved conversation, when there is one.
    pub active_conversation: Option<i64>,
    /// The contact was created by this transaction, so it has no conversation yet.
    pub fresh_contact: bool,
}

/// What is stored about an identity: phone, email, display name, username.
type StoredProfile = (Option<String>, Option<String>, Option<String>, Option<String>);

/// A known identity: id, contact, the stored profile, and the contact's open conversation.
type KnownIdentity = (i64, i64, Option<String>, Option<String>, Option<String>, Option<String>, Option<i64>);

/// The email a contact may take from `party`: a verified one only. A claimed address stays on
/// the identity; on the contact it would let a later verified mail from the real owner link
/// to whoever claimed it.
fn contact_email(party: &Party) -> Option<&str> {
    party.email.as_deref().filter(|_| party.email_verified)
}

/// Fill the contact's empty name, phone and email from `party`.
async fn fill_contact_gaps(conn: &mut Conn<'_>, contact_id: i64, party: &Party, now: Millis) -> Result<(), StoreError> {
    sql!(conn, execute(
        "UPDATE contacts SET display_name = COALESCE(display_name, $2), phone = COALESCE(phone, $3),
             email = COALESCE(email, $4), updated_at = $5 WHERE id = $1",
        contact_id,
        &party.display_name,
        &party.phone,
        contact_email(party),
        now,
    ))?;
    Ok(())
}

/// Find or create the contact identity for `party` on `channel_id`, linking it to an existing
/// contact with the same E.164 phone or verified email when this channel has not seen it
/// before.
pub(crate) async fn resolve_identity(conn: &mut Conn<'_>, channel_id: &str, party: &Party, now: Millis) -> Result<IdentityRef, StoreError> {
    let existing: Option<KnownIdentity> = sql!(conn, query_as(
        "SELECT i.id, i.contact_id, i.phone, i.email, i.display_name, i.username,
             (SELECT c.id FROM conversations c WHERE c.contact_id = i.contact_id AND c.status <> 'resolved') AS conversation_id
         FROM contact_identities i WHERE i.channel_id = $1 AND i.external_id = $2",
        channel_id,
        &party.id,
    ).fetch_optional)?;
    if let Some((id, contact_id, phone, email, display_name, username, active_conversation)) = existing {
        let stored = (phone, email, display_name, username);
        if profile_changes(&stored, party) {
            update_profile(conn, channel_id, party, now).await?;
        }
        let (phone, _, display_name, _) = stored;
        return Ok(IdentityRef {
            id,
            contact_id,
            display_name: party.display_name.clone().or(display_name),
            phone: party.phone.clone().or(phone),
            active_conversation,
            fresh_contact: false,
        });
    }
    let mut contact_id: Option<i64> = None;
    if let Some(phone) = &party.phone {
        contact_id = sql!(conn, query_scalar("SELECT id FROM contacts WHERE phone = $1 ORDER BY id LIMIT 1", phone).fetch_optional)?;
    }
    if let (None, Some(email), true) = (contact_id, &party.email, party.email_verified) {
        contact_id = sql!(conn, query_scalar("SELECT id FROM contacts WHERE email = $1 ORDER BY id LIMIT 1", email).fetch_optional)?;
    }
    if let Some(found) = contact_id {
        contact_id = Some(surviving_contact(conn, found).await?);
    }
    let created_contact = contact_id.is_none();
    let contact_id = match contact_id {
        Some(id) => {
            fill_contact_gaps(conn, id, party, now).await?;
            id
        }
        None => sql!(conn, query_scalar(
            "INSERT INTO contacts (display_name, phone, email, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
            &party.display_name,
            &party.phone,
            contact_email(party),
            now,
        ).fetch_one)?,
    };
    let (id, linked_contact): (i64, i64) = sql!(conn, query_as(
        "INSERT INTO contact_identities (contact_id, channel_id, external_id, phone, email, display_name, username, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         ON CONFLICT (channel_id, external_id) DO UPDATE SET updated_at = excluded.updated_at
         RETURNING id, contact_id",
        contact_id,
        channel_id,
        &party.id,
        &party.phone,
        &party.email,
        &party.display_name,
        &party.username,
        now,
    ).fetch_one)?;
    if created_contact && linked_contact != contact_id {
        // Another node created this identity between our lookup and our insert; the contact
        // we made for it is not needed.
        sql!(conn, execute("DELETE FROM contacts WHERE id = $1", contact_id))?;
    }
    Ok(IdentityRef {
        id,
        contact_id: linked_contact,
        display_name: party.display_name.clone(),
        phone: party.phone.clone(),
        // Looked up by the caller when it needs one.
        active_conversation: None,
        fresh_contact: created_contact && linked_contact == contact_id,
    })
}

/// Whether `party` says anything the stored identity does not already hold.
fn profile_changes(stored: &StoredProfile, party: &Party) -> bool {
    let differs = |given: &Option<String>, stored: &Option<String>| given.is_some() && given != stored;
    differs(&party.phone, &stored.0)
        || differs(&party.email, &stored.1)
        || differs(&party.display_name, &stored.2)
        || differs(&party.username, &stored.3)
}

/// Refresh what a channel tells us about a known customer; fill contact gaps.
async fn update_profile(conn: &mut Conn<'_>, channel_id: &str, party: &Party, now: Millis) -> Result<(), StoreError> {
    let contact_id: Option<i64> = sql!(conn, query_scalar(
        "UPDATE contact_identities SET display_name = COALESCE($3, display_name), phone = COALESCE($4, phone),
             email = COALESCE($5, email), username = COALESCE($6, username), updated_at = $7
         WHERE channel_id = $1 AND external_id = $2 RETURNING contact_id",
        channel_id,
        &party.id,
        &party.display_name,
        &party.phone,
        &party.email,
        &party.username,
        now,
    ).fetch_optional)?;
    if let Some(contact_id) = contact_id {
        fill_contact_gaps(conn, contact_id, party, now).await?;
    }
    Ok(())
}

/// A profile event: update the identity only when it tells us something new.
pub(crate) async fn refresh_profile(conn: &mut Conn<'_>, channel_id: &str, party: &Party, now: Millis) -> Result<(), StoreError> {
    let stored: Option<StoredProfile> = sql!(conn, query_as(
        "SELECT phone, email, display_name, username FROM contact_identities WHERE channel_id = $1 AND external_id = $2",
        channel_id,
        &party.id,
    ).fetch_optional)?;
    match stored {
        Some(stored) if profile_changes(&stored, party) => update_profile(conn, channel_id, party, now).await,
        _ => Ok(()),
    }
}
/// The contact that `id` ended up in: itself, or where its merges lead. A phone or email
/// lookup can find a merged-away contact (its fields stay as they were, so that an unmerge
/// has nothing to restore); new identities must join the survivor instead.
async fn surviving_contact(conn: &mut Conn<'_>, mut id: i64) -> Result<i64, StoreError> {
    // A merge refuses a contact that is merged already, so chains only grow when a survivor
    // is itself merged later; they stay short, and the bound guards against a cycle.
    for _ in 0..64 {
        let next: Option<Option<i64>> = sql!(conn, query_scalar("SELECT merged_into_id FROM contacts WHERE id = $1", id).fetch_optional)?;
        match next.flatten() {
            Some(into) => id = into,
            None => return Ok(id),
        }
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use crate::model::{Event, InboundMessage, Party, PluginInfo};
    use crate::store::ingest::IngestRequest;
    use crate::store::testing::{on_both_backends, TestStore};
    use crate::store::views::Sort;

    on_both_backends!(only_strong_keys_link_contacts);

    /// Ingest one message from `sender` on `channel`; returns the contact it landed on.
    async fn contact_of(store: &TestStore, channel: &str, sender: Party, n: u32) -> i64 {
        let message = InboundMessage {
            external_id: format!("m{n}"),
            sender,
            recipient: None,
            kind: crate::model::MessageKind::Text,
            text: Some("hello".into()),
            attachments: vec![],
            reply_to: None,
            timestamp_ms: i64::from(n),
            echo: false,
            extra: None,
        };
        let request = IngestRequest { channel_id: channel.into(), request_id: format!("r{n}"), raw_body: bytes::Bytes::new(), events: vec![Event::Message(message)], threads: Vec::new(), claims: Vec::new() };
        store.ingest(request).await.unwrap();
        let page = store.list_conversations(None, None, &Default::default(), Sort::Newest, 1, None).await.unwrap();
        page.items[0].contact.id
    }

    async fn only_strong_keys_link_contacts(store: TestStore) {
        let info = PluginInfo::bare("p");
        for channel in ["email", "chat"] {
            store.upsert_channel(channel, "p", &info).await.unwrap();
        }
        let email = |id: &str, verified: bool| Party { id: id.into(), email: Some("ana@example.com".into()), email_verified: verified, ..Party::default() };
        let first = contact_of(&store, "email", email("ana@example.com", true), 1).await;
        // An email a plugin merely reports (a chat visitor typed it) could be anyone's.
        let claimed = contact_of(&store, "chat", email("visitor-1", false), 2).await;
        assert_ne!(claimed, first, "an unverified email links nothing");
        let claimant = store.contact(claimed).await.unwrap().unwrap();
        assert_eq!(claimant.email, None, "nor does the claim reach the contact, where a verified mail could later link to it");
        assert_eq!(claimant.identities[0].email.as_deref(), Some("ana@example.com"), "the identity keeps what it said");
        // Proven, it links.
        let proven = contact_of(&store, "chat", email("visitor-2", true), 3).await;
        assert_eq!(proven, first, "a verified email links to the contact that has it");
        // A display name never links.
        let named = |id: &str| Party { id: id.into(), display_name: Some("Ana".into()), ..Party::default() };
        let a = contact_of(&store, "chat", named("visitor-3"), 4).await;
        let b = contact_of(&store, "chat", named("visitor-4"), 5).await;
        assert_ne!(a, b);
        // The same E.164 phone does.
        let phone = |id: &str| Party { id: id.into(), phone: Some("+16505551234".into()), ..Party::default() };
        let c = contact_of(&store, "email", phone("p-1"), 6).await;
        assert_eq!(contact_of(&store, "chat", phone("p-2"), 7).await, c);
    }
}
