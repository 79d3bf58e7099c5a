"""Conversations and messages: the transcript is the source of truth.

An assistant message is written by exactly one run (see streaming/runs/run.py);
its life is ``streaming.status.RunStatus``. Only services and the run store
write these rows.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models

from chatapp.attachments.thumbnail import fit
from chatapp.metrics_text import rate_text, tokens_text
from chatapp.retry import RetryOffer, continue_offer, continue_offered, offer_for
from chatapp.status_text import StatusLine, status_line
from streaming.runs.reasoning import seconds_text
from streaming.snapshot import Reasoning
from streaming.status import LIVE_STATUSES, RunStatus

if TYPE_CHECKING:
    from chatapp.tree import Versions


class Conversation(models.Model):
    class TitleSource(models.TextChoices):
        # The first words of the first message: what a conversation starts with.
        FIRST_WORDS = "first_words", "First words"
        # Proposed by the model beside the first answer (streaming/runs/titles.py).
        MODEL = "model", "Model"
        # Named by its owner: never overwritten.
        OWNER = "owner", "Owner"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    title_source = models.CharField(
        max_length=16, choices=TitleSource.choices, default=TitleSource.FIRST_WORDS
    )
    model = models.CharField(max_length=100)
    # None: the default (SPOOL_SYSTEM_PROMPT); "": none at all. The two mean
    # different things, hence a nullable text field.
    system_prompt = models.TextField(null=True, blank=True)  # noqa: DJ001
    # Asked of a reasoning model (SPOOL_LLM_REASONING_MODELS) with every answer;
    # "": the model's default, and nothing is sent.
    reasoning_effort = models.CharField(
        max_length=8,
        blank=True,
        choices=[("low", "Low"), ("medium", "Medium"), ("high", "High")],
    )
    # Pinned conversations are listed first, most recently pinned on top.
    pinned_at = models.DateTimeField(null=True, blank=True)
    # Deleted: gone for its owner at once (404), restorable for a few seconds
    # (Undo), purged after that (conversations.conversation_purge_deleted).
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The end of the path the page shows (chatapp/tree.py): messages form a
    # tree (edits and regenerations are versions side by side), and this is
    # the one branch the owner last sent on, regenerated or switched to.
    active_leaf = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["-updated_at"]
        indexes: ClassVar = [
            # The sidebar: a user's conversations, most recent first.
            models.Index(fields=["user", "-updated_at"], name="conv_user_recent"),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    # The run's vocabulary (streaming/status.py), under the name ORM code reads.
    Status: ClassVar = RunStatus
    LIVE_STATUSES: ClassVar = LIVE_STATUSES

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # An assistant message answers one user message; Regenerate (and Retry)
    # adds another answer to it: the answers to one question are its versions.
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # A user message follows one answer (None: the conversation's first
    # question); Edit & resend adds another user message after the same
    # answer: the questions after one answer are its versions.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="followups"
    )
    # Last time the owner switched to this version: below a message, the path
    # goes on through its most recently chosen (else newest) version.
    chosen_at = models.DateTimeField(null=True, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    html = models.TextField(blank=True, help_text="Rendered, sanitised HTML of content.")
    # A reasoning model's thinking, apart from the answer: shown collapsed,
    # never sent back to the model (streaming/runs/reasoning.py).
    reasoning = models.TextField(blank=True)
    reasoning_html = models.TextField(
        blank=True, help_text="Rendered, sanitised HTML of reasoning."
    )
    status = models.CharField(
        max_length=16,
        choices=[(status.value, status.label) for status in RunStatus],
        default=RunStatus.COMPLETE,
    )
    finish_reason = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    # What the error said about Retry (see chatapp/retry.py). True unless the
    # provider said retrying cannot help (bad key, unknown model, too long…);
    # rows without an error keep the default, so Retry stays offered for them.
    error_retryable = models.BooleanField(default=True)
    # The moment a retry becomes allowed (the provider's Retry-After, made
    # absolute when the run ended), or None when Retry may be pressed at once.
    retry_after_at = models.DateTimeField(null=True, blank=True)
    model = models.CharField(max_length=100, blank=True)
    correlation_id = models.CharField(max_length=32, blank=True, db_index=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Last time a run wrote this row; a live status with a stale checkpoint
    # and no run owning it means the process died (see chatapp/live.py).
    checkpoint_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Last time Continue streamed more into this answer, and how many Continues
    # came less than a rate window apart up to it: each counts as a send for
    # the per-minute limit (chatapp/selectors.py, recent_send_count).
    continued_at = models.DateTimeField(null=True, blank=True)
    recent_continues = models.PositiveIntegerField(default=0)

    # Metrics (milliseconds unless named otherwise).
    ttft_ms = models.FloatField(
        null=True, blank=True, help_text="Send to first token shown (reasoning or answer)."
    )
    answer_ttft_ms = models.FloatField(
        null=True, blank=True, help_text="Send to first answer token shown."
    )
    reasoning_ms = models.FloatField(null=True, blank=True, help_text="Time spent thinking.")
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens_estimated = models.BooleanField(default=False)
    provider_ttft_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens_estimated = models.BooleanField(default=False)
    tokens_per_s = models.FloatField(null=True, blank=True)
    prompt_dropped = models.PositiveIntegerField(
        default=0, help_text="Earlier messages left out of the prompt to fit the context."
    )
    # The tools the model called for this answer, in order: one object per
    # call with id, name, arguments, result, error, duration_ms and round
    # (streaming/runs/store.py, ToolRecord). Their chips are in ``html``.
    tool_calls = models.JSONField(default=list, blank=True)
    bytes_sent = models.PositiveBigIntegerField(default=0)
    reconnects = models.PositiveIntegerField(default=0)

    # Transient, not stored: the live HTML of a streaming answer, set by
    # chatapp.live from the run's event log for the page render.
    live_blocks: str = ""
    live_tail: str = ""
    # Transient: the live reasoning (blocks, tail, seconds thought so far, done).
    live_reasoning: Reasoning = Reasoning()
    live_reasoning_label: str = "Thinking…"
    live_thinking_s: int = 0  # seconds thought so far, when the page was rendered
    # Transient: the page shows nothing of the answer yet and its stream replays
    # the run from its first event, announcements included (see
    # views.pages.conversation_detail: the page the first send lands on). It
    # is shown streaming even if the run ended before the page was rendered
    # (a fast answer to a regenerate): the replay ends with its "done".
    replay_stream: bool = False
    # Transient: the page shows the stored answer a Continue goes on from (the
    # POST response); its stream replays from the end of the run's first
    # frame, so a Continue that fails or ends at once is heard (views/stream.py).
    resume_stream: bool = False
    # Transient: where this message stands among its versions (chatapp/tree.py),
    # set for the messages of the path a page shows; None when it has no others.
    versions: Versions | None = None

    class Meta:
        ordering: ClassVar = ["created_at"]
        indexes: ClassVar = [
            # The transcript of one conversation, in order.
            models.Index(fields=["conversation", "created_at"], name="msg_conv_order"),
            # Crash recovery and the per-user concurrency limit look up live runs.
            models.Index(
                fields=["status"],
                name="msg_live",
                # In the enum's order: the migration that made it lists them so.
                condition=models.Q(status__in=[RunStatus.PENDING, RunStatus.STREAMING]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.status}: {self.content[:60]}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def is_assistant(self) -> bool:
        return self.role == self.Role.ASSISTANT

    @property
    def reasoning_seconds(self) -> int:
        """Whole seconds thought, for "Thought for N s"."""
        return seconds_text(self.reasoning_ms)

    @property
    def retry_offer(self) -> RetryOffer:
        """Retry now, after a wait, or not at all (and what to do instead), as of now."""
        return offer_for(self)

    @property
    def status_line(self) -> StatusLine | None:
        """The footer's status line: the words the live page's status said."""
        return status_line(self.status, self.finish_reason, self.error_message)

    @property
    def output_tokens_text(self) -> str:
        """The footer's "412 tokens", or "~412 tokens (estimated)"."""
        return tokens_text(self.output_tokens, estimated=self.output_tokens_estimated)

    @property
    def tokens_per_s_text(self) -> str:
        """The footer's rate: an estimate when the tokens were."""
        return rate_text(self.tokens_per_s, estimated=self.output_tokens_estimated)

    @property
    def reasoning_tokens_text(self) -> str:
        return tokens_text(
            self.reasoning_tokens,
            estimated=self.reasoning_tokens_estimated,
            unit="reasoning tokens",
        )

    @property
    def continue_offered(self) -> bool:
        """Continue is shown: a stopped, interrupted, cut-short or transiently
        failed answer with text (or thinking)."""
        return continue_offered(self)

    @property
    def continue_offer(self) -> RetryOffer:
        """Continue now, after the model's wait, or not at all, as of now."""
        return continue_offer(self)


