// Admin pages: agents, teams, canned responses and channels. Only admins see the links; the
// API refuses agents on every one of these routes whatever the page shows.
import { html } from "./html.js";
import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { me, page, showError, teams as teamList, channels, plugins } from "../lib/state.js";
import { channelLook } from "../lib/format.js";

function useLoad(path) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const reload = async () => {
    try {
      setData(await api.get(path));
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  };
  useEffect(() => {
    reload();
  }, [path]);
  return [data, reload, error];
}

/** Run `action`; show its error; reload after. */
async function act(action, reload) {
  try {
    await action();
  } catch (error) {
    showError(error);
  }
  await reload();
}

function Agents() {
  const [agents, reload] = useLoad("/agents");
  const [form, setForm] = useState({ email: "", display_name: "", role: "agent", password: "" });
  const set = (field) => (event) => setForm({ ...form, [field]: event.currentTarget.value });
  const create = (event) => {
    event.preventDefault();
    act(async () => {
      await api.post("/agents", { ...form, email: form.email.trim(), display_name: form.display_name.trim() });
      setForm({ email: "", display_name: "", role: "agent", password: "" });
    }, reload);
  };
  return html`
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <table class="admin-table">
        <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Availability</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${(agents ?? []).map((a) => html`
            <tr key=${a.id}>
              <td>${a.display_name}</td>
              <td>${a.email}</td>
              <td>
                <label class="sr-only" for=${`role-${a.id}`}>Role of ${a.display_name}</label>
                <select id=${`role-${a.id}`} value=${a.role} onChange=${(e) => act(() => api.patch(`/agents/${a.id}`, { role: e.currentTarget.value }), reload)}>
                  <option value="agent">Agent</option><option value="admin">Admin</option>
                </select>
              </td>
              <td>${a.availability}</td>
              <td>${a.id !== me.value?.id && html`<button onClick=${() => confirm(`Delete ${a.display_name}? Their sessions end.`) && act(() => api.del(`/agents/${a.id}`), reload)}>Delete</button>`}</td>
            </tr>`)}
        </tbody>
      </table>
      <form class="admin-form" onSubmit=${create} aria-label="New agent">
        <h2>New agent</h2>
        <label for="new-agent-email">Email</label><input id="new-agent-email" type="email" required value=${form.email} onInput=${set("email")} />
        <label for="new-agent-name">Name</label><input id="new-agent-name" required value=${form.display_name} onInput=${set("display_name")} />
        <label for="new-agent-role">Role</label>
        <select id="new-agent-role" value=${form.role} onChange=${set("role")}><option value="agent">Agent</option><option value="admin">Admin</option></select>
        <label for="new-agent-password">Password (10 characters or more)</label><input id="new-agent-password" type="password" minlength="10" required autocomplete="new-password" value=${form.password} onInput=${set("password")} />
        <button type="submit" class="primary">Create agent</button>
      </form>
    </section>
  `;
}

function Teams() {
  const [teams, reload] = useLoad("/teams");
  const [agents] = useLoad("/agents");
  const [name, setName] = useState("");
  const refresh = async () => {
    await reload();
    try {
      teamList.value = await api.get("/teams");
    } catch (_) {
      // The sidebar keeps its list.
    }
  };
  const create = (event) => {
    event.preventDefault();
    act(async () => {
      await api.post("/teams", { name: name.trim() });
      setName("");
    }, refresh);
  };
  return html`
    <section aria-labelledby="teams-title">
      <h1 id="teams-title">Teams</h1>
      ${(teams ?? []).map((t) => html`
        <div class="team-card" key=${t.id}>
          <h2>${t.name}</h2>
          <ul>
            ${(agents ?? []).map((a) => html`
              <li key=${a.id}>
                <label><input type="checkbox" checked=${t.members.includes(a.id)}
                  onChange=${(e) => act(() => (e.currentTarget.checked ? api.put(`/teams/${t.id}/members/${a.id}`) : api.del(`/teams/${t.id}/members/${a.id}`)), refresh)} />
                  ${a.display_name}</label>
              </li>`)}
          </ul>
          <button onClick=${() => confirm(`Delete the team ${t.name}?`) && act(() => api.del(`/teams/${t.id}`), refresh)}>Delete team</button>
        </div>`)}
      <form class="admin-form" onSubmit=${create} aria-label="New team">
        <h2>New team</h2>
        <label for="new-team-name">Name</label><input id="new-team-name" required value=${name} onInput=${(e) => setName(e.currentTarget.value)} />
        <button type="submit" class="primary">Create team</button>
      </form>
    </section>
  `;
}

