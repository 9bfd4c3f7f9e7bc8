"""The approval prompt shows exactly what will run: hostile bodies (fence breakers, HTML comments, control
characters, bidirectional overrides, very long lines, thousands of lines) at the widget level, where the
request is displayed above real ipywidgets buttons, and on the stdin prompt."""

from __future__ import annotations

import asyncio
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agent_magic.events import ToolCall
from agent_magic.policy.approval import ApprovalRequest, Choice
from agent_magic.ui.approval_askers import StdinAsker
from agent_magic.ui.approval_view import MAX_SHOWN_CHARS, describe_request, visible_text
from agent_magic.ui.approval_widget import ButtonAsker

FENCE_BREAK = "echo harmless\n````\n<!--\n-->\nrm -rf ~/precious  <!-- hidden tail -->\n"
HTML_INJECTION = "</pre><script>alert(1)</script><img src=x onerror=alert(2)>\n<b>bold?</b>"
CONTROL = "echo ok\r\x1b[2Krm -rf ~/precious\x1b[0m\x07\x00\b"
BIDI = "ls \u202e; rm -rf ~/precious \u202c\u200b\ufeff\u2028next"
TERMINAL_TRICKS = "echo fine\x1b]0;title\x07\x1b[1A\x1b[2K\x1b[8mrm -rf ~/precious\x1b[28m"


class PreText(HTMLParser):
    """The text a browser would show inside the first <pre>, and every tag met anywhere."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.done = False
        self.text = ""
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "pre" and not self.done:
            self.inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self.inside:
            self.inside, self.done = False, True

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"an HTML comment reached the page: {data!r}")


def rendered(html: str) -> PreText:
    parser = PreText()
    parser.feed(html)
    parser.close()
    return parser


def request(tool: str, arguments: dict, workspace: Path) -> ApprovalRequest:
    call = ToolCall("c1", tool, json.dumps(arguments))
    return ApprovalRequest(call, None, arguments, None, workspace)


def shown_by_buttons(req: ApprovalRequest) -> dict[str, str]:
    """Ask with the real ButtonAsker (real ipywidgets buttons), click Deny, return the displayed bundle."""
    shown: list = []
    asker = ButtonAsker(show=lambda obj, **kw: shown.append(obj))

    async def ask_and_click() -> Choice:
        task = asyncio.ensure_future(asker.ask(req))
        while len(shown) < 2:
            await asyncio.sleep(0.01)
        shown[1].children[0].children[1].click()  # the Deny button
        return (await task).choice

    assert asyncio.run(ask_and_click()) is Choice.DENY
    bundle = shown[0]
    assert set(bundle) == {"text/html", "text/plain"}, "never Markdown"
    return bundle


@pytest.mark.parametrize(
    ("tool", "argument"),
    [("run_shell", "command"), ("run_python", "code"), ("write_file", "content")],
)
@pytest.mark.parametrize("body", [FENCE_BREAK, HTML_INJECTION, CONTROL, BIDI, TERMINAL_TRICKS])
def test_the_page_shows_every_character_of_a_hostile_body(tool, argument, body, workspace):
    arguments = {argument: body} if argument != "content" else {"path": "new.txt", "content": body}
    bundle = shown_by_buttons(request(tool, arguments, workspace))
    page = rendered(bundle["text/html"])
    assert page.text == visible_text(body)
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags[2:]
    assert "rm -rf ~/precious" in page.text or "alert(1)" in page.text


def test_a_line_of_four_backticks_does_not_hide_the_tail(workspace):
    bundle = shown_by_buttons(request("run_shell", {"command": FENCE_BREAK}, workspace))
    assert "rm -rf ~/precious  <!-- hidden tail -->" in rendered(bundle["text/html"]).text
    assert "rm -rf ~/precious" in bundle["text/plain"]


def test_control_characters_are_shown_as_named_marks(workspace):
    text = visible_text(CONTROL)
    assert text == "echo ok⟨CR⟩⟨ESC⟩[2Krm -rf ~/precious⟨ESC⟩[0m⟨BEL⟩⟨NUL⟩⟨BS⟩"
    assert "\x1b" not in describe_request(request("run_shell", {"command": CONTROL}, workspace)).plain()


def test_bidirectional_overrides_and_zero_width_characters_are_shown(workspace):
    assert visible_text(BIDI) == "ls ⟨U+202E⟩; rm -rf ~/precious ⟨U+202C⟩⟨U+200B⟩⟨U+FEFF⟩⟨U+2028⟩next"


def test_a_very_long_line_is_wrapped_not_clipped(workspace):
    command = "echo " + "A" * 20_000 + " && rm -rf ~/precious"
    html = describe_request(request("run_shell", {"command": command}, workspace)).html()
    assert rendered(html).text == command
    assert "white-space:pre-wrap" in html and "overflow-wrap:anywhere" in html


def test_every_line_is_shown_in_a_scrollable_box(workspace):
    code = "".join(f"x{i} = {i}\n" for i in range(5_000)) + "import shutil; shutil.rmtree('/data')"
    view = describe_request(request("run_python", {"code": code}, workspace))
    assert rendered(view.html()).text == code
    assert "max-height" in view.html() and "overflow:auto" in view.html()
    assert "5,001 lines" in view.plain() and view.plain().endswith("shutil.rmtree('/data')")


def test_a_body_too_long_to_show_says_so_in_words(workspace):
    content = "a" * (MAX_SHOWN_CHARS + 10_000) + "\nTAIL"
    view = describe_request(request("write_file", {"path": "big.txt", "content": content}, workspace))
    assert "10,005 characters in the middle are NOT shown" in view.html()
    assert view.plain().rstrip().endswith("TAIL")


def test_a_hostile_path_in_the_title_is_escaped(workspace):
    path = "x`\n<!--.txt"
    view = describe_request(request("write_file", {"path": path, "content": "hi"}, workspace))
    assert "<!--" not in view.html() and "&lt;!--" in view.html()
    assert "x`" in view.plain()


def test_a_diff_over_an_existing_file_is_escaped_too(workspace):
    (workspace / "page.html").write_text("<p>old</p>\n")
    view = describe_request(request("write_file", {"path": "page.html", "content": "<!-- x -->\n"}, workspace))
    assert view.language == "diff"
    assert "+<!-- x -->" in rendered(view.html()).text


def test_the_stdin_prompt_shows_every_line_with_marks(workspace):
    printed: list[str] = []
    asker = StdinAsker(show=printed.append, read=lambda prompt: "n")
    asyncio.run(asker.ask(request("run_shell", {"command": FENCE_BREAK + CONTROL}, workspace)))
    assert "rm -rf ~/precious  <!-- hidden tail -->" in printed[0]
    assert "⟨ESC⟩[2K" in printed[0] and "\x1b" not in printed[0] and "\r" not in printed[0]
