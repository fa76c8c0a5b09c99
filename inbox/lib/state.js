// The inbox's state, as signals, and the actions that change it. Components read signals and
// call actions; only this module talks to the API and the live stream.

import { signal, computed, batch } from "@preact/signals";
import { api, postOnce, query, loadSession, saveSession, clearSession, whenUnauthorized } from "./api.js";
import { follow } from "./live.js";

export const session = signal(loadSession());
export const me = computed(() => session.value?.agent ?? null);
export const connection = signal("connecting");
export const notice = signal(null); // {kind: "error" | "info", text}

/** `inbox`, or an admin page (`admin:agents`, `admin:teams`, `admin:canned`, `admin:channels`,
 * or one channel's page, `admin:channels/whatsapp`), kept in the URL's hash so a reload or the
 * back button lands on the same page. */
export const page = signal(pageFromHash());

function pageFromHash() {
  const match = /^#\/admin\/(agents|teams|canned|audit|routing|channels(?:\/[A-Za-z0-9._-]+)?)$/.exec(location.hash);
  return match ? `admin:${match[1]}` : "inbox";
}

window.addEventListener("hashchange", () => (page.value = pageFromHash()));
page.subscribe((value) => {
  const hash = value === "inbox" ? "" : `#/admin/${value.slice(6)}`;
  if (location.hash !== hash) history.pushState(null, "", hash || location.pathname);
});

/** Channel id → plugin name, and the channels themselves. */
export const channels = signal([]);
export const plugins = computed(() => Object.fromEntries(channels.value.map((c) => [c.id, c.plugin.name])));
export const teams = signal([]);
/** Every agent, for assigning and for naming who did what (`GET /agents/directory`). */
export const agents = signal([]);

// ---- the conversation list -------------------------------------------------------------

/** The list's filters; `view` is `mine`, `unassigned`, `all` or `team:<id>`. */
export const filters = signal({ view: "all", status: "open", channel: "", label: "", priority: "", unread: false, sort: "newest", q: "" });
export const byId = signal(new Map());
export const listIds = signal([]);
export const nextCursor = signal(null);
export const listLoading = signal(false);
export const counts = signal(null);
export const selectedId = signal(null);
export const cursorIndex = signal(0);

const RANK = { urgent: 3, high: 2, normal: 1, low: 0 };

function comparator(sort) {
  const newest = (a, b) => b.last_message_at - a.last_message_at || b.id - a.id;
  if (sort === "oldest" || sort === "waiting_longest") return (a, b) => -newest(a, b);
  if (sort === "priority") return (a, b) => RANK[b.priority] - RANK[a.priority] || newest(a, b);
  return newest;
}

/** Whether `c` belongs in the list under the current filters (search aside: the server decides). */
function admits(c, f) {
  const agent = me.value;
  if (f.status && c.status !== f.status) return false;
  if (f.channel && c.channel_id !== f.channel) return false;
  if (f.priority && c.priority !== f.priority) return false;
  if (f.label && !c.labels.includes(f.label)) return false;
  if (f.unread && !(c.unread_count > 0)) return false;
  if (f.view === "mine" && c.assignee_id !== agent?.id) return false;
  if (f.view === "unassigned" && c.assignee_id !== null) return false;
  if (f.view.startsWith("team:") && c.team_id !== Number(f.view.slice(5))) return false;
  if (f.sort === "waiting_longest" && c.last_message?.direction !== "inbound") return false;
  return true;
}

function listQuery(f, cursor) {
  const view = f.view === "mine" ? { assignee: "me" } : f.view === "unassigned" ? { assignee: "unassigned" } : f.view.startsWith("team:") ? { team: f.view.slice(5) } : {};
  return query({ limit: 100, cursor, sort: f.sort, status: f.status, channel: f.channel, label: f.label, priority: f.priority, unread: f.unread ? "true" : "", q: f.q.trim().length >= 3 ? f.q.trim() : "", ...view });
}

