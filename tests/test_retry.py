"""chatapp/retry.py: what a finished answer offers, the footer that shows it, and
the retry service that refuses what the footer does not offer (real SQLite)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from chatapp import continuation, retry, services, versions
from chatapp.models import Conversation, Message
from streaming.providers import errors

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return User.objects.create_user("ada", password="pw-for-tests-1")


def failed_answer(user: User, **fields: object) -> Message:
    """An answer that failed with a retryable error; ``fields`` override any column."""
    conv = Conversation.objects.create(user=user, model="demo", title="Hi")
    q = Message.objects.create(conversation=conv, role="user", content="Hi")
    columns: dict[str, object] = {
        "status": "failed",
        "error_code": "upstream_down",
        "error_message": "The model server is having trouble.",
        **fields,
    }
    return Message.objects.create(
        conversation=conv, reply_to=q, role="assistant", model="demo", **columns
    )


def footer(message: Message) -> str:
    return render_to_string("chat/_message_footer.html", {"message": message})


def visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#x27;", "'").split())


def test_wait_text_counts_seconds_then_minutes() -> None:
    assert retry.wait_text(1) == "1 s"
    assert retry.wait_text(retry.MINUTES_FROM_S - 1) == f"{retry.MINUTES_FROM_S - 1} s"
    assert retry.wait_text(retry.MINUTES_FROM_S) == "2 min"
    assert retry.wait_text(121) == "3 min"


def test_seconds_left_rounds_up_so_retry_never_opens_early() -> None:
    now = timezone.now()
    assert retry.seconds_left(None, now) == 0
    assert retry.seconds_left(now + timedelta(seconds=23.2), now) == 24
    assert retry.seconds_left(now + timedelta(seconds=24), now) == 24
    assert retry.seconds_left(now - timedelta(seconds=1), now) == 0


def test_every_error_retry_cannot_fix_has_its_own_next_step() -> None:
    """The codes errors.py marks not retryable each say what to do instead."""
    cases = {
        "auth": errors.from_status(401, {}, ("bad key", None), model="m"),
        "rate_limit": errors.from_status(429, {}, ("quota", "insufficient_quota"), model="m"),
        "not_found": errors.from_status(404, {}, ("no such model", None), model="m"),
        "context_length": errors.from_status(400, {}, ("maximum context length", None), model="m"),
        "bad_request": errors.from_status(400, {}, ("bad field", None), model="m"),
    }
    for code, error in cases.items():
        assert (error.code, error.retryable) == (code, False)
        assert retry.next_step(code) == retry.NEXT_STEPS[code] != retry.DEFAULT_NEXT_STEP
    assert retry.next_step("auth") == retry.CONFIGURATION
    assert retry.next_step("something-new") == retry.DEFAULT_NEXT_STEP


def test_retry_is_offered_at_once_without_a_wait(user: User) -> None:
    answer = failed_answer(user)
    assert answer.retry_offer == retry.RetryOffer(shown=True, wait_s=0)
    assert answer.retry_offer.label == "Retry"
    html = footer(answer)
    assert re.search(r"<button[^>]*>Retry</button>", html)
    assert "disabled" not in html
    assert retry.refusal(answer) is None


@pytest.mark.parametrize("status", ["stopped", "truncated", "interrupted"])
def test_unfinished_answers_without_an_error_offer_retry(user: User, status: str) -> None:
    answer = failed_answer(user, status=status, error_code="")
    assert answer.retry_offer.shown
    assert ">Retry</button>" in footer(answer)


def test_complete_and_live_answers_offer_nothing(user: User) -> None:
    for status in ("complete", "pending", "streaming"):
        answer = failed_answer(user, status=status, error_code="")
        assert answer.retry_offer == retry.NO_OFFER


def test_a_wait_disables_retry_with_the_seconds_left(user: User) -> None:
    answer = failed_answer(
        user, error_code="rate_limit", retry_after_at=timezone.now() + timedelta(seconds=23.5)
    )
    offer = answer.retry_offer
    assert (offer.shown, offer.wait_s, offer.label) == (True, 24, "Retry in 24 s")
    button = re.search(r"<button[^>]*>[^<]*</button>", footer(answer))
    assert button
    assert " disabled" in button.group(0)
    assert 'data-retry-wait="24"' in button.group(0)
    assert ">Retry in 24 s</button>" in button.group(0)


def test_a_wait_that_has_passed_offers_retry_at_once(user: User) -> None:
    answer = failed_answer(user, retry_after_at=timezone.now() - timedelta(seconds=1))
    assert answer.retry_offer.wait_s == 0
    assert "disabled" not in footer(answer)


def test_a_bad_key_offers_no_retry_and_says_who_can_fix_it(user: User) -> None:
    answer = failed_answer(
        user, error_code="auth", error_retryable=False, error_message=errors.MSG_AUTH
    )
    html = footer(answer)
    assert "<button" not in html
    assert "/retry" not in html
    assert retry.CONFIGURATION in visible_text(html)
    assert "Retry" not in visible_text(html)


def test_a_too_long_conversation_says_to_shorten_or_start_anew(user: User) -> None:
    answer = failed_answer(user, error_code="context_length", error_retryable=False)
    assert retry.NEXT_STEPS["context_length"] in visible_text(footer(answer))


def test_retry_before_the_time_is_refused_with_the_time_left(user: User) -> None:
    answer = failed_answer(user, retry_after_at=timezone.now() + timedelta(seconds=23.5))
    with pytest.raises(services.SendError) as refused:
        versions.message_regenerate(message=answer)
    assert refused.value.message == "The model asked to wait: Retry in 24 s."
    assert Message.objects.filter(role="assistant").count() == 1


def test_retry_of_an_error_retry_cannot_fix_is_refused(user: User) -> None:
    answer = failed_answer(user, error_code="not_found", error_retryable=False)
    with pytest.raises(services.SendError) as refused:
        versions.message_regenerate(message=answer)
    assert refused.value.message == retry.NEXT_STEPS["not_found"]
    assert Message.objects.filter(role="assistant").count() == 1


def test_retry_view_answers_422_before_the_time(user: User) -> None:
    answer = failed_answer(user, retry_after_at=timezone.now() + timedelta(seconds=30))
    web = Client()
    web.force_login(user)
    r = web.post(f"/m/{answer.id}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert r.headers["HX-Retarget"] == "#composer-error"
    assert re.fullmatch(
        r"The model asked to wait: Retry in (29|30) s\.", r.content.decode().strip()
    )
    assert Message.objects.filter(role="assistant").count() == 1


@pytest.mark.parametrize(
    ("reason", "said"),
    [("length", "Cut short at the length limit."), ("time_limit", "Cut short at the time limit.")],
)
def test_a_truncated_answer_says_which_limit_cut_it(user: User, reason: str, said: str) -> None:
    message = failed_answer(
        user, status="truncated", error_code="", error_message="", finish_reason=reason
    )
    assert said in visible_text(footer(message))


@pytest.mark.parametrize("status", ["stopped", "interrupted", "truncated"])
def test_a_cut_answer_with_text_offers_continue_beside_retry(user: User, status: str) -> None:
    message = failed_answer(user, status=status, error_code="", content="Half of it")
    assert retry.continue_offered(message)
    assert retry.continue_refusal(message) is None
    html = footer(message)
    assert f'action="/m/{message.id}/continue"' in html
    assert visible_text(html).index("Continue") < visible_text(html).index("Retry")


@pytest.mark.parametrize(
    ("status", "content"),
    [("complete", "All of it"), ("stopped", "  \n"), ("failed", ""), ("streaming", "x")],
)
def test_continue_is_not_offered_for_other_answers(user: User, status: str, content: str) -> None:
    message = failed_answer(user, status=status, content=content)
    assert not retry.continue_offered(message)
    assert "/continue" not in footer(message)
    assert retry.continue_refusal(message) is not None
    with pytest.raises(services.SendError) as refused:
        continuation.message_continue(message=message)
    assert refused.value.message == retry.continue_refusal(message)


def test_continue_turns_the_same_answer_pending_once(user: User) -> None:
    message = failed_answer(user, status="stopped", error_code="", content="Half")
    sent = continuation.message_continue(message=message)
    assert sent.assistant_message.id == message.id
    assert sent.user_message is None
    message.refresh_from_db()
    assert message.status == "pending"
    assert message.continued_at is not None
    assert message.recent_continues == 1
    stale = Message.objects.get(id=message.id)
    stale.status = "stopped"  # a second Continue from a page that still shows the button
    with pytest.raises(services.BusyError):
        continuation.message_continue(message=stale)
    message.refresh_from_db()
    assert message.recent_continues == 1


@pytest.mark.parametrize(
    ("code", "fields"),
    [
        ("stream_broken", {"content": "Half of it"}),
        ("timeout", {"content": "Half of it"}),
        ("upstream_down", {"content": "Half of it"}),
        ("internal", {"content": "Half of it"}),
        # Failed while thinking: Continue starts the answer afresh, as after a Stop.
        ("stream_broken", {"reasoning": "First I weigh it"}),
    ],
)
def test_a_transient_failure_with_text_offers_continue_before_retry(
    user: User, code: str, fields: dict[str, str]
) -> None:
    message = failed_answer(user, error_code=code, **fields)
    assert retry.continue_offered(message)
    assert retry.continue_refusal(message) is None
    assert message.continue_offer == retry.RetryOffer(shown=True, action="Continue")
    html = footer(message)
    assert f'action="/m/{message.id}/continue"' in html
    assert re.search(r"<button[^>]*>Continue</button>", html)
    assert visible_text(html).index("Continue") < visible_text(html).index("Retry")


@pytest.mark.parametrize("code", ["auth", "not_found", "context_length", "bad_request"])
def test_a_failure_continue_cannot_fix_offers_no_continue(user: User, code: str) -> None:
    message = failed_answer(user, error_code=code, error_retryable=False, content="Half of it")
    assert not retry.continue_offered(message)
    assert "/continue" not in footer(message)
    assert "Continue" not in visible_text(footer(message))
    # Refused with what the footer says to do instead, as Retry is.
    assert retry.continue_refusal(message) == retry.next_step(code)
    with pytest.raises(services.SendError) as refused:
        continuation.message_continue(message=message)
    assert refused.value.message == retry.next_step(code)
    message.refresh_from_db()
    assert message.status == "failed"


def test_a_wait_disables_continue_too_with_the_seconds_left(user: User) -> None:
    message = failed_answer(
        user,
        error_code="rate_limit",
        content="Half of it",
        retry_after_at=timezone.now() + timedelta(seconds=23.5),
    )
    offer = message.continue_offer
    assert (offer.shown, offer.wait_s, offer.label) == (True, 24, "Continue in 24 s")
    buttons = re.findall(r"<button[^>]*>[^<]*</button>", footer(message))[:2]  # then Copy
    for button, label in zip(buttons, ("Continue in 24 s", "Retry in 24 s"), strict=True):
        assert " disabled" in button
        assert 'data-retry-wait="24"' in button
        assert f">{label}</button>" in button
    assert retry.continue_refusal(message) == "The model asked to wait: Continue in 24 s."
    with pytest.raises(services.SendError) as refused:
        continuation.message_continue(message=message)
    assert refused.value.message == "The model asked to wait: Continue in 24 s."
    message.refresh_from_db()
    assert message.status == "failed"


def test_continue_view_answers_422_before_the_time(user: User) -> None:
    message = failed_answer(
        user, content="Half", retry_after_at=timezone.now() + timedelta(seconds=30)
    )
    web = Client()
    web.force_login(user)
    r = web.post(f"/m/{message.id}/continue", headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert r.headers["HX-Retarget"] == "#composer-error"
    assert re.fullmatch(
        r"The model asked to wait: Continue in (29|30) s\.", r.content.decode().strip()
    )


def test_continue_of_a_failed_answer_clears_its_error(user: User) -> None:
    message = failed_answer(
        user,
        error_code="rate_limit",
        content="Half",
        retry_after_at=timezone.now() - timedelta(seconds=1),
    )
    continuation.message_continue(message=message)
    message.refresh_from_db()
    assert message.status == "pending"
    assert (message.error_code, message.error_message) == ("", "")
    assert message.error_retryable
    assert message.retry_after_at is None
    assert message.content == "Half"
