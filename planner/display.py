"""Text from users (scenario and model names, variation labels, messages quoting input) made safe to show.

Three places interpret text: the terminal (escape sequences move the cursor, recolour or retitle it), rich's
markup (``[bold]``, and ``[/]`` closes a tag that is not open: an error), and matplotlib's mathtext (``$...$``
is parsed as TeX: an error when malformed). Every name a user controls goes through one of these before it is
shown, so a name is printed as written, never interpreted.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: object) -> str:
    """``text`` with terminal control characters and invisible direction overrides written as escapes (``\\x1b``);
    tabs and newlines are kept."""
    return _UNSAFE.sub(_escape, str(text))


def markup(text: object) -> str:
    """``text`` for a rich console or table cell: control characters escaped, markup brackets escaped."""
    from rich.markup import escape

    return escape(plain(text))


def mathtext(text: object) -> str:
    """``text`` for a matplotlib title or label: control characters escaped, ``$`` shown literally."""
    return plain(text).replace("$", r"\$")
