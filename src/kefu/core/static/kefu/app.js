/* kefu workspace: one websocket for live updates, small helpers around htmx. No inline JS (CSP). */
(function () {
  "use strict";

  function toast(text, href) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement(href ? "a" : "div");
    el.className = "toast";
    el.textContent = text;
    if (href) el.href = href;
    box.appendChild(el);
    setTimeout(function () { el.classList.add("gone"); }, 6000);
    setTimeout(function () { el.remove(); }, 6600);
  }

  function upsertMessage(id, html) {
    var thread = document.getElementById("thread");
    if (!thread) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    var node = tpl.content.firstElementChild;
    if (!node) return;
    var existing = document.getElementById(id);
    if (existing) { existing.replaceWith(node); } else { thread.appendChild(node); node.classList.add("fresh"); }
    if (window.htmx) htmx.process(node);
    thread.scrollTop = thread.scrollHeight;
  }

  function showViewers(names) {
    var box = document.getElementById("viewers");
    if (!box) return;
    box.hidden = names.length === 0;
    box.textContent = names.length ? (box.getAttribute("data-label") || "") + " " + names.join(", ") : "";
  }

  var refreshTimers = {};
  function refresh(id, swap) {
    var el = document.getElementById(id);
    if (!el || !window.htmx) return;
    clearTimeout(refreshTimers[id]);
    refreshTimers[id] = setTimeout(function () {
      var url = el.getAttribute("data-refresh-url") || window.location.pathname + window.location.search;
      if (id === "inbox-list") url = window.location.pathname + window.location.search;
      htmx.ajax("GET", url, { target: "#" + id, swap: swap || "innerHTML" });
    }, 250);
  }

  // Live chat: the conversation this page shows (if any) and the agent's side of a chat.
  var socketRef = null;
  function pageConversation() {
    var ws = document.body.getAttribute("data-ws") || "";
    var m = ws.match(/conversation=(\d+)/);
    return m ? parseInt(m[1], 10) : null;
  }
  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  var typingTimer = null;
  function showTyping() {
    var line = document.getElementById("typing-line");
    if (!line) return;
    line.textContent = line.getAttribute("data-label") || "…";
    line.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { line.hidden = true; }, 4000);
  }
  function markRead(conversationId, messageId) {
    if (document.hidden) return;
    var body = new URLSearchParams({ id: String(messageId) });
    fetch("/c/" + conversationId + "/chat/read/", {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() }
    }).catch(function () {});
  }
  function onChatFrame(data) {
    var here = pageConversation();
    if (data.op === "chat.typing") {
      if (data.conversation === here) showTyping();
      var mark = document.querySelector('[data-typing-for="' + data.conversation + '"]');
      if (mark) { mark.hidden = false; setTimeout(function () { mark.hidden = true; }, 4000); }
      return;
    }
    if (data.op === "chat.offer") {
      toast("💬 " + data.customer, "/c/" + data.conversation + "/");
      refresh("chat-list"); refresh("inbox-list");
      return;
    }
    if (data.op === "chat.invite") {
      toast("👋 " + data.by + " → " + data.customer, "/c/" + data.conversation + "/");
      return;
    }
    // "chat.line": a visitor's line the moment it arrives (not stored yet, no id); "chat":
    // a stored line ("relayed" when its chat.line came first).
    if ((data.op === "chat" || data.op === "chat.line") && data.message) {
      var announced = data.op === "chat" && data.relayed;
      if (data.conversation === here) {
        var line = document.getElementById("typing-line");
        if (line && data.message.from === "visitor") line.hidden = true;
        if (data.message.from === "visitor" && data.message.id) markRead(here, data.message.id);
      } else if (data.message.from === "visitor" && !announced) {
        toast("💬 " + (data.message.text || "").slice(0, 120), "/c/" + data.conversation + "/");
        var unread = document.querySelector('[data-unread-for="' + data.conversation + '"]');
        if (unread) { unread.hidden = false; unread.textContent = String((parseInt(unread.textContent, 10) || 0) + 1); }
      }
    }
  }

  function connect() {
    var path = document.body.getAttribute("data-ws");
    if (!path) return;
    var live = document.getElementById("live");
    var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
    var delay = 1000;
    var socket;
    var pinger;

    function open() {
      socket = new WebSocket(proto + window.location.host + path);
      socketRef = socket;
      socket.onopen = function () {
        delay = 1000;
        if (live) live.classList.add("on");
        document.body.setAttribute("data-ws-ready", "1");
        pinger = setInterval(function () { if (socket.readyState === 1) socket.send("ping"); }, 25000);
      };
      socket.onmessage = function (ev) {
        var data;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        if (data.op === "message") upsertMessage(data.id, data.html);
        else if (data.op === "props") { refresh("conv-props", "outerHTML"); refresh("chat-panel"); }
        else if (data.op && data.op.indexOf("chat") === 0) onChatFrame(data);
        else if (data.op === "inbox") refresh("inbox-list");
        else if (data.op === "viewers") showViewers(data.names || []);
        else if (data.op === "replying") showReplying(data.who || "");
        else if (data.op === "tiles") htmx.trigger(document.body, "kefu:tiles");
        else if (data.op === "toast" && !document.getElementById("thread")) toast(data.text, data.href);
      };
      socket.onclose = function (ev) {
        if (ev.code === 4401 || ev.code === 4403) {  // signed out or no access: don't retry
          if (live) live.classList.remove("on");
          return;
        }
        if (live) live.classList.remove("on");
        document.body.removeAttribute("data-ws-ready");
        clearInterval(pinger);
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    open();
  }

  document.addEventListener("DOMContentLoaded", function () {
    connect();
    var thread = document.getElementById("thread");
    if (thread) thread.scrollTop = thread.scrollHeight;

    document.body.addEventListener("click", function (ev) {
      var tab = ev.target.closest && ev.target.closest("[data-tab]");
      if (!tab) return;
      document.querySelectorAll("[data-tab]").forEach(function (t) {
        t.classList.toggle("on", t === tab);
        var pane = document.getElementById(t.getAttribute("data-tab"));
        if (pane) pane.hidden = t !== tab;
      });
      var ta = document.querySelector("#" + tab.getAttribute("data-tab") + " textarea");
      if (ta) ta.focus();
    });

    // Ctrl/Cmd+Enter sends the reply or note; in a live chat plain Enter sends the reply
    // (Shift+Enter for a new line), as in any chat program.
    var composer = document.getElementById("composer");
    var isChat = composer && composer.hasAttribute("data-chat");
    document.body.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter" || ev.target.tagName !== "TEXTAREA" || ev.isComposing) return;
      var form = ev.target.form;
      if (!form) return;
      var chatSend = isChat && form.id === "reply-form" && !ev.shiftKey && !cannedOpen();
      if (ev.ctrlKey || ev.metaKey || chatSend) {
        ev.preventDefault();
        if (ev.target.value.trim()) form.requestSubmit();
      }
    });
    setupComposer(isChat);
  });

  // Macros: "/shortcut" in any reply box (reply, note) offers the matching macros; picking one
  // replaces the "/shortcut" with its text filled in for this conversation (the server renders
  // the placeholders) and applies its actions (status, priority, tags) there.
  var cannedBox = null;
  function cannedOpen() { return cannedBox && !cannedBox.hidden && cannedBox.children.length > 0; }
  function shortcutAt(area) {
    var before = area.value.slice(0, area.selectionStart);
    // After a space, a line start or CJK punctuation ("稍等。/tea"); not inside a URL or path.
    var m = before.match(/(^|[^A-Za-z0-9_:\/.])\/([^\s\/]{0,40})$/);
    return m ? { q: m[2], start: before.length - m[2].length - 1, end: area.selectionStart } : null;
  }
  function showReplying(who) {
    var box = document.getElementById("replying");
    if (!box) return;
    box.textContent = who + " " + (box.getAttribute("data-label") || "…");
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 5000);
  }
  function setupComposer(isChat) {
    var areas = document.querySelectorAll("#reply-form textarea, #note-form textarea");
    if (!areas.length) return;
    cannedBox = document.createElement("ul");
    cannedBox.className = "canned-menu";
    cannedBox.id = "canned-menu";
    cannedBox.hidden = true;
    var lastTyping = 0;
    var pending = null;
    var current = null;  // the textarea the menu belongs to
    function pick(item) {
      var area = current;
      cannedBox.hidden = true;
      if (!area) return;
      var at = shortcutAt(area) || { start: area.selectionStart, end: area.selectionStart };
      var body = new URLSearchParams({ conversation: String(pageConversation() || "") });
      fetch("/canned/" + item.id + "/use/", {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() }
      }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
        .then(function (res) {
          if (!res.ok) { toast(res.data.error || "error"); return; }
          var text = res.data.body;
          area.value = area.value.slice(0, at.start) + text + area.value.slice(at.end);
          var caret = at.start + text.length;
          area.setSelectionRange(caret, caret);
          area.focus();
          area.dispatchEvent(new Event("change", { bubbles: true }));
          (res.data.failed || []).forEach(function (f) { toast("/" + item.shortcut + ": " + f.error); });
          if ((res.data.applied || []).length) refresh("conv-props", "outerHTML");
        }).catch(function () {});
    }
    areas.forEach(function (area) {
      area.addEventListener("input", function () {
        var now = Date.now();
        if (area.form && area.form.id === "reply-form" && socketRef && socketRef.readyState === 1 &&
            now - lastTyping > 1500) {
          lastTyping = now;
          socketRef.send('{"op":"typing"}');
        }
        var m = shortcutAt(area);
        if (!m) { cannedBox.hidden = true; return; }
        current = area;
        if (cannedBox.parentNode !== area.parentNode || cannedBox.previousSibling !== area) {
          area.parentNode.insertBefore(cannedBox, area.nextSibling);
        }
        clearTimeout(pending);
        pending = setTimeout(function () {
          fetch("/canned/?q=" + encodeURIComponent(m.q), { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.json() : { replies: [] }; })
            .then(function (data) {
              cannedBox.textContent = "";
              (data.replies || []).forEach(function (item, i) {
                var li = document.createElement("li");
                li.className = i === 0 ? "on" : "";
                li.setAttribute("data-shortcut", item.shortcut);
                var key = document.createElement("strong");
                key.textContent = "/" + item.shortcut;
                var title = document.createElement("span");
                title.textContent = " " + item.title;
                li.appendChild(key); li.appendChild(title);
                if (item.personal) { var mine = document.createElement("em"); mine.textContent = " ★"; li.appendChild(mine); }
                if (item.actions && item.actions.length) {
                  var acts = document.createElement("small");
                  acts.textContent = " · " + item.actions.join(" · ");
                  li.appendChild(acts);
                }
                li.addEventListener("mousedown", function (ev) { ev.preventDefault(); pick(item); });
                li._item = item;
                cannedBox.appendChild(li);
              });
              cannedBox.hidden = cannedBox.children.length === 0;
            }).catch(function () {});
        }, 150);
      });
      area.addEventListener("keydown", function (ev) {
        if (!cannedOpen() || current !== area) return;
        var items = Array.prototype.slice.call(cannedBox.children);
        var at = items.findIndex(function (li) { return li.classList.contains("on"); });
        if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
          ev.preventDefault();
          var next = (at + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
          items.forEach(function (li, i) { li.classList.toggle("on", i === next); });
        } else if (ev.key === "Enter" || ev.key === "Tab") {
          ev.preventDefault();
          ev.stopPropagation();
          pick(items[Math.max(at, 0)]._item);
        } else if (ev.key === "Escape") {
          cannedBox.hidden = true;
        }
      });
      area.addEventListener("blur", function () { setTimeout(function () { cannedBox.hidden = true; }, 150); });
    });
  }

  // Inbox: "select all" for the bulk-action bar.
  document.addEventListener("change", function (ev) {
    var all = ev.target.closest && ev.target.closest("[data-select-all]");
    if (!all) return;
    document.querySelectorAll("#inbox-rows .pick").forEach(function (box) { box.checked = all.checked; });
  });

  document.addEventListener("htmx:afterRequest", function (ev) {
    var form = ev.detail.elt;
    if (ev.detail.successful && form && form.hasAttribute && form.hasAttribute("data-reset")) form.reset();
    if (ev.detail.successful && document.getElementById("thread")) {
      var t = document.getElementById("thread"); t.scrollTop = t.scrollHeight;
    }
  });
  // After an htmx append, drop a duplicate that the websocket delivered first.
  document.addEventListener("htmx:afterSwap", function () {
    var seen = {};
    document.querySelectorAll("#thread > .msg, #thread > .event").forEach(function (m) {
      if (seen[m.id]) m.remove(); else seen[m.id] = true;
    });
  });
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    if (xhr.status === 400 && ev.detail.target && ev.detail.target.id === "memory") return;
    var text = xhr.responseText || xhr.statusText;
    var plain = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0;
    toast(plain && text.length < 300 ? text : xhr.status + " " + xhr.statusText);
  });
  document.addEventListener("htmx:beforeSwap", function (ev) {
    // Memory forms answer 400 with the panel and its error message: show it.
    if (ev.detail.xhr.status === 400 && ev.detail.target && ev.detail.target.id === "memory") {
      ev.detail.shouldSwap = true; ev.detail.isError = false;
    }
  });
})();

