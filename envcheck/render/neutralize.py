"""Make strings from a model package safe to put into a report, one function per format.

Everything a package controls -- its ``name:``, exception messages, file names, check ids
it makes up -- is hostile: it can contain newlines that forge report lines, terminal escape
sequences, bidi overrides that reorder what is shown, or markup of the output format.
Pass every such string through the function for the format being written, at the point it
is written.  Strings envcheck makes itself (labels, counts, its own separators) need nothing.

The escapes are for people to read, not to be decoded: ``\\x1b`` in a report may be an ESC
the package sent or the four characters it wrote; either way nothing was executed.

JSON needs nothing here: ``json.dumps`` escapes every control character (and, with its
default ``ensure_ascii=True``, every non-ASCII one, bidi controls included), so a package
string can never break out of its JSON string.
"""

from __future__ import annotations

import re
import unicodedata

# Not xml.sax.saxutils: it imports urllib.request (and with it http and ssl), ~30 ms of every
# envcheck start for three replacements.
_XML_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_XML_ATTR = {**_XML_TEXT, '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def _xml_escape(s: str) -> str:
    return re.sub(r"[&<>]", lambda m: _XML_TEXT[m.group()], s)


def _xml_quoteattr(s: str) -> str:
    return '"' + re.sub(r'[&<>"\n\r\t]', lambda m: _XML_ATTR[m.group()], s) + '"'

# Controls (C0, DEL, C1), format characters (bidi overrides/isolates/marks, zero-width
# characters, BOM, soft hyphen, ...), lone surrogates (undecodable file names; they would
# also make writing the report raise), and the line/paragraph separators U+2028/U+2029.
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
# Noncharacters that XML 1.0 forbids; with them, text() escapes all XML does not allow.
_HIDDEN_EXTRA = {"\ufffe", "\uffff"}
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NOT_PRINTABLE_ASCII = re.compile(r"[^ -~]")  # the fast path: plain ASCII is left alone

NAME_LIMIT = 200


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if unicodedata.category(ch) not in _HIDDEN_CATEGORIES and ch not in _HIDDEN_EXTRA:
        return ch  # é, 日本, emoji, ...
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def text(s: str, *, multiline: bool = False) -> str:
    """For the text report (terminal or log file).

    Defends against terminal escape sequences (ESC, the C1 CSI ``\\x9b``) that recolour,
    move the cursor or erase lines -- e.g. repaint ``FAIL`` as ``PASS`` -- against ``\\r``,
    backspace and other controls that overwrite what was printed, and against bidi
    overrides/isolates, zero-width and other format characters that reorder or hide text.
    Each is shown as a visible escape (``\\x1b``, ``\\r``, ``\\u202e``); other Unicode is
    kept.  Zero-width joiners are format characters too, so emoji ZWJ sequences are shown
    escaped.

    Newlines would let a string forge whole lines (``=> PASS``, the summary line): with
    ``multiline=False`` they are shown as ``\\n``.  With ``multiline=True`` they are kept
    (``\\r\\n`` becomes ``\\n``) and the caller must prefix every continuation line with its
    own indentation -- :func:`text_block` does that.
    """
    if multiline:
        lines = s.replace("\r\n", "\n").split("\n")
        return "\n".join(_NOT_PRINTABLE_ASCII.sub(_escape, line) for line in lines)
    return _NOT_PRINTABLE_ASCII.sub(_escape, s)


def text_block(s: str, indent: str) -> str:
    """:func:`text` keeping line breaks, every line after the first prefixed by ``indent``.

    The first line goes wherever the caller puts it; the others start with ``indent``, so no
    line of the package's text can start where envcheck's own lines start.  ``indent`` must
    therefore not be empty.
    """
    if not indent:
        raise ValueError("text_block needs a non-empty indent")
    return text(s, multiline=True).replace("\n", "\n" + indent)


def name(s: str) -> str:
    """For one-line identifiers: package names, check ids and file names from a package.

    :func:`text` on one line, and at most :data:`NAME_LIMIT` characters of ``s``, so a
    megabyte-long name cannot bury the report; the marker says how many were cut.
    """
    if len(s) <= NAME_LIMIT:
        return text(s)
    return f"{text(s[:NAME_LIMIT])}…[{len(s) - NAME_LIMIT} more characters]"


# The characters that open markup within a line (newlines are folded, so no line-start
# construct -- heading, list, quote -- can begin): escapes, code spans, emphasis, links and
# images, table cells, GFM strikethrough, headings' hashes.  ``&``, ``<``, ``>`` become
# entities, which also holds in raw HTML contexts.  Ordinary punctuation (``-``, ``:``, ``.``)
# stays as it is, so a report reads as text.
_MD_PUNCTUATION = re.compile(r"[\\`*_\[\]#|~<>&]")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def markdown(s: str) -> str:
    """For Markdown running text, headings and table cells (not inside a code span).

    Defends against markup: an HTML tag or an unclosed ``<!--`` that hides the rest of the
    report, a forged heading or list, ``|`` that adds table cells, code spans, links and
    images, HTML entities, emphasis.  Newlines become ``<br>`` (a raw newline would end the
    table row or start a new block); controls and bidi characters are escaped as by
    :func:`text`, since a rendered page reorders text just as a terminal does.
    """
    escaped = _MD_PUNCTUATION.sub(
        lambda m: _MD_ENTITIES.get(m.group(), "\\" + m.group()), text(s, multiline=True))
    return escaped.replace("\n", "<br>")


def markdown_code(s: str) -> str:
    """``s`` as a whole fenced code block (fences included, no trailing newline).

    The fence is longer than any backtick run in ``s``, so no line of ``s`` can close the
    block early and continue as Markdown.  Controls and bidi characters are escaped as by
    :func:`text`.  A fenced block cannot go in a table cell; use :func:`markdown` there.
    """
    body = text(s, multiline=True)
    longest = max((len(run) for run in re.findall("`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{body}\n{fence}"


def xml(s: str) -> str:
    """For JUnit XML, before XML escaping (ElementTree escapes; or use xml_text/xml_attr).

    Characters XML 1.0 does not allow (NUL and the other C0 controls but tab, newline and
    carriage return; lone surrogates; U+FFFE, U+FFFF) make the whole file unparseable, so
    the CI system shows no results at all.  This is :func:`text` keeping newlines: it shows
    all of those as visible escapes, and ANSI and bidi too, since CI pages and logs show
    these messages.
    """
    return text(s, multiline=True)


def xml_text(s: str) -> str:
    """:func:`xml`, then escaped for element content (``&``, ``<``, ``>``)."""
    return _xml_escape(xml(s))


def xml_attr(s: str) -> str:
    """:func:`xml`, then quoted for an attribute value, quotes included (newlines as ``&#10;``)."""
    return _xml_quoteattr(xml(s))


def github_message(s: str) -> str:
    """For the message of a workflow command, ``::error file=…,line=…::message``.

    The runner takes every line starting with ``::`` as a command, so a newline in a message
    could inject ``::add-mask::``, ``::stop-commands::`` or a forged ``::error``.  GitHub's
    own escaping is applied (``%`` → ``%25``, newline → ``%0A``; the annotation shows the
    newline, the log line stays one line; ``%0A`` sent by the package shows as ``%0A``).
    Controls are escaped as by :func:`text` first, so no ANSI reaches the log and no ``\\r``
    is left to become ``%0D``.
    """
    return text(s, multiline=True).replace("%", "%25").replace("\n", "%0A")


def github_property(s: str) -> str:
    """For a property value (``file=``, ``title=``): :func:`github_message`, and ``:`` →
    ``%3A``, ``,`` → ``%2C``, which would otherwise end the value or the property list."""
    return github_message(s).replace(":", "%3A").replace(",", "%2C")
