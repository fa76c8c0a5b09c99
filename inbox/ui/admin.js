// Admin pages: agents, teams, canned responses, templates, channels, routing, plugins, failed deliveries and the audit log. Only admins see the links; the
// API refuses agents on every one of these routes whatever the page shows.
import { html } from "./html.js";
import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api.js";
import { me, page, showError, teams as teamList, channels, plugins, openConversation } from "../lib/state.js";
import { ago, channelLook } from "../lib/format.js";

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

const TEMPLATE_STATUSES = ["approved", "pending", "rejected", "paused", "disabled"];
const EMPTY_TEMPLATE = { channel_id: "", name: "", language: "en_US", category: "utility", body: "", status: "approved" };

/** Message templates per channel: what agents may send outside a customer-service window. */
function Templates() {
  const [templates, reload] = useLoad("/templates");
  const withTemplates = channels.value.filter((c) => c.plugin.capabilities.includes("templates"));
  const [form, setForm] = useState(EMPTY_TEMPLATE);
  const set = (field) => (event) => setForm({ ...form, [field]: event.currentTarget.value });
  const channelId = form.channel_id || withTemplates[0]?.id || "";
  const create = (event) => {
    event.preventDefault();
    act(async () => {
      await api.post("/templates", { ...form, channel_id: channelId, name: form.name.trim(), language: form.language.trim() });
      setForm({ ...EMPTY_TEMPLATE, channel_id: form.channel_id });
    }, reload);
  };
  return html`
    <section aria-labelledby="templates-title">
      <h1 id="templates-title">Templates</h1>
      <p class="info">Pre-approved messages, the only kind WhatsApp allows after its 24-hour window. Record each as the provider approved it: its name, language, category and body, with parameters numbered <code>{{1}}</code>, <code>{{2}}</code>… Agents pick one in the composer and fill in the parameters; only approved ones can be sent.</p>
      <table class="admin-table templates-table">
        <thead><tr><th scope="col">Channel</th><th scope="col">Name</th><th scope="col">Language</th><th scope="col">Category</th><th scope="col">Body</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${(templates ?? []).map((t) => html`
            <tr key=${t.id} data-template=${`${t.name}.${t.language}`}>
              <td>${t.channel_id}</td>
              <td><code>${t.name}</code></td>
              <td>${t.language}</td>
              <td>${t.category}</td>
              <td>${t.body} <small>(${t.parameter_count} parameter${t.parameter_count === 1 ? "" : "s"})</small></td>
              <td>
                <label class="sr-only" for=${`template-status-${t.id}`}>Status of ${t.name} (${t.language})</label>
                <select id=${`template-status-${t.id}`} value=${t.status} onChange=${(e) => act(() => api.patch(`/templates/${t.id}`, { status: e.currentTarget.value }), reload)}>
                  ${TEMPLATE_STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
                </select>
              </td>
              <td><button onClick=${() => confirm(`Delete the template ${t.name} (${t.language})?`) && act(() => api.del(`/templates/${t.id}`), reload)} aria-label=${`Delete ${t.name} (${t.language})`}>Delete</button></td>
            </tr>`)}
        </tbody>
      </table>
      ${templates && templates.length === 0 ? html`<p class="info">No templates yet.</p>` : ""}
      ${withTemplates.length === 0
        ? html`<p class="info">No configured channel sends templates.</p>`
        : html`
      <form class="admin-form" onSubmit=${create} aria-label="New template">
        <h2>New template</h2>
        <label for="new-template-channel">Channel</label>
        <select id="new-template-channel" value=${channelId} onChange=${set("channel_id")}>
          ${withTemplates.map((c) => html`<option value=${c.id}>${c.id}</option>`)}
        </select>
        <label for="new-template-name">Name</label><input id="new-template-name" required pattern="[a-z0-9_]{1,512}" title="lower-case letters, digits and _" value=${form.name} onInput=${set("name")} />
        <label for="new-template-language">Language</label><input id="new-template-language" required value=${form.language} onInput=${set("language")} />
        <label for="new-template-category">Category</label>
        <select id="new-template-category" value=${form.category} onChange=${set("category")}>
          <option value="utility">Utility</option><option value="marketing">Marketing</option><option value="authentication">Authentication</option>
        </select>
        <label for="new-template-body">Body</label><textarea id="new-template-body" required rows="3" maxlength="1024" value=${form.body} onInput=${set("body")}></textarea>
        <label for="new-template-status">Status</label>
        <select id="new-template-status" value=${form.status} onChange=${set("status")}>
          ${TEMPLATE_STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
        <button type="submit" class="primary">Save template</button>
      </form>`}
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
          <p class="info">Can send: ${c.plugin.capabilities.join(", ") || "nothing"}.</p>
          <a class="button" href=${`#/admin/channels/${c.id}`} aria-label=${`Set up and test ${c.id}`}>Set up and test</a>
        </div>`)}
    </section>
  `;
}

/** The routing chain, in the order it runs (`[[routing.policies]]` in config.toml). */
function Routing() {
  const [policies, , error] = useLoad("/admin/routing/policies");
  return html`
    <section aria-labelledby="routing-title">
      <h1 id="routing-title">Routing</h1>
      <p class="info">After each customer message is stored, these policies run in this order; each sees what the ones before it decided, and a later one's choice wins. Every decision and its reason shows in the conversation's thread. The chain is set in <code>config.toml</code> (<code>[[routing.policies]]</code>).</p>
      ${error && html`<p role="alert">${error.message}</p>`}
      ${policies && policies.length === 0 && html`<p class="empty">No routing policies are configured: conversations wait unassigned, as they arrive.</p>`}
      ${policies && policies.length > 0 && html`
        <ol class="policy-chain">
          ${policies.map((p) => html`
            <li class="policy-card" key=${p.name} data-policy=${p.name}>
              <h2>${p.name}</h2>
              <p>Plugin <code>${p.plugin}</code> · ${p.plugin_name} ${p.version} · contract <code>switchboard:router@${p.contract}</code></p>
              ${p.description && html`<p class="info">${p.description}</p>`}
            </li>`)}
        </ol>`}
    </section>
  `;
}

/** Every plugin build this node runs: which file, what it reports of itself, the contract it
 * was built against, its content hash (to tell builds apart after a deploy) and what it serves.
 * Channel plugins can be reloaded from their file, or rolled back to the build before. */
function Plugins() {
  const [builds, reload, error] = useLoad("/admin/plugins");
  const [status, setStatus] = useState(null);
  const serving = (b) => b.world === "router" ? `policies: ${b.serves.join(", ")}` : `channels: ${b.serves.join(", ")}`;
  const swap = async (b, action) => {
    setStatus(null);
    try {
      const swapped = await api.post(`/admin/plugins/${encodeURIComponent(b.file)}/${action}`, {});
      setStatus({ ok: true, text: `${action === "reload" ? "Reloaded" : "Rolled back"} ${b.file}: build ${swapped.sha256.slice(0, 12)} now serves ${swapped.channels.join(", ")} (was ${swapped.replaced_sha256.slice(0, 12)}).` });
    } catch (failure) {
      setStatus({ ok: false, text: `${action === "reload" ? "Reload" : "Rollback"} of ${b.file} refused: ${failure.message}` });
    }
    await reload();
  };
  const last = (b) => {
    const r = b.last_reload;
    if (!r) return "";
    const when = ago(r.at) === "now" ? "just now" : `${ago(r.at)} ago`;
    return r.ok ? `${r.action === "reload" ? "reloaded" : "rolled back"} ${when}` : `${r.action} refused ${when}: ${r.error}`;
  };
  return html`
    <section aria-labelledby="plugins-title">
      <h1 id="plugins-title">Plugins</h1>
      <p class="info">The WebAssembly components this gateway node runs, one row per build. The hash is the file's SHA-256 (what <code>sha256sum</code> prints), so after a deploy it shows which build is serving. The same figures are in <code>/metrics</code> as <code>switchboard_plugin_build_info</code>. <strong>Reload</strong> reads the file again and swaps it in only if it passes its self-check; webhooks and sends in progress finish on the old build. <strong>Roll back</strong> puts back the build before. Both act on this node only.</p>
      ${error && html`<p role="alert">${error.message}</p>`}
      ${status && html`<p role=${status.ok ? "status" : "alert"} class=${status.ok ? "info" : "error"}>${status.text}</p>`}
      <table class="admin-table plugins-table">
        <thead><tr><th scope="col">Plugin</th><th scope="col">Version</th><th scope="col">Contract</th><th scope="col">Build</th><th scope="col">Loaded</th><th scope="col">Serves</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${(builds ?? []).map((b) => html`
            <tr key=${`${b.world}:${b.file}:${b.sha256}`} data-plugin=${b.file} data-world=${b.world}>
              <th scope="row"><code>${b.file}</code>${b.name !== b.file ? html` <span class="info">(${b.name})</span>` : ""}</th>
              <td data-field="version">${b.version}</td>
              <td data-field="wit"><code>${b.wit}</code></td>
              <td data-field="sha256"><code title=${b.sha256}>${b.sha256.slice(0, 12)}</code> · ${(b.size_bytes / 1024).toFixed(0)} KiB</td>
              <td><time datetime=${new Date(b.loaded_at).toISOString()} title=${new Date(b.loaded_at).toLocaleString()}>${ago(b.loaded_at) === "now" ? "just now" : `${ago(b.loaded_at)} ago`}</time>${b.last_reload ? html`<br /><span class="info" data-field="last-reload">${last(b)}</span>` : ""}</td>
              <td data-field="serves">${serving(b)}</td>
              <td>
                ${b.world === "channel" && html`
                  <button onClick=${() => swap(b, "reload")} aria-label=${`Reload ${b.file}`}>Reload</button>
                  <button onClick=${() => swap(b, "rollback")} aria-label=${`Roll back ${b.file}`}>Roll back</button>`}
              </td>
            </tr>`)}
        </tbody>
      </table>
    </section>
  `;
}

/** A plugin's step text with its inline Markdown (`**bold**`, `*italic*`, `` `code` ``) as
 * elements; anything else stays text, so a plugin can never inject markup. */
function inlineMarkdown(text) {
  return text.split(/(\*\*[^*]+\*\*|\*[^*]+\*|`[^`]+`)/).map((part) => {
    if (/^\*\*[^*]+\*\*$/.test(part)) return html`<strong>${part.slice(2, -2)}</strong>`;
    if (/^\*[^*]+\*$/.test(part)) return html`<em>${part.slice(1, -1)}</em>`;
    if (/^`[^`]+`$/.test(part)) return html`<code>${part.slice(1, -1)}</code>`;
    return part;
  });
}

const SOURCES = { config: "written in config.toml", env: "environment variable", file: "file" };

function settingState(s) {
  if (!s.set) {
    const where = s.reference ? ` (${SOURCES[s.source]} ${s.reference} is empty or missing)` : "";
    return html`<span class=${"setting-state " + (s.required ? "missing" : "unset")}>${s.required ? "Missing" : "Not set"}${where}</span>`;
  }
  if (!s.secret) return html`<span class="setting-state ok"><code>${s.value}</code></span>`;
  return html`<span class="setting-state ok">Set · ${SOURCES[s.source] ?? s.source}${s.reference ? html` <code>${s.reference}</code>` : ""}</span>`;
}

/** "just now", "3m ago". */
const since = (ms) => {
  const how = ago(ms);
  return how === "now" ? "just now" : `${how} ago`;
};
const percent = (share) => (share == null ? "—" : `${Math.round(share * 1000) / 10}%`);

/** The last hour's webhooks and sends, refreshed while the page is open. */
function LiveStatus({ activity }) {
  const a = activity;
  const webhooks = a.webhooks_accepted + a.webhooks_refused + a.webhooks_failed;
  const sends = a.sends_sent + a.sends_retried + a.sends_failed;
  return html`
    <dl class="live-status" data-activity>
      <div><dt>Last webhook</dt><dd data-stat="last-webhook">${a.last_webhook_at ? since(a.last_webhook_at) : "None yet"}</dd></div>
      <div><dt>Webhooks, last ${a.window_minutes} min</dt><dd data-stat="webhooks">${webhooks} (${a.webhooks_refused} refused, ${a.webhooks_failed} failed)</dd></div>
      <div><dt>Webhook error rate</dt><dd data-stat="error-rate" class=${a.webhook_error_rate > 0.05 ? "error" : ""}>${percent(a.webhook_error_rate)}</dd></div>
      <div><dt>Delivery success</dt><dd data-stat="delivery" class=${a.send_success_rate != null && a.send_success_rate < 0.95 ? "error" : ""}>${percent(a.send_success_rate)} of ${sends} attempt${sends === 1 ? "" : "s"}</dd></div>
    </dl>
    <p class="info">As this node saw them${a.last_send_at ? `; last send ${since(a.last_send_at)}` : ""}.</p>`;
}

/** One channel: setup steps from its plugin, the webhook URL, live status, every setting and
 * where it comes from (never a secret's value), and the connection test. */
function ChannelPage({ id }) {
  const [detail, reload, error] = useLoad(`/channels/${encodeURIComponent(id)}`);
  useEffect(() => {
    const timer = setInterval(reload, 5000);
    return () => clearInterval(timer);
  }, [id]);
  const [test, setTest] = useState(null);
  const [testing, setTesting] = useState(false);
  const run = async () => {
    setTesting(true);
    setTest(null);
    try {
      setTest(await api.post(`/channels/${encodeURIComponent(id)}/check`, {}));
    } catch (failure) {
      setTest({ connected: false, problem: failure.code ?? "error", message: failure.message });
    } finally {
      setTesting(false);
    }
  };
  if (error) return html`<p role="alert">${error.message}</p>`;
  if (!detail) return html`<p aria-busy="true">Loading…</p>`;
  const secrets = detail.settings.filter((s) => s.secret);
  const config = detail.settings.filter((s) => !s.secret);
  const table = (rows, caption) => html`
    <table class="admin-table settings-table">
      <caption>${caption}</caption>
      <thead><tr><th scope="col">Key</th><th scope="col">What it is</th><th scope="col">State</th></tr></thead>
      <tbody>
        ${rows.map((s) => html`
          <tr key=${s.key} data-setting=${s.key}>
            <th scope="row"><code>${s.key}</code>${s.required ? html` <span class="required">required</span>` : ""}</th>
            <td>${s.description ?? html`<span class="info">Not described by the plugin</span>`}</td>
            <td>${settingState(s)}</td>
          </tr>`)}
      </tbody>
    </table>`;
  return html`
    <section aria-labelledby="channel-title" class="channel-page" data-channel=${detail.id}>
      <a href="#/admin/channels" class="ghost">← All channels</a>
      <h1 id="channel-title">${channelLook(detail.id, plugins.value).label} · <code>${detail.id}</code></h1>
      <p>Plugin <code>${detail.plugin.name}</code> ${detail.plugin.version}, built for <code>switchboard:channel@${detail.plugin.contract}</code>.</p>
      <label for="channel-webhook">Webhook URL to register with the provider</label>
      <input id="channel-webhook" class="webhook-url" readonly value=${detail.webhook_url} onFocus=${(e) => e.currentTarget.select()} />
      ${detail.mail && html`
        <h2>Mail</h2>
        <dl class="mail-setup">
          <dt>Addresses taken over SMTP</dt>
          <dd data-mail="addresses">${detail.mail.addresses.length ? detail.mail.addresses.map((a) => html`<code key=${a}>${a}</code> `) : "None (mail comes only from Mailgun)"}
            ${detail.mail.addresses.length > 0 && html`<span class="info"> and their plus-addresses</span>`}</dd>
          <dt>Replies relayed through</dt>
          <dd data-mail="relay">${detail.mail.relay ? html`<code>${detail.mail.relay}</code>` : html`<span class="failure">No relay configured: replies fail until <code>[channels.mail] relay</code> is set</span>`}</dd>
        </dl>`}
      ${detail.webchat && html`
        <h2>Website widget</h2>
        <label for="channel-snippet">Paste before <code>&lt;/body&gt;</code> on every page of the site</label>
        <textarea id="channel-snippet" class="webhook-url snippet" rows="2" readonly onFocus=${(e) => e.currentTarget.select()}>${detail.webchat.snippet}</textarea>
        <dl class="mail-setup webchat-setup">
          <dt>Sites that may embed it</dt>
          <dd data-webchat="origins">${detail.webchat.allowed_origins.length ? detail.webchat.allowed_origins.map((o) => html`<code key=${o}>${o}</code> `) : html`<span class="failure">None yet: only this gateway's own pages; add your site to <code>[channels.webchat] allowed_origins</code></span>`}</dd>
          <dt>Logged-in customers</dt>
          <dd data-webchat="identity">${detail.webchat.identity_verification
            ? "Verified: pages pass data-identifier and data-identifier-hash (HMAC-SHA256 under widget_secret, computed on your server)"
            : html`<span class="info">Off: every visitor is anonymous until <code>widget_secret</code> is set</span>`}</dd>
          <dt>While nobody is online</dt>
          <dd data-webchat="reply-time">${detail.webchat.reply_time ? `Visitors are told “we reply ${detail.webchat.reply_time}” and offered to continue by email` : "Visitors are offered to continue by email"}</dd>
          <dt>Limits</dt>
          <dd>${detail.webchat.max_message_chars} characters a message, ${Math.round(detail.webchat.max_upload_bytes / 1024)} KB an upload, ${detail.webchat.messages_per_minute} messages a minute per visitor, ${detail.webchat.requests_per_minute_per_ip} requests a minute per address</dd>
        </dl>
        <p><a href=${detail.webchat.demo_url} target="_blank" rel="noopener">Try it on the demo page</a></p>`}
      <h2>Live status</h2>
      <${LiveStatus} activity=${detail.activity} />
      <h2>Setup</h2>
      ${detail.guide
        ? html`<ol class="setup-steps">${detail.guide.steps.map((step, i) => html`<li key=${i}>${inlineMarkdown(step)}</li>`)}</ol>
            ${detail.guide.docs_url ? html`<p><a href=${detail.guide.docs_url} target="_blank" rel="noopener noreferrer">The provider's documentation</a></p>` : ""}`
        : html`<p class="info">${detail.guide_error ? `The plugin could not give its setup steps: ${detail.guide_error}` : "This plugin predates setup steps; see its documentation."}</p>`}
      <h2>Connection test</h2>
      ${detail.can_check_connection
        ? html`<p>Calls the provider with the configured credentials. Nothing is sent to any customer.</p>
            <button class="primary" onClick=${run} disabled=${testing}>${testing ? "Testing…" : "Test connection"}</button>
            <div role="status" aria-live="polite" class="check-result">
              ${test && (test.connected
                ? html`<p class="check ok"><strong>Connected</strong> to ${test.account}${test.detail ? ` (${test.detail})` : ""}.</p>`
                : html`<p class="check failed"><strong>Failed</strong> (${test.problem}${test.code ? `, code ${test.code}` : ""}): ${test.message}</p>`)}
            </div>`
        : html`<p class="info">This plugin was built against switchboard:channel@${detail.plugin.contract}, which has no connection test. Rebuild it with a current SDK.</p>`}
      <h2>Settings</h2>
      <p class="info">Settings live in <code>config.toml</code> under this channel. Secrets are read from the environment, a file or the config itself; their values are never shown. Entering a secret here needs encrypted storage, which is not available yet.</p>
      ${table(secrets, "Secrets")}
      ${config.length ? table(config, "Configuration") : ""}
    </section>
  `;
}

const ACTIONS = { "contact.merged": "Merged contacts", "contact.unmerged": "Undid a merge", "reply.refused_opted_out": "Refused a reply (opted out)" };

function describeAudit(entry) {
  const d = entry.detail ?? {};
  if (entry.action === "contact.merged") return `contact ${d.merged_id} into contact ${d.survivor_id} (merge ${d.merge_id})`;
  if (entry.action === "contact.unmerged") return `merge ${d.merge_id}: contact ${d.merged_id} is separate again`;
  if (entry.action === "reply.refused_opted_out") return `a ${d.kind} reply on ${d.channel_id} in ${entry.subject}: the contact opted out there`;
  return entry.subject;
}

/** The audit log, newest first, with an undo for each merge not undone yet. */
function Audit() {
  const [action, setAction] = useState("");
  const [entries, setEntries] = useState([]);
  const [cursor, setCursor] = useState(null);
  const load = async (before) => {
    const params = new URLSearchParams({ limit: "50" });
    if (action) params.set("action", action);
    if (before) params.set("before", before);
    try {
      const page = await api.get(`/audit?${params}`);
      setEntries((old) => (before ? [...old, ...page.items] : page.items));
      setCursor(page.next_cursor);
    } catch (error) {
      showError(error);
    }
  };
  useEffect(() => {
    load(null);
  }, [action]);
  const undone = new Set(entries.filter((e) => e.action === "contact.unmerged").map((e) => e.detail?.merge_id));
  const undo = (mergeId) => act(() => api.post(`/merges/${mergeId}/undo`), () => load(null));
  return html`
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <label for="audit-action">Show</label>
      <select id="audit-action" value=${action} onChange=${(e) => setAction(e.currentTarget.value)}>
        <option value="">Everything</option>
        ${Object.entries(ACTIONS).map(([value, label]) => html`<option value=${value}>${label}</option>`)}
      </select>
      <table class="admin-table audit-table">
        <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${entries.map((e) => html`
            <tr key=${e.id} data-audit=${e.id}>
              <td><time datetime=${new Date(e.created_at).toISOString()}>${new Date(e.created_at).toLocaleString()}</time></td>
              <td>${e.actor}</td>
              <td><strong>${ACTIONS[e.action] ?? e.action}</strong>: ${describeAudit(e)}</td>
              <td>${e.action === "contact.merged" && !undone.has(e.detail?.merge_id)
                ? html`<button onClick=${() => undo(e.detail.merge_id)} aria-label=${`Undo merge ${e.detail.merge_id}`}>Undo</button>`
                : ""}</td>
            </tr>`)}
        </tbody>
      </table>
      ${entries.length === 0 ? html`<p class="info">Nothing yet.</p>` : ""}
      ${cursor ? html`<button onClick=${() => load(cursor)}>Older entries</button>` : ""}
    </section>
  `;
}

/** Replies that will not go out unless someone retries them, newest first: why, and a retry. */
function Deliveries() {
  const [letters, setLetters] = useState(null);
  const load = async () => {
    try {
      setLetters(await api.get("/dead-letters?limit=200"));
    } catch (error) {
      showError(error);
    }
  };
  useEffect(() => {
    load();
  }, []);
  const retry = (l) => act(() => api.post(`/conversations/${l.conversation_id}/messages/${l.message_id}/retry`, {}), load);
  const open = (l) => {
    page.value = "inbox";
    openConversation(l.conversation_id);
  };
  return html`
    <section aria-labelledby="deliveries-title">
      <h1 id="deliveries-title">Failed deliveries</h1>
      <p class="info">Replies whose retries ran out, or that the provider refused for good. A retry sends one again with a fresh set of attempts.</p>
      <table class="admin-table deliveries-table">
        <thead><tr><th scope="col">When</th><th scope="col">Channel</th><th scope="col">Reply</th><th scope="col">Why</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          ${(letters ?? []).map((l) => html`
            <tr key=${l.message_id} data-dead-letter=${l.message_id}>
              <td><time datetime=${new Date(l.updated_at).toISOString()}>${new Date(l.updated_at).toLocaleString()}</time></td>
              <td>${channelLook(l.channel_id, plugins.value).label} (${l.channel_id})</td>
              <td>${l.text ?? "[no text]"}</td>
              <td>${l.state === "dead" ? `gave up after ${l.attempts} attempts` : "refused"}${l.last_error ? `: ${l.last_error}` : ""}</td>
              <td>
                <button onClick=${() => open(l)} aria-label=${`Open the conversation of reply ${l.message_id}`}>Open</button>
                <button onClick=${() => retry(l)} aria-label=${`Retry reply ${l.message_id}`}>Retry</button>
              </td>
            </tr>`)}
        </tbody>
      </table>
      ${letters && letters.length === 0 ? html`<p class="info">Nothing failed.</p>` : ""}
    </section>
  `;
}

const PAGES = { agents: Agents, teams: Teams, canned: Canned, templates: Templates, channels: Channels, routing: Routing, plugins: Plugins, deliveries: Deliveries, audit: Audit };

export function AdminPage({ name }) {
  if (me.value?.role !== "admin") {
    return html`<main class="admin"><p role="alert">Only admins can open this page.</p><button onClick=${() => (page.value = "inbox")}>Back to the inbox</button></main>`;
  }
  const [section, id] = name.split("/");
  const Page = PAGES[section] ?? Agents;
  return html`
    <main class="admin">
      <button class="ghost" onClick=${() => (page.value = "inbox")}>← Back to the inbox</button>
      ${section === "channels" && id ? html`<${ChannelPage} key=${id} id=${id} />` : html`<${Page} />`}
    </main>
  `;
}
