"""chatapp.middleware: Django's middleware with its hooks on the event loop.

Every hook of Django's classes is wrapped with a probe that records the thread
it runs on. Under ASGI (``AsyncClient`` runs the handler on the test's own
event loop) our classes must call the hooks on the loop's thread, except the
two that may do I/O (a session save, a message store) and only when they will;
Django's own classes, run through the same probes, hop to a worker thread for
every hook, which is the control that shows a hop is seen when there is one.
In sync mode (``Client``) both stacks must behave the same.

This module is also the URLconf of its tests: the app's URLs, plus a few views
that add and show ``django.contrib.messages``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import middleware as django_auth
from django.contrib.auth.models import User
from django.contrib.messages import middleware as django_messages
from django.contrib.sessions import middleware as django_sessions
from django.contrib.sessions.models import Session
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.middleware import clickjacking, common, csp, csrf, security
from django.test import AsyncClient, Client, override_settings
from django.urls import include, path

from chatapp.middleware import OnTheLoop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]

PASSWORD = "pw-for-tests-1"

# Each class of chatapp.middleware in settings.MIDDLEWARE, and the Django class it stands for.
DJANGO_CLASSES = {
    "chatapp.middleware.SecurityMiddleware": security.SecurityMiddleware,
    "chatapp.middleware.SessionMiddleware": django_sessions.SessionMiddleware,
    "chatapp.middleware.CommonMiddleware": common.CommonMiddleware,
    "chatapp.middleware.CsrfViewMiddleware": csrf.CsrfViewMiddleware,
    "chatapp.middleware.AuthenticationMiddleware": django_auth.AuthenticationMiddleware,
    "chatapp.middleware.MessageMiddleware": django_messages.MessageMiddleware,
    "chatapp.middleware.XFrameOptionsMiddleware": clickjacking.XFrameOptionsMiddleware,
    "chatapp.middleware.ContentSecurityPolicyMiddleware": csp.ContentSecurityPolicyMiddleware,
}
HOOKS = ("process_request", "process_view", "process_response")
# Every hook the eight classes define: each runs once per request.
ALL_HOOKS = sorted(
    (cls.__name__, hook) for cls in DJANGO_CLASSES.values() for hook in HOOKS if hook in vars(cls)
)


def django_middleware() -> list[str]:
    """settings.MIDDLEWARE with Django's own class in place of each of ours."""
    return [
        f"{DJANGO_CLASSES[p].__module__}.{DJANGO_CLASSES[p].__qualname__}"
        if p in DJANGO_CLASSES
        else p
        for p in settings.MIDDLEWARE
    ]


# -- the URLconf --------------------------------------------------------------


async def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("plain")


def add_message(request: HttpRequest) -> HttpResponse:
    messages.success(request, request.GET["text"])
    return HttpResponseRedirect("/t/show/")


def show_messages(request: HttpRequest) -> HttpResponse:
    return HttpResponse("|".join(str(m) for m in messages.get_messages(request)))


urlpatterns = [
    path("t/plain/", plain),
    path("t/add/", add_message),
    path("t/show/", show_messages),
    path("", include("chatapp.urls")),
]


# -- the probe ----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    cls: str  # the Django class whose hook ran
    hook: str
    thread: int
    # Called by one of our classes. A view decorated with ``csrf_protect`` (the
    # login view) runs Django's CsrfViewMiddleware hooks itself, in the view's
    # thread: those calls are the view's, not the middleware's.
    ours: bool


class Probe:
    """The hooks called since the last ``take``, with the thread each ran on."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls

    def wrap(self, cls: type, hook: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def probed(middleware: Any, *args: Any, **kwargs: Any) -> Any:
            ours = isinstance(middleware, OnTheLoop)
            self.calls.append(Call(cls.__name__, hook, threading.get_ident(), ours))
            return original(middleware, *args, **kwargs)

        return probed


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Probe:
    """Probes on Django's classes: ours inherit the hooks (and CsrfViewMiddleware's
    async ``process_view`` calls Django's), so both stacks go through them."""
    recorder = Probe()
    for cls in DJANGO_CLASSES.values():
        for hook in HOOKS:
            if hook in vars(cls):
                monkeypatch.setattr(cls, hook, recorder.wrap(cls, hook, vars(cls)[hook]))
    return recorder


def off_loop(calls: list[Call], loop_thread: int) -> set[tuple[str, str]]:
    """The middleware hooks that ran on another thread than the loop's."""
    return {(c.cls, c.hook) for c in calls if c.thread != loop_thread}


def ours(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.ours]


def hooks(calls: list[Call]) -> list[tuple[str, str]]:
    return sorted((c.cls, c.hook) for c in calls)


# -- helpers ------------------------------------------------------------------


@pytest.fixture
def user() -> User:
    return User.objects.create_user("ada", password=PASSWORD)


@pytest.fixture
async def auser() -> User:
    return await sync_to_async(User.objects.create_user)("ada", password=PASSWORD)