function Canned() {
  const [responses, reload] = useLoad("/canned-responses");
  const [form, setForm] = useState({ shortcut: "", body: "" });
  const create = (event) => {
    event.preventDefault();
    act(async () => {
      await api.post("/canned-responses", { shortcut: form.shortcut.trim().replace(/^\//, ""), body: form.body });
      setForm({ shortcut: "", body: "" });
    }, reload);
  };
  return html`
    <section aria-labelledby="canned-title">
      <h1 id="canned-title">Canned responses</h1>
      <p class="info">Agents type <kbd>/shortcut</kbd> in the composer. Placeholders: <code>{{contact.first_name}}</code>, <code>{{contact.name}}</code>, <code>{{contact.phone}}</code>, <code>{{contact.email}}</code>, <code>{{agent.name}}</code>, <code>{{agent.first_name}}</code>.</p>
      <table class="admin-table">
        <thead><tr><th scope="col">Shortcut</th><th scope="col">Text</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${(responses ?? []).map((c) => html`
            <tr key=${c.id}><td><code>/${c.shortcut}</code></td><td>${c.body}</td>
              <td><button onClick=${() => act(() => api.del(`/canned-responses/${c.id}`), reload)}>Delete</button></td></tr>`)}
        </tbody>
      </table>
      <form class="admin-form" onSubmit=${create} aria-label="New canned response">
        <h2>New canned response</h2>
        <label for="new-canned-shortcut">Shortcut</label><input id="new-canned-shortcut" required pattern="/?[A-Za-z0-9_\\-]{1,32}" value=${form.shortcut} onInput=${(e) => setForm({ ...form, shortcut: e.currentTarget.value })} />
        <label for="new-canned-body">Text</label><textarea id="new-canned-body" required rows="3" value=${form.body} onInput=${(e) => setForm({ ...form, body: e.currentTarget.value })}></textarea>
        <button type="submit" class="primary">Save</button>
      </form>
    </section>
  `;
}

function Channels() {
  return html`
    <section aria-labelledby="channels-title">
      <h1 id="channels-title">Channels</h1>
      ${channels.value.map((c) => html`
        <div class="channel-card" key=${c.id} data-channel=${c.id}>
          <h2>${channelLook(c.id, plugins.value).label} · <code>${c.id}</code></h2>
          <p>Plugin <code>${c.plugin.name}</code> ${c.plugin.version}${c.plugin.description ? ` — ${c.plugin.description}` : ""}</p>
          <label for=${`webhook-${c.id}`}>Webhook URL to register with the provider</label>
          <input id=${`webhook-${c.id}`} class="webhook-url" readonly value=${c.webhook_url} onFocus=${(e) => e.currentTarget.select()} />
          <p class="info">Can send: ${c.plugin.capabilities.join(", ") || "nothing"}. Setup steps: <code>docs/channels/${c.plugin.name}.md</code>.</p>
        </div>`)}
    </section>
  `;
}

const PAGES = { agents: Agents, teams: Teams, canned: Canned, channels: Channels };

export function AdminPage({ name }) {
  if (me.value?.role !== "admin") {
    return html`<main class="admin"><p role="alert">Only admins can open this page.</p><button onClick=${() => (page.value = "inbox")}>Back to the inbox</button></main>`;
  }
  const Page = PAGES[name] ?? Agents;
  return html`
    <main class="admin">
      <button class="ghost" onClick=${() => (page.value = "inbox")}>← Back to the inbox</button>
      <${Page} />
    </main>
  `;
}