function remember(items) {
  const map = new Map(byId.value);
  for (const c of items) map.set(c.id, c);
  byId.value = map;
}

let listGeneration = 0;

/** Conversations the live stream placed while a first page was loading, by id: the page was
 * read before them, so they are placed again once it replaces the list. */
let placedWhileLoading = null;

/** Fetch a page for the current filters: the first (`cursor` null, replacing the list and
 * starting a new generation) or the next one after `cursor` (appended). A page that arrives
 * after the filters changed is dropped. */
async function fetchList(cursor) {
  const generation = cursor ? listGeneration : ++listGeneration;
  if (!cursor) placedWhileLoading = new Map();
  listLoading.value = true;
  try {
    const page = await api.get(`/conversations${listQuery(filters.value, cursor)}`);
    if (generation !== listGeneration) return;
    batch(() => {
      const late = cursor ? null : placedWhileLoading;
      if (!cursor) placedWhileLoading = null;
      // What the live stream placed while this page was read is newer than the page.
      remember(page.items.filter((c) => !late?.has(c.id)));
      const ids = page.items.map((c) => c.id);
      if (cursor) {
        const seen = new Set(listIds.value);
        listIds.value = [...listIds.value, ...ids.filter((id) => !seen.has(id))];
      } else {
        listIds.value = ids;
        cursorIndex.value = 0;
      }
      nextCursor.value = page.next_cursor;
      for (const c of late?.values() ?? []) place(c);
    });
  } catch (error) {
    showError(error);
  } finally {
    if (generation === listGeneration) listLoading.value = false;
  }
}

/** Load the first page for the current filters. */
export const reloadList = () => fetchList(null);

/** The next page (keyset), when the list is scrolled near its end. */
export function loadMore() {
  if (!nextCursor.value || listLoading.value) return;
  return fetchList(nextCursor.value);
}

// ---- saved views -----------------------------------------------------------------------

/** The shared views, then the agent's own (`GET /views`). */
export const savedViews = signal([]);

/** The list's filters as a saved view stores them: only what differs from "any". */
export function savedFilters(f) {
  const saved = {};
  if (f.view) saved.view = f.view;
  if (f.status) saved.status = f.status;
  for (const key of ["channel", "label", "priority"]) if (f[key]) saved[key] = f[key];
  if (f.unread) saved.unread = true;
  if (f.sort && f.sort !== "newest") saved.sort = f.sort;
  if (f.q.trim()) saved.q = f.q.trim();
  return saved;
}

/** A saved view's filters as the list's (absent means "any"). */
function listFilters(saved) {
  return {
    view: saved.view ?? "all", status: saved.status ?? "", channel: saved.channel ?? "", label: saved.label ?? "",
    priority: saved.priority ?? "", unread: !!saved.unread, sort: saved.sort ?? "newest", q: saved.q ?? "",
  };
}

/** Whether the list shows exactly what `view` saved. */
export function showing(view) {
  return JSON.stringify(savedFilters(filters.value)) === JSON.stringify(savedFilters(listFilters(view.filters)));
}

export function applyView(view) {
  filters.value = listFilters(view.filters);
  reloadList();
}

export async function saveView(name, shared) {
  const view = await api.post("/views", { name, shared, filters: savedFilters(filters.value) });
  savedViews.value = await api.get("/views");
  return view;
}

export async function deleteView(id) {
  await api.del(`/views/${id}`);
  savedViews.value = savedViews.value.filter((v) => v.id !== id);
}

export function setFilters(changes) {
  filters.value = { ...filters.value, ...changes };
  reloadList();
}