def form_token(html: str) -> str:
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert m, "no CSRF token in the form"
    return m.group(1)


def credentials(token: str | None) -> dict[str, str]:
    data = {"username": "ada", "password": PASSWORD}
    return data if token is None else {**data, "csrfmiddlewaretoken": token}


async def session_user_id(session_key: str) -> str | None:
    session = await Session.objects.aget(session_key=session_key)
    user_id: str | None = session.get_decoded().get("_auth_user_id")
    return user_id


# -- the settings the tests rely on ---------------------------------------------


def test_settings_use_every_event_loop_class() -> None:
    assert set(DJANGO_CLASSES) <= set(settings.MIDDLEWARE)
    assert not any(
        p.startswith(("django.middleware.", "django.contrib.")) for p in settings.MIDDLEWARE
    )


# -- ASGI: which thread runs the hooks -------------------------------------------


@pytest.mark.parametrize("url", ["/t/plain/", "/accounts/login/", "/"])
@pytest.mark.parametrize("signed_in", [False, True])
async def test_hooks_run_on_the_event_loop(probe: Probe, auser: User, url: str, signed_in: bool):
    loop_thread = threading.get_ident()
    client = AsyncClient()
    if signed_in:
        await client.aforce_login(auser)
    response = await client.get(url)
    assert response.status_code in (200, 302)
    calls = ours(probe.take())
    assert hooks(calls) == ALL_HOOKS, "every hook runs once per request"
    assert off_loop(calls, loop_thread) == set()


async def test_control_djangos_own_classes_hop_to_a_thread(probe: Probe) -> None:
    """The same probes see Django's classes hop: a hop would not go unnoticed."""
    loop_thread = threading.get_ident()
    with override_settings(MIDDLEWARE=django_middleware()):
        response = await AsyncClient().get("/t/plain/")  # an async view: no csrf_protect
    assert response.status_code == 200
    calls = probe.take()
    assert hooks(calls) == ALL_HOOKS
    assert sorted(off_loop(calls, loop_thread)) == ALL_HOOKS


async def test_a_login_saves_the_session_in_a_thread_and_sets_the_cookie(
    probe: Probe, auser: User
) -> None:
    loop_thread = threading.get_ident()
    client = AsyncClient(enforce_csrf_checks=True)
    token = form_token((await client.get("/accounts/login/")).content.decode())
    probe.take()
    response = await client.post("/accounts/login/", credentials(token))
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # The save (a database write) hops; every other hook stays on the loop.
    assert off_loop(ours(probe.take()), loop_thread) == {("SessionMiddleware", "process_response")}
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert await session_user_id(cookie.value) == str(auser.pk)
    # The next request is signed in with that cookie, without another save.
    page = await client.get("/")
    assert page.status_code == 200
    assert "ada" in page.content.decode()
    assert off_loop(ours(probe.take()), loop_thread) == set()


@pytest.mark.parametrize(
    "storage",
    [
        "django.contrib.messages.storage.fallback.FallbackStorage",
        "django.contrib.messages.storage.session.SessionStorage",
    ],
)
async def test_messages_added_in_a_view_survive_to_the_next_request(
    probe: Probe, auser: User, storage: str
) -> None:
    loop_thread = threading.get_ident()
    client = AsyncClient()
    await client.aforce_login(auser)
    with override_settings(MESSAGE_STORAGE=storage):
        added = await client.get("/t/add/", {"text": "Saved."})
        assert added.status_code == 302
        moved = off_loop(ours(probe.take()), loop_thread)
        shown = await client.get("/t/show/")
        assert shown.content == b"Saved."
        assert ("MessageMiddleware", "process_response") in moved
        assert ("MessageMiddleware", "process_response") in off_loop(
            ours(probe.take()), loop_thread
        )
        # Shown once: the read marked them used, and the store removed them.
        assert (await client.get("/t/show/")).content == b""
    if storage.endswith("SessionStorage"):
        # Storing in the session modifies it: the session save hops too.
        assert ("SessionMiddleware", "process_response") in moved


@pytest.mark.parametrize("stack", ["ours", "django"])
async def test_csrf_is_enforced_on_post(auser: User, stack: str) -> None:
    """On a view with no ``csrf_protect`` of its own: only the middleware checks."""
    middleware = settings.MIDDLEWARE if stack == "ours" else django_middleware()
    with override_settings(MIDDLEWARE=middleware):
        client = AsyncClient(enforce_csrf_checks=True)
        token = form_token((await client.get("/accounts/login/")).content.decode())
        refused = await client.post("/t/plain/", {"a": "1"})
        assert refused.status_code == 403
        assert b"CSRF verification failed" in refused.content
        forged = await client.post("/t/plain/", {"csrfmiddlewaretoken": "x" * len(token)})
        assert forged.status_code == 403
        accepted = await client.post("/t/plain/", {"csrfmiddlewaretoken": token})
        assert accepted.status_code == 200
        assert accepted.content == b"plain"
        # Safe methods are never checked.
        assert (await AsyncClient(enforce_csrf_checks=True).get("/t/plain/")).status_code == 200


