// The knowledge-base editor: a small rich-text editor over the body's textarea (no build step;
// without JavaScript the textarea itself is the editor), image upload, FAQ fields, confirmations
// and a warning before leaving unsaved changes. The server sanitizes whatever is posted.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function safeLink(url) {
    return /^(https?:\/\/|mailto:|\/)/i.test(url.trim());
  }

  function setupEditor(box) {
    var area = box.querySelector("textarea");
    var toolbar = box.querySelector(".kbe-toolbar");
    var status = box.querySelector(".kbe-rte-status");
    if (!area || !toolbar) return;
    var form = area.form;
    var editable = document.createElement("div");
    editable.className = "kbe-editable";
    editable.contentEditable = "true";
    editable.setAttribute("role", "textbox");
    editable.setAttribute("aria-multiline", "true");
    editable.setAttribute("data-placeholder", area.getAttribute("placeholder") || "");
    editable.innerHTML = area.value;
    area.hidden = true;
    area.parentNode.insertBefore(editable, area);
    toolbar.hidden = false;
    var source = false;
    try { document.execCommand("styleWithCSS", false, false); } catch (e) { /* old browsers */ }
    try { document.execCommand("defaultParagraphSeparator", false, "p"); } catch (e) { /* idem */ }

    function sync() {
      if (!source) area.value = editable.innerHTML;
    }
    function say(text) {
      if (status) status.textContent = text || "";
    }
    function refreshState() {
      toolbar.querySelectorAll("[data-cmd]").forEach(function (b) {
        var cmd = b.getAttribute("data-cmd");
        if (cmd === "bold" || cmd === "italic" || cmd.indexOf("List") > 0) {
          var on = false;
          try { on = document.queryCommandState(cmd); } catch (e) { on = false; }
          b.classList.toggle("on", on);
        }
      });
    }
    editable.addEventListener("input", function () { sync(); markDirty(); });
    editable.addEventListener("keyup", refreshState);
    editable.addEventListener("mouseup", refreshState);
    form.addEventListener("submit", sync);

    function insertHtml(html) {
      editable.focus();
      document.execCommand("insertHTML", false, html);
      sync();
      markDirty();
    }
    box.kbeInsert = insertHtml;

    toolbar.addEventListener("mousedown", function (e) {
      if (e.target.closest("button")) e.preventDefault(); // keep the selection in the text
    });
    toolbar.addEventListener("click", function (e) {
      var b = e.target.closest("button");
      if (!b) return;
      if (b.hasAttribute("data-source")) {
        source = !source;
        if (source) {
          area.value = editable.innerHTML;
          editable.hidden = true;
          area.hidden = false;
          area.focus();
        } else {
          editable.innerHTML = area.value;
          area.hidden = true;
          editable.hidden = false;
          editable.focus();
        }
        b.classList.toggle("on", source);
        toolbar.querySelectorAll("button:not([data-source])").forEach(function (o) { o.disabled = source; });
        return;
      }
      editable.focus();
      if (b.hasAttribute("data-cmd")) {
        document.execCommand(b.getAttribute("data-cmd"), false, null);
      } else if (b.hasAttribute("data-block")) {
        document.execCommand("formatBlock", false, "<" + b.getAttribute("data-block") + ">");
      } else if (b.hasAttribute("data-link")) {
        var url = window.prompt(box.getAttribute("data-link-prompt"), "https://");
        if (!url || url === "https://") return;
        if (!safeLink(url)) { say(box.getAttribute("data-bad-link")); return; }
        document.execCommand("createLink", false, url.trim());
      } else if (b.hasAttribute("data-image")) {
        if (!box.getAttribute("data-upload")) { say(box.getAttribute("data-save-first")); return; }
        box.querySelector("[data-image-file]").click();
        return;
      }
      sync();
      markDirty();
      refreshState();
    });

    var picker = box.querySelector("[data-image-file]");
    if (picker) {
      picker.addEventListener("change", function () {
        var file = picker.files && picker.files[0];
        if (!file) return;
        var data = new FormData();
        data.append("file", file);
        say(box.getAttribute("data-uploading"));
        fetch(box.getAttribute("data-upload"), {
          method: "POST",
          body: data,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(form), Accept: "application/json" },
        })
          .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
          .then(function (res) {
            picker.value = "";
            if (!res.ok) { say(res.body.error || "error"); return; }
            say("");
            var alt = res.body.filename.replace(/[<>"&]/g, "");
            insertHtml(res.body.image
              ? '<img src="' + res.body.url + '" alt="' + alt + '">'
              : '<a href="' + res.body.url + '">' + alt + "</a>");
          })
          .catch(function () { say("error"); });
      });
    }
  }

  // Unsaved changes: warn before leaving, not when the form itself is submitted.
  var dirty = false, submitting = false;
  function markDirty() { dirty = true; }
  window.addEventListener("beforeunload", function (e) {
    if (dirty && !submitting) { e.preventDefault(); e.returnValue = ""; }
  });

  function setup() {
    document.querySelectorAll("[data-rte]").forEach(setupEditor);
    var form = document.getElementById("article-form");
    if (form) {
      form.addEventListener("input", markDirty);
      form.addEventListener("change", markDirty);
      form.addEventListener("submit", function () { submitting = true; });
      // Ctrl+S / ⌘S saves (the first button of the publishing card: Save, or Save as draft).
      document.addEventListener("keydown", function (e) {
        if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
          var save = document.querySelector("button[form=article-form]");
          if (save) { e.preventDefault(); save.click(); }
        }
      });
      // FAQ entries have other phrasings; plain articles do not.
      var kind = form.querySelector("select[name=kind]");
      var faqOnly = form.querySelectorAll(".kbe-faq-only");
      var toggle = function () {
        faqOnly.forEach(function (el) {
          var area = el.querySelector("textarea");
          el.hidden = kind.value !== "faq" && !(area && area.value.trim());
        });
      };
      if (kind) { kind.addEventListener("change", toggle); toggle(); }
    }
    // "Insert" beside an uploaded file puts it into the text.
    document.addEventListener("click", function (e) {
      var b = e.target.closest && e.target.closest("[data-insert]");
      if (!b) return;
      var box = document.querySelector("[data-rte]");
      if (!box || !box.kbeInsert) return;
      var url = b.getAttribute("data-insert"), name = b.getAttribute("data-name").replace(/[<>"&]/g, "");
      box.kbeInsert(b.hasAttribute("data-image")
        ? '<img src="' + url + '" alt="' + name + '">'
        : '<a href="' + url + '">' + name + "</a>");
    });
    // Forms that destroy something ask first.
    document.addEventListener("submit", function (e) {
      var f = e.target;
      var question = f.getAttribute && f.getAttribute("data-confirm");
      if (question && !window.confirm(question)) { e.preventDefault(); return; }
      if (f.id !== "article-form") submitting = true;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
