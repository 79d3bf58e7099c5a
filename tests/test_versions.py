"""chatapp/versions.py and chatapp/tree.py: edit & resend, regenerate, switch,
and the prompt built from the active path only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatapp import selectors, services, versions
from chatapp.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> User:
    return User.objects.create_user("ada")


def finish(answer: Message, text: str, status: str = "complete") -> Message:
    """What a run would have saved: the answer's text and outcome."""
    Message.objects.filter(id=answer.id).update(content=text, html=f"<p>{text}</p>", status=status)
    answer.refresh_from_db()
    return answer


def shown(conversation: Conversation) -> list[str]:
    """The active path as the page shows it: each message's text."""
    conversation.refresh_from_db()
    return [m.content for m in selectors.conversation_messages(conversation=conversation)]


def prompt(answer: Message) -> list[tuple[str, str]]:
    fitted = selectors.prompt_for(answer=answer, system="", budget=10_000)
    return [(m.role, m.content) for m in fitted.messages]


@pytest.fixture
def three_turns(user: User) -> tuple[Conversation, list[Message]]:
    """q1 a1 q2 a2 q3 a3, each answer finished, as sends make them."""
    sent = services.conversation_start(user=user, text="q1", model="demo")
    c = sent.conversation
    made = [sent.user_message, finish(sent.assistant_message, "a1")]
    for n in (2, 3):
        sent = services.message_send(conversation=c, text=f"q{n}")
        made += [sent.user_message, finish(sent.assistant_message, f"a{n}")]
    return c, [m for m in made if m is not None]


def test_a_send_follows_the_last_answer_and_becomes_the_active_leaf(three_turns) -> None:
    c, (q1, a1, q2, a2, q3, a3) = three_turns
    assert (q1.parent_id, q2.parent_id, q3.parent_id) == (None, a1.id, a2.id)
    assert c.active_leaf_id == a3.id
    assert shown(c) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert all(m.versions is None for m in selectors.conversation_messages(conversation=c))


def test_edit_and_resend_makes_a_new_branch_from_the_parent(three_turns) -> None:
    c, (_q1, a1, q2, a2, q3, a3) = three_turns
    sent = versions.message_edit(message=q2, text="  q2, better  ")
    assert sent.user_message is not None
    assert (sent.user_message.content, sent.user_message.parent_id) == ("q2, better", a1.id)
    assert sent.assistant_message.status == "pending"
    assert shown(c) == ["q1", "a1", "q2, better", ""]
    path = selectors.conversation_messages(conversation=c)
    assert path[2].versions is not None
    assert (path[2].versions.label, path[2].versions.previous) == ("Version 2 of 2", q2.id)
    # The model sees the new question after the first turn: not q2, a2, q3, a3.
    assert prompt(sent.assistant_message) == [("user", "q1"), ("assistant", "a1"),
                                              ("user", "q2, better")]  # fmt: skip
    # The old branch is all still there.
    assert Message.objects.filter(id__in=[q2.id, a2.id, q3.id, a3.id]).count() == 4


def test_switching_back_shows_the_old_branch_and_its_later_turns(three_turns) -> None:
    c, (_q1, _a1, q2, _a2, _q3, a3) = three_turns
    edited = versions.message_edit(message=q2, text="q2b")
    finish(edited.assistant_message, "a2b")
    versions.version_switch(message=q2)
    assert shown(c) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert c.active_leaf_id == a3.id, "kept on reload: the conversation remembers it"
    path = selectors.conversation_messages(conversation=c)
    assert path[2].versions is not None
    assert path[2].versions.label == "Version 1 of 2"
    assert path[2].versions.next == edited.user_message.id  # type: ignore[union-attr]
    versions.version_switch(message=edited.user_message)  # type: ignore[arg-type]
    assert shown(c) == ["q1", "a1", "q2b", "a2b"]


def test_regenerate_a_middle_answer_makes_a_version_beside_it(three_turns) -> None:
    c, (_q1, _a1, q2, a2, _q3, _a3) = three_turns
    sent = versions.message_regenerate(message=a2)
    new = sent.assistant_message
    assert (new.reply_to_id, new.status, sent.user_message) == (q2.id, "pending", None)
    # Streamed in place of a2: the path ends at the new answer.
    assert shown(c) == ["q1", "a1", "q2", ""]
    assert prompt(new) == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    finish(new, "a2 again")
    path = selectors.conversation_messages(conversation=c)
    assert path[3].versions is not None
    assert path[3].versions.label == "Version 2 of 2"
    versions.version_switch(message=a2)
    assert shown(c) == ["q1", "a1", "q2", "a2", "q3", "a3"]


def test_a_switch_remembers_the_choice_inside_a_branch(three_turns) -> None:
    c, (_q1, _a1, q2, _a2, _q3, a3) = three_turns
    finish(versions.message_regenerate(message=a3).assistant_message, "a3b")
    versions.version_switch(message=a3)  # the older answer to q3, chosen
    edited = versions.message_edit(message=q2, text="q2b")
    finish(edited.assistant_message, "a2b")
    versions.version_switch(message=q2)
    assert shown(c) == ["q1", "a1", "q2", "a2", "q3", "a3"], "a3 was the one chosen there"


def test_the_prompt_follows_the_answers_own_branch_only(three_turns) -> None:
    _c, (_q1, a1, _q2, _a2, _q3, a3) = three_turns
    finish(versions.message_regenerate(message=a1).assistant_message, "a1b")
    versions.version_switch(message=a1)
    failed = finish(versions.message_regenerate(message=a3).assistant_message, "", "failed")
    retried = versions.message_regenerate(message=failed).assistant_message
    assert prompt(retried) == [("user", "q1"), ("assistant", "a1"), ("user", "q2"),
                               ("assistant", "a2"), ("user", "q3")]  # fmt: skip


