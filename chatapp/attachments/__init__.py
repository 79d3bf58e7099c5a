"""Files and images attached to a user message.

A map of the package, in the order a file travels:

- ``upload.py`` — the upload handler: the per-file size cap, the per-message
  count cap and the file names, checked while the request body is parsed,
  before anything reaches storage (``upload_problem`` tells the view).
- ``sniff.py`` — what a file is, from its first bytes (never its name or the
  browser's Content-Type).
- ``prepare.py`` — each received file made safe and useful: images turned
  upright and re-encoded (metadata gone, polyglots defused, bombs refused),
  text decoded, a PDF's text extracted. Everything here happens in memory.
- ``thumbnail.py`` — the page's small WebP copy of an image, made from the
  prepared pixels.
- ``store.py`` — the one place that writes attachment files: random names,
  one row per file on the user message (and an image's thumbnail beside
  it), deletion with the conversation.
- ``prompt.py`` — what the model reads: image parts (data URLs), text parts,
  a note for an image whose file is gone, and which models may be given images.
- ``admin.py`` — the admin's read-only views of attachments (no file links,
  no thumbnails drawn).

Errors are ``AttachmentError`` values: a message the user can act on and the
response status; the view shows them beside the composer, the draft kept.
"""
