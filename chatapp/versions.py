"""Writes that make and pick versions: Regenerate (Retry), Edit & resend, switch.

A new version becomes the end of the path shown (``services.new_answer``
moves ``Conversation.active_leaf``); the old one and the turns below it stay,
reachable with the switcher. The tree itself and the path a page shows are
``chatapp/tree.py``.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from chatapp import retry, selectors, services, tree
from chatapp.models import Conversation, Message
from chatapp.services import BusyError, SendError, Sent


def carry_over(*, old: Message, new: Message) -> None:
    """What an edited question keeps of the one it replaces, besides its text:
    its attachments (chatapp/attachments/), called in the edit's transaction
    with both rows saved.

    The copies are new rows naming the same stored files: files are only
    ever deleted with their whole conversation (``attachments.store``), so
    the versions of one question can share them.
    """
    for attachment in old.attachments.all():
        attachment.pk = None  # a new row (a new id), the same file
        attachment._state.adding = True
        attachment.message = new
        attachment.save()


@transaction.atomic
def message_regenerate(*, message: Message) -> Sent:
    """A new version of a finished answer (Retry, for an unfinished one): a
    pending answer to the same question, beside the old one.

    Refused (``SendError``) like a send, and while the failed answer's error
    forbids it: see ``chatapp.retry.refusal``.
    """
    if message.role != Message.Role.ASSISTANT or message.is_live or message.reply_to is None:
        raise SendError("Only a finished answer can be regenerated.")
    # What the model server said about this failure: a bad key or a too-long
    # prompt fails again whatever the timing; a Retry-After must be waited out.
    if (reason := retry.refusal(message)) is not None:
        raise SendError(reason)
    conversation = message.conversation
    services.check_question(conversation, "", files=message.reply_to, then="regenerate")
    return Sent(conversation, None, services.new_answer(conversation, reply_to=message.reply_to))


@transaction.atomic
def message_edit(*, message: Message, text: str) -> Sent:
    """Edit & resend: a new version of the user message ``message`` (the same
    parent answer) and a pending answer to it; the old question and every
    later turn of its branch stay, a version to switch back to.

    Refused (``SendError``) like a send, before anything is written: empty
    or too long text, the model gone, the limits, an answer of the
    conversation still being written, and the attachments carried over (an
    image the model no longer reads, files that no longer fit with the new
    text and the instructions). An attachment alone is a question here too.
    """
    if message.role != Message.Role.USER:
        raise SendError("Only your own messages can be edited.")
    conversation = message.conversation
    text = services.check_question(conversation, text, carried=message, then="edit")
    edited = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content=text, parent=message.parent
    )
    carry_over(old=message, new=edited)
    answer = services.new_answer(conversation, reply_to=edited)
    return Sent(conversation, edited, answer)


@transaction.atomic
def version_switch(*, message: Message) -> Conversation:
    """Show ``message`` instead of its other versions: the path goes through
    it and on through its most recently chosen later turns, kept on reload.

    Refused (``BusyError``) while an answer of the conversation is written:
    its stream belongs to the branch on the page.
    """
    conversation = message.conversation
    if selectors.conversation_has_live_answer(conversation=conversation):
        raise BusyError("Wait for the current answer to finish, or stop it, then switch versions.")
    Message.objects.filter(id=message.id).update(chosen_at=timezone.now())
    conversation.active_leaf_id = tree.leaf_below(conversation, message.id)
    # Not updated_at: looking at another version is not activity.
    conversation.save(update_fields=["active_leaf"])
    return conversation


async def amessage_regenerate(*, message: Message) -> Sent:
    return await services.committed_then_run(lambda: message_regenerate(message=message))


async def amessage_edit(*, message: Message, text: str) -> Sent:
    return await services.committed_then_run(lambda: message_edit(message=message, text=text))


async def aversion_switch(*, message: Message) -> Conversation:
    return await sync_to_async(version_switch)(message=message)
