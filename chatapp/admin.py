"""Transcripts for admins: readable conversations, message states and metrics."""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from chatapp.attachments.admin import AttachmentAdmin, AttachmentInline
from chatapp.models import Attachment, Conversation, Message


class MessageInline(admin.TabularInline[Message, Conversation]):
    model = Message
    fields = ("created_at", "role", "status", "content", "model", "ttft_ms", "tokens_per_s")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("created_at",)

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
        "ttft_ms", "tokens_per_s", "output_tokens",
    )  # fmt: skip
    list_filter = ("status", "role", "model", "finish_reason", "error_code")
    search_fields = ("content", "conversation__user__username", "correlation_id", "id")
    list_select_related = ("conversation",)
    date_hierarchy = "created_at"
    inlines: ClassVar = [AttachmentInline]
    readonly_fields = [f.name for f in Message._meta.fields]
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

    @admin.display(description="Content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80] + ("…" if len(obj.content) > 80 else "")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


admin.site.register(Attachment, AttachmentAdmin)
