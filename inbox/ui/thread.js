// The open conversation: one thread across channels (each message marked with its channel),
// delivery ticks that advance live, private notes styled apart, and activity lines.
import { html } from "./html.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { blobUrl } from "../lib/api.js";
import { plugins, thread, byId, selectedId, update, me, agents, teams, othersIn, presence, contactPanelOpen, openConversation, contactTyping, contactIsTyping, delivery, retryDelivery } from "../lib/state.js";
import { channelLook, contactName, when, PRIORITIES } from "../lib/format.js";
import { ChannelMark } from "./list.js";
import { Composer } from "./composer.js";
import { ContactPanel } from "./contact.js";

const TICKS = {
  pending: { mark: "🕓", label: "Waiting to be sent" },
  queued: { mark: "🕓", label: "Queued" },
  sent: { mark: "✓", label: "Sent" },
  delivered: { mark: "✓✓", label: "Delivered" },
  read: { mark: "✓✓", label: "Read" },
  failed: { mark: "!", label: "Not delivered" },
};

function Ticks({ message }) {
  const tick = TICKS[message.status] ?? { mark: "", label: message.status };
  return html`<span class=${"ticks " + message.status} data-status=${message.status} role="img" aria-label=${tick.label} title=${message.error?.message ?? tick.label}>${tick.mark}</span>`;
}

const OMITTED = { too_large: "too large to keep", missing: "not received" };

/** A file kept in the gateway's media store (`media:<sha256>`): downloaded with the agent's
 * token; images are shown inline. */
function StoredMedia({ attachment, conversationId }) {
  const path = `/conversations/${conversationId}/media/${attachment.sha256}`;
  const name = attachment.filename ?? attachment.kind;
  const [preview, setPreview] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (attachment.kind !== "image") return undefined;
    let url = null;
    let gone = false;
    blobUrl(path).then((u) => { url = u; if (gone) URL.revokeObjectURL(u); else setPreview(u); }).catch((e) => setError(e.message));
    return () => { gone = true; if (url) URL.revokeObjectURL(url); };
  }, [path]);
  async function download() {
    setError(null);
    try {
      const url = await blobUrl(path);
      const link = document.createElement("a");
      link.href = url;
      link.download = attachment.filename ?? "attachment";
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (e) {
      setError(e.message);
    }
  }
  return html`
    <div class="stored-media">
      ${preview && html`<img class="media" src=${preview} alt=${attachment.caption ?? name} />`}
      <button type="button" class="media-file" onClick=${download} aria-label=${`Download ${name}`} title=${`Download ${name}`}>📎 ${name}</button>
      ${error && html`<span class="failure" role="alert">${error}</span>`}
    </div>`;
}

function Attachment({ attachment, conversationId }) {
  if (attachment.reference?.startsWith("media:") && attachment.sha256) return html`<${StoredMedia} attachment=${attachment} conversationId=${conversationId} />`;
  if (attachment.reference?.startsWith("omitted:")) {
    const why = OMITTED[attachment.reference.slice("omitted:".length)] ?? "not kept";
    return html`<span class="media-file muted">📎 ${attachment.filename ?? attachment.kind} (${why})</span>`;
  }
  if (attachment.kind === "image" && attachment.url) return html`<img class="media" src=${attachment.url} alt=${attachment.caption ?? "Image"} loading="lazy" />`;
  return html`<span class="media-file">📎 ${attachment.filename ?? attachment.kind}</span>`;
}

/** An email's subject, and the quoted history and signature the shown text leaves out. */
function MailParts({ message, part }) {
  const extra = message.extra ?? {};
  if (part === "subject") return extra.subject ? html`<p class="subject">${extra.subject}</p>` : null;
  if (!extra.full_text) return null;
  return html`
    <details class="quoted">
      <summary>Show the full message</summary>
      <p class="text">${extra.full_text}</p>
    </details>`;
}

const OUTCOMES = { sent: "sent", retry: "failed, retried", failed: "refused", dead: "failed, gave up", failed_over: "failed, sent on another channel" };

/** A time to the second: attempts are often seconds apart. */
const second = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** A reply's delivery: every attempt with its time and the provider's error, and a retry
 * when it failed. Loaded when opened, and again when the message's status changes. */
