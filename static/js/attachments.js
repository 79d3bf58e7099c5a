// The composer's attachments: chips, drag and drop, paste, upload progress.
// Static file (CSP). The real <input type="file" name="files"> stays the
// source of truth: whatever is listed as chips is what the form posts, with
// or without htmx, so the server sees the same thing either way.
(function () {
  "use strict";

  var KB = 1024;
  var MB = 1024 * 1024;

  function input() { return document.getElementById("composer-files"); }
  function chips() { return document.getElementById("composer-chips"); }
  function progress() { return document.getElementById("composer-progress"); }

  // Said once per change, through the page's status region (spool.js, loaded first).
  function say(text) { window.Spool.status(text); }

  function sizeText(bytes) {
    if (bytes < KB) { return bytes + " bytes"; }
    if (bytes < MB) { return (bytes / KB).toFixed(1) + " KB"; }
    return (bytes / MB).toFixed(1) + " MB";
  }

  // The files the form will post, in order. The input's FileList cannot be
  // edited, so it is rebuilt from this list through a DataTransfer.
  var pending = [];
  // The sender's description of each pending image, by position (posted as
  // alt-0, alt-1…, the files' own order): kept while chips are redrawn.
  var alts = [];

  function isImage(file) { return /^image\//.test(file.type); }

  function sync() {
    var field = input();
    if (!field) { return; }
    alts.length = pending.length;
    var transfer = new DataTransfer();
    pending.forEach(function (file) { transfer.items.add(file); });
    field.files = transfer.files;
    render();
  }

  function render() {
    var list = chips();
    if (!list) { return; }
    list.replaceChildren();
    pending.forEach(function (file, index) {
      var li = document.createElement("li");
      li.className = "chip";
      var name = document.createElement("span");
      name.className = "chip-name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "chip-size";
      size.textContent = sizeText(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "chip-remove";
      remove.textContent = "Remove " + file.name;
      remove.dataset.index = String(index);
      li.append(name, " ", size, " ");
      if (isImage(file)) {
        // Alt text: said instead of the file name wherever the image is shown.
        var alt = document.createElement("input");
        alt.type = "text";
        alt.className = "chip-alt";
        alt.name = "alt-" + index;
        alt.maxLength = 300;
        alt.placeholder = "Describe it (optional)";
        alt.setAttribute("aria-label", "Alt text for " + file.name);
        alt.value = alts[index] || "";
        alt.dataset.index = String(index);
        li.append(alt, " ");
      }
      li.append(remove);
      list.append(li);
    });
    list.hidden = pending.length === 0;
  }

  function names(files) { return files.map(function (f) { return f.name; }).join(", "); }

  function add(files) {
    if (!files.length) { return; }
    pending = pending.concat(files);
    sync();
    say((files.length === 1 ? "Attached " : files.length + " files attached: ") + names(files) + ".");
  }

  function clear() {
    pending = [];
    alts = [];
    var field = input();
    if (field) { field.value = ""; }
    render();
  }

  function setUp() {
    var field = input();
    if (!field) { return; }
    // Script runs: the input hides behind its label (still focusable) and chips list the files.
    field.closest(".composer-files").classList.add("has-script");
    pending = Array.prototype.slice.call(field.files);
    render();
  }

  // Picked with the file dialog: added to what is already there, not replacing it.
  document.addEventListener("change", function (evt) {
    var field = input();
    if (evt.target !== field) { return; }
    var picked = Array.prototype.slice.call(field.files).filter(function (f) {
      return pending.indexOf(f) === -1;
    });
    pending = pending.concat(picked);
    sync();
    if (picked.length) {
      say((picked.length === 1 ? "Attached " : picked.length + " files attached: ") + names(picked) + ".");
    }
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest(".chip-remove");
    if (!button) { return; }
    var index = Number(button.dataset.index);
    var gone = pending[index];
    pending.splice(index, 1);
    alts.splice(index, 1);
    sync();
    say("Removed " + (gone ? gone.name : "the file") + ".");
    // Focus stays in the list (the next chip's Remove), else goes back to typing.
    var next = chips().querySelectorAll(".chip-remove")[Math.min(index, pending.length - 1)];
    if (next) { next.focus(); } else { document.getElementById("composer-text").focus(); }
  });

  document.addEventListener("input", function (evt) {
    if (evt.target.classList && evt.target.classList.contains("chip-alt")) {
      alts[Number(evt.target.dataset.index)] = evt.target.value;
    }
  });
  // Enter in an alt text field would send the form as it is: keep it for typing.
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && evt.target.classList && evt.target.classList.contains("chip-alt")) {
      evt.preventDefault();
    }
  });

  // Drag and drop onto the composer.
  function composer(evt) { return evt.target.closest && evt.target.closest("#composer"); }
  document.addEventListener("dragover", function (evt) {
    var form = composer(evt);
    if (!form || !evt.dataTransfer || evt.dataTransfer.types.indexOf("Files") === -1) { return; }
    evt.preventDefault();
    form.classList.add("is-dropping");
  });
  document.addEventListener("dragleave", function (evt) {
    var form = composer(evt);
    if (form && !form.contains(evt.relatedTarget)) { form.classList.remove("is-dropping"); }
  });
  document.addEventListener("drop", function (evt) {
    var form = composer(evt);
    if (!form || !evt.dataTransfer || !evt.dataTransfer.files.length) { return; }
    evt.preventDefault();
    form.classList.remove("is-dropping");
    add(Array.prototype.slice.call(evt.dataTransfer.files));
  });

  // Pasting an image (a screenshot) into the message box attaches it; text pastes as text.
  document.addEventListener("paste", function (evt) {
    if (!composer(evt) || !evt.clipboardData) { return; }
    var files = Array.prototype.slice.call(evt.clipboardData.files || []);
    if (!files.length) { return; }
    evt.preventDefault();
    add(files.map(function (file, i) {
      // Screenshots arrive as "image.png", all alike: number them.
      if (file.name && file.name !== "image.png") { return file; }
      var stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
      var extension = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
      return new File([file], "pasted-" + stamp + (i ? "-" + i : "") + "." + extension, { type: file.type });
    }));
  });

  // Upload progress: shown as a bar while the files go up, said once at the start.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (!evt.detail.elt || evt.detail.elt.id !== "composer" || !pending.length) { return; }
    var bar = progress();
    if (bar) { bar.value = 0; bar.hidden = false; }
    say("Uploading " + (pending.length === 1 ? pending[0].name : pending.length + " files") + "…");
  });
  document.addEventListener("htmx:xhr:progress", function (evt) {
    var bar = progress();
    if (!bar || bar.hidden || !evt.detail.total) { return; }
    bar.value = Math.round((evt.detail.loaded / evt.detail.total) * 100);
  });
  // After the send: the files went with it (clear them) or it was refused
  // (keep them, with the text: the error says what to change).
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (!evt.detail.elt || evt.detail.elt.id !== "composer") { return; }
    var bar = progress();
    if (bar) { bar.hidden = true; }
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (status >= 200 && status < 300) { clear(); }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
