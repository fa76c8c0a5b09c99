// The contact panel: identities on every channel with their opt-out state, the channels a
// reply can take, the cross-channel timeline, and merging another contact into this one
// (undone by an admin).
import { html } from "./html.js";
import { useEffect, useState } from "preact/hooks";
import { contact, plugins, showError, contactPanelOpen, me } from "../lib/state.js";
import { api } from "../lib/api.js";
import { channelLook, contactName, when } from "../lib/format.js";
import { ChannelMark } from "./list.js";

function Timeline({ contactId }) {
  const [items, setItems] = useState(null);
  useEffect(() => {
    let live = true;
    api.get(`/contacts/${contactId}/timeline?limit=50`).then(
      (page) => live && setItems(page.items),
      (error) => live && showError(error),
    );
    return () => (live = false);
  }, [contactId]);
  if (!items) return html`<p class="info">Loading the timeline…</p>`;
  return html`
    <ol class="timeline" aria-label="Every message, every channel">
      ${items.map((m) => html`
        <li key=${m.id} class=${m.direction}>
          <${ChannelMark} id=${m.channel_id} />
          <span class="timeline-text">${m.text ?? `[${m.kind}]`}</span>
          <time>${when(m.created_at)}</time>
        </li>`)}
    </ol>
  `;
}

/** Contacts matching `q` (a name, phone fragment or email), from the conversation search,
 * without `exclude`. */
async function findContacts(q, exclude) {
  const params = new URLSearchParams({ q, limit: "20" });
  const page = await api.get(`/conversations?${params}`);
  const seen = new Map();
  for (const c of page.items) if (c.contact.id !== exclude && !seen.has(c.contact.id)) seen.set(c.contact.id, c.contact);
  return [...seen.values()];
}

/** Find another contact by name, phone or email, confirm, and merge it into this one. */
function Merge({ c, onMerged }) {
  const [q, setQ] = useState("");
  const [found, setFound] = useState([]);
  const [chosen, setChosen] = useState(null);
  useEffect(() => {
    const enough = q.replace(/\s/g, "").length >= 3;
    if (!enough) {
      setFound([]);
      return;
    }
    let live = true;
    const timer = setTimeout(() => findContacts(q.trim(), c.id).then((list) => live && setFound(list), (error) => live && showError(error)), 200);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [q, c.id]);
  const merge = async () => {
    try {
      const result = await api.post(`/contacts/${c.id}/merge`, { contact_id: chosen.id });
      setChosen(null);
      setQ("");
      onMerged(result);
    } catch (error) {
      showError(error);
    }
  };
  return html`
    <div class="merge">
      <label for="merge-search">Find the contact to merge into this one</label>
      <input id="merge-search" type="search" placeholder="name, phone or email" value=${q} onInput=${(e) => { setQ(e.currentTarget.value); setChosen(null); }} />
      ${chosen
        ? html`<p role="group" aria-label="Confirm the merge">Merge <strong>${contactName(chosen)}</strong> into <strong>${contactName(c)}</strong>? Their channels and conversations move here.
            <button class="primary" onClick=${merge}>Merge</button> <button onClick=${() => setChosen(null)}>Cancel</button></p>`
        : found.length > 0 && html`<ul class="merge-candidates" aria-label="Matching contacts">
            ${found.map((f) => html`<li key=${f.id}><button onClick=${() => setChosen(f)}>${contactName(f)}${f.phone && contactName(f) !== f.phone ? ` · ${f.phone}` : ""}</button></li>`)}
          </ul>`}
    </div>`;
}

/** The language the contact reads: template sends must be in it. */
function LanguageField({ c }) {
  const [value, setValue] = useState(c.language ?? "");
  const save = async (event) => {
    event.preventDefault();
    try {
      contact.value = await api.patch(`/contacts/${c.id}`, { language: value.trim() });
    } catch (error) {
      showError(error);
    }
  };
  return html`
    <form class="contact-language" onSubmit=${save}>
      <label for="contact-language">Reads</label>
      <input id="contact-language" required size="7" placeholder="e.g. pt_BR" pattern="[A-Za-z]{2,3}([_\\-][A-Za-z0-9]{2,8}){0,2}" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} />
      <button type="submit" disabled=${value.trim() === (c.language ?? "")}>Save language</button>
    </form>`;
}

export function ContactPanel() {
  const c = contact.value;
  const [merged, setMerged] = useState(null);
  // Opening the panel reads the contact afresh: what a customer gave since the conversation
  // was opened (a web chat visitor's email, a new channel) shows without a reload.
  const contactId = c?.id;
  useEffect(() => {
    if (contactId === undefined) return;
    let live = true;
    api.get(`/contacts/${contactId}`).then((found) => live && contact.value?.id === found.id && (contact.value = found), () => {});
    return () => (live = false);
  }, [contactId]);
  if (!c) return html`<aside class="contact-panel" aria-label="Contact"><p>Loading…</p></aside>`;
  const onMerged = (result) => {
    contact.value = result.contact;
    setMerged(result);
  };
  const undo = async () => {
    try {
      await api.post(`/merges/${merged.id}/undo`);
      contact.value = await api.get(`/contacts/${c.id}`);
      setMerged(null);
    } catch (error) {
      showError(error);
    }
  };
  return html`
    <aside class="contact-panel" aria-label="Contact">
      <div class="panel-head">
        <h2>${contactName(c)}</h2>
        <button class="ghost" aria-label="Close the contact panel" onClick=${() => (contactPanelOpen.value = false)}>×</button>
      </div>
      <dl>
        ${c.phone && html`<dt>Phone</dt><dd>${c.phone}</dd>`}
        ${c.email && html`<dt>Email</dt><dd>${c.email}</dd>`}
      </dl>
      <${LanguageField} key=${c.id} c=${c} />
      <h3>On every channel</h3>
      <ul class="identities">
        ${c.identities.map((i) => html`
          <li key=${i.id}>
            <span class="channel-name">${channelLook(i.channel_id, plugins.value).label}</span>
            <code>${i.external_id}</code>
            ${i.email && i.email !== i.external_id && html` <span class="identity-email" data-identity-email=${i.email} title="Given on this channel; not verified unless it is also the contact's email">${i.email}</span>`}
            ${i.opted_out ? html`<span class="opted-out">opted out</span>` : ""}
          </li>`)}
      </ul>
      <${Merge} c=${c} onMerged=${onMerged} />
      ${merged && html`
        <p class="info" role="status">Merged (merge ${merged.id}).
          ${me.value?.role === "admin" ? html`<button onClick=${undo}>Undo the merge</button>` : " An admin can undo it."}</p>`}
      <h3>Timeline</h3>
      <${Timeline} key=${`${c.id}-${c.identities.length}`} contactId=${c.id} />
    </aside>
  `;
}
