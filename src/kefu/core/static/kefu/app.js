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
        else if (data.op === "props") refresh("conv-props", "outerHTML");
        else if (data.op === "inbox") refresh("inbox-list");
        else if (data.op === "viewers") showViewers(data.names || []);
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

    // Ctrl/Cmd+Enter sends the reply or note.
    document.body.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && ev.target.tagName === "TEXTAREA") {
        var form = ev.target.form;
        if (form) { ev.preventDefault(); form.requestSubmit(); }
      }
    });
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
