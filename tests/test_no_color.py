"""NO_COLOR gives plain text even on a terminal; without it a terminal gets styles."""

from __future__ import annotations

import pytest

from dnncli.terminal.console import stdout_console


@pytest.mark.parametrize("no_color,expect_codes", [("1", False), (None, True)])
def test_no_color_means_no_escape_codes(monkeypatch: pytest.MonkeyPatch, no_color: str | None, expect_codes: bool) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setenv("FORCE_COLOR", "1")  # as if on a terminal
    monkeypatch.delenv("TERM", raising=False)
    console = stdout_console()
    with console.capture() as captured:
        console.print("[bold]accuracy[/bold] [red]0.8[/red]")
    text = captured.get()
    assert ("\x1b[" in text) is expect_codes
    assert "accuracy" in text and "0.8" in text
