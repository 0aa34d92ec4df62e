// rabat-kg: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = button.getAttribute("data-copied") || "Copied";
      var label = button.textContent;
      copyText(button.getAttribute("data-copy")).then(function () {
        button.textContent = done;
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });
})();
