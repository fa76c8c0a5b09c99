// Views and filters: mine, unassigned, each team, all; saved views; status, channel, priority,
// label, sort, unread.
import { html } from "./html.js";
import { useState } from "preact/hooks";
import {
  filters, setFilters, counts, teams, channels, plugins, me, logout, connection, page,
  savedViews, applyView, saveView, deleteView, showing, showError,
} from "../lib/state.js";
import { channelLook, PRIORITIES, STATUSES } from "../lib/format.js";

function ViewLink({ view, label, count }) {
  const active = page.value === "inbox" && filters.value.view === view;
  return html`
    <li>
      <button class=${"view" + (active ? " active" : "")} aria-current=${active ? "true" : "false"} onClick=${() => { page.value = "inbox"; setFilters({ view }); }}>
        <span>${label}</span>
        ${count && html`<span class="count" aria-label=${`${count.conversations} conversations, ${count.unread} unread`}>${count.unread > 0 ? html`<b>${count.unread}</b> / ` : ""}${count.conversations}</span>`}
      </button>
    </li>
  `;
}

/** Saved views: click to apply; save the current filters under a name (shared with every
 * agent, for admins); delete your own (admins also shared ones). */
function SavedViews() {
  const [saving, setSaving] = useState(false);
  const admin = me.value?.role === "admin";
  const save = async (event) => {
    event.preventDefault();
    const form = event.currentTarget.elements;
    try {
      await saveView(form.name.value.trim(), admin && form.shared.checked);
      setSaving(false);
    } catch (error) {
      showError(error);
    }
  };
  const remove = (view) => deleteView(view.id).catch(showError);
  return html`
    <h2>Saved views</h2>
    <ul class="views saved-views">
      ${savedViews.value.map((v) => {
        const active = page.value === "inbox" && showing(v);
        return html`
          <li key=${v.id}>
            <button class=${"view" + (active ? " active" : "")} aria-current=${active ? "true" : "false"} onClick=${() => { page.value = "inbox"; applyView(v); }}>
              <span>${v.name}</span>${v.shared ? html`<span class="shared-tag" title="Shared with every agent">shared</span>` : ""}
            </button>
            ${(!v.shared || admin) && html`<button class="ghost remove-view" aria-label=${`Delete view ${v.name}`} title="Delete view" onClick=${() => remove(v)}>×</button>`}
          </li>`;
      })}
    </ul>
    ${saving
      ? html`<form class="save-view" onSubmit=${save}>
          <label for="view-name">View name</label>
          <input id="view-name" name="name" required maxlength="64" autofocus />
          ${admin && html`<label class="check"><input type="checkbox" name="shared" /> Share with every agent</label>`}
          <div class="row"><button type="submit" class="primary">Save view</button><button type="button" onClick=${() => setSaving(false)}>Cancel</button></div>
        </form>`
      : html`<button class="ghost add-view" onClick=${() => setSaving(true)}>+ Save current filters</button>`}
  `;
}

export function Sidebar() {
  const c = counts.value;
  const f = filters.value;
  const agent = me.value;
  const myTeams = teams.value.filter((t) => !agent || agent.role === "admin" || agent.teams.includes(t.id));
  // The label box is uncontrolled and remounted (`key`) when the filter changes: a controlled
  // value would be put back over what the agent is typing by any re-render before Enter, such
  // as a live count update.
  return html`
    <nav class="sidebar" aria-label="Views and filters">
      <div class="me">
        <span class="avatar" aria-hidden="true">${(agent?.display_name || "?")[0]}</span>
        <div>
          <strong>${agent?.display_name ?? ""}</strong>
          <small class=${"conn " + connection.value}>${connection.value === "live" ? "Live" : "Reconnecting…"}</small>
        </div>
        <button class="ghost" onClick=${logout} title="Sign out">Sign out</button>
      </div>
      <h2>Views</h2>
      <ul class="views">
        <${ViewLink} view="mine" label="Mine" count=${c?.mine} />
        <${ViewLink} view="unassigned" label="Unassigned" count=${c?.unassigned} />
        <${ViewLink} view="all" label="All" count=${c?.all} />
      </ul>
      ${myTeams.length > 0 && html`
        <h2>Teams</h2>
        <ul class="views">
          ${myTeams.map((t) => html`<${ViewLink} key=${t.id} view=${`team:${t.id}`} label=${t.name} count=${c?.teams?.find((x) => x.team_id === t.id)} />`)}
        </ul>`}
      <${SavedViews} />
      <h2>Filters</h2>
      <div class="filters">
        <label for="filter-status">Status</label>
        <select id="filter-status" value=${f.status} onChange=${(e) => setFilters({ status: e.currentTarget.value })}>
          ${STATUSES.map((s) => html`<option value=${s}>${s[0].toUpperCase() + s.slice(1)}</option>`)}
          <option value="">Any</option>
        </select>
        <label for="filter-channel">Channel</label>
        <select id="filter-channel" value=${f.channel} onChange=${(e) => setFilters({ channel: e.currentTarget.value })}>
          <option value="">All channels</option>
          ${channels.value.map((ch) => html`<option value=${ch.id}>${channelLook(ch.id, plugins.value).label} (${ch.id})</option>`)}
        </select>
        <label for="filter-priority">Priority</label>
        <select id="filter-priority" value=${f.priority} onChange=${(e) => setFilters({ priority: e.currentTarget.value })}>
          <option value="">Any priority</option>
          ${PRIORITIES.map((p) => html`<option value=${p}>${p[0].toUpperCase() + p.slice(1)}</option>`)}
        </select>
        <label for="filter-label">Label</label>
        <form class="label-filter" onSubmit=${(e) => { e.preventDefault(); setFilters({ label: e.currentTarget.elements.label.value.trim().toLowerCase() }); }}>
          <input key=${f.label} id="filter-label" name="label" placeholder="any label (Enter)" defaultValue=${f.label} maxlength="64" />
        </form>
        <label for="filter-sort">Sort</label>
        <select id="filter-sort" value=${f.sort} onChange=${(e) => setFilters({ sort: e.currentTarget.value })}>
          <option value="newest">Newest</option>
          <option value="oldest">Oldest</option>
          <option value="waiting_longest">Waiting longest</option>
          <option value="priority">Priority</option>
        </select>
        <label class="check"><input type="checkbox" checked=${f.unread} onChange=${(e) => setFilters({ unread: e.currentTarget.checked })} /> Unread only</label>
      </div>
      ${agent?.role === "admin" && html`
        <h2>Admin</h2>
        <ul class="views">
          ${[["agents", "Agents"], ["teams", "Teams"], ["canned", "Canned responses"], ["templates", "Templates"], ["channels", "Channels"], ["routing", "Routing"], ["plugins", "Plugins"], ["deliveries", "Failed deliveries"], ["audit", "Audit log"]].map(([name, label]) => html`
            <li key=${name}><button class=${"view" + (page.value === `admin:${name}` || page.value.startsWith(`admin:${name}/`) ? " active" : "")} onClick=${() => (page.value = `admin:${name}`)}>${label}</button></li>`)}
        </ul>`}
      <p class="hint">Press <kbd>?</kbd> for shortcuts</p>
    </nav>
  `;
}