/** Put `c` where it belongs in the list now (or take it out), without a reload. */
function place(c) {
  remember([c]);
  placedWhileLoading?.set(c.id, c);
  const f = filters.value;
  if (f.q.trim()) {
    // Only the server knows what a search matches: a listed result is updated where it is
    // (or leaves if it no longer passes the other filters); nothing new joins until the
    // search runs again.
    if (listIds.value.includes(c.id) && !admits(c, f)) listIds.value = listIds.value.filter((id) => id !== c.id);
    return;
  }
  const ids = listIds.value.filter((id) => id !== c.id);
  if (admits(c, f)) {
    const compare = comparator(f.sort);
    const map = byId.value;
    let at = ids.findIndex((id) => compare(c, map.get(id)) < 0);
    if (at < 0) {
      // Past the loaded pages: it will come with a later page, unless the list is complete.
      if (nextCursor.value) {
        listIds.value = ids;
        return;
      }
      at = ids.length;
    }
    ids.splice(at, 0, c.id);
  }
  listIds.value = ids;
}

let countsTimer = null;
export function refreshCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    try {
      counts.value = await api.get(`/conversations/counts${query({ status: filters.value.status || "open" })}`);
    } catch (_) {
      // The sidebar keeps its last numbers.
    }
  }, 150);
}

export const unreadTotal = computed(() => counts.value?.all?.unread ?? 0);

// ---- the open conversation -------------------------------------------------------------

export const thread = signal({ id: null, messages: [], activity: [], loading: false });
export const contact = signal(null);
export const presence = signal(new Map()); // conversation id → [{agent_id, name, state}]
export const contactPanelOpen = signal(false);

export async function openConversation(id) {
  if (selectedId.value === id) return;
  const previous = selectedId.value;
  batch(() => {
    selectedId.value = id;
    thread.value = { id, messages: [], activity: [], loading: true };
    contact.value = null;
  });
  if (previous) leave(previous);
  if (id === null) return;
  heartbeat(id, "viewing");
  try {
    const [conversation, messages, activity] = await Promise.all([
      api.get(`/conversations/${id}`),
      api.get(`/conversations/${id}/messages?limit=200`),
      api.get(`/conversations/${id}/activity?limit=200`),
    ]);
    if (selectedId.value !== id) return;
    remember([conversation]);
    // Live events that arrived while these were loading are newer than what was read.
    const early = thread.value;
    const loaded = new Map([...(messages.items ?? messages)].map((m) => [m.id, m]));
    for (const m of early.messages) if (fresher(m, loaded.get(m.id))) loaded.set(m.id, m);
    const notes = new Map(activity.items.map((a) => [a.id, a]));
    for (const a of early.activity) notes.set(a.id, a);
    thread.value = {
      id,
      messages: [...loaded.values()].sort((a, b) => a.id - b.id),
      activity: [...notes.values()].sort((a, b) => a.id - b.id),
      loading: false,
    };
    markRead(id);
    const found = await api.get(`/contacts/${conversation.contact.id}`);
    if (selectedId.value === id) contact.value = found;
  } catch (error) {
    showError(error);
    if (selectedId.value === id) thread.value = { ...thread.value, loading: false };
  }
}

async function markRead(id) {
  try {
    await api.post(`/conversations/${id}/read`, {});
    const c = byId.value.get(id);
    if (c && c.unread_count) remember([{ ...c, unread_count: 0 }]);
    refreshCounts();
  } catch (_) {
    // Read state is a courtesy; the next open tries again.
  }
}

export async function reply(id, text, channelId) {
  const body = { text };
  if (channelId) body.channel_id = channelId;
  const message = await postOnce(`/conversations/${id}/messages`, body);
  upsertMessage(message);
  return message;
}

/** Send a pre-approved template (`{name, language, parameters}`) instead of free text. */
export async function sendTemplate(id, template, channelId) {
  const body = { content: { type: "template", ...template } };
  if (channelId) body.channel_id = channelId;
  const message = await postOnce(`/conversations/${id}/messages`, body);
  upsertMessage(message);
  return message;
}

/** The templates stored for `channelId`. */
export function templatesOf(channelId) {
  return api.get(`/templates?channel=${encodeURIComponent(channelId)}`);
}

