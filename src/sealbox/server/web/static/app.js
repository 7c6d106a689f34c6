// sealbox web pages: small progressive enhancements; every form also works without this file.
(function () {
  "use strict";
  // The same rule the server applies: 1-128 of letters, digits, '.', '_', '-', not '.' or '..'.
  var NAME = /^[A-Za-z0-9._-]{1,128}$/;

  function kindSwitch(form) {
    var kind = form.querySelector("#kind");
    if (!kind) { return; }
    function show() {
      form.querySelectorAll(".kind-fields").forEach(function (set) {
        var on = set.getAttribute("data-kind") === kind.value;
        set.hidden = !on;
        set.querySelectorAll("input, textarea").forEach(function (el) { el.disabled = !on; });
      });
    }
    kind.addEventListener("change", show);
    show();
  }

  function nameCheck(form) {
    var input = form.querySelector("#name");
    var error = form.querySelector("#name-error");
    if (!input || !error) { return; }
    input.addEventListener("input", function () {
      var v = input.value;
      var ok = NAME.test(v) && v !== "." && v !== "..";
      input.setAttribute("aria-invalid", ok || v === "" ? "false" : "true");
      error.hidden = ok || v === "";
      if (!error.hidden) { error.textContent = "A secret name is " + input.getAttribute("data-rule") + "."; }
      var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
        return id && id !== "name-error";
      });
      if (!error.hidden) { ids.push("name-error"); }
      input.setAttribute("aria-describedby", ids.join(" "));
    });
  }

  function revealToggle(form) {
    var button = form.querySelector("button.toggle");
    if (!button) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var shown = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", shown ? "true" : "false");
      button.textContent = shown ? "Hide value" : "Show value";
      form.querySelectorAll(".secret-input").forEach(function (el) {
        if (el.tagName === "INPUT") { el.type = shown ? "text" : "password"; }
        else { el.classList.toggle("shown", shown); }
      });
    });
  }

  // "Start with secrets": a Copy button beside the ready command (the text stays selectable without it).
  function copyButtons() {
    document.querySelectorAll("button.copy").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.value).then(function () { button.textContent = "Copied"; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("new-secret");
    if (form) { kindSwitch(form); nameCheck(form); revealToggle(form); }
    copyButtons();
  });
})();
