"""The reasoning-effort picker: saved per conversation, owner only, sent only to
models configured as reasoning models."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatapp.endpoints import requested_effort
from chatapp.models import Conversation
from chatapp.runtime import model_entry

pytestmark = pytest.mark.django_db


def logged_in(name: str) -> tuple[User, Client]:
    user = User.objects.create_user(name, password="pw-for-tests-1")
    client = Client()
    client.force_login(user)
    return user, client


def test_the_owner_sets_the_effort_and_it_is_sent_to_a_reasoning_model() -> None:
    user, client = logged_in("effort-owner")
    conversation = Conversation.objects.create(user=user, model="demo-thinking")
    r = client.post(f"/c/{conversation.id}/effort", {"effort": "low"})
    assert r.status_code == 303
    assert r["Location"].endswith("?effort=saved#reasoning-effort")
    conversation.refresh_from_db()
    assert conversation.reasoning_effort == "low"
    assert requested_effort(model_entry("demo-thinking"), conversation.reasoning_effort) == "low"
    # Another model, not configured as a reasoning model, is never sent it.
    assert requested_effort(model_entry("demo"), conversation.reasoning_effort) is None
    page = client.get(f"/c/{conversation.id}/?effort=saved").content.decode()
    assert '<option value="low" selected>Low</option>' in page
    assert "<strong>Saved.</strong>" in page

    client.post(f"/c/{conversation.id}/effort", {"effort": ""})
    conversation.refresh_from_db()
    assert conversation.reasoning_effort == ""
    assert requested_effort(model_entry("demo-thinking"), conversation.reasoning_effort) is None


def test_an_effort_the_picker_does_not_offer_is_refused() -> None:
    user, client = logged_in("effort-odd")
    conversation = Conversation.objects.create(user=user, model="demo-thinking")
    r = client.post(f"/c/{conversation.id}/effort", {"effort": "maximum"})
    assert r.status_code == 400
    conversation.refresh_from_db()
    assert conversation.reasoning_effort == ""


def test_someone_elses_conversation_is_404_and_unchanged() -> None:
    owner, _ = logged_in("effort-a")
    _, stranger = logged_in("effort-b")
    conversation = Conversation.objects.create(user=owner, model="demo-thinking")
    assert stranger.post(f"/c/{conversation.id}/effort", {"effort": "high"}).status_code == 404
    conversation.refresh_from_db()
    assert conversation.reasoning_effort == ""


def test_the_post_needs_its_csrf_token() -> None:
    user, _ = logged_in("effort-csrf")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    conversation = Conversation.objects.create(user=user, model="demo-thinking")
    assert strict.post(f"/c/{conversation.id}/effort", {"effort": "high"}).status_code == 403


def test_a_plain_model_shows_no_picker() -> None:
    user, client = logged_in("effort-plain")
    conversation = Conversation.objects.create(user=user, model="demo")
    assert 'id="reasoning-effort"' not in client.get(f"/c/{conversation.id}/").content.decode()
