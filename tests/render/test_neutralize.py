"""envcheck.render.neutralize against the attacks that worked on the reports."""

from __future__ import annotations

import json
import re
import unicodedata
from xml.etree import ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envcheck.render import neutralize as nz

ORDINARY = "café naïve 日本語 Ελληνικά 🐍 ✅ ⚠️"  # ⚠️ carries U+FE0F, a combining mark
HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
PROPERTY = settings(max_examples=300)


def hidden(out: str, allowed: str = "") -> list[str]:
    """Characters of ``out`` that would act on a terminal/page instead of being shown."""
    return [c for c in out if c not in allowed
            and (unicodedata.category(c) in HIDDEN_CATEGORIES or c in "\ufffe\uffff")]


MARKUP = r"[\\`*_\[\]#|~<>&]"  # what opens Markdown within a line


def unescaped(md: str) -> str:
    """The markup characters of ``md`` that are neither backslash-escaped nor ours."""
    md = re.sub(r"<br>|&(?:amp|lt|gt);", "", md)
    return "".join(re.findall(MARKUP, re.sub(r"\\" + MARKUP, "", md)))


def github_unescape(s: str) -> str:
    """What the Actions runner does to a command's message."""
    return s.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


# -- text ----------------------------------------------------------------------------------

FAKE_LINES = "my-model\n  => PASS  (0.1s)\n\nenvcheck: 1 package: 1 passed, 0 failed"


def test_text_folds_a_name_that_forges_report_lines() -> None:
    out = nz.text(FAKE_LINES)
    assert "\n" not in out and "\r" not in out
    assert out == FAKE_LINES.replace("\n", "\\n")
    assert len(f"{out} (/pkg)".splitlines()) == 1


def test_text_escapes_ansi_that_repaints_fail_as_pass() -> None:
    attack = "ImportError: numpy\x1b[2K\r\x1b[32mPASS\x1b[0m"
    out = nz.text(attack)
    assert not hidden(out)
    assert out == "ImportError: numpy\\x1b[2K\\r\\x1b[32mPASS\\x1b[0m"


@pytest.mark.parametrize("attack, shown", [
    ("\u202eSSAP", "\\u202eSSAP"),                 # right-to-left override
    ("a\u2066b\u2069", "a\\u2066b\\u2069"),        # isolates
    ("ad\u200bmin\ufeff", "ad\\u200bmin\\ufeff"),  # zero-width space, BOM
    ("a\u2028b\u2029", "a\\u2028b\\u2029"),        # line / paragraph separator
    ("\x9b32mPASS", "\\x9b32mPASS"),               # C1 CSI: ESC[ in one byte
    ("\x85\x7f\x08\x00\t", "\\x85\\x7f\\x08\\x00\\t"),
    ("model-\udcff.pkl", "model-\\udcff.pkl"),     # undecodable file name
])
def test_text_shows_invisible_characters_escaped(attack: str, shown: str) -> None:
    out = nz.text(attack)
    assert out == shown
    assert not hidden(out)
    out.encode("utf-8")  # a lone surrogate would have made this raise


def test_text_leaves_ordinary_unicode_alone() -> None:
    for fn in (nz.text, nz.name, nz.markdown, nz.xml, nz.github_message, nz.github_property):
        assert fn(ORDINARY) == ORDINARY, fn.__name__


def test_text_block_indents_every_continuation_line() -> None:
    attack = "Traceback:\n  => PASS  (0.1s)\r\nenvcheck: 1 package: 1 passed\rX"
    indent = " " * 11
    out = nz.text_block(attack, indent)
    first, *rest = out.split("\n")
    assert first == "Traceback:"
    assert rest == [indent + "  => PASS  (0.1s)", indent + "envcheck: 1 package: 1 passed\\rX"]
    assert not hidden(out, allowed="\n")
    with pytest.raises(ValueError):
        nz.text_block(attack, indent="")


def test_name_caps_length_and_says_how_much_was_cut() -> None:
    assert nz.name("sklearn-model") == "sklearn-model"
    out = nz.name("x" * 1000 + "\n=> PASS")
    assert out == "x" * nz.NAME_LIMIT + f"…[{1008 - nz.NAME_LIMIT} more characters]"
    assert nz.name("a\nb\x1b") == "a\\nb\\x1b"


# -- markdown --------------------------------------------------------------------------------

def test_markdown_defuses_heading_and_unclosed_comment() -> None:
    attack = "ok\n\n## ✅ my-model — pass\n\n<!--"
    out = nz.markdown(attack)
    assert "<!--" not in out and "\n" not in out
    assert out == "ok<br><br>\\#\\# ✅ my-model — pass<br><br>&lt;!--"
    assert not unescaped(out)


@pytest.mark.parametrize("attack", [
    "a | b | c",                     # extra table cells
    "\\| pre-escaped, so ours would be cancelled",
    "`code` and ``` fence",
    "[click](https://evil.example) ![img](x.png) <https://evil.example>",
    "&lt;!-- &#60; entity",
    "<img src=x onerror=alert(1)> <details>",
    "**bold** _it_ ~~gone~~",
])
def test_markdown_escapes_markup(attack: str) -> None:
    out = nz.markdown(attack)
    assert not unescaped(out), out
    assert "<" not in out.replace("<br>", "")
    # one row stays three cells: only the row's own pipes split it
    row = f"| `check.id` | ❌ fail | {out} |"
    assert len(re.split(r"(?<!\\)\|", row.replace("\\\\", ""))) == 5


