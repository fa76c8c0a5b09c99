// The composer: reply, private note or (where the channel sends templates) a template; the
// reply channel, `/` canned responses, drafts kept per conversation, typing presence, and a
// warning when someone else replied meanwhile.
//
// It is keyed by conversation id (see thread.js), so its state is born with a conversation
// and dies with it: a draft can never be carried into another one. Drafts live in
// localStorage under the conversation's id, so they survive switching and reloads.
import { html } from "./html.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { reply, sendTemplate, templatesOf, addNote, expand, cannedResponses, heartbeat, contact, thread, me, showError, plugins, channels, replyWindows } from "../lib/state.js";
import { channelLook, when } from "../lib/format.js";

const draftKey = (agentId, conversationId) => `switchboard.draft.${agentId}.${conversationId}`;

function loadDraft(key) {
  try {
    return { reply: "", note: "", mode: "reply", ...JSON.parse(localStorage.getItem(key) || "{}") };
  } catch (_) {
    return { reply: "", note: "", mode: "reply" };
  }
}

/** `body` with `{{n}}` filled from `parameters` (blank ones stay as `{{n}}`). */
const fillTemplate = (body, parameters) => body.replace(/\{\{\s*(\d+)\s*\}\}/g, (whole, n) => parameters[Number(n) - 1]?.trim() || whole);

/** A pre-approved template (WhatsApp's, the only way to write after its 24-hour window),
 * picked from the channel's stored ones (versions in the contact's language first), with one
 * field per numbered parameter and a preview of what the customer will read. */
function TemplateForm({ id, listChannel, channelId, language }) {
  const [list, setList] = useState(null);
  const [choice, setChoice] = useState("");
  const [parameters, setParameters] = useState([]);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let gone = false;
    templatesOf(listChannel).then((found) => { if (!gone) setList(found); }).catch((error) => { if (!gone) { setList([]); showError(error); } });
    return () => { gone = true; };
  }, [listChannel]);
  const primary = (code) => (code ?? "").split(/[_-]/)[0].toLowerCase();
  const sorted = [...(list ?? [])].sort((a, b) => (primary(b.language) === primary(language)) - (primary(a.language) === primary(language)) || a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
  const chosen = sorted.find((t) => String(t.id) === choice);
  const setParameter = (n) => (event) => {
    const next = [...parameters];
    next[n] = event.currentTarget.value;
    setParameters(next);
  };
  const send = async (event) => {
    event.preventDefault();
    if (!chosen) return;
    setBusy(true);
    try {
      const values = Array.from({ length: chosen.parameter_count }, (_, n) => (parameters[n] ?? "").trim());
      await sendTemplate(id, { name: chosen.name, language: chosen.language, parameters: values }, channelId);
      setChoice("");
      setParameters([]);
    } catch (error) {
      showError(error);
    } finally {
      setBusy(false);
    }
  };
  if (list && list.length === 0) {
    return html`<p class="info template-none">No templates for this channel yet. An admin adds them under Templates.</p>`;
  }
  return html`
    <form class="template-form" onSubmit=${send}>
      <label for="template-pick">Template to send</label>
      <select id="template-pick" required value=${choice} onChange=${(e) => { setChoice(e.currentTarget.value); setParameters([]); }}>
        <option value="">Choose a template…</option>
        ${sorted.map((t) => html`<option value=${t.id} disabled=${t.status !== "approved"}>${t.name} · ${t.language}${t.status !== "approved" ? ` (${t.status})` : ""}${language && primary(t.language) !== primary(language) ? " · not the contact's language" : ""}</option>`)}
      </select>
      ${chosen && Array.from({ length: chosen.parameter_count }, (_, n) => html`
        <label for=${`template-parameter-${n + 1}`}>Parameter ${`{{${n + 1}}}`}</label>
        <input id=${`template-parameter-${n + 1}`} required maxlength="4096" value=${parameters[n] ?? ""} onInput=${setParameter(n)} />`)}
      ${chosen && html`<p class="template-preview" aria-label="Template preview">${fillTemplate(chosen.body, parameters)}</p>`}
      <div class="composer-foot"><button type="submit" class="primary" disabled=${busy || !chosen}>Send template</button></div>
    </form>`;
}

/** Focus requests from keyboard shortcuts (`r` reply, `n` note). */
export const composerFocus = { request: null };

