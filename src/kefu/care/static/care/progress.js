// A campaign's counters, live: the server pushes the rendered counters over a websocket
// (sent, failed, bounced, opened, unsubscribed, complaints) and this swaps them in.
(function () {
  "use strict";

  function start() {
    var box = document.getElementById("care-progress");
    var path = box && box.getAttribute("data-ws");
    if (!path) return;
    var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
    var delay = 1000;

    function open() {
      var socket = new WebSocket(proto + window.location.host + path);
      socket.onopen = function () {
        delay = 1000;
        document.body.setAttribute("data-care-live", "1");
      };
      socket.onmessage = function (ev) {
        var data;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        if (data.op !== "care-progress") return;
        var holder = document.createElement("div");
        holder.innerHTML = data.html;
        var fresh = holder.firstElementChild;
        var current = document.getElementById("care-progress");
        if (!fresh || !current) return;
        current.replaceWith(fresh);
        if (window.htmx) window.htmx.process(fresh);
      };
      socket.onclose = function (ev) {
        document.body.removeAttribute("data-care-live");
        if (ev.code === 4403) return;  // no access: don't retry
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    open();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