/** Send a failed or dead-lettered reply again; its status goes back to pending. */
export async function retryDelivery(conversationId, messageId) {
  const message = await api.post(`/conversations/${conversationId}/messages/${messageId}/retry`, {});
  upsertMessage(message);
  return message;
}

/** Each reachable channel's customer-service window in a conversation. */
export function replyWindows(conversationId) {
  return api.get(`/conversations/${conversationId}/windows`);
}

/** A reply's outbox state and attempts. */
export function delivery(conversationId, messageId) {
  return api.get(`/conversations/${conversationId}/messages/${messageId}/delivery`);
}

export async function addNote(id, text) {
  const note = await api.post(`/conversations/${id}/notes`, { text });
  upsertActivity(note);
  return note;
}

export async function update(id, changes) {
  try {
    const conversation = await api.patch(`/conversations/${id}`, changes);
    place(conversation);
    refreshCounts();
    return conversation;
  } catch (error) {
    showError(error);
    return null;
  }
}

export async function expand(id, text) {
  return (await api.post(`/conversations/${id}/expand`, { text })).text;
}

export async function cannedResponses(prefix) {
  return api.get(`/canned-responses${query({ prefix })}`);
}

const STATUS_RANK = { pending: 0, queued: 1, sent: 2, failed: 3, delivered: 4, read: 5 };

/** Whether `incoming` is at least as new as `known`: a reply's own response can arrive after
 * the live event that reported it sent, and must not move its tick back. */
function fresher(incoming, known) {
  if (!known) return true;
  if (incoming.updated_at !== known.updated_at) return incoming.updated_at > known.updated_at;
  return (STATUS_RANK[incoming.status] ?? 0) >= (STATUS_RANK[known.status] ?? 0);
}

function upsertMessage(message) {
  const t = thread.value;
  if (t.id !== message.conversation_id) return;
  if (!fresher(message, t.messages.find((m) => m.id === message.id))) return;
  const messages = t.messages.filter((m) => m.id !== message.id);
  messages.push(message);
  messages.sort((a, b) => a.id - b.id);
  thread.value = { ...t, messages };
}

function upsertActivity(entry) {
  const t = thread.value;
  if (t.id !== entry.conversation_id || t.activity.some((a) => a.id === entry.id)) return;
  thread.value = { ...t, activity: [...t.activity, entry] };
}

// ---- presence --------------------------------------------------------------------------

let beating = null;
let presenceState = "viewing";

export async function heartbeat(id, state) {
  presenceState = state;
  clearInterval(beating);
  const send = async () => {
    try {
      const current = await api.put(`/conversations/${id}/presence`, { state: presenceState });
      setPresence(current);
    } catch (_) {
      // Presence is best effort: the bootstrap token has none, and a lost beat lapses.
    }
  };
  await send();
  beating = setInterval(send, 10_000);
}

async function leave(id) {
  clearInterval(beating);
  try {
    await api.del(`/conversations/${id}/presence`);
  } catch (_) {
    // It lapses by itself.
  }
}

function setPresence(p) {
  const map = new Map(presence.value);
  if (p.agents.length) map.set(p.conversation_id, p.agents);
  else map.delete(p.conversation_id);
  presence.value = map;
}

// A web chat visitor typing: conversation id → when it lapses (Unix ms). The server says
// `typing: false` when they stop or send; the lapse covers a visitor who just closed the tab.
export const contactTyping = signal(new Map());
let typingSweep = null;

function setContactTyping(payload) {
  const map = new Map(contactTyping.value);
  if (payload.typing) map.set(payload.conversation_id, payload.expires_at);
  else map.delete(payload.conversation_id);
  contactTyping.value = map;
  clearTimeout(typingSweep);
  if (map.size) {
    const next = Math.min(...map.values()) - Date.now();
    typingSweep = setTimeout(() => {
      const now = Date.now();
      const kept = new Map([...contactTyping.value].filter(([, until]) => until > now));
      contactTyping.value = kept;
    }, Math.max(next, 0) + 50);
  }
}

