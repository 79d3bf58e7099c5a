from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from chatapp.views import (
    accounts,
    attachments,
    effort,
    events,
    pages,
    settings,
    shares,
    stream,
    versions,
)

urlpatterns = [
    path("", pages.home, name="home"),
    path("c/", pages.conversation_list, name="conversation_list"),
    path("c/new", pages.conversation_new, name="conversation_new"),
    path("search", pages.search, name="search"),
    path("c/<uuid:conversation_id>/", pages.conversation_detail, name="conversation"),
    path("c/<uuid:conversation_id>/messages", pages.message_send, name="message_send"),
    path("c/<uuid:conversation_id>/effort", effort.conversation_effort, name="conversation_effort"),
    path(
        "c/<uuid:conversation_id>/instructions",
        pages.conversation_instructions,
        name="conversation_instructions",
    ),
    path(
        "c/<uuid:conversation_id>/export.<str:fmt>",
        pages.conversation_export,
        name="conversation_export",
    ),
    path("c/<uuid:conversation_id>/rename", pages.conversation_rename, name="conversation_rename"),
    path("c/<uuid:conversation_id>/pin", pages.conversation_pin, name="conversation_pin"),
    path("c/<uuid:conversation_id>/delete", pages.conversation_delete, name="conversation_delete"),
    path(
        "c/<uuid:conversation_id>/restore", pages.conversation_restore, name="conversation_restore"
    ),
    path("c/<uuid:conversation_id>/share", shares.conversation_share, name="conversation_share"),
    path(
        "c/<uuid:conversation_id>/share/revoke",
        shares.conversation_share_revoke,
        name="conversation_share_revoke",
    ),
    path("s/<str:token>", shares.shared_conversation, name="shared_conversation"),
    path(
        "s/<str:token>/a/<uuid:attachment_id>",
        shares.shared_attachment,
        name="shared_attachment",
    ),
    path(
        "s/<str:token>/a/<uuid:attachment_id>/thumb",
        shares.shared_attachment_thumbnail,
        name="shared_attachment_thumbnail",
    ),
    path("m/<uuid:message_id>/stream", stream.message_stream, name="message_stream"),
    path("m/<uuid:message_id>/events", events.message_events, name="message_events"),
    path("m/<uuid:message_id>/stop", pages.message_stop, name="message_stop"),
    # Retry is a regenerate: one view, and the old address keeps working for open pages.
    path("m/<uuid:message_id>/retry", versions.message_regenerate, name="message_retry"),
    path("m/<uuid:message_id>/regenerate", versions.message_regenerate, name="message_regenerate"),
    path("m/<uuid:message_id>/edit", versions.message_edit, name="message_edit"),
    path("m/<uuid:message_id>/switch", versions.message_switch, name="message_switch"),
    path("m/<uuid:message_id>/continue", pages.message_continue, name="message_continue"),
    path("a/<uuid:attachment_id>", attachments.attachment_file, name="attachment"),
    path(
        "a/<uuid:attachment_id>/thumb",
        attachments.attachment_thumbnail,
        name="attachment_thumbnail",
    ),
    path("settings/", settings.settings_page, name="settings"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("admin/", admin.site.urls),
]
