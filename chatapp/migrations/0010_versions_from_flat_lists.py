"""Existing conversations were flat lists: give them the tree (chatapp/tree.py).

Each user message follows the newest answer (before it) to the user message
before it, so the path shown is the list as it was; a Retry's earlier,
failed answers become versions of the answer that replaced them. The end of
the path is the newest answer to the last question.
"""

from django.db import migrations

BATCH = 500


def forwards(apps, schema_editor):
    Conversation = apps.get_model("chatapp", "Conversation")
    Message = apps.get_model("chatapp", "Message")
    for conversation in Conversation.objects.filter(active_leaf__isnull=True).iterator():
        rows = Message.objects.filter(conversation=conversation).order_by("created_at", "id")
        newest_answer = {}  # question id -> its newest answer so far
        last_answer = None
        question = None
        followers = []
        for mid, role, reply_to in rows.values_list("id", "role", "reply_to_id"):
            if role == "assistant":
                newest_answer[reply_to] = mid
                last_answer = mid
                continue
            if question is not None:
                parent = newest_answer.get(question, last_answer)
                if parent is not None:
                    followers.append(Message(id=mid, parent_id=parent))
            question = mid
        Message.objects.bulk_update(followers, ["parent"], batch_size=BATCH)
        leaf = newest_answer.get(question) or question
        if leaf is not None:
            Conversation.objects.filter(id=conversation.id).update(active_leaf_id=leaf)


def backwards(apps, schema_editor):
    # The flat list is still there (created_at); the links are simply dropped
    # with their columns by the schema migration before this one.
    pass


class Migration(migrations.Migration):
    dependencies = [
        ("chatapp", "0009_message_versions"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
