/*
 * Switchboard web chat widget, v1.
 *
 * <script src="https://support.example.com/widget/v1.js" data-channel="webchat" async></script>
 * No framework, no build step, no requests except to the origin this file came from. Renders in a
 * shadow root so the site's CSS and ours can't touch each other. Only global: window.SwitchboardWebchat.
 */
(() => {
  "use strict";

  // currentScript is only set while this file first runs (also for async scripts), so read it now.
  const script = document.currentScript || document.querySelector('script[data-channel][src*="/widget/v1.js"]');
  if (!script || window.SwitchboardWebchat || document.getElementById("switchboard-webchat")) return; // loaded twice
  const ds = script.dataset;
  const CH = (ds.channel || "").trim();
  if (!CH) { console.warn("Switchboard web chat: data-channel is required"); return; }

  const BASE = new URL(script.src, location.href).origin;
  const API = `${BASE}/api/v1/webchat/${encodeURIComponent(CH)}`;
  const KEY = "switchboard.webchat." + CH;

  // ---- language packs (every visible or spoken string lives here)
  const PACKS = {
    en: {
      title: "Chat with us", greeting: "Hi! How can we help?", placeholder: "Write a message…",
      send: "Send", attach: "Attach a file", open: "Open chat", close: "Close chat", unread: "{n} unread",
      sending: "Sending…", sent: "Sent", delivered: "Delivered", read: "Read", failed: "Failed", retry: "Retry",
      typing: "{name} is typing…", agent: "An agent", you: "You", messages: "Messages",
      connecting: "Connecting…", reconnecting: "Reconnecting…", unavailable: "Chat unavailable",
      online: "Online", replyTime: "We reply {reply_time}", offlineReply: "We'll reply {reply_time}",
      away: "We're away right now", emailLabel: "Get the reply by email", emailPlaceholder: "you@example.com",
      emailButton: "Notify me", emailSaved: "We'll email you at {email}", invalidEmail: "Please enter a valid email address.",
      tooLong: "That message is too long ({max} characters max).", tooLarge: "That file is too large ({max} max).",
      typeNotAllowed: "That file type is not allowed.", uploadFailed: "The file could not be uploaded.",
      uploading: "Uploading…", waitUpload: "Please wait for the upload to finish.", remove: "Remove {name}",
      file: "File", image: "Image", today: "Today", genericError: "Something went wrong. Please try again.",
    },
    es: {
      title: "Chatea con nosotros", greeting: "¡Hola! ¿En qué podemos ayudarte?", placeholder: "Escribe un mensaje…",
      send: "Enviar", attach: "Adjuntar un archivo", open: "Abrir chat", close: "Cerrar chat", unread: "{n} sin leer",
      sending: "Enviando…", sent: "Enviado", delivered: "Entregado", read: "Leído", failed: "Error al enviar", retry: "Reintentar",
      typing: "{name} está escribiendo…", agent: "Un agente", you: "Tú", messages: "Mensajes",
      connecting: "Conectando…", reconnecting: "Reconectando…", unavailable: "Chat no disponible",
      online: "En línea", replyTime: "Respondemos {reply_time}", offlineReply: "Te responderemos {reply_time}",
      away: "Ahora mismo no estamos disponibles", emailLabel: "Recibe la respuesta por correo", emailPlaceholder: "tu@ejemplo.com",
      emailButton: "Avisarme", emailSaved: "Te escribiremos a {email}", invalidEmail: "Introduce un correo electrónico válido.",
      tooLong: "El mensaje es demasiado largo (máximo {max} caracteres).", tooLarge: "El archivo es demasiado grande (máximo {max}).",
      typeNotAllowed: "Ese tipo de archivo no está permitido.", uploadFailed: "No se pudo subir el archivo.",
      uploading: "Subiendo…", waitUpload: "Espera a que termine la subida.", remove: "Quitar {name}",
      file: "Archivo", image: "Imagen", today: "Hoy", genericError: "Algo salió mal. Inténtalo de nuevo.",
    },
    pt: {
      title: "Fale conosco", greeting: "Olá! Como podemos ajudar?", placeholder: "Escreva uma mensagem…",
      send: "Enviar", attach: "Anexar um arquivo", open: "Abrir chat", close: "Fechar chat", unread: "{n} não lidas",
      sending: "Enviando…", sent: "Enviada", delivered: "Entregue", read: "Lida", failed: "Falha no envio", retry: "Tentar de novo",
      typing: "{name} está digitando…", agent: "Um atendente", you: "Você", messages: "Mensagens",
      connecting: "Conectando…", reconnecting: "Reconectando…", unavailable: "Chat indisponível",
      online: "Online", replyTime: "Respondemos {reply_time}", offlineReply: "Responderemos {reply_time}",
      away: "Estamos ausentes no momento", emailLabel: "Receba a resposta por e-mail", emailPlaceholder: "voce@exemplo.com",
      emailButton: "Avise-me", emailSaved: "Enviaremos um e-mail para {email}", invalidEmail: "Digite um e-mail válido.",
      tooLong: "A mensagem é longa demais (máximo de {max} caracteres).", tooLarge: "O arquivo é grande demais (máximo de {max}).",
      typeNotAllowed: "Esse tipo de arquivo não é permitido.", uploadFailed: "Não foi possível enviar o arquivo.",
      uploading: "Enviando arquivo…", waitUpload: "Aguarde o fim do envio do arquivo.", remove: "Remover {name}",
      file: "Arquivo", image: "Imagem", today: "Hoje", genericError: "Algo deu errado. Tente novamente.",
    },
  };
  const prefix = (s) => (s || "").toLowerCase().split(/[-_]/)[0];
  const LANG = [ds.lang, navigator.language].map(prefix).find((c) => PACKS[c]) || "en";
  const T = PACKS[LANG];
  const STATUS = { sending: T.sending, sent: T.sent, delivered: T.delivered, read: T.read, failed: T.failed };
  const fmt = (s, vars) => s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));

  const cfg = {
    title: ds.title || T.title,
    greeting: ds.greeting || T.greeting,
    position: ds.position === "left" ? "left" : "right",
    identifier: ds.identifier || null,
    identifierHash: ds.identifierHash || null,
    name: ds.name || null,
    open: ds.open === "true",
  };

  // ---- storage: localStorage when allowed, memory otherwise (sandboxed iframes, blocked cookies)
  const mem = new Map();
  const store = {
    get(k) { if (mem.has(k)) return mem.get(k); try { return localStorage.getItem(k); } catch { return null; } },
    set(k, v) { mem.set(k, v); try { localStorage.setItem(k, v); } catch { /* memory only */ } },
  };

  // ---- small helpers
  const newId = () => {
    if (crypto.randomUUID) { try { return crypto.randomUUID(); } catch { /* insecure context */ } }
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  };
  const charLen = (s) => [...s].length; // code points, like the server's chars().count()

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    el.append(...kids.flat().filter((x) => x != null && x !== false));
    return el;
  }
  // SVG built with DOM calls, not innerHTML, so sites enforcing Trusted Types don't break us.
  function icon(d, stroke) {
    const NS = "http://www.w3.org/2000/svg";
    const s = document.createElementNS(NS, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("focusable", "false");
    const p = document.createElementNS(NS, "path");
    p.setAttribute("d", d);
    if (stroke) {
      p.setAttribute("fill", "none"); p.setAttribute("stroke", "currentColor");
      p.setAttribute("stroke-width", "2.2"); p.setAttribute("stroke-linecap", "round");
    } else p.setAttribute("fill", "currentColor");
    s.append(p);
    return s;
  }
  const ICON = {
    chat: "M6 3.5h12A3.5 3.5 0 0 1 21.5 7v7.5A3.5 3.5 0 0 1 18 18h-7.2L6 21.6V18A3.5 3.5 0 0 1 2.5 14.5V7A3.5 3.5 0 0 1 6 3.5z",
    close: "M6.5 6.5l11 11M17.5 6.5l-11 11",
    clip: "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z",
    send: "M3.4 20.4l17.45-7.48a1 1 0 0 0 0-1.84L3.4 3.6a.99.99 0 0 0-1.39.91L2 9.12c0 .5.37.93.87.99L17 12 2.87 13.88c-.5.07-.87.5-.87 1l.01 4.61c0 .71.73 1.2 1.39.91z",
  };

  // Accent colour: accept any CSS colour. A 1×1 canvas turns it into sRGB bytes whatever the syntax
  // (named, hsl(), oklch()…), which getComputedStyle doesn't always do in newer browsers.
  function resolveColor(input) {
    if (!input || /^(inherit|initial|unset|revert|currentcolor|transparent)/i.test(input.trim())) return null;
    if (!(window.CSS && CSS.supports("color", input))) return null;
    try {
      const c = document.createElement("canvas");
      c.width = c.height = 1;
      const x = c.getContext("2d");
      x.fillStyle = "#000";
      x.fillStyle = input;
      x.fillRect(0, 0, 1, 1);
      const [r, g, b, a] = x.getImageData(0, 0, 1, 1).data;
      return a < 200 ? null : [r, g, b]; // mostly transparent accents would be unreadable
    } catch { return null; }
  }
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const accentRGB = resolveColor(ds.color) || [0x2f, 0x6f, 0xed];
  const lum = luminance(accentRGB);
  const ACCENT = `rgb(${accentRGB.join(",")})`;
  const onWhite = 1.05 / (lum + 0.05); // WCAG contrast of white text on the accent
  // White text when it passes AA (what brand colours usually expect), else whichever contrasts more.
  const ON_ACCENT = onWhite >= 4.5 || onWhite >= (lum + 0.05) / 0.05 ? "#ffffff" : "#111111";
  const RING = onWhite >= 3 ? ACCENT : "#1b1f24"; // focus rings on white need 3:1

  // ---- styles (all inside the shadow root)
  const CSS_TEXT = `
:host{all:initial!important;display:block!important}
.root{--accent:${ACCENT};--on:${ON_ACCENT};--ring:${RING};--ink:#1b1f24;--muted:#5b626c;--line:#dfe3e8;--soft:#f1f3f5;
 font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:var(--ink);text-align:left;color-scheme:light}
*,::before,::after{box-sizing:border-box}
[hidden]{display:none!important}
button,input,textarea{font:inherit;color:inherit;margin:0}
button{background:none;border:0;padding:0;cursor:pointer}
button:disabled{cursor:default;opacity:.5}
svg{display:block;width:22px;height:22px}
:focus{outline:none}
:focus-visible{outline:2px solid var(--ring);outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.launcher{position:fixed;bottom:calc(20px + env(safe-area-inset-bottom,0px));right:20px;z-index:2147483000;width:60px;height:60px;
 border-radius:50%;background:var(--accent);color:var(--on);display:flex;align-items:center;justify-content:center;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.launcher:focus-visible{outline-width:3px;outline-offset:3px}
.launcher svg{width:28px;height:28px}
.launcher .x,.open .launcher .chat{display:none}
.open .launcher .x{display:block}
.badge{position:absolute;top:-3px;right:-3px;min-width:22px;height:22px;padding:0 5px;border-radius:11px;background:#c5221f;color:#fff;
 font-size:12px;font-weight:700;line-height:18px;text-align:center;border:2px solid #fff}
.panel{position:fixed;z-index:2147483001;bottom:calc(96px + env(safe-area-inset-bottom,0px));right:20px;width:370px;height:560px;
 max-width:calc(100vw - 40px);max-height:calc(100vh - 116px);max-height:calc(100dvh - 116px);background:#fff;border-radius:16px;
 box-shadow:0 12px 40px rgba(0,0,0,.22),0 0 0 1px rgba(0,0,0,.06);display:flex;flex-direction:column;overflow:hidden;animation:sb-in .18s ease-out}
.left .launcher,.left .panel{right:auto;left:20px}
@keyframes sb-in{from{opacity:0;transform:translateY(10px)}}
.head{background:var(--accent);color:var(--on);padding:14px 12px 14px 18px;display:flex;align-items:center;gap:10px}
.head div{flex:1;min-width:0}
h2{margin:0;font-size:16px;font-weight:650;line-height:1.3;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.status{margin:2px 0 0;font-size:13px;display:flex;align-items:center;gap:6px}
.dot{width:9px;height:9px;border-radius:50%;background:#f5a524;box-shadow:0 0 0 2px var(--on)}
[data-state=connected] .dot{background:#1fa55a}
.away[data-state=connected] .dot{background:#9aa1aa}
[data-state=error] .dot{background:#d93025}
.head button{width:38px;height:38px;border-radius:10px;display:flex;align-items:center;justify-content:center}
.head button:hover{background:rgba(127,127,127,.22)}
.head button:focus-visible{outline-color:var(--on);outline-offset:0}
.body{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:16px 14px 8px;display:flex;flex-direction:column}
.intro{background:var(--soft);border-radius:12px;padding:12px 14px;margin-bottom:12px}
p{margin:0}
.offline{margin-top:10px;padding-top:10px;border-top:1px solid var(--line);font-size:14px}
label{display:block;font-weight:600;font-size:13px;margin:8px 0 4px}
.row{display:flex;gap:6px;align-items:flex-end}
input,textarea{flex:1;min-width:0;border:1px solid #aab1ba;background:#fff}
input{height:38px;border-radius:8px;padding:0 10px;font-size:14px}
input:focus-visible,textarea:focus-visible{outline-offset:0;border-color:transparent}
.btn{height:38px;padding:0 14px;border-radius:8px;background:var(--accent);color:var(--on);font-weight:600;font-size:14px}
.saved{margin-top:6px;font-weight:600}
.log{display:flex;flex-direction:column;gap:4px}
.day{align-self:center;font-size:12px;color:var(--muted);margin:10px 0 4px}
.msg{display:flex;flex-direction:column;align-items:flex-start;max-width:82%}
.msg.in{align-self:flex-end;align-items:flex-end}
.author{font-size:12px;color:var(--muted);margin:8px 0 2px 4px}
.bubble{padding:8px 12px;border-radius:16px 16px 16px 5px;background:var(--soft);max-width:100%;overflow-wrap:anywhere}
.in .bubble{background:var(--accent);color:var(--on);border-radius:16px 16px 5px 16px}
[data-status=sending] .bubble{opacity:.6}
[data-status=failed] .bubble{box-shadow:0 0 0 2px #d93025}
.text{white-space:pre-wrap}
.bubble a{color:inherit}
.att-img img{display:block;margin:4px 0;max-width:100%;max-height:240px;border-radius:10px}
.att-file{display:inline-flex;gap:6px;margin:4px 0;font-weight:600}
.meta{font-size:12px;color:var(--muted);margin:2px 4px 4px;display:flex;gap:6px;align-items:center}
[data-status=failed] .meta,.retry,.error,.over{color:#b3261e}
.retry{font-weight:700;text-decoration:underline;font-size:12px}
.typing{display:flex;align-items:center;gap:8px;font-size:13px;color:var(--muted);padding:8px 4px 2px}
.dots{display:flex;gap:3px;background:var(--soft);padding:8px 10px;border-radius:12px}
.dots i{width:6px;height:6px;border-radius:50%;background:#7b828c;animation:sb-dot 1.2s infinite}
.dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}
@keyframes sb-dot{30%{transform:translateY(-4px);opacity:1}0%,60%,100%{opacity:.5}}
.composer{border-top:1px solid var(--line);padding:10px 12px 12px}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:8px}
.chip{display:inline-flex;align-items:center;gap:4px;max-width:100%;background:var(--soft);border-radius:14px;padding:3px 4px 3px 10px;font-size:13px}
.chip span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.chip button{width:24px;height:24px;border-radius:50%;display:flex;align-items:center;justify-content:center}
.chip svg{width:14px;height:14px}
textarea{display:block;resize:none;border-radius:20px;padding:9px 14px;min-height:40px;max-height:120px;line-height:20px}
textarea::placeholder{color:#6b727c;opacity:1}
textarea:disabled{background:var(--soft)}
.icon{width:40px;height:40px;border-radius:50%;display:flex;align-items:center;justify-content:center;flex:none;color:#3f4650}
.icon:hover:not(:disabled){background:var(--soft)}
.send,.send:hover:not(:disabled){background:var(--accent);color:var(--on)}
.send.empty{opacity:.55}
.foot{display:flex;gap:8px}
.error{flex:1;font-size:13px;margin-top:6px}
.error:empty{margin:0}
.counter{font-size:12px;color:var(--muted);margin:6px 4px 0 auto}
.over{font-weight:700}
.file{position:absolute;width:1px;height:1px;opacity:0;pointer-events:none}
@media (max-width:479.98px){
 .root .panel{inset:0;width:100%;height:100%;height:100vh;height:100dvh;max-width:none;max-height:none;border-radius:0;animation:none}
 .head{padding:calc(14px + env(safe-area-inset-top,0px)) calc(12px + env(safe-area-inset-right,0px)) 14px calc(18px + env(safe-area-inset-left,0px))}
 .body,.composer{padding-left:calc(12px + env(safe-area-inset-left,0px));padding-right:calc(12px + env(safe-area-inset-right,0px))}
 .composer{padding-bottom:calc(12px + env(safe-area-inset-bottom,0px))}
 .open .launcher{display:none}
 textarea{font-size:16px} /* under 16px iOS zooms the page on focus */
}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}
`;

  // ---- state
  const DEFAULT_SETTINGS = { online: true, reply_time: null, max_message_chars: 5000, max_upload_bytes: 10485760, upload_types: [] };
  let settings = { ...DEFAULT_SETTINGS };
  let token = store.get(KEY);
  let visitorId = null;     // whose history is on screen
  let email = null;         // offline-form address the server keeps
  let state = "connecting"; // connecting | connected | reconnecting | error
  let fatal = false;        // session refused for good (identity/origin): don't retry, can't chat
  let ws = null, wsReady = false;
  let cursor = 0, attempt = 0, fails = 0, retryTimer = null;
  let isOpen = false, seen = 0, reported = 0, pendingEmail = null;
  const items = [];          // rendered messages, in order
  const byId = new Map(), byClient = new Map();
  let staged = [];           // attachments chosen for the next message

  const SEEN_KEY = KEY + ".seen"; // last agent message shown to this visitor, for the unread badge
  const loadSeen = () => { const [v, id] = String(store.get(SEEN_KEY) || "").split(" "); return v === visitorId ? Number(id) || 0 : 0; };

  // ---- DOM
  let host, shadow, root, launcher, badge, panel, statusEl, statusText, body, introEl, offlineEl, log, typingEl, typingText;
  let ta, sendBtn, attachBtn, fileInput, chipsEl, errorEl, counterEl, emailForm, emailInput;
  const seps = new Map();

  function build() {
    host = h("div", { id: "switchboard-webchat", "data-state": state });
    shadow = host.attachShadow({ mode: "open" });
    // A constructed sheet isn't subject to the page's CSP style-src; fall back to <style> where unsupported.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS_TEXT);
      shadow.adoptedStyleSheets = [sheet];
    } catch { shadow.append(h("style", { text: CSS_TEXT })); }

    launcher = h("button", { type: "button", class: "launcher", part: "launcher", "data-testid": "launcher",
      "aria-expanded": "false", "aria-controls": "sb-panel", onclick: () => toggle() });
    const chat = icon(ICON.chat); chat.classList.add("chat");
    const x = icon(ICON.close, true); x.classList.add("x");
    badge = h("span", { class: "badge", "aria-hidden": "true", hidden: true });
    launcher.append(chat, x, badge);

    statusText = h("span");
    statusEl = h("p", { class: "status", "data-testid": "status", "data-state": state }, h("span", { class: "dot", "aria-hidden": "true" }), statusText);
    const closeBtn = h("button", { type: "button", "aria-label": T.close, title: T.close, onclick: () => close(true) }, icon(ICON.close, true));
    const head = h("div", { class: "head" }, h("div", null, h("h2", { id: "sb-title", text: cfg.title }), statusEl), closeBtn);

    emailInput = h("input", { id: "sb-email", type: "email", name: "email", required: true, autocomplete: "email",
      placeholder: T.emailPlaceholder, "data-testid": "offline-email" });
    emailForm = h("form", { novalidate: true, onsubmit: onEmail },
      h("label", { for: "sb-email", text: T.emailLabel }),
      h("div", { class: "row" }, emailInput, h("button", { type: "submit", class: "btn", text: T.emailButton })));
    offlineEl = h("div", { class: "offline", "data-testid": "offline", hidden: true });
    introEl = h("div", { class: "intro" }, h("p", { class: "greeting", text: cfg.greeting }), offlineEl);
    log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": T.messages, "data-testid": "messages" });
    typingText = h("span");
    typingEl = h("div", { class: "typing", "data-testid": "typing" },
      h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), typingText);
    body = h("div", { class: "body" }, introEl, log);

    fileInput = h("input", { type: "file", class: "file", multiple: true, tabindex: "-1", "aria-hidden": "true",
      "data-testid": "file", onchange: () => onFiles([...fileInput.files]) });
    attachBtn = h("button", { type: "button", class: "icon", "aria-label": T.attach, title: T.attach, hidden: true,
      onclick: () => fileInput.click() }, icon(ICON.clip));
    ta = h("textarea", { rows: "1", placeholder: T.placeholder, "aria-label": T.placeholder, "data-testid": "composer",
      "aria-describedby": "sb-error sb-counter",
      oninput: onInput, onkeydown: onKey, onblur: stopTyping });
    sendBtn = h("button", { type: "submit", class: "icon send empty", "aria-label": T.send, title: T.send, "data-testid": "send" }, icon(ICON.send));
    chipsEl = h("div", { class: "chips", hidden: true });
    errorEl = h("div", { id: "sb-error", class: "error", role: "alert", "data-testid": "error" });
    counterEl = h("span", { id: "sb-counter", class: "counter", hidden: true });
    const composer = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); send(); } },
      chipsEl, h("div", { class: "row" }, attachBtn, fileInput, ta, sendBtn), h("div", { class: "foot" }, errorEl, counterEl));

    panel = h("div", { id: "sb-panel", class: "panel", part: "panel", role: "dialog", "aria-labelledby": "sb-title", lang: LANG,
      "data-testid": "panel", hidden: true }, head, body, composer);
    // Launcher first so Tab goes launcher → panel; lang on the root so screen readers pick the right voice.
    root = h("div", { class: `root ${cfg.position}`, lang: LANG, dir: "ltr" }, launcher, panel);
    root.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && isOpen) { e.preventDefault(); e.stopPropagation(); close(true); }
    });
    shadow.append(root);
    document.body.append(host);
    renderLauncher();
    renderStatus();
  }

  // ---- open / close
  function open(focus = true) {
    if (!panel || isOpen) return;
    isOpen = true;
    panel.hidden = false;
    root.classList.add("open");
    renderLauncher();
    scrollBottom();
    if (focus) (ta.disabled ? panel.querySelector(".head button") : ta).focus();
    markSeen();
  }
  function close(toLauncher) {
    if (!panel || !isOpen) return;
    const hadFocus = panel.contains(shadow.activeElement);
    isOpen = false;
    panel.hidden = true;
    root.classList.remove("open");
    stopTyping();
    renderLauncher();
    if (toLauncher || hadFocus) launcher.focus(); // Escape/close button: focus goes back where it came from
  }
  const toggle = () => (isOpen ? close(true) : open(true));

  function renderLauncher() {
    const n = isOpen ? 0 : unreadCount();
    badge.hidden = n === 0;
    badge.textContent = n > 9 ? "9+" : String(n);
    launcher.setAttribute("aria-expanded", String(isOpen));
    launcher.setAttribute("aria-label", isOpen ? T.close : T.open + (n ? ` (${fmt(T.unread, { n })})` : ""));
  }
  const unreadCount = () => items.filter((i) => i.direction === "out" && i.id > seen && i.status !== "read").length;

  // ---- header status & offline notice
  function setState(s) {
    state = s;
    if (host) host.dataset.state = s;
    renderStatus();
  }
  function renderStatus() {
    if (!statusEl) return;
    const away = settings.online === false;
    // reply_time is what visitors are told while nobody is online; with an agent online it's just "Online".
    const avail = !away ? T.online : settings.reply_time ? fmt(T.replyTime, settings) : T.away;
    statusEl.dataset.state = state;
    statusEl.classList.toggle("away", away);
    statusText.textContent = { connecting: T.connecting, reconnecting: T.reconnecting, error: T.unavailable }[state] || avail;
  }
  function renderIntro() {
    offlineEl.hidden = settings.online !== false;
    if (offlineEl.hidden) return;
    offlineEl.replaceChildren(h("p", { text: settings.reply_time ? fmt(T.offlineReply, settings) : T.away }),
      email ? h("p", { class: "saved", text: fmt(T.emailSaved, { email }) }) : emailForm);
  }
  function applySettings() {
    const types = Array.isArray(settings.upload_types) ? settings.upload_types : [];
    fileInput.accept = types.join(",");
    attachBtn.hidden = !types.length || !(settings.max_upload_bytes > 0);
    updateCounter();
  }
  function onEmail(e) {
    e.preventDefault();
    const v = emailInput.value.trim();
    if (!v || !emailInput.checkValidity()) { showError(T.invalidEmail); emailInput.focus(); return; }
    clearError();
    pendingEmail = v;
    flush();
  }

  // ---- errors
  let errKind = null;
  function showError(msg, kind = "input") {
    if (errKind === "fatal" && kind !== "fatal") return; // the session error stays visible
    errKind = kind;
    errorEl.textContent = msg || T.genericError;
  }
  function clearError(kind) {
    if (errKind === "fatal" || (kind && errKind !== kind)) return;
    errKind = null;
    errorEl.textContent = "";
  }

  // ---- message list
  const fromServer = (m) => ({ id: m.id, client_id: m.client_id || null, direction: m.direction === "in" ? "in" : "out",
    text: m.text ?? null, attachments: Array.isArray(m.attachments) ? m.attachments : [], author: m.author || null,
    status: m.status || "sent", created_at: Number(m.created_at) || Date.now(), pending: false, failed: false });

  // Server messages sit in id order; local ones without an id yet stay at the end.
  function place(it) {
    const at = items.indexOf(it);
    if (at >= 0) items.splice(at, 1);
    let i = items.length;
    if (it.id != null) while (i > 0 && (items[i - 1].id == null || items[i - 1].id > it.id)) i--;
    items.splice(i, 0, it);
  }
  function drop(it) {
    const at = items.indexOf(it);
    if (at >= 0) items.splice(at, 1);
    if (it.client_id && byClient.get(it.client_id) === it) byClient.delete(it.client_id);
  }

  // New or changed message: same id (or same client_id as a pending one) → replace in place.
  function upsert(m, batch) {
    if (!m || m.id == null) return;
    let it = byId.get(m.id) || (m.client_id && byClient.get(m.client_id)) || null;
    const fresh = !it;
    const stick = nearBottom();
    if (it) {
      const moved = it.id !== m.id;
      Object.assign(it, fromServer(m));
      if (moved) place(it);
    } else {
      it = fromServer(m);
      place(it);
      if (it.direction === "out" && !batch) showTyping(false); // the reply is here; stop "typing…"
    }
    byId.set(it.id, it);
    if (it.client_id) byClient.set(it.client_id, it);
    renderMsg(it);
    if (batch) return;
    refresh(stick || (fresh && it.direction === "in"));
  }
  function refresh(stick) {
    layout();
    if (stick) scrollBottom();
    markSeen();
    renderLauncher();
  }

  function renderMsg(it) {
    const el = it.el || (it.el = h("div", { "data-testid": "message" }));
    el.className = "msg " + it.direction;
    el.dataset.direction = it.direction;
    el.dataset.status = it.failed ? "failed" : it.pending ? "sending" : it.status;
    if (it.id != null) el.dataset.id = it.id;
    // Rebuild the bubble only when its content changed, so status updates don't reload images.
    const fp = JSON.stringify([it.text, it.attachments, it.author, token]);
    if (el._fp !== fp) {
      el._fp = fp;
      const who = it.direction === "out" ? it.author || T.agent : T.you;
      el.replaceChildren(...[
        it.direction === "out" ? h("div", { class: "author", "aria-hidden": "true", text: who }) : "",
        h("div", { class: "bubble" }, h("span", { class: "sr", text: who + ": " }),
          it.text ? h("div", { class: "text" }, linkify(it.text)) : null, it.attachments.map(attachment)),
        h("div", { class: "meta" })].filter(Boolean));
    }
    const d = new Date(it.created_at);
    const meta = el.lastChild;
    meta.replaceChildren(h("time", { datetime: d.toISOString(), text: d.toLocaleTimeString(LANG, { hour: "numeric", minute: "2-digit" }) }));
    if (it.direction !== "in") return;
    if (it.failed) {
      meta.append(h("span", { text: T.failed + " — " }), h("button", { type: "button", class: "retry", text: T.retry, onclick: () => retry(it) }));
    } else {
      const st = it.pending ? "sending" : it.status;
      meta.append(h("span", { text: STATUS[st] || st }));
    }
  }

  function attachment(a) {
    const url = mediaUrl(a.url);
    const image = a.kind === "image" || /^image\//.test(a.mime_type || "");
    const name = a.filename || (image ? T.image : T.file);
    if (url && image) {
      const img = h("img", { src: url, alt: name, loading: "lazy" });
      const stick = nearBottom();
      img.addEventListener("load", () => stick && scrollBottom(), { once: true });
      return h("a", { class: "att-img", href: url, target: "_blank", rel: "noopener noreferrer" }, img);
    }
    const label = [h("span", { "aria-hidden": "true", text: "📄" }), h("span", { text: name })];
    return url ? h("a", { class: "att-file", href: url, download: name, target: "_blank", rel: "noopener noreferrer" }, label)
      : h("span", { class: "att-file" }, label);
  }
  // Stored media lives under our API and needs the visitor token as a query parameter.
  function mediaUrl(u) {
    if (!u) return null;
    let url;
    try { url = new URL(u, BASE); } catch { return null; }
    if (!/^https?:$/.test(url.protocol)) return null;
    if (url.origin === BASE && url.pathname.startsWith("/api/v1/webchat/") && token) url.searchParams.set("token", token);
    return url.href;
  }
  function linkify(text) {
    const out = [];
    let last = 0;
    for (const m of text.matchAll(/\bhttps?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]]/gi)) {
      out.push(text.slice(last, m.index), h("a", { href: m[0], target: "_blank", rel: "noopener noreferrer nofollow", text: m[0] }));
      last = m.index + m[0].length;
    }
    out.push(text.slice(last));
    return out.filter(Boolean);
  }

  const dayKey = (ms) => new Date(ms).toDateString();
  function dayLabel(ms) {
    const d = new Date(ms), now = new Date();
    if (d.toDateString() === now.toDateString()) return T.today;
    const opts = { weekday: "short", day: "numeric", month: "short" };
    if (d.getFullYear() !== now.getFullYear()) opts.year = "numeric";
    return d.toLocaleDateString(LANG, opts);
  }
  // Put day separators and message elements in order, touching only what moved (keeps the live region quiet).
  function layout() {
    const want = [];
    let prevDay = null, prev = null;
    for (const it of items) {
      const k = dayKey(it.created_at);
      if (k !== prevDay) {
        let sep = seps.get(k);
        if (!sep) seps.set(k, (sep = h("div", { class: "day" })));
        sep.textContent = dayLabel(it.created_at);
        want.push(sep);
        prevDay = k;
        prev = null;
      }
      const a = it.el.querySelector(".author");
      if (a) a.hidden = !!(prev && prev.direction === "out" && prev.author === it.author);
      want.push(it.el);
      prev = it;
    }
    let ref = log.firstChild;
    for (const n of want) {
      if (n === ref) ref = ref.nextSibling;
      else log.insertBefore(n, ref);
    }
    while (ref) { const next = ref.nextSibling; ref.remove(); ref = next; }
  }
  const nearBottom = () => !body || body.scrollHeight - body.scrollTop - body.clientHeight < 80;
  const scrollBottom = () => { if (body) body.scrollTop = body.scrollHeight; };

  // ---- agent typing
  let typingTimer = null;
  function showTyping(on, name) {
    clearTimeout(typingTimer);
    if (!on) { typingEl.remove(); return; }
    typingText.textContent = fmt(T.typing, { name: name || T.agent });
    const stick = nearBottom();
    if (!typingEl.isConnected) body.append(typingEl);
    if (stick) scrollBottom();
    typingTimer = setTimeout(() => typingEl.remove(), 15000); // no refresh in 15 s: assume they stopped
  }

  // ---- read receipts & unread
  function markSeen() {
    if (!isOpen || document.visibilityState !== "visible") return;
    let max = 0;
    for (const i of items) if (i.direction === "out" && i.id > max) max = i.id;
    if (max > seen) { seen = max; store.set(SEEN_KEY, `${visitorId} ${seen}`); renderLauncher(); }
    if (seen > reported && wsSend({ type: "read", up_to: seen })) reported = seen;
  }

  // ---- composer
  let typingOn = false, typingAt = 0, idleTimer = null;
  function onInput() {
    autosize();
    updateCounter();
    sendBtn.classList.toggle("empty", !ta.value.trim() && !staged.length);
    if (!ta.value.trim()) { stopTyping(); return; }
    const now = Date.now();
    if (!typingOn || now - typingAt >= 2000) { // at most one "true" per 2 s
      if (wsSend({ type: "typing", typing: true })) { typingOn = true; typingAt = now; }
    }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(stopTyping, 3000);
  }
  function stopTyping() {
    clearTimeout(idleTimer);
    if (typingOn) { typingOn = false; wsSend({ type: "typing", typing: false }); }
  }
  function onKey(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); send(); }
  }
  function autosize() {
    ta.style.height = "auto";
    ta.style.height = Math.min(ta.scrollHeight + 2, 120) + "px";
  }
  function updateCounter() {
    const n = charLen(ta.value), max = settings.max_message_chars;
    counterEl.hidden = !(max > 0 && n >= max * 0.8);
    counterEl.textContent = `${n} / ${max}`;
    counterEl.classList.toggle("over", n > max);
  }

  function send() {
    if (fatal) return;
    const text = ta.value.trim();
    if (!text && !staged.length) { ta.focus(); return; }
    if (staged.some((c) => !c.upload)) { showError(T.waitUpload); return; }
    if (charLen(text) > settings.max_message_chars) { showError(fmt(T.tooLong, { max: settings.max_message_chars })); return; }
    clearError();
    const it = { id: null, client_id: newId(), direction: "in", text: text || null, author: null, status: "sending",
      created_at: Date.now(), pending: true, failed: false,
      attachments: staged.map((c) => ({ kind: /^image\//.test(c.mime_type) ? "image" : "file", url: null, filename: c.filename, mime_type: c.mime_type })),
      uploads: staged.map((c) => ({ upload: c.upload, filename: c.filename, mime_type: c.mime_type })) };
    byClient.set(it.client_id, it);
    place(it);
    renderMsg(it);
    ta.value = "";
    staged = [];
    renderChips();
    onInput(); // resets height, counter and typing
    stopTyping();
    refresh(true);
    sendMessage(it);
  }
  // Frames go out only once the server said "ready"; anything queued is flushed then.
  const sendMessage = (it) => wsSend({ type: "message", client_id: it.client_id, text: it.text, attachments: it.uploads || [] });
  function retry(it) {
    it.failed = false;
    it.pending = true;
    clearError();
    renderMsg(it);
    sendMessage(it);
  }
  // The ack may carry message_id; without one the echo (matched by client_id) brings the id.
  function onAck(cid, mid) {
    const it = byClient.get(cid);
    if (!it) return;
    const other = mid != null && byId.get(mid);
    if (other && other !== it) { drop(it); it.el.remove(); } // already shown from the echo
    else {
      if (it.pending) { it.pending = false; it.failed = false; it.status = "sent"; }
      if (mid != null && it.id !== mid) { it.id = mid; byId.set(mid, it); place(it); }
      renderMsg(it);
    }
    refresh(false);
  }

  // ---- uploads
  function typeAllowed(f) {
    const mime = (f.type || "").toLowerCase(), name = f.name.toLowerCase();
    return (settings.upload_types || []).some((t) => {
      t = String(t).trim().toLowerCase();
      if (t === "*/*" || t === "*") return true;
      if (t.startsWith(".")) return name.endsWith(t);
      if (t.endsWith("/*")) return mime.startsWith(t.slice(0, -1));
      return mime === t;
    });
  }
  function fmtBytes(n) {
    const nf = new Intl.NumberFormat(LANG, { maximumFractionDigits: 1 });
    return n >= 1048576 ? nf.format(n / 1048576) + " MB" : nf.format(Math.max(1, Math.round(n / 1024))) + " KB";
  }
  async function onFiles(files) {
    fileInput.value = "";
    if (!files.length) return;
    clearError();
    for (const f of files) {
      if (!typeAllowed(f)) { showError(T.typeNotAllowed); continue; }
      if (f.size > settings.max_upload_bytes) { showError(fmt(T.tooLarge, { max: fmtBytes(settings.max_upload_bytes) })); continue; }
      const chip = { filename: f.name, mime_type: f.type || "application/octet-stream", upload: null };
      staged.push(chip);
      renderChips();
      try {
        const r = await fetch(`${API}/uploads?filename=${encodeURIComponent(f.name)}`, {
          method: "POST", body: f, credentials: "omit",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": chip.mime_type } });
        const d = await r.json().catch(() => null);
        if (!r.ok) throw Object.assign(new Error(), { shown: d && d.error && d.error.message });
        Object.assign(chip, { upload: d.upload, filename: d.filename || chip.filename, mime_type: d.mime_type || chip.mime_type });
      } catch (e) {
        staged = staged.filter((c) => c !== chip);
        showError(e.shown || T.uploadFailed);
      }
      renderChips();
    }
  }
  function renderChips() {
    chipsEl.hidden = !staged.length;
    chipsEl.replaceChildren(...staged.map((c) => h("span", { class: "chip" },
      h("span", { text: c.upload ? c.filename : `${c.filename} — ${T.uploading}` }),
      h("button", { type: "button", "aria-label": fmt(T.remove, { name: c.filename }),
        onclick: () => { staged = staged.filter((x) => x !== c); renderChips(); ta.focus(); } }, icon(ICON.close, true)))));
    sendBtn.classList.toggle("empty", !ta.value.trim() && !staged.length);
  }

  // ---- REST
  async function request(method, path, json) {
    const headers = { Accept: "application/json" };
    if (json !== undefined) headers["Content-Type"] = "application/json";
    if (token && json === undefined) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(API + path, { method, headers, credentials: "omit", body: json === undefined ? undefined : JSON.stringify(json) });
    let data = null;
    try { data = await r.json(); } catch { /* empty or not JSON */ }
    return { ok: r.ok, status: r.status, data, headers: r.headers };
  }

  function backoff() {
    const base = Math.min(10000, 500 * 2 ** attempt++); // 0.5 s doubling to 10 s
    return base / 2 + Math.random() * (base / 2);       // jitter so many visitors don't reconnect in lockstep
  }
  function retryLater(fn, ms) {
    if (fatal) return;
    clearTimeout(retryTimer);
    setState("reconnecting");
    retryTimer = setTimeout(() => { retryTimer = null; fn(); }, ms ?? backoff());
  }

  // Session (token, identity, settings) → history (first time, or when the visitor changed) → socket.
  let establishing = false;
  async function establish() {
    clearTimeout(retryTimer);
    if (fatal || establishing) return;
    establishing = true;
    try { await establishOnce(); } finally { establishing = false; }
  }
  async function establishOnce() {
    let r;
    try {
      r = await request("POST", "/sessions", { token: token || null, identifier: cfg.identifier,
        identifier_hash: cfg.identifier ? cfg.identifierHash : null, name: cfg.identifier ? cfg.name : null, locale: LANG });
    } catch { return retryLater(establish); }
    if (!r.ok) {
      const msg = r.data && r.data.error && r.data.error.message;
      if (r.status === 429 || r.status >= 500 || r.status === 408) {
        if (r.status === 429) showError(msg, "session");
        const ra = parseFloat(r.headers.get("Retry-After"));
        return retryLater(establish, ra > 0 ? ra * 1000 : undefined);
      }
      // Identity/origin refusals: say why and stop; never quietly carry on as an anonymous visitor.
      fatal = true;
      showError(msg, "fatal");
      ta.disabled = attachBtn.disabled = sendBtn.disabled = true;
      return setState("error");
    }
    const d = r.data || {};
    const oldToken = token;
    if (d.token) { token = d.token; store.set(KEY, token); } // always keep what the server hands back
    settings = { ...DEFAULT_SETTINGS, ...(d.settings || {}) };
    email = d.email || null;
    clearError("session");
    applySettings();
    renderIntro();
    renderStatus();
    if (visitorId !== d.visitor_id) {
      try { await loadHistory(d.visitor_id); } catch { return retryLater(establish); }
    } else if (token !== oldToken) items.forEach(renderMsg); // media links carry the token
    connect();
  }
  async function loadHistory(vid) {
    const r = await request("GET", "/messages");
    if (!r.ok || !r.data) throw new Error("history " + r.status);
    if (visitorId !== null) { // another identity: the old conversation isn't theirs
      for (const it of items.filter((i) => !i.pending)) { drop(it); it.el.remove(); }
      byId.clear();
      cursor = 0;
      reported = 0;
    }
    visitorId = vid;
    seen = reported = Math.max(reported, loadSeen());
    for (const m of r.data.messages || []) upsert(m, true);
    if (typeof r.data.cursor === "number") cursor = Math.max(cursor, r.data.cursor);
    refresh(true);
  }

  // ---- WebSocket
  function connect() {
    clearTimeout(retryTimer);
    if (fatal || ws) return;
    let sock;
    try {
      sock = new WebSocket(`${API.replace(/^http/, "ws")}/socket?token=${encodeURIComponent(token || "")}&after=${cursor}`);
    } catch { return retryLater(connect); }
    ws = sock;
    wsReady = false;
    sock.onmessage = (e) => {
      if (ws !== sock) return;
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      if (f && typeof f === "object") onFrame(f);
    };
    sock.onclose = (e) => {
      if (ws !== sock) return;
      ws = null;
      wsReady = false;
      typingOn = false;
      showTyping(false);
      if (fatal) return;
      fails++;
      // 4401 = token no longer valid: new session first. A refused upgrade looks the same as a drop from
      // here (1006), so every few failures also re-check the session in case the token quietly expired.
      retryLater(e.code === 4401 || fails % 4 === 0 ? establish : connect);
    };
  }
  function wsSend(frame) {
    if (!ws || !wsReady || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }
  function flush() {
    for (const it of items) if (it.pending && !it.failed) sendMessage(it); // same client_id: stored once
    if (pendingEmail && wsSend({ type: "email", email: pendingEmail })) pendingEmail = null;
  }

  function onFrame(f) {
    if (typeof f.cursor === "number" && f.cursor > cursor) cursor = f.cursor; // resume point = max seen
    switch (f.type) {
      case "ready":
        wsReady = true;
        attempt = fails = 0;
        clearError("session");
        setState("connected");
        flush();
        markSeen();
        break;
      case "message": upsert(f.message); break;
      case "ack": onAck(f.client_id, f.message_id); break;
      case "typing": showTyping(!!f.typing, f.name); break;
      case "email_saved":
        email = f.email || email;
        renderIntro();
        break;
      case "error": {
        const it = f.client_id && byClient.get(f.client_id);
        if (it && it.pending) { it.failed = true; renderMsg(it); }
        showError(f.message || T.genericError, "server");
        break;
      }
    }
  }

  // ---- start
  function init() {
    build();
    document.addEventListener("visibilitychange", markSeen);
    window.addEventListener("online", () => { if (!ws && retryTimer && !fatal) { clearTimeout(retryTimer); attempt = 0; (visitorId ? connect : establish)(); } });
    if (cfg.open) open(false); // don't steal focus from the page on load
    establish();
  }

  window.SwitchboardWebchat = Object.freeze({
    open: () => open(true),
    close: () => close(false),
    toggle: () => (isOpen ? close(false) : open(true)),
  });

  if (document.body) init();
  else document.addEventListener("DOMContentLoaded", init, { once: true });
})();