/** Whether the customer of conversation `id` is typing (web chat). */
export function contactIsTyping(id) {
  const until = contactTyping.value.get(id);
  return until !== undefined && until > Date.now();
}

/** Others (not me) present in conversation `id`. */
export function othersIn(id) {
  return (presence.value.get(id) ?? []).filter((a) => a.agent_id !== me.value?.id);
}

// ---- the live stream -------------------------------------------------------------------

async function refetch(id) {
  try {
    place(await api.get(`/conversations/${id}`));
  } catch (error) {
    // Moved out of the caller's sight (another team): it leaves the list.
    if (error.status === 404) listIds.value = listIds.value.filter((x) => x !== id);
  }
}

function handle(kind, payload) {
  switch (kind) {
    case "message.created":
    case "message.updated": {
      const message = payload.message;
      upsertMessage(message);
      // A visitor's message ends their typing.
      if (message.direction === "inbound" && contactTyping.value.has(payload.conversation_id)) setContactTyping({ conversation_id: payload.conversation_id, typing: false });
      refetch(payload.conversation_id);
      if (kind === "message.created" && message.direction === "inbound" && selectedId.value === payload.conversation_id && !document.hidden) {
        markRead(payload.conversation_id);
      }
      refreshCounts();
      break;
    }
    case "conversation.updated":
      place(payload.conversation);
      for (const change of payload.changes ?? []) if (change.id) upsertActivity(change);
      refreshCounts();
      break;
    case "note.created":
      upsertActivity(payload.note);
      break;
    case "presence.updated":
      setPresence(payload);
      break;
    case "contact.typing":
      setContactTyping(payload);
      break;
  }
}

// ---- session ---------------------------------------------------------------------------

let stopLive = null;

export async function start() {
  const current = session.value;
  if (!current) return;
  stopLive?.();
  stopLive = follow(current.token, handle, (state, fresh) => {
    connection.value = state;
    // A conversation that arrived after the first page was read but before the stream
    // started is on neither: once a fresh stream is live, read the list again.
    if (state === "live" && fresh) {
      reloadList();
      refreshCounts();
    }
  });
  // The list first: it is what the agent waits for, and it needs nothing of what follows.
  reloadList();
  refreshCounts();
  try {
    const [found, listed, teamList, presenceList, views, directory] = await Promise.all([
      api.get("/me"), api.get("/channels"), api.get("/teams"), api.get("/presence"), api.get("/views"), api.get("/agents/directory"),
    ]);
    batch(() => {
      session.value = { ...current, agent: found };
      channels.value = listed;
      teams.value = teamList;
      savedViews.value = views;
      agents.value = directory;
      presence.value = new Map(presenceList.map((p) => [p.conversation_id, p.agents]));
    });
    saveSession(session.value);
  } catch (error) {
    showError(error);
  }
}

export async function login(email, password) {
  const created = await api.post("/auth/login", { email, password });
  saveSession(created);
  // The inbox starts itself (the live stream, the list) when it mounts.
  session.value = created;
}

export async function logout() {
  try {
    await api.post("/auth/logout", {});
  } catch (_) {
    // The session is dropped here either way.
  }
  end();
}

function end() {
  stopLive?.();
  stopLive = null;
  clearInterval(beating);
  clearSession();
  batch(() => {
    session.value = null;
    listIds.value = [];
    byId.value = new Map();
    selectedId.value = null;
    thread.value = { id: null, messages: [], activity: [], loading: false };
  });
}

whenUnauthorized(() => {
  end();
  notice.value = { kind: "info", text: "Your session ended. Sign in again." };
});

export function showError(error) {
  notice.value = { kind: "error", text: error.message ?? String(error) };
}
