// Spool's page behaviour that htmx cannot express declaratively.
// Static file, no inline handlers: the CSP allows only 'self' scripts.
(function () {
  "use strict";

  // Screen readers hear "Reconnecting…" only if a cut lasts longer than this.
  var RECONNECT_NOTICE_MS = 5000;
  // Within this many pixels of the bottom the transcript follows new text.
  var PIN_SLACK_PX = 48;
  // Longer waits are shown in whole minutes (chatapp/retry.py: MINUTES_FROM_S).
  var RETRY_MINUTES_FROM_S = 120;
  // Repaint a hair after the second flips, so the timer never shows a stale number.
  var RETRY_TICK_SLACK_MS = 20;
  // A copy button says "Copied" this long, then its own name comes back.
  var COPIED_LABEL_MS = 2000;

  function composerText() { return document.getElementById("composer-text"); }
  function stopButton() { return document.getElementById("stop-button"); }
  function transcript() { return document.getElementById("conversation"); }
  // A live region hears one change per text: the text goes in as a fresh <p>
  // that replaces whatever was there, in a single DOM change. An htmx swap
  // into the region itself is several changes (old nodes out, new ones in,
  // settle classes on the region), and an atomic region (status, alert) is
  // read again, whole, for each of them: "Answer complete." four times.
  function say(regionId, text) {
    var region = document.getElementById(regionId);
    if (!region) { return; }
    var p = document.createElement("p");
    p.textContent = text;
    region.replaceChildren(p);
  }
  function srStatus(text) { say("sr-status", text); }
  // Emptying a region is silent; an empty one is not touched at all.
  function clearRegion(regionId) {
    var region = document.getElementById(regionId);
    if (region && region.firstChild) { region.replaceChildren(); }
  }

  // --- Copy: the clipboard, or the caller's fallback ------------------------
  // The clipboard API exists only in secure contexts (and may be refused):
  // either way the promise rejects and the caller selects the text instead.
  function copyText(text) {
    if (!navigator.clipboard || typeof navigator.clipboard.writeText !== "function") {
      return Promise.reject(new Error("no clipboard"));
    }
    return navigator.clipboard.writeText(text);
  }
  // The button says "Copied" for a moment (again from the start if pressed
  // again meanwhile), and the status region says what was copied, once.
  function confirmCopied(button, said) {
    if (!button.dataset.label) { button.dataset.label = button.textContent; }
    button.textContent = "Copied";
    srStatus(said);
    window.clearTimeout(Number(button.dataset.copiedTimer) || 0);
    button.dataset.copiedTimer = String(window.setTimeout(function () {
      button.textContent = button.dataset.label;
    }, COPIED_LABEL_MS));
  }

  // What attachments.js and messages.js share with this file (loaded first,
  // templates/base.html): one copy of each, not one per script.
  window.Spool = { say: say, status: srStatus, copy: copyText, confirmCopied: confirmCopied };

  // --- Keyboard: Enter sends, Shift+Enter new line, Esc stops -------------
  document.addEventListener("keydown", function (evt) {
    var text = composerText();
    if (evt.target === text && evt.key === "Enter" && !evt.shiftKey && !evt.isComposing) {
      evt.preventDefault();
      // An attachment alone is a message too (static/js/attachments.js).
      var files = text.form.querySelector("input[type=file]");
      if (text.value.trim() === "" && !(files && files.files.length)) { return; }
      // Send is clicked rather than the form submitted: htmx posts a form to
      // the last submit button clicked in it, and after Stop (clicked, or
      // pressed by Esc) that is the Stop button, gone from the page but
      // still its target. A click on Send makes Send the last one.
      var send = document.getElementById("send-button");
      if (send && send.disabled) {
        // An answer is being written: nothing is posted, the text stays, and
        // the reason shown beside the button is said.
        var reason = document.getElementById("send-wait");
        srStatus(reason ? reason.textContent : "Send is not available now.");
        return;
      }
      if (send) { send.click(); } else { text.form.requestSubmit(); }
      return;
    }
    if (evt.key === "Escape" && !evt.defaultPrevented && !popupOpen()) {
      var stop = stopButton();
      if (stop) { evt.preventDefault(); stop.click(); }
    }
  });
  // Esc belongs to an open dialog, menu or tooltip first (it closes it); only
  // with none open does it stop the answer.
  var POPUPS = "dialog[open], [role=menu]:not([hidden]), [role=tooltip]:not([hidden]), " +
    "[aria-haspopup][aria-expanded=true]";
  function popupOpen() { return document.querySelector(POPUPS) !== null; }

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

  // --- Status and alert texts: said once each (see say) ---------------------
  // The stream's status and alert events carry a text (an alert's inside a
  // <p>, escaped by the server); it is read as text, never inserted as HTML.
  var SAID_IN = { status: "sr-status", alert: "sr-alert" };
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var region = SAID_IN[evt.target.getAttribute("sse-swap")];
    if (!region) { return; }
    evt.preventDefault();
    var doc = new DOMParser().parseFromString(evt.detail.data, "text/html");
    var text = doc.body.textContent.replace(/\s+/g, " ").trim();
    if (text) { say(region, text); }
    noteSeen(evt.target, evt.detail);
  });
  // A new answer (a send or a retry adds an exchange to #messages) starts with
  // empty regions: the last answer's status or alert must not be read again.
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "messages") {
      clearRegion("sr-answer");
      clearRegion("sr-status");
      clearRegion("sr-alert");
    }
  });

  // --- Reasoning: the disclosure appears, counts seconds, then says how long --
  // The thinking streams into a collapsed <details> (templates/chat/_reasoning.html).
  // Any reasoning event shows it; reasoning-start (data: seconds thought so far)
  // starts the count beside "Thinking…"; reasoning-label ("Thought for N s")
  // ends it. The count is aria-hidden: a ticking number is never read out.
  var REASONING_EVENTS = {
    "reasoning-start": true, "reasoning-block": true, "reasoning-blocks": true,
    "reasoning-tail": true, "reasoning-label": true
  };
  var thinkingTimer = null;
  function reasoningOf(elt) {
    var article = elt.closest("article.msg");
    return article && article.querySelector("details.reasoning");
  }
  function startThinking(details, seconds) {
    details.dataset.thinking = String(seconds);
    details.spoolSince = Date.now() - seconds * 1000;
    paintThinking();
    if (thinkingTimer === null) { thinkingTimer = window.setInterval(paintThinking, 1000); }
  }
  function paintThinking() {
    var live = document.querySelectorAll("details.reasoning[data-thinking]");
    if (live.length === 0 && thinkingTimer !== null) {
      window.clearInterval(thinkingTimer);
      thinkingTimer = null;
    }
    live.forEach(function (details) {
      if (details.spoolSince === undefined) {
        details.spoolSince = Date.now() - Number(details.dataset.thinking || 0) * 1000;
      }
      var elapsed = details.querySelector(".reasoning-elapsed");
      var seconds = Math.max(0, Math.floor((Date.now() - details.spoolSince) / 1000));
      if (elapsed) { elapsed.textContent = seconds + " s"; }
    });
  }
  function stopThinking(details) {
    delete details.dataset.thinking;
    var elapsed = details.querySelector(".reasoning-elapsed");
    if (elapsed) { elapsed.textContent = ""; }
  }
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var name = evt.target.getAttribute("sse-swap");
    if (!REASONING_EVENTS[name]) { return; }
    var details = reasoningOf(evt.target);
    if (!details) { return; }
    details.hidden = false;
    if (name === "reasoning-start") {
      evt.preventDefault();  // nothing to swap: its data is the seconds so far
      startThinking(details, Number(evt.detail.data) || 0);
      noteSeen(evt.target, evt.detail);
    } else if (name === "reasoning-label") {
      stopThinking(details);
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("details.reasoning[data-thinking]")) {
      paintThinking();
      thinkingTimer = window.setInterval(paintThinking, 1000);
    }
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
  // --- tool: a tool call's chip ----------------------------------------------
  // Data is the chip's HTML (rendered and escaped by the run), with an id: a
  // chip already shown (running) is replaced by it (finished), a new one is
  // appended after the answer's blocks, where the text before it ended.
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (evt.target.getAttribute("sse-swap") !== "tool") { return; }
    evt.preventDefault();
    var article = evt.target.closest("article.msg");
    var blocks = article && article.querySelector(".msg-body .blocks");
    var chip = new DOMParser().parseFromString(evt.detail.data, "text/html").body.firstElementChild;
    if (!blocks || !chip) { return; }
    var shown = chip.id ? document.getElementById(chip.id) : null;
    if (shown) { shown.replaceWith(chip); } else { blocks.appendChild(chip); }
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
      settleTail(article);
    }
    if (reconnectTimer !== null) { window.clearTimeout(reconnectTimer); reconnectTimer = null; }
  });
  // The stream's last frame leaves the last block in .tail, where it grew;
  // once it is over the block joins the others, so the answer's DOM is the
  // one a fresh load of the finished conversation has (tests/e2e/test_reload.py).
  function settleTail(article) {
    var body = article.querySelector(".msg-body");
    var tail = body && body.querySelector(":scope > .tail");
    var blocks = body && body.querySelector(":scope > .blocks");
    if (!tail || !blocks || !tail.firstChild) { return; }
    var focused = tail.contains(document.activeElement) ? document.activeElement : null;
    while (tail.firstChild) { blocks.appendChild(tail.firstChild); }
    if (focused) { focused.focus(); }
  }
  // When Stop disappears under the keyboard focus, focus goes back to the composer.
  document.addEventListener("htmx:oobAfterSwap", function () { rescueFocus(); });
  document.addEventListener("htmx:afterSettle", function () { rescueFocus(); });
  // A swap of the transcript (a regenerate, an edit) removes the focused
  // button: rescued at the swap, not 20 ms later at the settle.
  document.addEventListener("htmx:afterSwap", function () { rescueFocus(); });
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
    // 422 and 503 are swapped (they carry the error) but are no success: keep the text.
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (status >= 200 && status < 300) {
      text.value = "";
      forgetDraft(form);
      text.removeAttribute("aria-invalid");
      if (error) { error.textContent = ""; }
      pinned = true;
      follow();
    } else if (status === 422) {
      text.setAttribute("aria-invalid", "true");
    } else if (status === 503) {
      // The server is restarting: the text is fine, only the moment is not.
      text.removeAttribute("aria-invalid");
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
    reachScrollers();
  }

  // --- Code and tables wider than the screen scroll sideways ----------------
  // A keyboard user can scroll only what can take focus (WCAG 2.1.1), so a
  // code block or table that overflows gets tabindex=0 (arrow keys scroll
  // it), and loses it when it fits: no extra Tab stop where none is needed.
  // Checked at most once a frame, as answers grow and the window resizes.
  var reachQueued = false;
  function reachScrollers() {
    if (reachQueued) { return; }
    reachQueued = true;
    window.requestAnimationFrame(function () {
      reachQueued = false;
      document.querySelectorAll(".markdown pre, .markdown table").forEach(function (el) {
        var scrolls = el.scrollWidth > el.clientWidth;
        if (scrolls && el.tabIndex !== 0) { el.tabIndex = 0; }
        if (!scrolls && el.hasAttribute("tabindex")) { el.removeAttribute("tabindex"); }
      });
    });
  }
  window.addEventListener("resize", reachScrollers);
  document.addEventListener("DOMContentLoaded", function () { follow(); });
  // A page that opens on an answer being written (the first send lands here,
  // or the user came back to watch) puts the keyboard in the composer: ready
  // for the next question, and Esc from there stops.
  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("article.msg.is-live")) { rescueFocus(); }
  });

  // --- Retry after the model's wait: count down on the disabled button -------
  // The server renders the whole seconds left (data-retry-wait, rounded up);
  // the deadline is taken on this page's own clock, so a skewed clock on either
  // side cannot open Retry early. The visible text changes each second but is
  // in no live region (a disabled button cannot hold focus either), so screen
  // readers read the current number when they reach the button, and hear once,
  // through #sr-status, that Retry is available. A failed answer's Continue
  // waits the same way (data-retry-action="Continue"): both open in one tick
  // and are said in one line, "Continue and Retry are available."
  var retryTimer = null;
  function waitText(seconds) {
    return seconds < RETRY_MINUTES_FROM_S ? seconds + " s" : Math.ceil(seconds / 60) + " min";
  }
  function armRetryCountdowns(root) {
    if (!root || !root.querySelectorAll) { return; }
    var buttons = root.querySelectorAll("button[data-retry-wait]");
    var now = performance.now();
    buttons.forEach(function (button) {
      if (button.dataset.retryDeadline) { return; }
      var wait = Number(button.dataset.retryWait) || 0;
      button.dataset.retryDeadline = String(now + wait * 1000);
    });
    if (buttons.length && retryTimer === null) { retryTick(); }
  }
  function retryTick() {
    retryTimer = null;
    var now = performance.now();
    var opened = [];
    var nextIn = null;
    document.querySelectorAll("button[data-retry-deadline]").forEach(function (button) {
      var action = button.dataset.retryAction || "Retry";
      var msLeft = Number(button.dataset.retryDeadline) - now;
      if (msLeft > 0) {
        var label = action + " in " + waitText(Math.ceil(msLeft / 1000));
        if (button.textContent !== label) { button.textContent = label; }
        var toFlip = msLeft % 1000 || 1000;
        nextIn = nextIn === null ? toFlip : Math.min(nextIn, toFlip);
        return;
      }
      delete button.dataset.retryDeadline;
      delete button.dataset.retryWait;
      button.textContent = action;
      button.disabled = false;
      if (opened.indexOf(action) < 0) { opened.push(action); }
    });
    // One announcement however many buttons opened in this tick, in their order.
    if (opened.length === 1) { srStatus(opened[0] + " is available."); }
    if (opened.length > 1) { srStatus(opened.join(" and ") + " are available."); }
    if (nextIn !== null) { retryTimer = window.setTimeout(retryTick, nextIn + RETRY_TICK_SLACK_MS); }
  }
  document.addEventListener("DOMContentLoaded", function () { armRetryCountdowns(document); });
  // New content from any swap (the stream's done footer included) fires htmx:load.
  document.addEventListener("htmx:load", function (evt) {
    armRetryCountdowns(evt.detail.elt);
    reachScrollers();
  });

  // --- Copy link (a shared conversation's address) --------------------------
  // The button exists only with this script. Without the clipboard API (or
  // when it refuses) the address is selected and the user told to copy it.
  document.querySelectorAll("button.copy-link").forEach(function (button) {
    button.hidden = false;
    // Its autofocus (a link just made) could not take while it was hidden.
    if (button.hasAttribute("autofocus")) { button.focus(); }
  });
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("button.copy-link");
    if (!button) { return; }
    var field = document.getElementById(button.dataset.copy);
    if (!field) { return; }
    function selectIt() {
      field.focus();
      field.select();
      srStatus("The link is selected: press Control+C (Command+C on a Mac) to copy it.");
    }
    copyText(field.value).then(function () { confirmCopied(button, "Link copied."); }, selectIt);
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

  // --- Drafts: an unsent message survives a reload ----------------------------
  // Kept in this browser per composer (its action names the conversation),
  // saved as it is typed, put back when the page opens with an empty
  // composer, forgotten once a send succeeds.
  function draftKey(form) { return "spool:draft:" + form.getAttribute("action"); }
  function storage() {
    try { return window.localStorage; } catch (err) { return null; }  // storage off
  }
  function forgetDraft(form) {
    var store = storage();
    if (store) { store.removeItem(draftKey(form)); }
  }
  document.addEventListener("input", function (evt) {
    var text = composerText();
    var store = storage();
    if (evt.target !== text || !store) { return; }
    if (text.value.trim() === "") { store.removeItem(draftKey(text.form)); }
    else { store.setItem(draftKey(text.form), text.value); }
  });
  // The first send posts a plain form and leaves the page: its draft goes
  // with it (a refused send comes back with the text in the composer).
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (form && form.id === "composer" && !form.hasAttribute("hx-post")) { forgetDraft(form); }
  });
  function restoreDraft() {
    var text = composerText();
    var store = storage();
    if (!text || !store || text.value !== "") { return; }
    var draft = store.getItem(draftKey(text.form));
    if (draft) { text.value = draft; }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", restoreDraft);
  } else {
    restoreDraft();
  }

  // --- Menus made of <details> (conversation options) ------------------------
  // Esc closes an open menu and puts focus back on its button, as menus do;
  // it then does not stop the answer (the capture phase runs first). A click
  // outside closes it too.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") { return; }
    var menu = document.querySelector("details.conv-menu[open]");
    if (!menu) { return; }
    evt.preventDefault();
    evt.stopPropagation();
    menu.open = false;
    menu.querySelector("summary").focus();
  }, true);
  document.addEventListener("click", function (evt) {
    document.querySelectorAll("details.conv-menu[open]").forEach(function (menu) {
      if (!menu.contains(evt.target)) { menu.open = false; }
    });
  });

  // --- A removed Stop button is no longer the composer's submitter ----------
  // htmx remembers the submit button last clicked or focused in a form, to
  // honour its formaction, and forgets it on focusout. Esc clicks Stop without
  // focusing it, and a focused Stop is removed without a focusout: either way
  // the next Enter would post the new message to the old Stop URL (a 204, the
  // text cleared and lost). Before the buttons are swapped, let it forget.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail && evt.detail.target;
    var stop = target && target.id === "composer-actions" && stopButton();
    if (stop) { stop.dispatchEvent(new FocusEvent("focusout", { bubbles: true })); }
  });

  // --- The first send's page replays its answer once ----------------------
  // Its stream URL asks for the run from the start (?replay=1): nothing was
  // heard yet; a Continue's, from the end of the stored answer it shows
  // (?replay=resumed). Once open, later connections must not replay again:
  // the browser's own reconnect sends Last-Event-ID anyway, and an
  // EventSource that htmx recreates after an error reads the URL again, so
  // the URL loses the request and that connection starts from a snapshot.
  document.addEventListener("htmx:sseOpen", function (evt) {
    var url = evt.target.getAttribute && evt.target.getAttribute("sse-connect");
    if (url && /\?replay=(1|resumed)$/.test(url)) {
      evt.target.setAttribute("sse-connect", url.replace(/\?replay=(1|resumed)$/, ""));
    }
  });

  // --- Read aloud: as the answer streams, or once when it is done -----------
  // The stream sends both kinds of announcement (announce, announce-done); the
  // page keeps the kind its user's switch shows (chat/_read_aloud_toggle.html)
  // and drops the other before htmx swaps it into #sr-answer. A change of the
  // switch is saved by htmx; the server's HX-Trigger (spool:said) carries the
  // one sentence that says the new state. Without the switch: as they stream.
  function readAloudMode() {
    var box = document.getElementById("read-aloud-streaming");
    return box && !box.checked ? "done" : "streaming";
  }
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var kind = evt.target.getAttribute("data-read-aloud");
    if (kind && kind !== readAloudMode()) {
      evt.preventDefault();
      noteSeen(evt.target, evt.detail);
    }
  });
  document.addEventListener("spool:said", function (evt) {
    if (evt.detail && evt.detail.text) { srStatus(evt.detail.text); }
  });
  // An answer that failed before its run started has no stream to say why:
  // the response does (chatapp/views/common.py, said_if_failed), as an alert.
  document.addEventListener("spool:alert", function (evt) {
    if (evt.detail && evt.detail.text) { say("sr-alert", evt.detail.text); }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (!form || form.id !== "read-aloud" || evt.detail.successful) { return; }
    // Not saved: the switch goes back to what the server has, and says so.
    var box = document.getElementById("read-aloud-streaming");
    if (box) { box.checked = !box.checked; }
    srStatus("The read-aloud setting was not saved. Try again.");
  });

  // --- The model's title arrives: the Rename field follows ------------------
  // Unless the user is editing it (focused, or changed from what the page
  // gave): their text is never replaced.
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || target.id !== "conversation-title") { return; }
    var field = document.getElementById("conv-title");
    if (!field || field === document.activeElement || field.value !== field.defaultValue) {
      return;
    }
    field.value = field.defaultValue = target.textContent;
  });
})();
