// Help center: instant suggestions while typing in the search box (no inline script: strict CSP).
(function () {
  "use strict";
  function plain(html) {
    // The snippet is HTML-escaped with <mark> around matches; keep only text and <mark>.
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var out = document.createDocumentFragment();
    tpl.content.childNodes.forEach(function (node) {
      if (node.nodeType === 1 && node.tagName === "MARK") {
        var m = document.createElement("mark");
        m.textContent = node.textContent;
        out.appendChild(m);
      } else {
        out.appendChild(document.createTextNode(node.textContent));
      }
    });
    return out;
  }

  function setup(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var url = input.dataset.suggestUrl;
    var timer = null, seq = 0, active = -1;

    function close() { list.hidden = true; list.innerHTML = ""; active = -1; input.setAttribute("aria-expanded", "false"); }
    function mark(i) {
      var items = list.querySelectorAll("li");
      items.forEach(function (li, n) { li.classList.toggle("on", n === i); });
      active = i;
    }
    function render(articles, q) {
      list.innerHTML = "";
      articles.forEach(function (a) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        var link = document.createElement("a");
        link.href = a.url;
        var t = document.createElement("span"); t.className = "t"; t.textContent = a.title;
        var s = document.createElement("span"); s.className = "s"; s.appendChild(plain(a.snippet || ""));
        link.appendChild(t); link.appendChild(s); li.appendChild(link); list.appendChild(li);
      });
      if (!articles.length) { close(); return; }
      var more = document.createElement("li");
      var all = document.createElement("a");
      all.className = "all";
      all.href = input.form.action + "?q=" + encodeURIComponent(q);
      all.textContent = input.form.querySelector("button[type=submit]").textContent + " “" + q + "”";
      more.appendChild(all); list.appendChild(more);
      list.hidden = false; active = -1;
      input.setAttribute("aria-expanded", "true");
    }
    function ask() {
      var q = input.value.trim();
      if (q.length < 2) { close(); return; }
      var mine = ++seq;
      fetch(url + "?q=" + encodeURIComponent(q), { headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { articles: [] }; })
        .then(function (data) { if (mine === seq) render(data.articles || [], q); })
        .catch(function () {});
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 150); });
    input.addEventListener("keydown", function (e) {
      var items = list.querySelectorAll("li");
      if (list.hidden || !items.length) return;
      if (e.key === "ArrowDown") { e.preventDefault(); mark((active + 1) % items.length); }
      else if (e.key === "ArrowUp") { e.preventDefault(); mark((active - 1 + items.length) % items.length); }
      else if (e.key === "Escape") { close(); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); items[active].querySelector("a").click(); }
    });
    document.addEventListener("click", function (e) { if (!input.form.contains(e.target)) close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-suggest-url]").forEach(setup);
  });
})();
