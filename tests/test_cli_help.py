"""Help texts and usage errors people read: examples, the exit-code table, the credential variables, and
choices listed in every enum error (never an internal class name)."""

from __future__ import annotations

import pytest

from camscan import cli


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as done:
        cli.build_parser().parse_args([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_scan_help_has_examples_exit_codes_and_credential_variables(capsys):
    text = help_text(capsys, "scan")
    assert "examples:" in text and "camscan scan 198.51.100.0/24 --format html -o report.html" in text
    assert "--quiet --fail-on new" in text
    for code in ("0  nothing flagged", "1  a device is sanctioned", "2  usage error", "3  could not run"):
        assert code in text
    for var in ("CAMSCAN_USERNAME", "CAMSCAN_PASSWORD", "CAMSCAN_DB", "CAMSCAN_NOTIFY_WEBHOOKS"):
        assert var in text


def test_top_level_help_has_exit_codes(capsys):
    text = help_text(capsys)
    assert "exit codes:" in text and "CAMSCAN_PASSWORD" in text and "diff" in text


@pytest.mark.parametrize("argv, choices", [
    (["scan", "--format", "xml"], "table, json, csv, html"),
    (["report", "--format", "xml"], "table, json, csv, html"),
    (["diff", "--format", "xml"], "table, json, csv, html"),
    (["demo", "--format", "xml"], "table, json, csv, html"),
    (["scan", "--fail-on", "sometimes"], "any, new, none"),
])
def test_enum_errors_list_the_choices(capsys, argv, choices):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert choices in err and "OutputFormat" not in err and "FailOn" not in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", [["history"], ["report"], ["db"], ["config"]])
def test_quiet_help_of_commands_without_fail_on_does_not_mention_it(capsys, command):
    text = help_text(capsys, *command)
    assert "--fail-on" not in text and "only errors on stderr" in text


def test_history_limit_and_scan_format_have_help(capsys):
    assert "newest scans" in help_text(capsys, "history")
    scan = help_text(capsys, "scan")
    assert ".cdx.json" in scan and "--fail-on new --format html -o /var/lib/camscan/report.html" in scan
