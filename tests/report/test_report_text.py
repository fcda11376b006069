"""escape(): untrusted device strings made safe to show."""

from __future__ import annotations

import pytest

from camscan.report.text import escape


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[31mred", "\\x1b[31mred"),
    ("a\x00b", "a\\x00b"),
    ("tab\there\r\n", "tab\\x09here\\x0d\\x0a"),
    ("\x9b2J", "\\x9b2J"),  # C1 CSI
    ("abc\u202egpj.exe", "abc\\u202egpj.exe"),  # right-to-left override
    ("\u2066x\u2069", "\\u2066x\\u2069"),  # bidi isolates
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("line\u2028sep", "line\\u2028sep"),
    ("lone\ud800surrogate", "lone\\ud800surrogate"),
    ("non\ufffechar", "non\\ufffechar"),
    ("private\U000f0000", "private\\U000f0000"),
])
def test_unsafe_code_points_become_visible_escapes(raw, shown):
    out = escape(raw)
    assert out == shown
    out.encode("utf-8")  # always encodable, even from lone surrogates


@pytest.mark.parametrize("text", ["Hikvision DS-2CD2043G2-I", "Überwachung Kamera", "海康威视", "café ☕"])
def test_ordinary_text_is_unchanged(text):
    assert escape(text) == text


def test_none_and_limit():
    assert escape(None) == ""
    assert escape("x" * 50, 10) == "xxxxxxx..."
    assert len(escape("\x1b" * 100, 20)) == 20