async def test_a_csrf_header_is_accepted_as_htmx_sends_it(auser: User) -> None:
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(auser)
    html = (await client.get("/")).content.decode()
    m = re.search(r"hx-headers='\{\"X-CSRFToken\": \"(\w+)\"\}'", html)
    assert m
    empty = {"text": "", "model": "demo"}
    assert (await client.post("/c/new", empty)).status_code == 403
    # Past the CSRF check: the empty message itself is refused.
    assert (
        await client.post("/c/new", empty, headers={"X-CSRFToken": m.group(1)})
    ).status_code == 422


SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.mark.parametrize("url", ["/accounts/login/", "/t/plain/"])
async def test_security_headers_and_csp_are_set(url: str) -> None:
    response = await AsyncClient().get(url)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


async def test_the_csp_nonce_in_the_header_is_the_one_in_the_page() -> None:
    response = await AsyncClient().get("/accounts/login/")
    m = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert m, "no nonce in the policy"
    assert f'nonce="{m.group(1)}"' in response.content.decode()


# -- the same requests, through both stacks: the same answers --------------------


@dataclass
class Seen:
    """What a request sequence observably did (values that are random left out)."""

    answers: list[tuple[int, str, list[str]]]
    hooks: list[tuple[str, str]]
    threads: set[int] = field(compare=False)


def _summary(response: HttpResponseBase) -> tuple[int, str, list[str]]:
    headers = sorted(
        # The nonce, the token (and so the length) and the dates differ per response.
        f"{k}: {v}" if k not in ("Content-Security-Policy", "Content-Length", "Expires") else k
        for k, v in response.headers.items()
    )
    cookies = sorted(response.cookies)
    return response.status_code, response.headers.get("Location", ""), headers + cookies


async def _async_sequence(probe: Probe) -> Seen:
    client = AsyncClient(enforce_csrf_checks=True)
    answers = []
    login = await client.get("/accounts/login/")
    answers.append(_summary(login))
    answers.append(_summary(await client.post("/accounts/login/", credentials(None))))
    answers.append(
        _summary(
            await client.post("/accounts/login/", credentials(form_token(login.content.decode())))
        )
    )
    answers.append(_summary(await client.get("/")))
    answers.append(_summary(await client.get("/t/add/", {"text": "hi"})))
    shown = await client.get("/t/show/")
    assert shown.content == b"hi"
    answers.append(_summary(shown))
    calls = probe.take()
    return Seen(answers, [(c.cls, c.hook) for c in calls], {c.thread for c in calls})


def _sync_sequence(probe: Probe) -> Seen:
    client = Client(enforce_csrf_checks=True)
    answers = []
    login = client.get("/accounts/login/")
    answers.append(_summary(login))
    answers.append(_summary(client.post("/accounts/login/", credentials(None))))
    answers.append(
        _summary(client.post("/accounts/login/", credentials(form_token(login.content.decode()))))
    )
    answers.append(_summary(client.get("/")))
    answers.append(_summary(client.get("/t/add/", {"text": "hi"})))
    shown = client.get("/t/show/")
    assert shown.content == b"hi"
    answers.append(_summary(shown))
    calls = probe.take()
    return Seen(answers, [(c.cls, c.hook) for c in calls], {c.thread for c in calls})


async def test_under_asgi_both_stacks_answer_alike(probe: Probe, auser: User) -> None:
    with_ours = await _async_sequence(probe)
    with override_settings(MIDDLEWARE=django_middleware()):
        with_djangos = await _async_sequence(probe)
    assert [a[0] for a in with_ours.answers] == [200, 403, 302, 200, 302, 200]
    assert with_ours == with_djangos


def test_sync_mode_behaves_like_django(probe: Probe, user: User) -> None:
    """Under WSGI (the test client) every hook runs inline, as Django's do."""
    this_thread = threading.get_ident()
    with_ours = _sync_sequence(probe)
    with override_settings(MIDDLEWARE=django_middleware()):
        with_djangos = _sync_sequence(probe)
    assert with_ours.threads == with_djangos.threads == {this_thread}
    assert [a[0] for a in with_ours.answers] == [200, 403, 302, 200, 302, 200]
    assert with_ours == with_djangos


def test_sync_mode_runs_every_hook_in_the_calling_thread(probe: Probe, user: User) -> None:
    this_thread = threading.get_ident()
    client = Client()
    client.force_login(user)
    for url, status in [("/", 200), ("/t/add/?text=x", 302), ("/t/show/", 200)]:
        assert client.get(url).status_code == status
        calls = ours(probe.take())
        assert hooks(calls) == ALL_HOOKS
        assert {c.thread for c in calls} == {this_thread}
