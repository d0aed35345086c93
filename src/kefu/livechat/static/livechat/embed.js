/* kefu live chat loader: <script src="https://kefu.example.com/chat/embed.js" data-site-key="…" async>.
 * Adds a launcher button and, on click, the chat iframe. Styles are set from JS (element.style) so the
 * host page needs no stylesheet; the only global is window.KefuChat. */
(function () {
  "use strict";
  if (window.KefuChat) return;

  var script = document.currentScript ||
    document.querySelector('script[data-site-key][src*="/chat/embed.js"]');
  if (!script) return;
  var key = script.getAttribute("data-site-key") || "";
  if (!key) return;
  var src = new URL(script.src, window.location.href);
  var kefuOrigin = src.origin;
  var base = src.href.replace(/\/chat\/embed\.js(?:[?#].*)?$/, "");
  var lang = script.getAttribute("data-lang") || "";
  var left = script.getAttribute("data-position") === "left";
  // The launcher exists before the iframe, so its label cannot come from the server's catalogs.
  var LABELS = { "zh-hans": "在线客服", "zh-hant": "線上客服", en: "Chat with us" };
  var navLang = (lang || navigator.language || "en").toLowerCase();
  var label = LABELS[navLang] || (/^zh-(tw|hk|mo|hant)/.test(navLang) ? LABELS["zh-hant"]
    : navLang.indexOf("zh") === 0 ? LABELS["zh-hans"] : LABELS.en);
  var stateKey = "kefu:" + key + ":open";
  var Z = "2147483000";
  var SVG = "http://www.w3.org/2000/svg";

  var launcher, badge, frame, isOpen = false, unread = 0, ready = false;
  var phone = window.matchMedia("(max-width: 480px)");

  function css(el, styles) {
    for (var k in styles) el.style.setProperty(k, styles[k]);
  }

  function svgIcon(paths) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    paths.forEach(function (d) {
      var p = document.createElementNS(SVG, "path");
      p.setAttribute("d", d);
      p.setAttribute("fill", "none");
      p.setAttribute("stroke", "#fff");
      p.setAttribute("stroke-width", "2");
      p.setAttribute("stroke-linecap", "round");
      p.setAttribute("stroke-linejoin", "round");
      svg.appendChild(p);
    });
    return svg;
  }

  var chatIcon = svgIcon(["M21 11.5a8.4 8.4 0 0 1-9 8.3 9.3 9.3 0 0 1-3.9-.8L3 20.5l1.5-4.3A8 8 0 0 1 3 11.5 8.4 8.4 0 0 1 12 3.2a8.4 8.4 0 0 1 9 8.3z",
    "M8 11.5h.01M12 11.5h.01M16 11.5h.01"]);
  var closeIcon = svgIcon(["M6 6l12 12M18 6L6 18"]);

  function buildLauncher() {
    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.setAttribute("aria-label", label);
    launcher.title = label;
    launcher.setAttribute("data-kefu-launcher", "");
    css(launcher, {
      position: "fixed", bottom: "20px", width: "58px", height: "58px", "border-radius": "50%",
      border: "0", padding: "0", margin: "0", cursor: "pointer", "z-index": Z, display: "grid",
      "place-items": "center", background: "#1f6feb", color: "#fff",
      "box-shadow": "0 6px 20px rgba(16,24,40,.28)", transition: "transform .15s ease",
    });
    css(launcher, left ? { left: "20px" } : { right: "20px" });
    launcher.appendChild(chatIcon);
    badge = document.createElement("span");
    badge.setAttribute("data-kefu-unread", "");
    css(badge, {
      position: "absolute", top: "-2px", right: "-2px", "min-width": "20px", height: "20px",
      padding: "0 5px", "border-radius": "10px", background: "#e03131", color: "#fff",
      font: "600 12px/20px -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
      "text-align": "center", "box-shadow": "0 0 0 2px #fff", display: "none",
      "box-sizing": "border-box",
    });
    launcher.appendChild(badge);
    launcher.addEventListener("mouseenter", function () { launcher.style.transform = "scale(1.06)"; });
    launcher.addEventListener("mouseleave", function () { launcher.style.transform = ""; });
    launcher.addEventListener("click", function () { if (isOpen) close(); else open(); });
    document.body.appendChild(launcher);
  }

  function setBadge(n) {
    unread = n;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.style.display = n > 0 && !isOpen ? "block" : "none";
  }

  function layout() {
    if (!frame) return;
    var small = phone.matches;
    css(frame, small ? {
      top: "0", bottom: "0", left: "0", right: "0", width: "100%", height: "100%",
      "max-height": "none", "border-radius": "0",
    } : {
      top: "auto", bottom: "92px", width: "380px", height: "620px",
      "max-height": "calc(100vh - 112px)", "max-width": "calc(100vw - 40px)", "border-radius": "14px",
    });
    if (!small) css(frame, left ? { left: "20px", right: "auto" } : { right: "20px", left: "auto" });
    // On a phone the chat covers the page and has its own close button.
    launcher.style.display = small && isOpen ? "none" : "grid";
  }

  function buildFrame() {
    var url = base + "/chat/w/" + encodeURIComponent(key) + "/?origin=" +
      encodeURIComponent(window.location.origin) + (lang ? "&lang=" + encodeURIComponent(lang) : "");
    frame = document.createElement("iframe");
    frame.src = url;
    frame.title = label;
    frame.setAttribute("data-kefu-frame", "");
    frame.setAttribute("allow", "clipboard-write");
    css(frame, {
      position: "fixed", border: "0", margin: "0", padding: "0", "z-index": Z, background: "#fff",
      "box-shadow": "0 12px 48px rgba(16,24,40,.25)", display: "none", "color-scheme": "normal",
    });
    document.body.appendChild(frame);
    layout();
  }

  function post(data) {
    if (frame && frame.contentWindow && ready) frame.contentWindow.postMessage(data, kefuOrigin);
  }

  function remember(value) {
    try { window.sessionStorage.setItem(stateKey, value ? "1" : ""); } catch (e) { /* storage blocked */ }
  }

  function open() {
    if (!frame) buildFrame();
    isOpen = true;
    frame.style.display = "block";
    launcher.replaceChild(closeIcon, launcher.firstChild);
    setBadge(unread);
    layout();
    post({ type: "kefu:visible", visible: true });
    if (ready) frame.focus();
    remember(true);
  }

  function close() {
    isOpen = false;
    if (frame) frame.style.display = "none";
    launcher.replaceChild(chatIcon, launcher.firstChild);
    layout();
    setBadge(unread);
    post({ type: "kefu:visible", visible: false });
    remember(false);
    launcher.focus();
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== kefuOrigin || !frame || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.type === "kefu:ready") {
      ready = true;
      if (/^#[0-9a-f]{3,8}$/i.test(data.color || "")) launcher.style.background = data.color;
      post({ type: "kefu:identity", identity: window.kefuIdentity || null, page: String(window.location.href).slice(0, 500) });
      post({ type: "kefu:visible", visible: isOpen });
    } else if (data.type === "kefu:unread") {
      setBadge(Math.max(0, parseInt(data.count, 10) || 0));
    } else if (data.type === "kefu:close") {
      close();
    }
  });

  if (phone.addEventListener) phone.addEventListener("change", layout);

  function init() {
    buildLauncher();
    var reopen = false;
    try { reopen = window.sessionStorage.getItem(stateKey) === "1"; } catch (e) { /* storage blocked */ }
    if (reopen) open();
  }

  window.KefuChat = { open: function () { if (launcher) open(); }, close: function () { if (launcher) close(); } };
  if (document.body) init(); else document.addEventListener("DOMContentLoaded", init);
})();
