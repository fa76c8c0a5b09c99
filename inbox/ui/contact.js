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

export function ContactPanel() {
  const c = contact.value;
  const [other, setOther] = useState("");
  const [merged, setMerged] = useState(null);
  if (!c) return html`<aside class="contact-panel" aria-label="Contact"><p>Loading…</p></aside>`;
  const merge = async (event) => {
    event.preventDefault();
    const id = Number(other);
    if (!Number.isInteger(id) || id <= 0) return;
    try {
      const result = await api.post(`/contacts/${c.id}/merge`, { contact_id: id });
      contact.value = result.contact;
      setMerged(result);
      setOther("");
    } catch (error) {
      showError(error);
    }
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
      <h3>On every channel</h3>
      <ul class="identities">
        ${c.identities.map((i) => html`
          <li key=${i.id}>
            <span class="channel-name">${channelLook(i.channel_id, plugins.value).label}</span>
            <code>${i.external_id}</code>
            ${i.opted_out ? html`<span class="opted-out">opted out</span>` : ""}
          </li>`)}
      </ul>
      <form class="merge" onSubmit=${merge}>
        <label for="merge-id">Merge another contact into this one (contact id)</label>
        <input id="merge-id" inputmode="numeric" value=${other} onInput=${(e) => setOther(e.currentTarget.value)} />
        <button type="submit">Merge</button>
      </form>
      ${merged && html`
        <p class="info" role="status">Merged (merge ${merged.id}).
          ${me.value?.role === "admin" ? html`<button onClick=${undo}>Undo the merge</button>` : " An admin can undo it."}</p>`}
      <h3>Timeline</h3>
      <${Timeline} key=${`${c.id}-${c.identities.length}`} contactId=${c.id} />
    </aside>
  `;
}
