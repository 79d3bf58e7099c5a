// Spool's page behaviour that htmx cannot express declaratively.
// Static file, no inline handlers: the CSP allows only 'self' scripts.
(function () {
  "use strict";

  // Screen readers hear "Reconnecting…" only if a cut lasts longer than this.
  var RECONNECT_NOTICE_MS = 5000;
  // Within this many pixels of the bottom the transcript follows new text.
  var PIN_SLACK_PX = 48;
  var COPIED_LABEL_MS = 2000;

  function composerText() { return document.getElementById("composer-text"); }
  function stopButton() { return document.getElementById("stop-button"); }
  function transcript() { return document.getElementById("conversation"); }
  function srStatus(text) {
    var el = document.getElementById("sr-status");
    if (el) { el.textContent = text; }
  }

  // --- Keyboard: Enter sends, Shift+Enter new line, Esc stops -------------
  document.addEventListener("keydown", function (evt) {
    var text = composerText();
    if (evt.target === text && evt.key === "Enter" && !evt.shiftKey && !evt.isComposing) {
      evt.preventDefault();
      if (text.value.trim() !== "") { text.form.requestSubmit(); }
      return;
    }
    if (evt.key === "Escape" && !evt.defaultPrevented && !document.querySelector("dialog[open]")) {
      var stop = stopButton();
      if (stop) { evt.preventDefault(); stop.click(); }
    }
  });

  // --- Stop carries the last event the page applied ------------------------
  function noteSeen(elt, message) {
    var article = elt.closest("article.msg");
    var id = message && message.lastEventId;
    if (article && id) { article.dataset.seen = id; }
  }
  document.addEventListener("htmx:sseMessage", function (evt) {
    noteSeen(evt.target, evt.detail);
    follow();
  });

  // --- tail-append: grow the live tail instead of replacing it --------------
  // Data is JSON [[depth, html], ...]: append html as the last children of the
  // element reached from .tail by following lastElementChild depth times
  // (streaming/markdown/ops.py holds the same rule as a string function).
  // The HTML was rendered and sanitised on the server, like every other swap.
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (evt.target.getAttribute("sse-swap") !== "tail-append") { return; }
    evt.preventDefault();
    var article = evt.target.closest("article.msg");
    var tail = article && article.querySelector(".msg-body .tail");
    if (!tail) { return; }
    JSON.parse(evt.detail.data).forEach(function (op) {
      var node = tail;
      for (var i = 0; i < op[0] && node.lastElementChild; i++) { node = node.lastElementChild; }
      node.insertAdjacentHTML("beforeend", op[1]);
    });
    noteSeen(evt.target, evt.detail);
    follow();
  });
  document.addEventListener("htmx:configRequest", function (evt) {
    if (evt.detail.elt && evt.detail.elt.id === "stop-button") {
      var live = document.querySelector("article.msg.is-live");
      evt.detail.parameters.seen = live && live.dataset.seen ? live.dataset.seen : "";
      delete evt.detail.parameters.text;
    }
  });

  // --- Stream lifecycle: busy state, reconnect notice, focus ---------------
  var reconnectTimer = null;
  document.addEventListener("htmx:sseError", function () {
    if (reconnectTimer === null) {
      reconnectTimer = window.setTimeout(function () { srStatus("Reconnecting…"); }, RECONNECT_NOTICE_MS);
    }
  });
  document.addEventListener("htmx:sseOpen", function () {
    if (reconnectTimer !== null) { window.clearTimeout(reconnectTimer); reconnectTimer = null; }
  });
  document.addEventListener("htmx:sseClose", function (evt) {
    var article = evt.target.closest("article.msg");
    if (article) {
      article.removeAttribute("aria-busy");
      article.classList.remove("is-live");
    }
    if (reconnectTimer !== null) { window.clearTimeout(reconnectTimer); reconnectTimer = null; }
  });
  // When Stop disappears under the keyboard focus, focus goes back to the composer.
  document.addEventListener("htmx:oobAfterSwap", function () { rescueFocus(); });
  document.addEventListener("htmx:afterSettle", function () { rescueFocus(); });
  function rescueFocus() {
    var text = composerText();
    if (text && (document.activeElement === document.body || document.activeElement === null)) {
      text.focus();
    }
  }

  // --- Composer: clear after a send, keep the text on an error -------------
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (!form || form.id !== "composer") { return; }
    var text = composerText();
    var error = document.getElementById("composer-error");
    // 422 is swapped (it carries the error) but is no success: keep the text.
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (status >= 200 && status < 300) {
      text.value = "";
      text.removeAttribute("aria-invalid");
      if (error) { error.textContent = ""; }
      pinned = true;
      follow();
    } else if (status === 422) {
      text.setAttribute("aria-invalid", "true");
    }
  });

  // --- Scrolling: follow the answer until the user scrolls up --------------
  var pinned = true;
  document.addEventListener("scroll", function (evt) {
    var box = transcript();
    if (evt.target === box) {
      pinned = box.scrollTop + box.clientHeight >= box.scrollHeight - PIN_SLACK_PX;
    }
  }, true);
  function follow() {
    var box = transcript();
    if (box && pinned) { box.scrollTop = box.scrollHeight; }
  }
  document.addEventListener("DOMContentLoaded", function () { follow(); });

  // --- Copy buttons on code blocks (keyboard works: they are buttons) ------
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("button.copy-code");
    if (!button) { return; }
    var code = button.closest(".code-block").querySelector("pre code, pre");
    if (!code || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(code.textContent).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      srStatus("Code copied.");
      window.setTimeout(function () { button.textContent = label; }, COPIED_LABEL_MS);
    });
  });

  // --- Phones: the Conversations link becomes a button opening the list ----
  // Without this script the header link leads to the list page. With it the
  // same list opens as a modal dialog: showModal moves focus in and makes the
  // page behind inert; Esc closes it (the Esc-stops handler above ignores Esc
  // while a dialog is open) and focus goes back to the button.
  function setUpConversationsDialog() {
    var link = document.getElementById("conversations-link");
    var button = document.getElementById("conversations-button");
    var dialog = document.getElementById("conversations-dialog");
    if (!link || !button || !dialog || typeof dialog.showModal !== "function") { return; }
    function links() { return Array.prototype.slice.call(dialog.querySelectorAll("a[href]")); }
    link.hidden = true;
    button.hidden = false;
    button.addEventListener("click", function () {
      dialog.showModal();
      button.setAttribute("aria-expanded", "true");
      // Start on "New conversation", the list's first entry (not on Close).
      var first = links()[0];
      if (first) { first.focus(); }
    });
    dialog.addEventListener("close", function () {
      button.setAttribute("aria-expanded", "false");
      button.focus();
      // Turned to a wide layout while open, the button is gone: use the composer.
      if (document.activeElement !== button) { rescueFocus(); }
    });
    dialog.addEventListener("click", function (evt) {
      if (evt.target === dialog) { dialog.close(); }
    });
    // Up and Down step through the entries, like Tab and Shift+Tab.
    dialog.addEventListener("keydown", function (evt) {
      if (evt.key !== "ArrowDown" && evt.key !== "ArrowUp") { return; }
      var all = links();
      var at = all.indexOf(document.activeElement);
      if (at < 0) { return; }
      evt.preventDefault();
      var next = evt.key === "ArrowDown" ? Math.min(at + 1, all.length - 1) : Math.max(at - 1, 0);
      all[next].focus();
    });
    // Coming back to this page from the history must not find the list still open.
    window.addEventListener("pageshow", function (evt) {
      if (evt.persisted && dialog.open) { dialog.close(); }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpConversationsDialog);
  } else {
    setUpConversationsDialog();
  }
})();
