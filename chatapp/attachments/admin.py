"""Attachments in the admin: listed with their message, read-only.

The files themselves are not linked, nor are thumbnails drawn: they are
served only to the conversation's owner (chatapp/views/attachments.py), and
an admin is not the owner. The admin says whether an image has a thumbnail,
and its size."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chatapp.models import Attachment, Message

FIELDS = (
    "name", "alt", "kind", "media_type", "size", "width", "height", "thumbnail_shown", "note",
    "created_at",
)  # fmt: skip


@admin.display(description="thumbnail")
def thumbnail_shown(attachment: Attachment) -> str:
    """The thumbnail's size, without its pixels: "440 x 293 px WebP"."""
    if (size := attachment.thumbnail_size) is not None:
        return f"{size[0]} x {size[1]} px WebP"
    return "none (the page shows the full image)" if attachment.is_image else "none"


class AttachmentInline(admin.TabularInline[Attachment, Message]):
    model = Attachment
    fields = FIELDS
    readonly_fields = FIELDS
    extra = 0
    can_delete = False
    thumbnail_shown = staticmethod(thumbnail_shown)

    def has_add_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False


class AttachmentAdmin(admin.ModelAdmin[Attachment]):
    list_display = ("created_at", "name", "kind", "media_type", "size", "message")
    list_filter = ("kind", "media_type")
    search_fields = ("name", "message__conversation__user__username")
    list_select_related = ("message",)
    readonly_fields = ("id", "message", "file", *FIELDS, "text")
    date_hierarchy = "created_at"
    thumbnail_shown = staticmethod(thumbnail_shown)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
