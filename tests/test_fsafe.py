"""Issue 12, files: state files never followed through a symlink, the inventory private from its first byte,
config/password/policy files others can change refused with a message naming the file and the fix, and the
password gone from the environment once read (a child process does not inherit it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from camscan import config, fsafe
from camscan.errors import ConfigError, StoreError
from camscan.lock import RunLock
from camscan.policy import load_policy
from camscan.store.sqlite import SQLiteStore as Inventory  # the SQLite inventory (camscan.store)


@pytest.fixture
def private_dir(tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return d


def test_symlinked_lock_file_is_refused_and_its_target_untouched(private_dir, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    db = private_dir / "inventory.sqlite3"
    Path(f"{db}.lock").symlink_to(victim)
    with pytest.raises(StoreError, match="symbolic link"):
        with RunLock(db, wait=0):
            pass
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("suffix", ["", "-journal", "-wal"])
def test_symlinked_inventory_is_refused_and_its_target_untouched(private_dir, tmp_path, suffix):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    db = private_dir / "inventory.sqlite3"
    Path(f"{db}{suffix}").symlink_to(victim)
    with pytest.raises(StoreError, match="symbolic link"):
        Inventory(db)
    assert victim.read_text() == "precious\n"


def test_inventory_is_created_0600_whatever_the_umask(private_dir):
    old = os.umask(0)
    try:
        db = private_dir / "inventory.sqlite3"
        with Inventory(db):
            assert oct(db.stat().st_mode & 0o777) == oct(0o600)
    finally:
        os.umask(old)


def test_restrict_umask_makes_new_files_private(tmp_path):
    old = os.umask(0o022)
    try:
        fsafe.restrict_umask()
        (tmp_path / "report.html").write_text("x")
        assert (tmp_path / "report.html").stat().st_mode & 0o077 == 0
    finally:
        os.umask(old)


def write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o664])
def test_config_writable_by_others_is_refused(private_dir, mode):
    cfg = write(private_dir / "camscan.toml", '[scan]\ntargets = ["198.51.100.0/24"]\n', mode)
    with pytest.raises(ConfigError) as err:
        config.load(cfg, environ={})
    assert str(cfg) in str(err.value) and f"chmod go-w {cfg}" in str(err.value)


def test_config_in_a_directory_others_can_write_is_refused_unless_sticky(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    cfg = write(shared / "camscan.toml", "[scan]\n", 0o644)
    with pytest.raises(ConfigError) as err:
        config.load(cfg, environ={})
    assert str(shared) in str(err.value) and "chmod go-w" in str(err.value)
    shared.chmod(0o1777)  # sticky, like /tmp: nobody can replace another user's file there
    assert config.load(cfg, environ={}).scan == {}


def test_password_file_writable_by_group_is_refused(private_dir):
    write(private_dir / "password", "s3cret\n", 0o660)
    cfg = write(private_dir / "camscan.toml", '[credentials]\nusername = "u"\npassword_file = "password"\n',
                0o600)
    with pytest.raises(ConfigError, match="password file .*writable by other users") as err:
        config.load(cfg, environ={})
    assert "s3cret" not in str(err.value)


def test_policy_file_writable_by_others_is_refused(private_dir):
    policy = write(private_dir / "site-policy.toml", 'disable = []\n', 0o666)
    with pytest.raises(ConfigError, match=f"policy file {policy} is writable by other users"):
        load_policy([policy])
    policy.chmod(0o644)
    assert str(policy) in load_policy([policy]).sources


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_config_owned_by_another_user_is_refused(private_dir):
    cfg = write(private_dir / "camscan.toml", "[scan]\n", 0o644)
    os.chown(cfg, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534"):
        config.load(cfg, environ={})


def test_password_is_removed_from_the_environment_and_a_child_does_not_inherit_it(monkeypatch):
    monkeypatch.setenv("CAMSCAN_USERNAME", "auditor")
    monkeypatch.setenv("CAMSCAN_PASSWORD", "env-s3cret")
    cfg = config.load(None)
    assert cfg.credentials.password == "env-s3cret"
    assert "CAMSCAN_PASSWORD" not in os.environ
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('CAMSCAN_PASSWORD'))"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "None"
