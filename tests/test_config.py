from __future__ import annotations

import os

import pytest

from camscan import config
from camscan.errors import ConfigError


def write(tmp_path, text, mode=0o600):
    p = tmp_path / "camscan.toml"
    p.write_text(text)
    os.chmod(p, mode)
    return p


def test_environment_wins_and_password_stays_out_of_repr(tmp_path):
    p = write(tmp_path, '[credentials]\nusername = "file-user"\npassword = "file-secret"\n')
    cfg = config.load(p, environ={"CAMSCAN_USERNAME": "env-user", "CAMSCAN_PASSWORD": "env-secret"})
    assert cfg.credentials.username == "env-user" and cfg.credentials.password == "env-secret"
    assert "secret" not in repr(cfg.credentials) and "secret" not in repr(cfg)


def test_world_readable_credentials_refused(tmp_path):
    p = write(tmp_path, '[credentials]\nusername = "u"\npassword = "s"\n', mode=0o644)
    with pytest.raises(ConfigError, match="chmod o-rwx"):
        config.load(p, environ={})


def test_world_readable_file_without_password_is_fine(tmp_path):
    p = write(tmp_path, '[scan]\ntargets = ["198.51.100.0/24"]\ntimeout = 2\n', mode=0o644)
    cfg = config.load(p, environ={"CAMSCAN_USERNAME": "u", "CAMSCAN_PASSWORD": "s"})
    assert cfg.scan["targets"] == ["198.51.100.0/24"] and cfg.credentials.username == "u"


@pytest.mark.parametrize("text, msg", [
    ("[scan]\ntimeout = 'fast'\n", "timeout has the wrong type"),
    ("[scna]\n", "unknown section [scna]"),
    ("[scan]\ntarget = []\n", "unknown key 'target'"),
    ("[scan\n", "not valid TOML"),
])
def test_config_errors_say_what_and_where(tmp_path, text, msg):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError, match=msg.replace("[", r"\[").replace("]", r"\]")) as exc:
        config.load(p, environ={})
    assert str(p) in str(exc.value)


def test_half_credentials_refused():
    with pytest.raises(ConfigError, match="no password"):
        config.load(None, environ={"CAMSCAN_USERNAME": "u"})
    with pytest.raises(ConfigError, match="no username"):
        config.load(None, environ={"CAMSCAN_PASSWORD": "p"})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml", environ={})