/* SLA countdowns (service app): the server renders the time left from the stored due times;
   this ticks it down every 30 s and recolours it: ok → near (past the policy's near-breach
   point, data-sla-warn) → breached (past data-sla-due). Same text as the server: H:MM, "−"
   when overdue. */
(function () {
  "use strict";

  function slaText(seconds) {
    var minutes = Math.floor(Math.abs(seconds) / 60);
    var mm = minutes % 60;
    var text = Math.floor(minutes / 60) + ":" + (mm < 10 ? "0" : "") + mm;
    return seconds < 0 ? "\u2212" + text : text;
  }

  function slaTick() {
    var now = Date.now();
    document.querySelectorAll("[data-sla-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-sla-due"));
      if (isNaN(due)) return;
      var warnAttr = el.getAttribute("data-sla-warn");
      var warn = warnAttr ? Date.parse(warnAttr) : NaN;
      var left = (due - now) / 1000;
      var state = left <= 0 ? "breached" : (!isNaN(warn) && now >= warn ? "near" : "ok");
      el.classList.remove("sla-ok", "sla-near", "sla-breached");
      el.classList.add("sla-" + state);
      var out = el.querySelector(".sla-left");
      if (out) out.textContent = slaText(left);
    });
  }

  document.addEventListener("DOMContentLoaded", slaTick);
  document.addEventListener("htmx:afterSwap", slaTick);
  window.setInterval(slaTick, 30000);
})();
