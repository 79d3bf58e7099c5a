from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from chatapp.views import accounts, pages, stream

urlpatterns = [
    path("", pages.home, name="home"),
    path("c/", pages.conversation_list, name="conversation_list"),
    path("c/new", pages.conversation_new, name="conversation_new"),
    path("c/<uuid:conversation_id>/", pages.conversation_detail, name="conversation"),
    path("c/<uuid:conversation_id>/messages", pages.message_send, name="message_send"),
    path(
        "c/<uuid:conversation_id>/instructions",
        pages.conversation_instructions,
        name="conversation_instructions",
    ),
    path("m/<uuid:message_id>/stream", stream.message_stream, name="message_stream"),
    path("m/<uuid:message_id>/stop", pages.message_stop, name="message_stop"),
    path("m/<uuid:message_id>/retry", pages.message_retry, name="message_retry"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("admin/", admin.site.urls),
]
