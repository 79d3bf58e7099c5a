// What a message offers besides the stream: Copy (the whole message as
// Markdown, or one code block), Edit & resend, and the ‹ 2/3 › version
// switcher's focus. Static file, no inline handlers (CSP).
(function () {
  "use strict";

  // Shared with spool.js, loaded before this file (templates/base.html).
  var Spool = window.Spool;

  // The Copy buttons do nothing without this script, so they are rendered
  // hidden and shown here (on load and in every swapped-in piece).
  function showCopyButtons(root) {
    if (!root || !root.querySelectorAll) { return; }
    root.querySelectorAll("button.copy-message[hidden]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { showCopyButtons(document); });
  document.addEventListener("htmx:load", function (evt) { showCopyButtons(evt.detail.elt); });

  // --- Copy a message: its stored Markdown, from the footer's text box -------
  function copyMessage(button) {
    var source = document.getElementById(button.dataset.source);
    if (!source) { return; }
    Spool.copy(source.value).then(function () {
      Spool.confirmCopied(button, "Message copied.");
    }, function () {
      // Shown, focused and selected: Ctrl+C copies it; Esc hides it again.
      var box = document.getElementById(source.id + "-box");
      if (box) { box.hidden = false; }
      source.focus();
      source.select();
      Spool.status("Copying is not available here. The text is selected: press Control+C to copy it.");
    });
  }

  // --- Copy one code block ----------------------------------------------------
  function copyCode(button) {
    var code = button.closest(".code-block").querySelector("pre code, pre");
    if (!code) { return; }
    Spool.copy(code.textContent).then(function () {
      Spool.confirmCopied(button, "Code copied.");
    }, function () {
      // Selected in place (a block that scrolls takes focus, spool.js).
      var range = document.createRange();
      range.selectNodeContents(code);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      Spool.status("Copying is not available here. The code is selected: press Control+C to copy it.");
    });
  }

  document.addEventListener("click", function (evt) {
    var target = evt.target;
    var button = target.closest && target.closest("button.copy-message, button.copy-code");
    if (!button) { return; }
    if (button.classList.contains("copy-message")) { copyMessage(button); } else { copyCode(button); }
  });

  // --- Esc: leaves the shown copy box, or cancels an edit -----------------
  // In the capture phase, before Esc-stops-the-answer (spool.js).
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") { return; }
    var target = evt.target;
    var box = target.closest && target.closest(".copy-fallback");
    // By the form, not the article's is-editing class: htmx puts a swapped
    // element's new attributes on it only at the settle, 20 ms after the
    // edit box has taken focus.
    var form = target.closest && target.closest("form.edit-form");
    var edit = form && form.closest("article");
    if (!box && !edit) { return; }
    evt.preventDefault();
    evt.stopPropagation();
    if (box) {
      box.hidden = true;
      var button = box.closest("footer").querySelector("button.copy-message");
      if (button) { button.focus(); }
      return;
    }
    var cancel = edit.querySelector(".edit-cancel");
    if (!cancel) { return; }
    // Bound now, should htmx not have processed the new content yet: a plain
    // click would follow the link to a #fragment of this page (nothing happens).
    if (window.htmx) { window.htmx.process(cancel); }
    cancel.click();
  }, true);

  // --- A refused edit: the box says it is invalid ----------------------------
  // The server swaps only the reason into the edit form (its alert region);
  // the box keeps the text, marked invalid as the composer is (spool.js).
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (!form || !form.classList || !form.classList.contains("edit-form")) { return; }
    var box = form.querySelector("textarea");
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (!box) { return; }
    if (status === 422) { box.setAttribute("aria-invalid", "true"); }
    // 503: the server is restarting; the text is fine, only the moment is not.
    if (status === 503) { box.removeAttribute("aria-invalid"); }
  });

  // --- Focus across the swaps of the transcript ----------------------------
  // A switcher arrow, Edit and Cancel are replaced with what they swap in:
  // focus goes to the same arrow (by its id, stable across versions; the
  // other arrow when this one is now at the end), the edit box, or Edit.
  var focusAfter = null;
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    var active = document.activeElement;
    focusAfter = null;
    if (!elt || !elt.closest) { return; }
    var article = elt.closest("article.msg");
    if (elt.closest(".versions") && active && active.id) {
      focusAfter = { arrow: active.id };
    } else if (elt.classList.contains("edit-cancel")) {
      focusAfter = { selector: "#" + CSS.escape(article.id) + " .btn-edit" };
    } else if (elt.querySelector && elt.querySelector(".btn-edit")) {
      focusAfter = { selector: "#" + CSS.escape(article.id) + " textarea" };
    }
  });
  // At the swap itself (not the settle, 20 ms later: focus would sit on
  // <body> meanwhile), and in the capture phase: before spool.js's rescue,
  // which would otherwise move focus to the composer first.
  document.addEventListener("htmx:afterSwap", function () {
    if (!focusAfter) { return; }
    var wanted = focusAfter;
    focusAfter = null;
    var target = null;
    if (wanted.arrow) {
      target = document.getElementById(wanted.arrow);
      if (target && target.disabled) {
        var group = target.closest(".versions");
        target = group && group.querySelector("button:not([disabled])");
      }
    } else {
      target = document.querySelector(wanted.selector);
    }
    if (!target) { return; }
    // htmx binds swapped-in content only at the settle: a key pressed on the
    // focused control before then would act as the plain, scriptless form or
    // link (a page load). Bound now, it acts through htmx at once.
    var scope = target.closest("article") || target;
    if (window.htmx) { window.htmx.process(scope); }
    target.focus();
    if (target.tagName === "TEXTAREA") {
      // The caret at the end of the question, ready to change it.
      target.setSelectionRange(target.value.length, target.value.length);
    }
  }, true);
})();
