// The sample host page: what a customer's website does to embed the widget.
(function () {
  "use strict";
  var me = document.currentScript;
  var identity = JSON.parse(document.getElementById("kefu-sample-identity").textContent);
  if (identity) {
    window.kefuIdentity = identity;
  }
  var script = document.createElement("script");
  script.src = me.getAttribute("data-src");
  script.async = true;
  script.setAttribute("data-site-key", me.getAttribute("data-site-key"));
  document.body.appendChild(script);
})();
