from __future__ import annotations

from django.apps import AppConfig


class ChatappConfig(AppConfig):
    name = "chatapp"
    verbose_name = "Spool chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chatapp import checks  # noqa: F401  (registers the checks)
