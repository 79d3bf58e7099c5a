"""The read-aloud setting: the settings page's plain form and the composer's switch."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatapp.models import Preferences

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return User.objects.create_user("ada", password="pw-for-tests-1")


@pytest.fixture
def web(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _mode(user: User) -> str | None:
    found = Preferences.objects.filter(user=user).first()
    return found.read_aloud if found else None


def _checked(html: str) -> list[str]:
    return re.findall(r'<input type="radio" name="read_aloud" value="(\w+)"[^>]* checked>', html)


def test_the_page_shows_the_default_without_writing_a_row(web: Client, user: User) -> None:
    response = web.get("/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _checked(html) == ["streaming"]
    assert "Read answers aloud as they stream" in html
    assert "Only when the answer is done" in html
    assert 'aria-current="page">Settings</a>' in html
    assert _mode(user) is None


def test_a_plain_post_saves_and_comes_back_saying_so(web: Client, user: User) -> None:
    response = web.post("/settings/", {"read_aloud": "done"})
    assert response.status_code == 303
    assert response["Location"] == "/settings/?saved"
    assert _mode(user) == "done"
    page = web.get(response["Location"]).content.decode()
    assert "Your settings are saved." in page
    assert _checked(page) == ["done"]


def test_the_switch_without_javascript_returns_to_its_page(web: Client, user: User) -> None:
    # An unchecked box sends only the hidden "done"; a checked one sends both, in order.
    response = web.post("/settings/", {"read_aloud": ["done"], "next": "/c/"})
    assert (response.status_code, response["Location"]) == (303, "/c/")
    assert _mode(user) == "done"
    web.post("/settings/", {"read_aloud": ["done", "streaming"], "next": "/c/"})
    assert _mode(user) == "streaming"


def test_next_never_leads_off_the_site(web: Client) -> None:
    response = web.post("/settings/", {"read_aloud": "done", "next": "https://evil.example/"})
    assert response["Location"] == "/settings/?saved"


def test_the_switch_is_answered_with_one_sentence_to_say(web: Client, user: User) -> None:
    response = web.post("/settings/", {"read_aloud": "done"}, headers={"HX-Request": "true"})
    assert response.status_code == 204
    said = json.loads(response["HX-Trigger"])
    assert said == {"spool:said": {"text": "Answers are read aloud only when done."}}
    assert _mode(user) == "done"


def test_an_unknown_mode_is_refused_with_what_is_allowed(web: Client, user: User) -> None:
    response = web.post("/settings/", {"read_aloud": "shout"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "Pick “Read answers aloud as they stream” or “Only when the answer is done”." in html
    assert '<fieldset aria-describedby="read-aloud-error">' in html
    assert 'id="read-aloud-error" class="composer-error" role="alert"' in html
    assert _mode(user) is None
    htmx = web.post("/settings/", {"read_aloud": "shout"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 422


def test_a_post_without_the_csrf_token_is_refused(user: User) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/settings/", {"read_aloud": "done"}).status_code == 403
    assert _mode(user) is None


def test_signed_out_visitors_are_sent_to_sign_in() -> None:
    response = Client().get("/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_setting_is_the_users_own(web: Client, user: User) -> None:
    other = User.objects.create_user("bob", password="pw-for-tests-2")
    Preferences.objects.create(user=other, read_aloud="done")
    assert _checked(web.get("/settings/").content.decode()) == ["streaming"]


def test_the_chat_page_carries_the_switch_in_the_users_state(web: Client, user: User) -> None:
    html = web.get("/").content.decode()
    assert re.search(r'id="read-aloud-streaming"[^>]*role="switch"[^>]* checked>', html)
    Preferences.objects.create(user=user, read_aloud="done")
    html = web.get("/").content.decode()
    switch = re.search(r'<input type="checkbox" id="read-aloud-streaming"[^>]*>', html)
    assert switch
    assert "checked" not in switch.group(0)
