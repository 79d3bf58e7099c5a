"""``manage.py purge_deleted``: remove for good the conversations whose Undo has run out.

Each delete already purges its owner's older deletions; run this from cron
(or a timer) so those of users who never delete again go as well.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chatapp import conversations


class Command(BaseCommand):
    help = "Remove deleted conversations whose Undo has run out."

    def handle(self, *args: Any, **options: Any) -> None:
        purged = conversations.conversation_purge_deleted()
        self.stdout.write(f"Purged {purged} deleted conversation{'s' if purged != 1 else ''}.")
