"""items.next_item: the HTML around the next item of a tight list, as markdown-it renders it."""

from __future__ import annotations

from streaming.markdown.items import Step, next_item, same_list
from streaming.markdown.render import render_markdown

FIRST: Step = ("- ", "<ul>\n<li>", "</li>\n</ul>\n", ())


def test_numbers_aside_items_of_one_list_are_the_same_list() -> None:
    assert same_list("1. ", "12. ")
    assert not same_list("1. ", "1) ")
    assert not same_list("- ", "* ")


def test_a_sibling_item() -> None:
    step = next_item(FIRST, "- ", "a")
    assert step is not None
    container, before, after, _ = step
    assert before + "b" + after == render_markdown("- a\n- b\n")
    assert container == "- "


def test_a_nested_item_and_back_out() -> None:
    nested = next_item(FIRST, "  - ", "a")
    assert nested is not None
    assert nested[1] + "b" + nested[2] == render_markdown("- a\n  - b\n")
    back = next_item(nested, "- ", "b")
    assert back is not None
    assert back[1] + "c" + back[2] == render_markdown("- a\n  - b\n- c\n")
    assert back[3] == ()


def test_an_ordered_list_nests_only_from_one() -> None:
    assert next_item(FIRST, "  1. ", "a") is not None
    assert next_item(FIRST, "  2. ", "a") is None  # "2." cannot interrupt the item's text


def test_a_line_of_another_list_is_no_next_item() -> None:
    assert next_item(FIRST, "* ", "a") is None
