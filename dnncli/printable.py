"""Text from outside (file and folder names, class names from a file) made safe to show.

A file name may hold a newline, an escape sequence that recolours or clears the terminal, a
right-to-left override that reverses what follows, or bytes that are not UTF-8. Such names are
kept as they are wherever they are stored, and shown with those characters escaped, so that every
message stays one honest line.
"""

from __future__ import annotations

import os
import unicodedata

# control, format (bidi overrides, zero-width), surrogate (undecodable bytes), line and
# paragraph separators
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
