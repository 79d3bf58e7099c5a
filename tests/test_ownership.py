"""Every conversation is its owner's alone: others get 404 on every URL."""

from __future__ import annotations

import re
import uuid

import pytest


@pytest.fixture
def owned(client):
    page, mid = client.start_conversation("mine, all mine", model="demo")
    client.stream_events(mid)
    return page, mid


def test_other_user_gets_404_everywhere(owned, other_client):
    page, mid = owned
    assert other_client.http.get(page).status_code == 404
    assert other_client.http.get(f"/m/{mid}/stream").status_code == 404
    assert other_client.send(page, "let me in").status_code == 404
    assert other_client.post(f"/m/{mid}/stop").status_code == 404
    assert other_client.post(f"/m/{mid}/retry").status_code == 404
    assert other_client.post(f"/m/{mid}/continue").status_code == 404
    assert other_client.post(f"{page}share").status_code == 404
    assert other_client.post(f"{page}share/revoke").status_code == 404


def test_owner_sees_it(owned, client):
    page, mid = owned
    assert client.http.get(page).status_code == 200
    assert client.http.get(f"/m/{mid}/stream").status_code == 200


def test_anonymous_is_sent_to_login_or_404(owned, spool_server):
    import httpx

    page, mid = owned
    with httpx.Client(base_url=spool_server.url) as anon:
        r = anon.get(page)
        assert r.status_code == 302
        assert "/accounts/login/" in r.headers["location"]
        assert anon.get(f"/m/{mid}/stream").status_code == 404
        # The owner's share controls: to the login page, nothing shared.
        token = anon.get("/accounts/login/").cookies["csrftoken"]
        for url in (f"{page}share", f"{page}share/revoke"):
            r = anon.post(url, data={"csrfmiddlewaretoken": token})
            assert (r.status_code, "/accounts/login/" in r.headers["location"]) == (302, True)


def test_post_without_csrf_token_is_refused(owned, client):
    page, _ = owned
    r = client.http.post(f"{page}messages", data={"text": "no token"})
    assert r.status_code == 403


def test_conversation_list_shows_only_own(owned, client, other_client):
    assert "mine, all mine" in client.http.get("/").text
    assert "mine, all mine" not in other_client.http.get("/").text


def _question_id(client, page: str) -> str:
    ids = re.findall(
        r'<article id="m-([0-9a-f-]+)" class="msg msg-user', client.http.get(page).text
    )
    assert ids, "no question on the page"
    return str(ids[0])


def test_versions_urls_are_the_owners_alone(owned, client, other_client, spool_server):
    """Edit, regenerate, retry and switch: 404 for another user, the login page
    for the signed-out (as for any page: the same for any id), and nothing changes."""
    import httpx

    page, mid = owned
    qid = _question_id(client, page)
    before = client.http.get(page).text.count('class="msg ')
    for url in (f"/m/{qid}/edit", f"/m/{mid}/regenerate", f"/m/{mid}/retry", f"/m/{mid}/switch"):
        assert other_client.post(url, {"text": "mine now"}).status_code == 404, url
    assert other_client.http.get(f"/m/{qid}/edit").status_code == 404
    with httpx.Client(base_url=spool_server.url) as anon:
        for url in (f"/m/{qid}/edit", f"/m/{uuid.uuid4()}/edit"):
            r = anon.get(url)
            assert r.status_code == 302
            assert "/accounts/login/" in r.headers["location"]
        anon.get("/accounts/login/")  # a CSRF cookie: the posts reach the views
        token = {"csrfmiddlewaretoken": anon.cookies["csrftoken"], "text": "x"}
        for url in (f"/m/{mid}/regenerate", f"/m/{mid}/switch", f"/m/{qid}/edit"):
            r = anon.post(url, data=token)
            assert r.status_code == 302, url
            assert "/accounts/login/" in r.headers["location"], url
    assert client.http.get(page).text.count('class="msg ') == before
