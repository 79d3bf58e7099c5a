"""Transcripts for admins: readable conversations, message states and metrics."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from chatapp.attachments.admin import AttachmentAdmin, AttachmentInline
from chatapp.models import Attachment, Conversation, Message


@admin.display(description="Output tokens", ordering="output_tokens")
def output_tokens_shown(message: Message) -> str:
    """A server's count, or Spool's estimate said to be one (chatapp/metrics_text.py)."""
    return message.output_tokens_text or "-"


@admin.display(description="Tokens/s", ordering="tokens_per_s")
def tokens_per_s_shown(message: Message) -> str:
    return message.tokens_per_s_text or "-"


class MessageInline(admin.TabularInline[Message, Conversation]):
    model = Message
    fields = ("created_at", "role", "status", "content", "model", "ttft_ms", "tokens_per_s_shown")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("created_at",)

    @admin.display(description="Tokens/s")
    def tokens_per_s_shown(self, obj: Message) -> str:
        return tokens_per_s_shown(obj)

    def has_add_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = ("title", "user", "model", "message_count", "updated_at")
    list_filter = ("model", "updated_at")
    search_fields = ("title", "user__username", "user__email", "messages__content")
    readonly_fields = ("id", "created_at", "updated_at")
    list_select_related = ("user",)
    inlines: ClassVar = [MessageInline]
    date_hierarchy = "updated_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        from django.db.models import Count

        return super().get_queryset(request).annotate(_messages=Count("messages"))

    @admin.display(description="Messages", ordering="_messages")
    def message_count(self, obj: Conversation) -> int:
        return int(getattr(obj, "_messages", 0))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Conversation], search_term: str
    ) -> tuple[QuerySet[Conversation], bool]:
        results, _ = super().get_search_results(request, queryset, search_term)
        # Searching message text joins many rows per conversation: dedupe once.
        return results.distinct(), False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = (
        "created_at", "conversation", "role", "status", "model", "short_content",
        "ttft_ms", tokens_per_s_shown, output_tokens_shown,
    )  # fmt: skip
    list_filter = ("status", "role", "model", "finish_reason", "error_code")
    search_fields = ("content", "conversation__user__username", "correlation_id", "id")
    list_select_related = ("conversation",)
    date_hierarchy = "created_at"
    inlines: ClassVar = [AttachmentInline]
    readonly_fields = [*(f.name for f in Message._meta.fields), "tool_call_table"]
    fieldsets = (
        (None, {"fields": ("id", "conversation", "reply_to", "role", "status", "model")}),
        ("Content", {"fields": ("content",)}),
        # The model's thinking, apart from its answer and collapsed: often long.
        (
            "Reasoning",
            {
                "classes": ("collapse",),
                "fields": (
                    "reasoning",
                    "reasoning_ms",
                    "reasoning_tokens",
                    "reasoning_tokens_estimated",
                ),
            },
        ),
        ("Tool calls", {"fields": ("tool_call_table",)}),
        (
            "Outcome",
            {
                "fields": (
                    "finish_reason",
                    "error_code",
                    "error_message",
                    "error_retryable",
                    "retry_after_at",
                )
            },
        ),
        (
            "Metrics",
            {
                "fields": (
                    "ttft_ms",
                    "answer_ttft_ms",
                    "provider_ttft_ms",
                    "duration_ms",
                    "prompt_tokens",
                    "prompt_dropped",
                    "output_tokens",
                    "output_tokens_estimated",
                    "tokens_per_s",
                    "bytes_sent",
                    "reconnects",
                    "correlation_id",
                )
            },
        ),
        (
            "Times",
            {
                "fields": (
                    "created_at",
                    "updated_at",
                    "checkpoint_at",
                    "completed_at",
                    "continued_at",
                    "recent_continues",
                )
            },
        ),
    )

    @admin.display(description="Calls")
    def tool_call_table(self, obj: Message) -> SafeString | str:
        """The message's tool calls, one row each, in the order the model made them."""
        calls: list[dict[str, Any]] = obj.tool_calls or []
        if not calls:
            return "None"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    call.get("round", ""),
                    call.get("name", ""),
                    _arguments(call.get("arguments")),
                    call.get("result", ""),
                    call.get("error") or "",
                    "" if call.get("duration_ms") is None else f"{call['duration_ms']} ms",
                )
                for call in calls
            ),
        )
        head = (
            "<thead><tr><th>Round</th><th>Tool</th><th>Arguments</th><th>Result</th>"
            "<th>Error</th><th>Duration</th></tr></thead>"
        )
        return format_html("<table>{}<tbody>{}</tbody></table>", SafeString(head), rows)

    @admin.display(description="Content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80] + ("…" if len(obj.content) > 80 else "")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


admin.site.register(Attachment, AttachmentAdmin)


def _arguments(arguments: object) -> str:
    """The arguments as the model sent them: an object as JSON, broken ones as they came."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
