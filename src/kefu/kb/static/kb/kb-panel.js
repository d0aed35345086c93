// Agent reply suggestions: "insert link" / "insert text" put the article into the reply box.
(function () {
  "use strict";
  if (window.__kefuKbPanel) return;
  window.__kefuKbPanel = true;
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-kb-insert]");
    if (!button) return;
    var box = document.querySelector("#reply-form textarea");
    if (!box) return;
    var tab = document.querySelector("[data-tab=reply-form]");
    if (tab && !tab.classList.contains("on")) tab.click();
    var text = button.getAttribute("data-kb-insert");
    var start = box.selectionStart || box.value.length, end = box.selectionEnd || box.value.length;
    var before = box.value.slice(0, start), after = box.value.slice(end);
    if (before && !/\s$/.test(before)) text = "\n" + text;
    box.value = before + text + after;
    box.focus();
    box.selectionStart = box.selectionEnd = (before + text).length;
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
