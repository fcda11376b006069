"""Every OutputFormat member maps to a module with ``render(result, note="") -> str``."""

from __future__ import annotations

import inspect

import pytest

from camscan.report import NOTE, OutputFormat, render


def test_values_are_the_cli_spellings():
    assert [f.value for f in OutputFormat] == ["table", "json", "csv", "html", "cyclonedx"]
    assert OutputFormat("csv") is OutputFormat.CSV and OutputFormat("html") is OutputFormat.HTML


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_member_maps_to_a_renderer(fmt, result):
    module = fmt.module()
    params = inspect.signature(module.render).parameters
    assert list(params)[:2] == ["result", "note"]
    assert params["note"].default == ""
    assert isinstance(module.render(result), str)
    assert isinstance(module.render(result, note="x"), str)


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_renders_an_empty_scan(fmt, result):
    from dataclasses import replace

    empty = replace(result, devices=(), skips=(), coverage=(), notes=(), diff=None, scan_id=None)
    assert render(empty, fmt)


@pytest.mark.parametrize("fmt", [OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.HTML])
def test_legal_note_reaches_the_report(fmt, result):
    assert "not a ban on owning or operating a camera" in render(result, fmt, note=NOTE)
