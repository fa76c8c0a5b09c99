// The Switchboard inbox. Three panes (views and filters, the list, the thread), one pane at a
// time on a phone. Everything an agent does goes through the public REST API.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { effect } from "@preact/signals";
import { html } from "./ui/html.js";
import { Login } from "./ui/login.js";
import { Sidebar } from "./ui/sidebar.js";
import { ConversationList } from "./ui/list.js";
import { Thread } from "./ui/thread.js";
import { AdminPage } from "./ui/admin.js";
import { composerFocus } from "./ui/composer.js";
import { session, start, notice, listIds, cursorIndex, selectedId, openConversation, update, me, unreadTotal, page } from "./lib/state.js";

const SHORTCUTS = [
  ["j / k", "Next / previous conversation"],
  ["Enter", "Open the highlighted conversation"],
  ["r", "Reply"],
  ["n", "Private note"],
  ["e", "Resolve"],
  ["s", "Snooze until they reply"],
  ["a", "Assign to me"],
  ["/", "Search"],
  ["Ctrl/Cmd + K", "Command palette"],
  ["Ctrl/Cmd + Enter", "Send what you wrote"],
  ["Esc", "Leave the text box, close a dialog"],
  ["?", "This list"],
];

function commands() {
  const id = selectedId.value;
  const list = [
    { name: "Search conversations", run: () => document.getElementById("search")?.focus() },
    { name: "Show shortcuts", run: () => (helpOpen.set(true)) },
  ];
  if (id !== null) {
    list.push(
      { name: "Resolve", run: () => update(id, { status: "resolved" }) },
      { name: "Reopen", run: () => update(id, { status: "open" }) },
      { name: "Snooze until they reply", run: () => update(id, { status: "snoozed" }) },
      { name: "Assign to me", run: () => me.value && update(id, { assignee_id: me.value.id }) },
      { name: "Reply", run: () => composerFocus.request?.("reply") },
      { name: "Private note", run: () => composerFocus.request?.("note") },
      ...["urgent", "high", "normal", "low"].map((p) => ({ name: `Priority: ${p}`, run: () => update(id, { priority: p }) })),
    );
  }
  return list;
}

const helpOpen = { set: () => {} };
const paletteOpen = { set: () => {} };

function Help({ close }) {
  return html`
    <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="help-title" onClick=${close}>
      <div class="dialog" onClick=${(e) => e.stopPropagation()}>
        <h2 id="help-title">Keyboard shortcuts</h2>
        <table class="shortcuts">
          <tbody>${SHORTCUTS.map(([keys, what]) => html`<tr><th scope="row"><kbd>${keys}</kbd></th><td>${what}</td></tr>`)}</tbody>
        </table>
        <button class="primary" onClick=${close} autofocus>Close</button>
      </div>
    </div>
  `;
}

function Palette({ close }) {
  const [filter, setFilter] = useState("");
  const [index, setIndex] = useState(0);
  const found = commands().filter((c) => c.name.toLowerCase().includes(filter.toLowerCase()));
  const run = (command) => {
    close();
    command?.run();
  };
  const onKeyDown = (event) => {
    if (event.key === "ArrowDown") { event.preventDefault(); setIndex((index + 1) % Math.max(found.length, 1)); }
    if (event.key === "ArrowUp") { event.preventDefault(); setIndex((index + found.length - 1) % Math.max(found.length, 1)); }
    if (event.key === "Enter") { event.preventDefault(); run(found[index]); }
    if (event.key === "Escape") close();
  };
  return html`
    <div class="overlay" role="dialog" aria-modal="true" aria-label="Command palette" onClick=${close}>
      <div class="dialog palette" onClick=${(e) => e.stopPropagation()}>
        <label for="palette-input" class="sr-only">Command</label>
        <input id="palette-input" autofocus placeholder="Type a command…" value=${filter} onInput=${(e) => { setFilter(e.currentTarget.value); setIndex(0); }} onKeyDown=${onKeyDown} />
        <ul role="listbox" aria-label="Commands">
          ${found.map((c, n) => html`<li role="option" aria-selected=${n === index ? "true" : "false"} class=${n === index ? "active" : ""} onClick=${() => run(c)}>${c.name}</li>`)}
        </ul>
      </div>
    </div>
  `;
}

function typingInField(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function onKey(event) {
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
    event.preventDefault();
    paletteOpen.set(true);
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event.target) || page.value !== "inbox") return;
  const ids = listIds.value;
  const id = selectedId.value;
  switch (event.key) {
    case "j":
      cursorIndex.value = Math.min(ids.length - 1, cursorIndex.value + 1);
      break;
    case "k":
      cursorIndex.value = Math.max(0, cursorIndex.value - 1);
      break;
    case "Enter":
      if (ids[cursorIndex.value] !== undefined) openConversation(ids[cursorIndex.value]);
      break;
    case "r":
    case "n":
      if (id !== null) { event.preventDefault(); composerFocus.request?.(event.key === "r" ? "reply" : "note"); }
      break;
    case "e":
      if (id !== null) update(id, { status: "resolved" });
      break;
    case "s":
      if (id !== null) update(id, { status: "snoozed" });
      break;
    case "a":
      if (id !== null && me.value) update(id, { assignee_id: me.value.id });
      break;
    case "/":
      event.preventDefault();
      document.getElementById("search")?.focus();
      break;
    case "?":
      helpOpen.set(true);
      break;
    default:
      return;
  }
}

function Notice() {
  const n = notice.value;
  if (!n || n.kind === "info") return null;
  return html`<div class="notice" role="alert"><span>${n.text}</span><button class="ghost" aria-label="Dismiss" onClick=${() => (notice.value = null)}>×</button></div>`;
}

function Inbox() {
  const [help, setHelp] = useState(false);
  const [palette, setPalette] = useState(false);
  helpOpen.set = setHelp;
  paletteOpen.set = setPalette;
  useEffect(() => {
    start();
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
  useEffect(() => {
    const close = (event) => event.key === "Escape" && (setHelp(false), setPalette(false));
    document.addEventListener("keydown", close);
    return () => document.removeEventListener("keydown", close);
  }, []);
  return html`
    <div class=${"inbox" + (selectedId.value !== null ? " has-thread" : "")}>
      <${Sidebar} />
      ${page.value === "inbox"
        ? html`<${ConversationList} /><${Thread} />`
        : html`<${AdminPage} name=${page.value.slice(6)} />`}
      <${Notice} />
      ${help && html`<${Help} close=${() => setHelp(false)} />`}
      ${palette && html`<${Palette} close=${() => setPalette(false)} />`}
    </div>
  `;
}

function App() {
  return session.value ? html`<${Inbox} />` : html`<${Login} />`;
}

// The unread total in the tab title.
effect(() => {
  const unread = unreadTotal.value;
  document.title = unread > 0 ? `(${unread}) Switchboard` : "Switchboard";
});

const root = document.getElementById("app");
root.textContent = ""; // The "Loading" line; Preact 11 renders beside existing children.
render(html`<${App} />`, root);
