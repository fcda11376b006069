"""The CLI contract without a network: usage errors exit 2 with one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from camscan import cli


@pytest.mark.parametrize("argv, code, msg", [
    (["scan", "198.51.100.300"], 2, "malformed target"),
    (["scan", "--format", "xml"], 2, "choose from table, json, csv, html"),
    (["scan", "-i", "nosuchif0", "198.51.100.1"], 2, "unknown interface"),
    (["scan", "--timeout", "0"], 2, "must be greater than 0"),
    (["scan", "--workers", "0"], 2, "must be greater than 0"),
    (["scan", "--keep", "x"], 2, "not a whole number"),
    (["frobnicate"], 2, "invalid choice"),
    (["scan", "--config", "/nonexistent/camscan.toml"], 3, "does not exist"),
    (["scan", "198.18.0.0/14"], 2, "--allow-large"),
])
def test_errors_exit_with_contract_codes(argv, code, msg, capsys):
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and err.count("\n") == 1


def test_password_on_the_command_line_is_not_an_option(capsys):
    assert cli.main(["scan", "--password", "x"]) == 2


def test_console_script_runs_help():
    out = subprocess.run([sys.executable, "-m", "camscan.cli", "scan", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "TARGET" in out.stdout


def test_config_check_reports_ok_and_problems(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text('[scan]\ntargets = ["198.51.100.0/24"]\n[credentials]\nusername = "u"\npassword = "s3cret"\n')
    good.chmod(0o600)
    assert cli.main(["config", "check", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "s3cret" not in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[scan]\ntargets = ["198.51.100.300"]\n')
    assert cli.main(["config", "check", "--config", str(bad)]) == 2
    assert "malformed target" in capsys.readouterr().err
    loose = tmp_path / "loose.toml"
    loose.write_text('[credentials]\nusername = "u"\npassword = "s3cret"\n')
    loose.chmod(0o644)
    assert cli.main(["config", "check", "--config", str(loose)]) == 3
    err = capsys.readouterr().err
    assert "chmod o-rwx" in err and "s3cret" not in err


def test_report_and_history_without_an_inventory_exit_3(tmp_path, capsys):
    assert cli.main(["history", "--db", str(tmp_path / "none.sqlite3")]) == 3
    assert "run 'camscan scan' first" in capsys.readouterr().err
    assert cli.main(["report", "--db", str(tmp_path / "none.sqlite3")]) == 3
