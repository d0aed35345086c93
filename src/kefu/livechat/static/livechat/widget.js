/* kefu live chat: the visitor's side, inside the iframe (/chat/w/<key>/). Contract: docs/livechat.md.
 * Texts come from the template (#kw-texts, translated server-side); no inline script or style (CSP). */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("kefu-config").textContent);
  const $ = (id) => document.getElementById(id);
  const T = {};
  document.querySelectorAll("#kw-texts [data-t]").forEach((el) => { T[el.dataset.t] = el.textContent.trim(); });
  function t(key, vars) {
    let s = T[key] || key;
    for (const name in vars || {}) s = s.split("{" + name + "}").join(String(vars[name]));
    return s;
  }
  const LANG = document.documentElement.lang || "en";
  const MAX_TEXT = 2000;
  const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  const framed = window.parent !== window;
  const input = () => $("kw-input");

  // ---- storage: localStorage may be blocked in third-party iframes; fall back to memory ----
  const memory = {};
  const prefix = "kefu:" + config.key + ":";
  const store = {
    get(name) { try { return window.localStorage.getItem(prefix + name); } catch (e) { return memory[name] || null; } },
    set(name, value) { try { window.localStorage.setItem(prefix + name, value); } catch (e) { memory[name] = value; } },
  };

  // ---- state ----
  let token = store.get("token") || "";
  let online = !!config.online;
  let visitor = {};
  let verified = false;
  let chat = { state: "none", position: null, agent: "", rated: false };
  let lastId = 0;              // highest message id rendered
  let readUpTo = 0;            // the agent has seen visitor messages up to this id
  let seenUpTo = 0;            // we told the server the visitor has seen up to this id
  let unread = 0;
  let parentVisible = !framed; // the loader tells us when the iframe is shown or hidden
  const byId = new Map();      // message id → <li>
  const byCid = new Map();     // client id → <li> (visitor messages)
  let pending = [];            // un-acked visitor messages {cid, text, failed}
  try { pending = JSON.parse(store.get("pending") || "[]").filter((p) => p && p.cid && p.text); } catch (e) { pending = []; }
  let lastSentCid = null;

  let ws = null;
  let wsOpen = false;
  let wantSocket = false;
  let backoff = 1000;
  let reconnectTimer = null;
  let pinger = null;
  let lastPong = 0;
  let lastTypingSent = 0;
  let typingTimer = null;
  let errorTimer = null;

  function savePending() { store.set("pending", JSON.stringify(pending.filter((p) => !p.failed))); }

  // ---- helpers ----
  function show(id, on) { const el = $(id); if (el) el.hidden = !on; }
  function toParent(data) {
    if (framed) window.parent.postMessage(data, config.origin || "*");
  }
  function formatSize(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(bytes % 1048576 ? 1 : 0) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " B";
  }
  function formatTime(iso) {
    const d = iso ? new Date(iso) : new Date();
    if (isNaN(d)) return "";
    return d.toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit" });
  }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }
  function applyColor(color) {
    if (!/^#[0-9a-f]{6}$/i.test(color || "")) return;
    const root = document.documentElement.style;
    root.setProperty("--kc", color);
    const n = parseInt(color.slice(1), 16);
    const lum = (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
    root.setProperty("--kc-ink", lum > 0.62 ? "#1d2433" : "#fff");
  }

  function showError(text, where) {
    const box = where || $("kw-error");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
    if (box.id === "kw-error") {
      clearTimeout(errorTimer);
      if (text) errorTimer = setTimeout(() => { box.hidden = true; }, 8000);
    }
  }

  // ---- HTTP ----
  async function api(path, body, isForm) {
    const headers = { "X-Kefu-Visitor": token };
    if (!isForm) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(config.api + path, {
        method: "POST", headers, body: isForm ? body : JSON.stringify(body || {}),
      });
    } catch (e) {
      throw Object.assign(new Error(t("network")), { code: "network" });
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const code = (data && data.error) || "http_" + response.status;
      const err = new Error(T["err_" + code] || (data && data.message) || response.status + " " + response.statusText);
      err.code = code;
      err.status = response.status;
      throw err;
    }
    return data || {};
  }

  // ---- views ----
  function view(name) {
    show("kw-loading", name === "loading");
    show("kw-prechat", name === "prechat");
    show("kw-offline", name === "offline");
    show("kw-offline-done", name === "offline-done");
    show("kw-chat", name === "chat");
    document.body.dataset.view = name;
  }

  function showForm() {
    view(online ? "prechat" : "offline");
    const form = online ? $("kw-prechat") : $("kw-offline");
    for (const field of ["name", "email", "phone"]) {
      const input = form.elements[field];
      if (!input) continue;
      if (!input.value && visitor[field]) input.value = visitor[field];
      // The host site vouched for who this is (signed identity): no need to ask.
      if (online && verified) {
        input.required = false;
        input.closest(".kw-field").hidden = true;
      }
    }
    setStatus();
    const first = Array.from(form.querySelectorAll("input, textarea")).find((i) => !i.value);
    if (first && parentVisible) first.focus({ preventScroll: true });
  }

  function setStatus() {
    let text = online ? t("online") : t("offline");
    if (chat.state === "active" && chat.agent) text = t("with_agent", { name: chat.agent });
    else if (chat.state === "queued") text = t("queue_wait");
    else if (chat.state === "ended") text = t("ended");
    $("kw-status-text").textContent = text;
    $("kw-status").classList.toggle("on", chat.state === "active" || (chat.state === "none" && online));
    $("kw-end").hidden = !(chat.state === "active" || chat.state === "queued");
  }

  function applyState(s) {
    const prev = chat.state;
    chat = {
      state: s.state || "none",
      position: s.position || null,
      agent: s.agent || (s.state === "active" ? chat.agent : ""),
      rated: !!s.rated,
    };
    document.body.dataset.state = chat.state;
    setStatus();
    if (chat.state === "none") {
      if (prev !== "none") { stopSocket(); resetThread(); }
      showForm();
      return;
    }
    view("chat");
    const queue = $("kw-queue");
    queue.hidden = chat.state !== "queued";
    queue.textContent = chat.position ? t("queue", { n: chat.position }) : t("queue_wait");
    const ended = chat.state === "ended";
    $("kw-ended").hidden = !ended;
    $("kw-composer").hidden = ended;
    if (ended && prev !== "ended") showError("");
    if (ended) {
      $("kw-emoji").hidden = true;
      show("kw-typing", false);
      $("kw-rate").hidden = chat.rated || !!$("kw-rate").dataset.sent;
      show("kw-rated", chat.rated || !!$("kw-rate").dataset.sent);
      const email = $("kw-transcript").elements.email;
      if (!email.value && visitor.email) email.value = visitor.email;
      scrollDown(true);
    }
  }

  // ---- the thread ----
  function resetThread() {
    $("kw-thread").textContent = "";
    byId.clear();
    byCid.clear();
    lastId = 0;
    readUpTo = 0;
    seenUpTo = 0;
    $("kw-rate").reset();
    $("kw-rate").hidden = false;
    delete $("kw-rate").dataset.sent;
    paintStars(0);
    show("kw-rated", false);
    show("kw-transcript-done", false);
    $("kw-transcript").hidden = false;
  }

  function nearBottom() {
    const th = $("kw-thread");
    return th.scrollHeight - th.scrollTop - th.clientHeight < 80;
  }
  function scrollDown(force) {
    const th = $("kw-thread");
    if (force || nearBottom()) th.scrollTop = th.scrollHeight;
  }

  function appendText(node, text) {
    // Plain text with clickable links; never HTML from the wire.
    const parts = String(text || "").split(/(https?:\/\/[^\s<>"']+)/g);
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        const a = el("a", null, part);
        a.href = part;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        node.appendChild(a);
      } else if (part) {
        node.appendChild(document.createTextNode(part));
      }
    });
  }

  function buildMessage(m) {
    const from = m.from === "agent" || m.from === "system" ? m.from : "visitor";
    const li = el("li", "kw-msg kw-from-" + from);
    if (m.id) li.dataset.id = m.id;
    if (m.cid) li.dataset.cid = m.cid;
    li.dataset.from = from;
    li.dataset.author = m.author || "";
    if (from === "system") {
      const span = el("span", "kw-sys");
      appendText(span, m.text);
      li.appendChild(span);
      return li;
    }
    if (from === "agent") li.appendChild(el("div", "kw-author", m.author || t("someone")));
    const bubble = el("div", "kw-bubble");
    const files = m.attachments || [];
    // A file sent alone carries its names as text: the attachment says it already.
    const namesOnly = files.length && m.text === files.map((a) => a.name).join(", ");
    if (namesOnly && files.every((a) => a.image)) bubble.classList.add("kw-media");
    if (m.text && !namesOnly) {
      const p = el("div", "kw-text");
      appendText(p, m.text);
      bubble.appendChild(p);
    }
    files.forEach((a) => {
      if (a.image) {
        const link = el("a", "kw-thumb");
        link.href = a.url;
        link.target = "_blank";
        link.rel = "noopener";
        const img = el("img");
        img.src = a.url;
        img.alt = a.name || "";
        img.loading = "lazy";
        img.addEventListener("load", () => scrollDown());
        link.appendChild(img);
        bubble.appendChild(link);
      } else {
        const link = el("a", "kw-file");
        link.href = a.url;
        link.setAttribute("download", a.name || "");
        link.appendChild(el("span", "kw-file-name", a.name || "file"));
        if (a.size) link.appendChild(el("span", "kw-file-size", formatSize(a.size)));
        bubble.appendChild(link);
      }
    });
    if (!bubble.childNodes.length) bubble.appendChild(el("div", "kw-text", "…"));
    li.appendChild(bubble);
    const meta = el("div", "kw-meta");
    meta.appendChild(el("time", null, m.id ? formatTime(m.at) : t("sending")));
    li.appendChild(meta);
    return li;
  }

  function groupAuthors(li) {
    // Show the agent's name only on the first of a run of their messages.
    const prev = li.previousElementSibling;
    if (li.dataset.from === "agent") {
      li.classList.toggle("kw-cont", !!prev && prev.dataset.from === "agent" && prev.dataset.author === li.dataset.author);
    }
    const next = li.nextElementSibling;
    if (next && next.dataset.from === "agent") {
      next.classList.toggle("kw-cont", li.dataset.from === "agent" && li.dataset.author === next.dataset.author);
    }
  }

  function insertSorted(li, id) {
    const thread = $("kw-thread");
    // Messages with an id stay in id order, above visitor messages still being sent.
    let before = null;
    for (const node of thread.children) {
      const nid = Number(node.dataset.id || 0);
      if (!nid || nid > id) { before = node; break; }
    }
    thread.insertBefore(li, before);
    groupAuthors(li);
  }

  function renderMessage(m) {
    if (!m || !m.id) return;
    const id = Number(m.id);
    if (byId.has(id)) return;  // duplicate (history after a reconnect, or echo after ack)
    const stick = nearBottom() || m.from === "visitor";
    const local = m.cid ? byCid.get(m.cid) : null;
    if (local) local.remove();  // our own message, shown while it was being sent
    const li = buildMessage(m);
    insertSorted(li, id);
    byId.set(id, li);
    if (m.cid) {
      byCid.set(m.cid, li);
      dropPending(m.cid);
    }
    lastId = Math.max(lastId, id);
    if (m.from === "agent") {
      show("kw-typing", false);
      if (isSeen()) markSeen();
      else setUnread(unread + 1);
    }
    updateReadMark();
    if (stick) scrollDown(true);
  }

  function renderPending(p) {
    const li = buildMessage({ cid: p.cid, from: "visitor", text: p.text });
    li.classList.add("kw-pending");
    if (p.failed) markFailed(li);
    $("kw-thread").appendChild(li);
    byCid.set(p.cid, li);
    scrollDown(true);
  }

  function markFailed(li) {
    li.classList.add("kw-failed");
    const time = li.querySelector(".kw-meta time");
    if (time) time.textContent = t("failed");
  }

  function dropPending(cid) {
    const before = pending.length;
    pending = pending.filter((p) => p.cid !== cid);
    if (pending.length !== before) savePending();
  }

  function onAck(cid, id) {
    id = Number(id);
    const li = byCid.get(cid);
    dropPending(cid);
    if (!li || !id) return;
    if (byId.has(id) && byId.get(id) !== li) { li.remove(); return; }
    li.classList.remove("kw-pending", "kw-failed");
    li.dataset.id = id;
    const time = li.querySelector(".kw-meta time");
    if (time) time.textContent = formatTime();
    li.remove();
    insertSorted(li, id);
    byId.set(id, li);
    lastId = Math.max(lastId, id);
    updateReadMark();
    scrollDown(true);
  }

  function updateReadMark() {
    document.querySelectorAll(".kw-read").forEach((n) => n.remove());
    if (!readUpTo) return;
    let target = null;
    for (const [id, li] of byId) {
      if (id <= readUpTo && li.dataset.from === "visitor" && (!target || id > Number(target.dataset.id))) target = li;
    }
    if (target) target.querySelector(".kw-meta").appendChild(el("span", "kw-read", t("read")));
  }

  // ---- seen / unread ----
  function isSeen() { return parentVisible && document.visibilityState === "visible"; }
  function setUnread(n) {
    unread = n;
    toParent({ type: "kefu:unread", count: n });
  }
  function markSeen() {
    if (unread) setUnread(0);
    if (lastId > seenUpTo && wsOpen && chat.state !== "none") {
      seenUpTo = lastId;
      send({ op: "read", id: lastId });
    }
  }
  function onVisibility() {
    if (isSeen()) {
      markSeen();
      if (wantSocket && !wsOpen) reconnectSoon(0);
    }
  }

  // ---- websocket ----
  function send(frame) {
    if (!ws || !wsOpen) return false;
    try { ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
  }

  function flushPending() {
    pending.forEach((p) => {
      if (!p.failed) { send({ op: "msg", text: p.text, cid: p.cid }); lastSentCid = p.cid; }
    });
  }

  function stopSocket() {
    wantSocket = false;
    clearTimeout(reconnectTimer);
    clearInterval(pinger);
    if (ws) { ws.onclose = null; try { ws.close(); } catch (e) { /* closed */ } }
    ws = null;
    wsOpen = false;
    show("kw-reconnect", false);
    delete document.body.dataset.ws;
  }

  function reconnectSoon(delay) {
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  function connect() {
    wantSocket = true;
    clearTimeout(reconnectTimer);
    clearInterval(pinger);
    if (ws) { ws.onclose = null; try { ws.close(); } catch (e) { /* closed */ } }
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const sock = new WebSocket(proto + "://" + location.host + config.ws + "?token=" + encodeURIComponent(token));
    ws = sock;
    wsOpen = false;
    sock.onopen = () => {
      if (ws !== sock) return;
      wsOpen = true;
      backoff = 1000;
      lastPong = Date.now();
      show("kw-reconnect", false);
      document.body.dataset.ws = "open";
      send({ op: "hello", after: lastId });
      flushPending();
      pinger = setInterval(() => {
        if (Date.now() - lastPong > 70000) { sock.close(); return; }  // a dead connection nobody closed
        send({ op: "ping" });
      }, 25000);
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(frame);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      wsOpen = false;
      clearInterval(pinger);
      delete document.body.dataset.ws;
      if (!wantSocket) return;
      if (ev.code === 4403) { wantSocket = false; showError(t("refused")); return; }
      show("kw-reconnect", true);
      if (ev.code === 4401) { reconnectTimer = setTimeout(refreshSession, backoff); }
      else reconnectSoon(backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }

  function onFrame(f) {
    switch (f.op) {
      case "history":
        (f.messages || []).forEach(renderMessage);
        if (isSeen()) markSeen();
        break;
      case "msg":
        renderMessage(f.message);
        break;
      case "ack":
        onAck(f.cid, f.id);
        break;
      case "state":
        applyState(f);
        break;
      case "typing":
        if (chat.state === "ended") break;
        $("kw-typing-text").textContent = t("typing", { name: f.who || t("someone") });
        show("kw-typing", true);
        scrollDown();
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => show("kw-typing", false), 6000);
        break;
      case "read":
        readUpTo = Math.max(readUpTo, Number(f.id) || 0);
        updateReadMark();
        break;
      case "error":
        onServerError(f);
        break;
      case "pong":
        lastPong = Date.now();
        break;
      default:
        break;
    }
    lastPong = Date.now();
  }

  function onServerError(f) {
    showError(T["err_" + f.code] || f.message || f.code);
    const cid = f.cid || lastSentCid;
    if (cid && ["rate_limited", "too_large", "invalid"].includes(f.code)) {
      // That message was not stored: keep it, marked, so the visitor can send it again.
      const p = pending.find((x) => x.cid === cid);
      if (p) {
        p.failed = true;
        savePending();
        const li = byCid.get(p.cid);
        if (li) markFailed(li);
      }
    } else if (cid && f.code === "retry") {
      // The server could not store it this time: send it again soon (same cid, stored once).
      setTimeout(() => {
        const p = pending.find((x) => x.cid === cid);
        if (p && !p.failed) send({ op: "msg", text: p.text, cid: p.cid });
      }, 2000);
    } else if (f.code === "no_chat" || f.code === "closed") {
      send({ op: "hello", after: lastId });  // fetch the current state
    }
  }

  // ---- session ----
  function waitIdentity() {
    if (!framed) return Promise.resolve(null);
    return new Promise((resolve) => {
      identityWaiter = resolve;
      toParent({ type: "kefu:ready", color: config.color });
      setTimeout(() => resolve(null), 1500);  // no loader answered (e.g. opened on its own)
    });
  }
  let identityWaiter = null;
  let hostPage = "";  // the host page the visitor is on (shown to the agent)

  window.addEventListener("message", (ev) => {
    if (!framed || ev.source !== window.parent) return;
    if (config.origin && ev.origin !== config.origin) return;
    const d = ev.data || {};
    if (d.type === "kefu:identity" && typeof d.page === "string") hostPage = d.page.slice(0, 500);
    if (d.type === "kefu:identity" && identityWaiter) {
      identityWaiter(d.identity && typeof d.identity === "object" ? d.identity : null);
      identityWaiter = null;
    } else if (d.type === "kefu:visible") {
      parentVisible = !!d.visible;
      onVisibility();
    }
  });

  let sessionDelay = 1000;
  async function startSession(identity) {
    try {
      const data = await api("session", { identity: identity || null, lang: config.lang });
      sessionDelay = 1000;
      if (data.token && data.token !== token) {
        if (token) { resetThread(); pending = []; savePending(); }
        token = data.token;
        store.set("token", token);
      }
      if (data.visitor && typeof data.visitor === "object") visitor = data.visitor;
      if (typeof data.online === "boolean") online = data.online;
      verified = !!data.verified;
      const s = data.state && typeof data.state === "object" ? data.state
        : { state: data.state || "none", position: data.position };
      chat.state = "none";
      applyState(s);
      if (chat.state !== "none") {
        pending.forEach((p) => { if (!byCid.has(p.cid)) renderPending(p); });
        connect();
      }
    } catch (err) {
      view("loading");
      showError(err.message, $("kw-loading-error"));
      setTimeout(() => startSession(identity), sessionDelay);
      sessionDelay = Math.min(sessionDelay * 2, 15000);
    }
  }
  let lastIdentity = null;
  function refreshSession() { startSession(lastIdentity); }

  // ---- forms ----
  function formError(form, text) { showError(text, form.querySelector(".kw-error")); }

  function checkFields(form) {
    let missing = false;
    let badEmail = false;
    let badPhone = false;
    form.querySelectorAll("input, textarea, select").forEach((input) => {
      const value = (input.value || "").trim();
      let bad = false;
      if (input.required && !value) { bad = true; missing = true; }
      if (input.type === "email" && value && !EMAIL_RE.test(value)) { bad = true; badEmail = true; }
      if (input.type === "tel" && value && value.replace(/\D/g, "").length < 5) { bad = true; badPhone = true; }
      input.classList.toggle("kw-invalid", bad);
      input.setAttribute("aria-invalid", bad ? "true" : "false");
    });
    if (missing) return t("required");
    if (badEmail) return t("bad_email");
    if (badPhone) return t("bad_phone");
    return "";
  }

  function values(form) {
    const out = {};
    for (const name of ["name", "email", "phone", "topic", "text"]) {
      const input = form.elements[name];
      out[name] = input ? input.value.trim() : "";
    }
    return out;
  }

  function focusInvalid(form) {
    const bad = form.querySelector(".kw-invalid");
    if (bad) bad.focus();
  }

  // While the first question is typed, articles that may answer it (the knowledge base's hook).
  let suggestTimer = null;
  let suggestAsked = "";
  function watchSuggestions(textarea) {
    const box = document.getElementById("kw-suggest");
    if (!box || !textarea) return;
    const list = box.querySelector("ul");
    textarea.addEventListener("input", () => {
      clearTimeout(suggestTimer);
      suggestTimer = setTimeout(async () => {
        const q = textarea.value.trim();
        if (q.length < 2 || q === suggestAsked) { if (q.length < 2) box.hidden = true; return; }
        suggestAsked = q;
        let data = null;
        try {
          const r = await fetch(config.api + "suggest?q=" + encodeURIComponent(q) + "&lang=" + encodeURIComponent(config.lang));
          data = r.ok ? await r.json() : null;
        } catch (e) { data = null; }
        const articles = (data && data.articles) || [];
        list.textContent = "";
        articles.forEach((a) => {
          if (typeof a.url !== "string" || !/^(\/|https?:)/.test(a.url)) return;
          const li = document.createElement("li");
          const link = document.createElement("a");
          link.href = a.url;
          link.target = "_blank";
          link.rel = "noopener";
          link.textContent = a.title;
          li.appendChild(link);
          list.appendChild(li);
        });
        box.hidden = list.children.length === 0;
      }, 400);
    });
  }

  async function submitPrechat(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const problem = checkFields(form);
    if (problem) { formError(form, problem); focusInvalid(form); return; }
    const data = values(form);
    if (data.text.length > MAX_TEXT) { formError(form, t("too_long")); return; }
    formError(form, "");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      if (hostPage) data.page_url = hostPage;
      const r = await api("start", data);
      visitor = Object.assign({}, visitor, { name: data.name || visitor.name, email: data.email || visitor.email });
      form.elements.text.value = "";
      resetThread();
      applyState({ state: r.state || "queued", position: r.position });
      connect();
      $("kw-input").focus();
    } catch (err) {
      if (/offline|no_agent|closed_hours|unavailable/.test(err.code || "")) {
        online = false;
        const off = $("kw-offline");
        off.elements.text.value = off.elements.text.value || data.text;
        showForm();
      }
      formError(online ? form : $("kw-offline"), err.message);
    } finally {
      button.disabled = false;
    }
  }

  async function submitOffline(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const problem = checkFields(form);
    const data = values(form);
    if (problem) { formError(form, problem); focusInvalid(form); return; }
    formError(form, "");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api("offline", { name: data.name, email: data.email, phone: data.phone, text: data.text });
      form.reset();
      view("offline-done");
    } catch (err) {
      formError(form, err.message);
    } finally {
      button.disabled = false;
    }
  }

  // ---- composer ----
  function newCid() {
    const rnd = window.crypto && crypto.getRandomValues ? Array.from(crypto.getRandomValues(new Uint32Array(2)), (n) => n.toString(36)).join("") : Math.random().toString(36).slice(2);
    return "c" + Date.now().toString(36) + rnd;
  }

  function sendText(text) {
    const p = { cid: newCid(), text };
    pending.push(p);
    savePending();
    renderPending(p);
    if (send({ op: "msg", text, cid: p.cid })) lastSentCid = p.cid;
  }

  function submitComposer(ev) {
    ev.preventDefault();
    const input = $("kw-input");
    const text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_TEXT) { showError(t("too_long")); return; }
    showError("");
    sendText(text);
    input.value = "";
    autoGrow();
    $("kw-emoji").hidden = true;
    $("kw-emoji-btn").setAttribute("aria-expanded", "false");
  }

  function autoGrow() {
    const input = $("kw-input");
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 120) + "px";
  }

  function onInput() {
    autoGrow();
    const now = Date.now();
    if (input().value.trim() && now - lastTypingSent > 2000 && chat.state !== "ended") {
      if (send({ op: "typing" })) lastTypingSent = now;
    }
  }
  function insertAtCaret(text) {
    const box = input();
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.selectionStart = box.selectionEnd = start + text.length;
    box.focus();
    onInput();
  }

  async function upload(file) {
    if (!file) return;
    if (config.max_upload && file.size > config.max_upload) {
      showError(t("too_big", { name: file.name, max: formatSize(config.max_upload) }));
      return;
    }
    showError(t("uploading", { name: file.name }));
    clearTimeout(errorTimer);
    $("kw-error").classList.add("kw-info");
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("cid", newCid());
    try {
      await api("upload", form, true);
      showError("");
    } catch (err) {
      showError(err.code === "too_large" ? t("too_big", { name: file.name, max: formatSize(config.max_upload) }) : err.message);
    } finally {
      $("kw-error").classList.remove("kw-info");
    }
  }

  // ---- rating & transcript ----
  function paintStars(score) {
    document.querySelectorAll(".kw-star").forEach((s) => s.classList.toggle("on", Number(s.dataset.score) <= score));
  }

  function submitRating(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const checked = form.querySelector("input[name=score]:checked");
    const errorBox = $("kw-ended").querySelector(".kw-error");
    if (!checked) { showError(t("need_score"), errorBox); return; }
    if (!send({ op: "rate", score: Number(checked.value), comment: form.elements.comment.value.trim() })) {
      showError(t("network"), errorBox);
      return;
    }
    showError("", errorBox);
    form.dataset.sent = "1";
    form.hidden = true;
    show("kw-rated", true);
  }

  async function submitTranscript(ev) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const errorBox = $("kw-ended").querySelector(".kw-error");
    const email = form.elements.email.value.trim();
    if (!EMAIL_RE.test(email)) {
      form.elements.email.classList.add("kw-invalid");
      showError(t("bad_email"), errorBox);
      return;
    }
    form.elements.email.classList.remove("kw-invalid");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await api("transcript", { email });
      form.hidden = true;
      show("kw-transcript-done", true);
      showError("", errorBox);
    } catch (err) {
      showError(err.message, errorBox);
    } finally {
      button.disabled = false;
    }
  }

  // ---- wiring ----
  function bind() {
    $("kw-close").addEventListener("click", () => {
      toParent({ type: "kefu:close" });
    });
    $("kw-end").addEventListener("click", () => { show("kw-confirm", true); $("kw-confirm-no").focus(); });
    $("kw-confirm-no").addEventListener("click", () => show("kw-confirm", false));
    $("kw-confirm-yes").addEventListener("click", () => {
      show("kw-confirm", false);
      if (!send({ op: "end" })) showError(t("network"));
    });
    $("kw-prechat").addEventListener("submit", submitPrechat);
    watchSuggestions($("kw-prechat").elements.text);
    $("kw-offline").addEventListener("submit", submitOffline);
    $("kw-composer").addEventListener("submit", submitComposer);
    $("kw-rate").addEventListener("submit", submitRating);
    $("kw-transcript").addEventListener("submit", submitTranscript);
    $("kw-new").addEventListener("click", () => {
      stopSocket();
      resetThread();
      chat = { state: "none", position: null, agent: "", rated: false };
      document.body.dataset.state = "none";
      showForm();
    });
    document.querySelectorAll(".kw-form input, .kw-form textarea").forEach((i) => {
      i.addEventListener("input", () => i.classList.remove("kw-invalid"));
    });
    $("kw-rate").addEventListener("change", (ev) => {
      if (ev.target.name === "score") paintStars(Number(ev.target.value));
    });

    const box = input();
    box.addEventListener("input", onInput);
    box.addEventListener("keydown", (ev) => {
      // Enter sends; Shift+Enter is a new line; never while an IME is composing (Chinese input).
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        $("kw-composer").requestSubmit();
      } else if (ev.key === "Escape") {
        $("kw-emoji").hidden = true;
      }
    });
    box.addEventListener("paste", (ev) => {
      const file = Array.from(ev.clipboardData?.files || [])[0];
      if (file) { ev.preventDefault(); upload(file); }
    });
    $("kw-file").addEventListener("change", (ev) => {
      const file = ev.target.files[0];
      ev.target.value = "";
      upload(file);
    });
    const thread = $("kw-thread");
    thread.addEventListener("dragover", (ev) => { ev.preventDefault(); });
    thread.addEventListener("drop", (ev) => {
      ev.preventDefault();
      if (chat.state !== "ended") upload(ev.dataTransfer?.files?.[0]);
    });
    thread.addEventListener("click", (ev) => {
      const li = ev.target.closest(".kw-failed");
      if (!li) return;
      const p = pending.find((x) => x.cid === li.dataset.cid);
      if (!p) return;
      p.failed = false;
      savePending();
      li.classList.remove("kw-failed");
      li.querySelector(".kw-meta time").textContent = t("sending");
      if (send({ op: "msg", text: p.text, cid: p.cid })) lastSentCid = p.cid;
    });

    const picker = $("kw-emoji");
    const toggle = $("kw-emoji-btn");
    toggle.addEventListener("click", () => {
      picker.hidden = !picker.hidden;
      toggle.setAttribute("aria-expanded", String(!picker.hidden));
    });
    picker.addEventListener("click", (ev) => {
      const b = ev.target.closest("[data-emoji]");
      if (b) insertAtCaret(b.dataset.emoji);
    });
    document.addEventListener("click", (ev) => {
      if (!picker.hidden && !picker.contains(ev.target) && !toggle.contains(ev.target)) {
        picker.hidden = true;
        toggle.setAttribute("aria-expanded", "false");
      }
    });

    document.addEventListener("visibilitychange", onVisibility);
    window.addEventListener("focus", onVisibility);
    window.addEventListener("online", () => { if (wantSocket && !wsOpen) reconnectSoon(0); });
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && framed && picker.hidden) toParent({ type: "kefu:close" });
    });
  }

  applyColor(config.color);
  bind();
  view("loading");
  waitIdentity().then((identity) => {
    lastIdentity = identity;
    startSession(identity);
  });
})();
