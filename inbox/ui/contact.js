// The contact panel: identities on every channel with their opt-out state, the channels a
// reply can take, and merging another contact into this one.
import { html } from "./html.js";
import { useState } from "preact/hooks";
import { contact, plugins, showError, contactPanelOpen } from "../lib/state.js";
import { api } from "../lib/api.js";
import { channelLook, contactName } from "../lib/format.js";

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
          <li>
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
      ${merged && html`<p class="info" role="status">Merged (merge ${merged.id}). An admin can undo it.</p>`}
    </aside>
  `;
}
