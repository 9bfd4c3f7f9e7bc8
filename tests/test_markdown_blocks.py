"""Where a streamed answer is cut into settled outputs: only where the pieces read like the whole."""

from __future__ import annotations

import random

from agent_magic.ui.markdown_blocks import split_settled


def test_a_finished_paragraph_settles_and_the_next_one_stays_open():
    assert split_settled("First paragraph.\n\nSecond, still being wri") == (
        "First paragraph.\n\n",
        "Second, still being wri",
    )


def test_a_blank_line_settles_nothing_until_the_next_line_starts():
    assert split_settled("First paragraph.\n\n") == ("", "First paragraph.\n\n")


def test_an_indented_line_after_a_blank_line_continues_the_block():
    text = "1. item\n\n    indented continuation of the item"
    assert split_settled(text) == ("", text)


def test_blank_lines_inside_fenced_code_cut_nothing():
    text = "```python\nx = 1\n\ny = 2\n"
    assert split_settled(text) == ("", text)


def test_a_closing_fence_settles_the_code_block():
    assert split_settled("```python\nx = 1\n\ny = 2\n```\nThen") == ("```python\nx = 1\n\ny = 2\n```\n", "Then")


def test_a_tilde_fence_is_closed_only_by_tildes():
    text = "~~~\na\n```\n\nb\n"
    assert split_settled(text) == ("", text)


def test_a_heading_is_a_block_of_its_own():
    assert split_settled("# Results\nThe table") == ("# Results\n", "The table")


def test_a_math_block_keeps_its_blank_lines():
    text = "$$\na = b\n\nc = d\n"
    assert split_settled(text) == ("", text)


def test_without_a_forced_cut_the_pieces_join_back_into_the_text():
    rng = random.Random(7)
    blocks = ["Some words here.", "```\ncode\n\nmore\n```", "# Title", "- a\n- b\n\n  continued", "| a |\n|---|\n| 1 |"]
    text = "\n\n".join(rng.choice(blocks) for _ in range(60))
    shown, open_text = "", ""
    for start in range(0, len(text), 7):  # streamed in 7-character pieces, settled after each
        settled, open_text = split_settled(open_text + text[start : start + 7], split_at=10_000)
        shown += settled
    assert shown + open_text == text


def test_a_long_paragraph_is_cut_at_a_space_where_no_inline_markup_is_open():
    words = " ".join(f"w{i}" for i in range(600))
    text = f"Start `code span` and **bold** then {words} and `an open span"
    settled, open_text = split_settled(text, split_at=500)
    assert open_text == "`an open span"
    assert settled.count("`") % 2 == 0 and settled.count("**") % 2 == 0


def test_a_long_code_block_is_closed_and_reopened_with_the_same_fence():
    text = "```python\n" + "".join(f"x{i} = {i}\n" for i in range(400))
    settled, open_text = split_settled(text, split_at=500)
    assert settled.startswith("```python\n") and settled.endswith("x398 = 398\n```\n")
    assert open_text == "```python\nx399 = 399\n"


def test_a_long_table_repeats_its_header_after_the_cut():
    text = "| a | b |\n|---|---|\n" + "".join(f"| {i} | {i} |\n" for i in range(300))
    settled, open_text = split_settled(text, split_at=500)
    assert settled.startswith("| a | b |\n|---|---|\n| 0 | 0 |")
    assert open_text == "| a | b |\n|---|---|\n| 299 | 299 |\n"


def test_one_enormous_line_of_code_is_never_cut():
    text = "```\n" + "x " * 1500
    assert split_settled(text, split_at=500) == ("", text)


def test_only_newlines_end_lines():
    text = "a line with a \u2028 separator and a form\x0cfeed\n\nnext"
    assert split_settled(text) == ("a line with a \u2028 separator and a form\x0cfeed\n\n", "next")
