"""Showing text that came from outside (class names, file names and paths, keys, attributes)
exactly as it is, and nothing more: the one way such text reaches a terminal or a pipe.

* Control characters (escape sequences that retitle or clear a terminal, carriage returns that
  overwrite a line, bidirectional overrides that reorder it) are written as escapes (``\\x1b``,
  ``\\u202e``); bytes of a file name that are not UTF-8 (Python keeps them as lone surrogates)
  are written as ``\\xNN``, so a strict UTF-8 stdout never fails on them (:func:`printable`).
  Such names are kept as they are wherever they are stored, and only shown escaped, so that every
  message stays one honest line.
* In Rich tables, text is a :class:`rich.text.Text`: no markup (``[link=...]``, ``[bold]``) and no
  emoji codes are interpreted (:func:`shown`); in a string given to Rich, :func:`markup_safe`.
* CSV text cells that start with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) get a
  leading ``'``, so a spreadsheet shows them instead of running them as formulas (:func:`csv_text`).
  Numbers are never changed.
* JSON needs nothing more: ``json.dumps`` escapes every control character and non-ASCII
  character.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# control, format (bidi overrides, zero-width), surrogate (undecodable bytes), private use, line
# and paragraph separators
_ESCAPED_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str | os.PathLike[str]) -> str:
    """``text`` with control and format characters escaped (``\\n`` as ``\\x0a``), else unchanged."""
    text = os.fspath(text)
    if text.isprintable():  # the common case, checked in C
        return text
    return "".join(
        _escape(char) if unicodedata.category(char) in _ESCAPED_CATEGORIES else char for char in text
    )


def escape_controls(text: Any, keep_newlines: bool = False) -> str:
    """``text`` with every control or format character written as an escape
    (:func:`printable`); ``keep_newlines`` keeps line breaks (a config's text)."""
    text = str(text)
    if keep_newlines:
        return "\n".join(printable(line) for line in text.split("\n"))
    return printable(text)


def markup_safe(text: Any) -> str:
    """``text`` for a string Rich renders with markup: controls escaped, then markup escaped."""
    from rich.markup import escape

    return escape(escape_controls(text))


def shown(text: Any, style: str = "", keep_newlines: bool = False):  # -> rich.text.Text
    """``text`` as a Rich renderable shown literally: no markup, no emoji codes, no controls
    (line breaks kept with ``keep_newlines``, for multi-line text such as a config)."""
    from rich.text import Text

    return Text(escape_controls(text, keep_newlines), style=style)


def csv_text(text: Any) -> str:
    """A text cell for CSV: controls escaped, and a leading ``'`` where a spreadsheet would
    otherwise read a formula."""
    cell = escape_controls(text)
    return "'" + cell if cell.startswith(_FORMULA_START) else cell