function Delivery({ message }) {
  const [open, setOpen] = useState(false);
  const [details, setDetails] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const conversationId = message.conversation_id;
  useEffect(() => {
    if (!open) return undefined;
    let gone = false;
    delivery(conversationId, message.id).then((d) => { if (!gone) { setDetails(d); setError(null); } }).catch((e) => { if (!gone) setError(e.message); });
    return () => { gone = true; };
  }, [open, message.status, message.updated_at]);
  async function retry() {
    setBusy(true);
    setError(null);
    try {
      await retryDelivery(conversationId, message.id);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  }
  const failed = message.status === "failed";
  // Which channel each attempt was on matters once a failover moved the reply.
  const manyChannels = new Set((details?.history ?? []).map((a) => a.channel_id)).size > 1;
  return html`
    <div class="delivery">
      ${failed && html`<button type="button" class="retry" disabled=${busy} onClick=${retry}>Retry</button>`}
      <details onToggle=${(e) => setOpen(e.currentTarget.open)}>
        <summary>Delivery</summary>
        ${details && html`
          <ol class="attempts" aria-label="Delivery attempts">
            ${details.history.map((a) => html`
              <li data-outcome=${a.outcome}>
                <span>Attempt ${a.attempt}${manyChannels && a.channel_id ? ` via ${channelLook(a.channel_id, plugins.value).label}` : ""}: ${OUTCOMES[a.outcome] ?? a.outcome}</span>
                <time>${second(a.finished_at)}</time>
                ${a.error_code && html`<span class="code">${a.error_code}</span>`}
                ${a.error_message && html`<span class="why">${a.error_message}</span>`}
                ${a.retry_at && html`<span class="next">next try ${second(a.retry_at)}</span>`}
              </li>`)}
            ${details.state === "sending" && html`<li data-outcome="sending">Attempt ${details.attempts}: being sent</li>`}
            ${details.state === "pending" && html`<li data-outcome="pending">Waiting${details.next_attempt_at ? ` until ${second(details.next_attempt_at)}` : ""}</li>`}
          </ol>`}
        ${details?.statuses?.length > 0 && html`
          <p class="statuses" aria-label="Status history">
            ${details.statuses.map((step, i) => html`${i > 0 ? " → " : ""}<span data-status=${step.status}>${TICKS[step.status]?.label ?? step.status} ${second(step.at)}</span>`)}
          </p>`}
        ${error && html`<span class="failure" role="alert">${error}</span>`}
      </details>
    </div>`;
}

function Message({ message, seen }) {
  const outbound = message.direction === "outbound";
  const failover = message.failover;
  return html`
    <li class=${"message " + message.direction} data-message=${message.id}>
      <div class="bubble">
        <${MailParts} message=${message} part="subject" />
        ${(message.attachments ?? []).map((a) => html`<${Attachment} attachment=${a} conversationId=${message.conversation_id} />`)}
        ${message.text && html`<p class="text">${message.text}</p>`}
        <${MailParts} message=${message} part="quote" />
        ${!message.text && !(message.attachments ?? []).length && html`<p class="text muted">[${message.kind}]</p>`}
        <div class="meta">
          <${ChannelMark} id=${message.channel_id} />
          ${outbound && message.author && html`<span class="author">${message.author}</span>`}
          <time>${when(message.created_at)}</time>
          ${outbound && html`<${Ticks} message=${message} />`}
        </div>
        ${failover && html`<p class="failover" data-failover=${failover.from_channel_id}>Sent via ${channelLook(message.channel_id, plugins.value).label}: ${channelLook(failover.from_channel_id, plugins.value).label} could not deliver it${failover.code ? ` (${failover.code})` : ""}.</p>`}
        ${message.status === "failed" && message.error && html`<p class="failure" role="alert">${message.error.message}</p>`}
        ${seen && html`<p class="seen" data-seen=${message.id}>Seen ${when(seen)}</p>`}
        ${outbound && message.author && html`<${Delivery} message=${message} />`}
      </div>
    </li>
  `;
}

function describe(entry) {
  const by = entry.actor;
  switch (entry.kind) {
    case "status": return `${by} changed the status from ${entry.old_value} to ${entry.new_value}`;
    case "priority": return `${by} set the priority to ${entry.new_value}`;
    case "assignee": return entry.new_value ? `assigned to ${nameOf(entry.new_value)} by ${by}` : `unassigned by ${by}`;
    case "team": return entry.new_value ? `moved to team ${teamOf(entry.new_value)} by ${by}` : `taken out of its team by ${by}`;
    case "label_added": return `${by} added the label ${entry.new_value}`;
    case "label_removed": return `${by} removed the label ${entry.old_value}`;
    case "contact_merged": return `${by} merged ${entry.old_value} into ${entry.new_value}`;
    case "contact_unmerged": return `${by} undid the merge of ${entry.old_value}`;
    // A routing policy's decision: "Routed to Billing, as urgent by urgency: matched 'refund'".
    case "routed": return `Routed ${entry.new_value} by ${by}: ${entry.body}`;
    default: return `${by}: ${entry.kind}`;
  }
}

function nameOf(id) {
  return agents.value.find((a) => String(a.id) === String(id))?.display_name ?? (String(me.value?.id) === String(id) ? me.value.display_name : `agent ${id}`);
}

function teamOf(id) {
  return teams.value.find((t) => String(t.id) === String(id))?.name ?? id;
}

function Activity({ entry }) {
  if (entry.kind === "note") {
    return html`
      <li class="note" data-note=${entry.id}>
        <div class="note-head"><span aria-hidden="true">🔒</span> Private note · ${entry.actor} · <time>${when(entry.created_at)}</time></div>
        <p>${entry.body}</p>
      </li>`;
  }
  return html`<li class="activity-line" data-activity=${entry.id}><span>${describe(entry)}</span> <time>${when(entry.created_at)}</time></li>`;
}

const SNOOZES = [
  { label: "1 hour", ms: 3_600_000 },
  { label: "Tomorrow", ms: 24 * 3_600_000 },
  { label: "Next week", ms: 7 * 24 * 3_600_000 },
];

export function Actions({ conversation }) {
  const id = conversation.id;
  const mine = me.value;
  return html`
    <div class="actions" role="toolbar" aria-label="Conversation actions">
      ${conversation.status === "resolved" || conversation.status === "snoozed"
        ? html`<button onClick=${() => update(id, { status: "open" })} title="Reopen">Reopen</button>`
        : html`<button class="primary" onClick=${() => update(id, { status: "resolved" })} title="Resolve (e)">Resolve <kbd>e</kbd></button>`}
      <details class="menu">
        <summary title="Snooze (s)">Snooze</summary>
        <div class="menu-items">
          ${SNOOZES.map((s) => html`<button onClick=${(e) => { e.currentTarget.closest("details").open = false; update(id, { status: "snoozed", snoozed_until: Date.now() + s.ms }); }}>${s.label}</button>`)}
          <button onClick=${(e) => { e.currentTarget.closest("details").open = false; update(id, { status: "snoozed" }); }}>Until they reply</button>
        </div>
      </details>
      ${mine && conversation.assignee_id !== mine.id
        && html`<button onClick=${() => update(id, { assignee_id: mine.id })} title="Assign to me (a)">Assign to me</button>`}
      <label class="sr-only" for="assignee-select">Assignee</label>
      <select id="assignee-select" value=${conversation.assignee_id ?? ""} onChange=${(e) => update(id, { assignee_id: e.currentTarget.value === "" ? null : Number(e.currentTarget.value) })}>
        <option value="">Unassigned</option>
        ${agents.value.map((a) => html`<option key=${a.id} value=${a.id}>${a.display_name}${a.id === mine?.id ? " (me)" : ""}${a.availability === "online" ? "" : ` · ${a.availability}`}</option>`)}
      </select>
      <label class="sr-only" for="priority-select">Priority</label>
      <select id="priority-select" value=${conversation.priority} onChange=${(e) => update(id, { priority: e.currentTarget.value })}>
        ${PRIORITIES.map((p) => html`<option value=${p}>${p[0].toUpperCase() + p.slice(1)} priority</option>`)}
      </select>
      ${teams.value.length > 0 && html`
        <label class="sr-only" for="team-select">Team</label>
        <select id="team-select" value=${conversation.team_id ?? ""} onChange=${(e) => update(id, { team_id: e.currentTarget.value === "" ? null : Number(e.currentTarget.value) })}>
          <option value="">No team</option>
          ${teams.value.map((t) => html`<option value=${t.id}>${t.name}</option>`)}
        </select>`}
      <${Labels} conversation=${conversation} />
      <button class="ghost" aria-pressed=${contactPanelOpen.value ? "true" : "false"} onClick=${() => (contactPanelOpen.value = !contactPanelOpen.value)}>Contact</button>
    </div>
  `;
}

function Labels({ conversation }) {
  const add = (event) => {
    event.preventDefault();
    const input = event.currentTarget.elements.label;
    const value = input.value.trim();
    if (value) update(conversation.id, { add_labels: [value] });
    input.value = "";
  };
  return html`
    <div class="labels">
      ${conversation.labels.map((l) => html`<span class="label">${l} <button class="ghost" aria-label=${`Remove label ${l}`} onClick=${() => update(conversation.id, { remove_labels: [l] })}>×</button></span>`)}
      <form onSubmit=${add}><label class="sr-only" for="add-label">Add a label</label><input id="add-label" name="label" placeholder="+ label" maxlength="64" /></form>
    </div>
  `;
}

export function Thread() {
  const id = selectedId.value;
  const t = thread.value;
  const end = useRef(null);
  const entries = [
    ...t.messages.map((m) => ({ at: m.created_at, key: `m${m.id}`, message: m })),
    ...t.activity.map((a) => ({ at: a.created_at, key: `a${a.id}`, activity: a })),
  ].sort((a, b) => a.at - b.at || a.key.localeCompare(b.key));
  useEffect(() => end.current?.scrollIntoView({ block: "end" }), [entries.length, id]);
  if (id === null) return html`<section class="thread-pane empty-thread" aria-label="Conversation"><p>Pick a conversation, or press <kbd>j</kbd>.</p></section>`;
  const conversation = byId.value.get(id);
  presence.value;
  contactTyping.value;
  const others = othersIn(id);
  const customerTyping = contactIsTyping(id);
  // The conversation's read state: the newest reply the customer read, from the rollup, or
  // from a message that turned read since (live updates carry messages, not the rollup).
  const lastRead = [...t.messages].reverse().find((m) => m.direction === "outbound" && m.status === "read");
  const rolledUp = conversation?.customer_read_message_id ?? null;
  const seenId = lastRead && (rolledUp === null || lastRead.id >= rolledUp) ? lastRead.id : rolledUp;
  const seenAt = seenId === rolledUp && conversation?.customer_read_at ? conversation.customer_read_at : lastRead?.updated_at ?? null;
  return html`
    <section class="thread-pane" aria-label="Conversation">
      <header class="thread-head">
        <button class="back ghost" onClick=${() => openConversation(null)} aria-label="Back to the list">←</button>
        <div class="who">
          <h1>${conversation ? contactName(conversation.contact) : "…"}</h1>
          ${conversation && html`<small>${conversation.contact.phone ?? conversation.contact.email ?? ""} · ${conversation.status}${conversation.assignee_id ? ` · ${nameOf(conversation.assignee_id)}` : " · unassigned"}</small>`}
        </div>
        ${(others.length > 0 || customerTyping) && html`
          <div class="presence" role="status" aria-live="polite">
            ${customerTyping && html`<span class="presence-contact typing" data-testid="contact-typing">${conversation ? contactName(conversation.contact) : "The customer"} is typing…</span>`}
            ${others.map((a) => html`<span class=${"presence-agent " + a.state} data-agent=${a.name}>${a.name} ${a.state === "typing" ? "is typing…" : "is viewing"}</span>`)}
          </div>`}
      </header>
      ${conversation && html`<${Actions} conversation=${conversation} />`}
      <div class="thread-split">
        <div class="thread-column">
          <div class="thread-body">
            <ol class="entries" aria-label="Messages and activity">
              ${entries.map((e) => (e.message
                ? html`<${Message} key=${e.key} message=${e.message} seen=${e.message.id === seenId ? seenAt : null} />`
                : html`<${Activity} key=${e.key} entry=${e.activity} />`))}
            </ol>
            <div ref=${end}></div>
          </div>
          ${conversation && html`<${Composer} key=${id} conversation=${conversation} />`}
        </div>
        ${contactPanelOpen.value && html`<${ContactPanel} />`}
      </div>
    </section>
  `;
}