export function Composer({ conversation }) {
  const id = conversation.id;
  const key = draftKey(me.value?.id ?? "admin", id);
  const [draft, setDraft] = useState(() => loadDraft(key));
  const [channel, setChannel] = useState("");
  const [canned, setCanned] = useState([]);
  const [cannedIndex, setCannedIndex] = useState(0);
  const [busy, setBusy] = useState(false);
  const [warning, setWarning] = useState(null);
  const [windows, setWindows] = useState([]);
  // The channels' customer-service windows: fetched when the conversation opens, and again
  // when a message arrives (a customer's message opens the window again).
  useEffect(() => {
    let gone = false;
    replyWindows(id).then((w) => { if (!gone) setWindows(w); }).catch(() => { if (!gone) setWindows([]); });
    return () => { gone = true; };
  }, [id, conversation.last_message?.id]);
  const box = useRef(null);
  const startedAt = useRef(null);
  const idle = useRef(null);
  const mode = draft.mode;
  // The text being written: a note's, else the reply's (the template tab has its own form).
  const textMode = mode === "note" ? "note" : "reply";
  const text = draft[textMode] ?? "";

  const save = (next) => {
    setDraft(next);
    if (next.reply || next.note) localStorage.setItem(key, JSON.stringify(next));
    else localStorage.removeItem(key);
  };

  useEffect(() => {
    composerFocus.request = (wanted) => {
      save({ ...draft, mode: wanted });
      setTimeout(() => box.current?.focus(), 0);
    };
    return () => (composerFocus.request = null);
  });

  // Leaving the conversation: back to plain viewing happens in openConversation.
  useEffect(() => () => clearTimeout(idle.current), []);

  const typing = () => {
    if (!startedAt.current) startedAt.current = Date.now();
    if (!idle.current) heartbeat(id, "typing");
    clearTimeout(idle.current);
    idle.current = setTimeout(() => {
      idle.current = null;
      heartbeat(id, "viewing");
    }, 4000);
  };

  const onInput = async (event) => {
    const value = event.currentTarget.value;
    save({ ...draft, [textMode]: value });
    typing();
    if (value.startsWith("/") && !value.includes(" ") && value.length <= 33) {
      try {
        const found = await cannedResponses(value.slice(1).toLowerCase());
        setCanned(found);
        setCannedIndex(0);
      } catch (_) {
        setCanned([]);
      }
    } else if (canned.length) {
      setCanned([]);
    }
  };

  const pick = async (response) => {
    setCanned([]);
    try {
      const filled = await expand(id, `/${response.shortcut}`);
      save({ ...draft, [textMode]: filled });
    } catch (error) {
      showError(error);
    }
    box.current?.focus();
  };

  const repliedMeanwhile = () => {
    const since = startedAt.current;
    if (!since) return null;
    return thread.value.messages.find((m) => m.direction === "outbound" && m.created_at >= since && m.author && m.author !== me.value?.email && m.author !== me.value?.display_name) ?? null;
  };

  const send = async (force = false) => {
    const body = text.trim();
    if (!body || busy) return;
    if (mode === "reply" && !force) {
      const other = repliedMeanwhile();
      if (other) {
        setWarning(other);
        return;
      }
    }
    setBusy(true);
    setWarning(null);
    try {
      if (mode === "note") await addNote(id, body);
      else await reply(id, body, channel || undefined);
      save({ ...draft, [textMode]: "" });
      startedAt.current = null;
      clearTimeout(idle.current);
      idle.current = null;
      heartbeat(id, "viewing");
    } catch (error) {
      showError(error);
    } finally {
      setBusy(false);
    }
  };

  const onKeyDown = (event) => {
    if (canned.length) {
      if (event.key === "ArrowDown") { event.preventDefault(); setCannedIndex((cannedIndex + 1) % canned.length); return; }
      if (event.key === "ArrowUp") { event.preventDefault(); setCannedIndex((cannedIndex + canned.length - 1) % canned.length); return; }
      if (event.key === "Enter" || event.key === "Tab") { event.preventDefault(); pick(canned[cannedIndex]); return; }
      if (event.key === "Escape") { setCanned([]); return; }
    }
    if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) {
      event.preventDefault();
      send();
    }
    if (event.key === "Escape") event.currentTarget.blur();
  };

  const reachable = contact.value?.reachable_channels ?? [conversation.channel_id];
  // Where replies go unless the agent picks another: routing's choice (a preference or cost
  // policy), else where the customer last wrote; the server applies the same default.
  const defaultChannel = conversation.reply_channel_id ?? conversation.channel_id;
  const replyChannel = channel || defaultChannel;
  const templates = channels.value.find((c) => c.id === replyChannel)?.plugin.capabilities.includes("templates") ?? false;
  // A template tab left open on a channel without templates falls back to the reply.
  const shown = mode === "template" && !templates ? "reply" : mode;
  const replyWindow = windows.find((w) => w.channel_id === replyChannel && w.hours > 0);
  const others = windows.filter((w) => w.open && w.channel_id !== replyChannel).map((w) => channelLook(w.channel_id, plugins.value).label);
  return html`
    <div class=${"composer " + shown}>
      <div class="composer-tabs">
        <div role="tablist" aria-label="Write a" class="tabs">
          <button role="tab" id="tab-reply" aria-controls="composer-panel" aria-selected=${shown === "reply" ? "true" : "false"} onClick=${() => save({ ...draft, mode: "reply" })}>Reply <kbd>r</kbd></button>
          <button role="tab" id="tab-note" aria-controls="composer-panel" aria-selected=${mode === "note" ? "true" : "false"} onClick=${() => save({ ...draft, mode: "note" })}>Private note <kbd>n</kbd></button>
          ${templates && html`<button role="tab" id="tab-template" aria-controls="composer-panel" aria-selected=${shown === "template" ? "true" : "false"} onClick=${() => save({ ...draft, mode: "template" })}>Template</button>`}
        </div>
        ${shown !== "note" && html`
          <label for="reply-channel" class="via">via</label>
          <select id="reply-channel" value=${channel || defaultChannel} onChange=${(e) => setChannel(e.currentTarget.value === defaultChannel ? "" : e.currentTarget.value)}>
            ${reachable.map((ch) => html`<option value=${ch}>${channelLook(ch, plugins.value).label} (${ch})${ch === conversation.reply_channel_id ? " · preferred by routing" : ch === conversation.channel_id ? " · last used" : ""}</option>`)}
          </select>`}
      </div>
      ${shown === "reply" && replyWindow && (replyWindow.open
        ? replyWindow.closes_at && html`<p class="window open" data-window="open">Free-form replies until ${when(replyWindow.closes_at)}, ${replyWindow.hours} hours after the customer's last message.</p>`
        : html`<p class="window closed" role="status" data-window="closed">
            ${replyWindow.closes_at ? `The ${replyWindow.hours}-hour window closed at ${when(replyWindow.closes_at)}.` : "The customer has not written on this channel yet."}
            ${templates ? " Send a template" : " Only templates may be sent"}${others.length ? `, or reply via ${others.join(", ")}` : ""}.
          </p>`)}
      ${canned.length > 0 && html`
        <ul class="canned" role="listbox" aria-label="Canned responses">
          ${canned.map((c, n) => html`<li role="option" aria-selected=${n === cannedIndex ? "true" : "false"} class=${n === cannedIndex ? "active" : ""} onMouseDown=${(e) => { e.preventDefault(); pick(c); }}><b>/${c.shortcut}</b> <span>${c.body}</span></li>`)}
        </ul>`}
      ${warning && html`
        <div class="collision" role="alert">
          <p><strong>${warning.author}</strong> replied while you were typing: “${warning.text ?? ""}”</p>
          <button class="primary" onClick=${() => send(true)}>Send anyway</button>
          <button onClick=${() => { setWarning(null); startedAt.current = null; }}>Cancel</button>
        </div>`}
      <div role="tabpanel" id="composer-panel" aria-labelledby=${`tab-${shown}`} class="composer-panel">
        ${shown === "template" ? html`<${TemplateForm} key=${replyChannel} id=${id} listChannel=${replyChannel} channelId=${channel || undefined} language=${contact.value?.language ?? conversation.contact.language} />` : html`
        <label for="composer-text" class="sr-only">${mode === "note" ? "Private note" : "Reply"}</label>
        <textarea id="composer-text" ref=${box} rows="3" value=${text} onInput=${onInput} onKeyDown=${onKeyDown}
          placeholder=${mode === "note" ? "Only agents see notes. Ctrl+Enter adds it." : "Type / for canned responses. Ctrl+Enter sends."}></textarea>
        <div class="composer-foot">
          <button class="primary" disabled=${busy || !text.trim()} onClick=${() => send()}>${mode === "note" ? "Add note" : "Send"}</button>
        </div>`}
      </div>
    </div>
  `;
}
