"""Attachments in the admin: listed with their message, read-only.

The files themselves are not linked: they are served only to the
conversation's owner (chatapp/views/attachments.py), admins included."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chatapp.models import Attachment, Message

FIELDS = ("name", "alt", "kind", "media_type", "size", "width", "height", "note", "created_at")


class AttachmentInline(admin.TabularInline[Attachment, Message]):
    model = Attachment
    fields = FIELDS
    readonly_fields = FIELDS
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False


class AttachmentAdmin(admin.ModelAdmin[Attachment]):
    list_display = ("created_at", "name", "kind", "media_type", "size", "message")
    list_filter = ("kind", "media_type")
    search_fields = ("name", "message__conversation__user__username")
    list_select_related = ("message",)
    readonly_fields = ("id", "message", "file", *FIELDS, "text")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