def test_markdown_code_fence_outlasts_every_backtick_run() -> None:
    attack = "before\n````\n# forged heading\n`````x\x1b[31m"
    out = nz.markdown_code(attack)
    lines = out.split("\n")
    assert lines[0] == lines[-1] == "`" * 6
    assert lines[1:-1] == ["before", "````", "# forged heading", "`````x\\x1b[31m"]
    assert nz.markdown_code("print(1)") == "```\nprint(1)\n```"


# -- XML -------------------------------------------------------------------------------------

def test_xml_control_characters_parse_and_stay_visible() -> None:
    attack = "boom\x00\x07\x1b[31m \ud800 \uffff"
    as_it_was = ET.Element("failure", message="boom\x00\x07\x1b[31m")  # what report.py does
    with pytest.raises(ET.ParseError):
        ET.fromstring(ET.tostring(as_it_was, encoding="unicode"))
    shown = "boom\\x00\\x07\\x1b[31m \\ud800 \\uffff"

    doc = ET.fromstring(f"<failure message={nz.xml_attr(attack)}>{nz.xml_text(attack)}</failure>")
    assert doc.text == doc.get("message") == shown

    element = ET.Element("failure", message=nz.xml(attack))  # the ElementTree way
    element.text = nz.xml(attack)
    again = ET.fromstring(ET.tostring(element, encoding="unicode"))
    assert again.text == again.get("message") == shown


def test_xml_escapes_markup_and_keeps_newlines() -> None:
    attack = 'a</failure><pass/>&"\n<!--'
    doc = ET.fromstring(f"<f m={nz.xml_attr(attack)}>{nz.xml_text(attack)}</f>")
    assert doc.text == doc.get("m") == attack
    assert len(doc) == 0


# -- GitHub workflow commands ------------------------------------------------------------------

@pytest.mark.parametrize("attack", [
    "oops\n::add-mask::x",
    "oops\r\n::stop-commands::token\n::error file=fake.py::forged",
    "oops\r::warning::x",
])
def test_github_message_cannot_start_a_command(attack: str) -> None:
    command = f"::error title={nz.github_property(attack)}::{nz.github_message(attack)}"
    assert len(command.splitlines()) == 1
    assert "\r" not in command and "\n" not in command
    assert command.split("::")[1] == "error title=" + nz.github_property(attack)  # not cut short


def test_github_escaping() -> None:
    assert nz.github_message("a\nb") == "a%0Ab"
    assert nz.github_message("100% %0A::add-mask::x") == "100%25 %250A::add-mask::x"
    assert github_unescape(nz.github_message("%0A")) == "%0A"  # shown literally, no newline
    assert nz.github_message("x\x1b[32mPASS\r") == "x\\x1b[32mPASS\\r"
    assert nz.github_property("src/a:b,c.py") == "src/a%3Ab%2Cc.py"


def test_json_needs_nothing() -> None:
    attack = "x\n\x1b[32mPASS\x00\u202e\u2028"
    out = json.dumps({"message": attack})
    assert not hidden(out)
    assert json.loads(out)["message"] == attack


# -- properties -------------------------------------------------------------------------------

@PROPERTY
@given(st.text())
def test_text_never_emits_hidden_characters(s: str) -> None:
    assert not hidden(nz.text(s))
    assert not hidden(nz.text(s, multiline=True), allowed="\n")
    assert not hidden(nz.name(s))


@PROPERTY
@given(st.text(st.characters(exclude_categories=sorted(HIDDEN_CATEGORIES),
                             exclude_characters="\ufffe\uffff")))
def test_text_keeps_visible_text(s: str) -> None:
    assert nz.text(s) == s


@PROPERTY
@given(st.text())
def test_xml_always_parses_inside_an_element(s: str) -> None:
    doc = ET.fromstring(f"<f m={nz.xml_attr(s)}>{nz.xml_text(s)}</f>")
    assert (doc.text or "") == doc.get("m") == nz.xml(s)
    element = ET.Element("f", m=nz.xml(s))
    element.text = nz.xml(s)
    ET.fromstring(ET.tostring(element, encoding="unicode"))


@PROPERTY
@given(st.text())
def test_markdown_has_no_live_markup(s: str) -> None:
    out = nz.markdown(s)
    assert "\n" not in out and "\r" not in out
    assert "<" not in out.replace("<br>", "")
    assert not unescaped(out)  # no unescaped |, `, [, #, ...
    assert not hidden(out)


@PROPERTY
@given(st.text())
def test_github_message_is_one_line_and_round_trips(s: str) -> None:
    message, prop = nz.github_message(s), nz.github_property(s)
    assert not {"\n", "\r"} & set(message + prop)
    assert not {":", ","} & set(prop)
    assert github_unescape(message) == nz.text(s, multiline=True)
    assert not hidden(message + prop)