class Share(models.Model):
    """A read-only link to a snapshot of a conversation, as it was when shared.

    Anyone with the token sees ``title`` and ``messages`` (copied at share
    time: later messages and edits never reach the link). Revoking deletes
    the row, snapshot included: the link is a 404 at once. One link per
    conversation; sharing again refreshes the snapshot behind the same link.
    """

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="share"
    )
    # secrets.token_urlsafe(32): 256 random bits, unguessable and unlisted.
    token = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    # [{"role", "html" (assistant: sanitised at render) | "text" (user), "status", "model"}];
    # a user entry with files also has "attachments": [{"id", "name", "alt", ...}].
    messages = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the snapshot was taken (sharing again retakes it).
    snapshot_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"share of {self.conversation_id}"


class Preferences(models.Model):
    """One user's settings. A user without a row has the defaults: the row is
    written only when they change something (``services.preferences_update``)."""

    class ReadAloud(models.TextChoices):
        # Finished blocks are read out while the answer is written (paced, whole blocks).
        STREAMING = "streaming", "Read answers aloud as they stream"
        # One read-out of the whole answer (or its beginning) once it has ended.
        DONE = "done", "Only when the answer is done"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="preferences",
    )
    read_aloud = models.CharField(
        max_length=16, choices=ReadAloud.choices, default=ReadAloud.STREAMING
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"


def _attachment_path(instance: Attachment, filename: str) -> str:
    """A random stored name, never the user's: nothing to guess, nothing shared
    between users (no de-duplication), and no path the user's name could bend.
    ``filename`` is the store's own (a random token and the detected type)."""
    return f"attachments/{filename[:2]}/{filename}"


class Attachment(models.Model):
    """A file sent with a user message. The stored copy is what the model
    reads: images re-encoded without metadata, text and PDFs as sent
    (chatapp/attachments/prepare.py). Served only to the conversation's owner
    (chatapp/views/attachments.py), and through a live share link whose copy
    lists it (chatapp/shares.py)."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        TEXT = "text", "Text"
        PDF = "pdf", "PDF"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=_attachment_path, max_length=200)
    # An image's WebP thumbnail for the page (chatapp/attachments/thumbnail.py).
    # Empty for other files, and for images stored before thumbnails existed:
    # the page then shows the full image.
    thumbnail = models.FileField(upload_to=_attachment_path, max_length=200, blank=True)
    # The user's file name, for display and downloads only.
    name = models.CharField(max_length=255)
    # An image's description by its sender; the page falls back to the name.
    alt = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Detected from the content, never taken from the browser.
    media_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(help_text="Bytes of the stored copy.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # What the model reads of a text file or PDF (empty for images).
    text = models.TextField(blank=True)
    # Said on the message and to the model: a PDF without a text layer.
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.kind == self.Kind.IMAGE

    @property
    def thumbnail_size(self) -> tuple[int, int] | None:
        """The thumbnail's width and height, or None without one."""
        if not self.thumbnail or not self.width or not self.height:
            return None
        return fit(self.width, self.height)
