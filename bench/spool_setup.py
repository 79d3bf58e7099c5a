"""Bench users, their sessions and conversations, written straight into Spool's database.

Run by bench/streams.py with the server's environment (its SQLite file), before
the server starts::

    python -m bench.spool_setup USERS CONVERSATIONS_PER_USER

Prints JSON: one ``{"session": <sessionid cookie>, "conversations": [<uuid>, …]}``
per user. The sessions are what ``django.contrib.auth.login`` would store, so
the server sees signed-in users without the bench paying (or timing) a
password hash per user; each conversation uses the demo model, whose
``[bench:N]`` prompts the bench sends.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import import_module
from typing import Any

import django


def create(users: int, conversations_per_user: int) -> list[dict[str, Any]]:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.db import transaction

    from chatapp.models import Conversation

    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    created: list[dict[str, Any]] = []
    with transaction.atomic():
        for i in range(users):
            user = User(username=f"bench-{i}")
            user.set_unusable_password()
            user.save()
            conversations = Conversation.objects.bulk_create(
                Conversation(user=user, model=settings.SPOOL_DEMO_MODEL, title=f"Bench {j}")
                for j in range(conversations_per_user)
            )
            session = store_class()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.save()
            created.append(
                {
                    "session": session.session_key,
                    "conversations": [str(c.id) for c in conversations],
                }
            )
    return created


def main(argv: list[str]) -> None:
    users, per_user = (int(arg) for arg in argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
    django.setup()
    json.dump(create(users, per_user), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