def test_a_send_from_a_page_on_another_branch_goes_on_with_that_branch(three_turns) -> None:
    c, (_q1, _a1, q2, _a2, _q3, a3) = three_turns
    # Another tab edited q2: the active leaf moved to the new branch.
    finish(versions.message_edit(message=q2, text="q2b").assistant_message, "a2b")
    sent = services.message_send(conversation=c, text="q4", after=str(a3.id))
    assert sent.user_message is not None
    assert sent.user_message.parent_id == a3.id
    assert shown(c) == ["q1", "a1", "q2", "a2", "q3", "a3", "q4", ""]
    finish(sent.assistant_message, "a4")
    # A form without it (or with a stranger's id) follows the active leaf.
    other = services.message_send(conversation=c, text="q5", after="not-an-id")
    assert other.user_message is not None
    assert other.user_message.parent_id == sent.assistant_message.id


def test_nothing_is_edited_regenerated_or_switched_while_an_answer_is_written(
    user: User,
) -> None:
    sent = services.conversation_start(user=user, text="q1", model="demo")
    q1, a1 = sent.user_message, sent.assistant_message
    assert q1 is not None
    with pytest.raises(services.BusyError):
        versions.message_edit(message=q1, text="again")
    with pytest.raises(services.SendError, match="Only a finished answer"):
        versions.message_regenerate(message=a1)
    finish(a1, "a1")
    pending = versions.message_regenerate(message=a1).assistant_message
    with pytest.raises(services.BusyError, match="switch versions"):
        versions.version_switch(message=a1)
    assert sent.conversation.messages.count() == 3
    finish(pending, "a1b")
    with pytest.raises(services.SendError, match="Only your own messages"):
        versions.message_edit(message=a1, text="not mine to edit")
    with pytest.raises(services.SendError, match="Write a message first"):
        versions.message_edit(message=q1, text="   ")


def test_the_views_work_without_script_and_come_back_to_the_page(three_turns, user) -> None:
    c, (_q1, _a1, q2, _a2, _q3, _a3) = three_turns
    web = Client()
    web.force_login(user)
    page = web.get(f"/m/{q2.id}/edit")
    assert page.status_code == 200
    assert 'id="m-' in page.content.decode()
    assert ">q2</textarea>" in page.content.decode()
    r = web.post(f"/m/{q2.id}/switch")
    assert (r.status_code, r["Location"]) == (303, f"/c/{c.id}/#m-{q2.id}")
    refused = web.post(f"/m/{q2.id}/edit", {"text": ""})
    assert refused.status_code == 422
    assert "Write a message first." in refused.content.decode()
    assert c.messages.count() == 6


def test_switch_with_htmx_swaps_the_transcript_and_says_which_version(three_turns, user) -> None:
    _c, (_q1, _a1, _q2, _a2, _q3, a3) = three_turns
    finish(versions.message_regenerate(message=a3).assistant_message, "a3b")
    web = Client()
    web.force_login(user)
    r = web.post(f"/m/{a3.id}/switch", headers={"HX-Request": "true"})
    assert r.status_code == 200
    said = '{"spool:said": {"text": "Showing version 1 of 2."}}'
    assert r["HX-Trigger-After-Settle"] == said
    html = r.content.decode()
    assert 'aria-label="Version 1 of 2"' in html
    assert "<p>a3</p>" in html
    assert "a3b" not in html
    assert f'id="composer-after" name="after" value="{a3.id}" hx-swap-oob="true"' in html


def test_the_edit_box_has_the_composer_s_length_limit(three_turns, user, settings) -> None:
    settings.SPOOL_MAX_MESSAGE_CHARS = 1234
    _c, (_q1, _a1, q2, _a2, _q3, _a3) = three_turns
    web = Client()
    web.force_login(user)
    for headers in ({"HX-Request": "true"}, {}):  # the article alone, or the whole page
        html = web.get(f"/m/{q2.id}/edit", headers=headers).content.decode()
        assert f'id="m-{q2.id}-edit" name="text" rows="3" maxlength="1234"' in html, headers


def test_an_edit_refused_with_htmx_says_why_in_the_edit_form(three_turns, user, settings) -> None:
    """Only the error is swapped in, into the edit form: the box and its text
    stay as typed, and the composer (its text, its error) is not touched."""
    settings.SPOOL_MAX_MESSAGE_CHARS = 20
    c, (_q1, _a1, q2, _a2, _q3, _a3) = three_turns
    web = Client()
    web.force_login(user)
    form = web.get(f"/m/{q2.id}/edit", headers={"HX-Request": "true"}).content.decode()
    error_id = f"m-{q2.id}-edit-error"
    # The alert region is there, empty, before any error: a region made with
    # its text is often not read out.
    assert f'<p id="{error_id}" class="composer-error" role="alert"></p>' in form
    too_long = "x" * 21
    r = web.post(f"/m/{q2.id}/edit", {"text": too_long}, headers={"HX-Request": "true"})
    assert r.status_code == 422
    assert (r["HX-Retarget"], r["HX-Reswap"]) == (f"#{error_id}", "innerHTML")
    said = r.content.decode().strip()
    assert said.startswith("That message is 21 characters long; the limit is 20.")
    assert c.messages.count() == 6
