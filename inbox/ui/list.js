// The conversation list: virtualised (only the rows in view exist in the page), paged by
// keyset cursors as it scrolls, re-ordered live by the stream.
import { html } from "./html.js";
import { useEffect, useRef, useState } from "preact/hooks";
import { listIds, byId, selectedId, cursorIndex, openConversation, loadMore, nextCursor, listLoading, filters, setFilters, plugins, othersIn, presence } from "../lib/state.js";
import { ago, channelLook, contactName } from "../lib/format.js";

const ROW = 76;
let searchTimer = null;
const OVERSCAN = 6;

export function ChannelMark({ id }) {
  const look = channelLook(id, plugins.value);
  return html`<span class=${"channel " + look.tone} role="img" aria-label=${look.label} title=${`${look.label} · ${id}`}>${look.mark}</span>`;
}

function Row({ id, index, top }) {
  const c = byId.value.get(id);
  if (!c) return null;
  const selected = selectedId.value === id;
  const focused = cursorIndex.value === index;
  const others = othersIn(id);
  const typing = others.find((a) => a.state === "typing");
  const preview = c.last_message?.text ?? (c.last_message ? `[${c.last_message.kind}]` : "");
  return html`
    <li role="option" aria-selected=${selected ? "true" : "false"} id=${`row-${id}`} data-conversation=${id}
        class=${"row" + (selected ? " selected" : "") + (focused ? " focused" : "") + (c.unread_count > 0 ? " unread" : "")}
        style=${`top:${top}px;height:${ROW}px`} onClick=${() => { cursorIndex.value = index; openConversation(id); }}>
      <${ChannelMark} id=${c.channel_id} />
      <div class="row-main">
        <div class="row-top">
          <span class="name">${contactName(c.contact)}</span>
          <span class="waiting" title="Last message">${ago(c.last_message_at)}</span>
        </div>
        <div class="row-bottom">
          <span class="preview">${typing ? html`<em>${typing.name} is typing…</em>` : preview}</span>
          ${others.length > 0 && !typing && html`<span class="viewers" title=${others.map((a) => a.name).join(", ") + " viewing"}>👁 ${others.length}</span>`}
          <span class=${"priority " + c.priority} title=${`Priority: ${c.priority}`}>${c.priority === "normal" ? "" : c.priority}</span>
          ${c.unread_count > 0 && html`<span class="badge" aria-label=${`${c.unread_count} unread`}>${c.unread_count}</span>`}
        </div>
      </div>
    </li>
  `;
}

export function ConversationList() {
  const box = useRef(null);
  const [scroll, setScroll] = useState({ top: 0, height: 800 });
  const ids = listIds.value;
  // Keep the keyboard cursor in view.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const top = cursorIndex.value * ROW;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW - el.clientHeight;
  }, [cursorIndex.value]);
  useEffect(() => {
    const el = box.current;
    if (el) setScroll({ top: el.scrollTop, height: el.clientHeight });
  }, [ids.length]);
  const onScroll = (event) => {
    const el = event.currentTarget;
    setScroll({ top: el.scrollTop, height: el.clientHeight });
    if (el.scrollTop + el.clientHeight > el.scrollHeight - ROW * 20) loadMore();
  };
  presence.value; // Re-render rows when presence changes.
  const first = Math.max(0, Math.floor(scroll.top / ROW) - OVERSCAN);
  const last = Math.min(ids.length, Math.ceil((scroll.top + scroll.height) / ROW) + OVERSCAN);
  const f = filters.value;
  return html`
    <section class="list-pane" aria-label="Conversations">
      <div class="search">
        <label for="search" class="sr-only">Search conversations</label>
        <input id="search" type="search" placeholder="Search name, phone, email, text  ( / )" value=${f.q}
          onInput=${(e) => { const q = e.currentTarget.value; clearTimeout(searchTimer); searchTimer = setTimeout(() => setFilters({ q }), 250); }} />
      </div>
      <div class="list-scroll" ref=${box} onScroll=${onScroll} tabindex="-1">
        <ul class="rows" role="listbox" aria-label="Conversation list" style=${`height:${ids.length * ROW}px`}>
          ${ids.slice(first, last).map((id, n) => html`<${Row} key=${id} id=${id} index=${first + n} top=${(first + n) * ROW} />`)}
        </ul>
        ${ids.length === 0 && !listLoading.value && html`<p class="empty">No conversations here.</p>`}
      </div>
      <footer class="list-foot">${ids.length} shown${nextCursor.value ? " · more below" : ""}${listLoading.value ? " · loading…" : ""}</footer>
    </section>
  `;
}
