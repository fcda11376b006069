"""File safety for what camscan reads as its configuration and writes as its state, as OpenSSH (StrictModes)
and sudo check theirs.

camscan runs as root from cron. A config, password or policy file that another user can write can make it
scan elsewhere, send the site's password to a host of that user's choice, or write the inventory and reports
wherever the file says. So such a file is refused, with a message that names it and the fix, when:

* it is not a regular file, or is owned by someone other than root or the invoking user;
* it is writable by its group or by others;
* its own directory is writable by its group or by others, unless that directory is sticky (as ``/tmp`` is:
  there nobody can replace another user's file).

State files (the run lock, the inventory) are opened with ``O_NOFOLLOW``: a symlink planted where they live
would otherwise make a root run truncate or overwrite whatever it points to. The inventory is created mode
0600 from the first byte (never chmod'ed after the fact), and :func:`restrict_umask` gives everything else
camscan creates (reports, directories) no group or other access.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from camscan.errors import ConfigError, StoreError

PRIVATE_UMASK = 0o077


def restrict_umask() -> None:
    """Nothing camscan creates is readable or writable by group or others (reports name every camera)."""
    os.umask(PRIVATE_UMASK)


def _owner_ok(uid: int) -> bool:
    return uid in (0, os.geteuid())


def check_trusted(path: Path, what: str, private: bool = False) -> None:
    """Refuse ``path`` (a config, password or policy file) unless only its owner (root or the invoking user)
    can change it, as described in the module docstring; with ``private``, also unless only its owner can
    read it (it holds a password). Raises :class:`ConfigError` naming the file and the fix."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"cannot read {what} {path}: Is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{what} {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if not _owner_ok(st.st_uid):
        raise ConfigError(f"{what} {path} is owned by uid {st.st_uid}, not by root or the user running camscan "
                          f"(uid {os.geteuid()}); another user could change what camscan does: run: "
                          f"chown {os.geteuid()} {path}")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"{what} {path} is writable by other users (mode {mode:03o}), who could change what "
                          f"camscan does as you; run: chmod go-w {path}")
    if private and mode & stat.S_IRWXO:
        raise ConfigError(f"{what} {path} holds credentials but is accessible by other users "
                          f"(mode {mode:03o}); run: chmod o-rwx {path}")
    directory = Path(os.path.realpath(path)).parent
    try:
        dst = os.stat(directory)
    except OSError as exc:
        raise ConfigError(f"cannot check the directory {directory} of {what} {path}: {exc.strerror}") from None
    dmode = stat.S_IMODE(dst.st_mode)
    if dmode & (stat.S_IWGRP | stat.S_IWOTH) and not dmode & stat.S_ISVTX:
        raise ConfigError(f"{what} {path} is in {directory}, which other users can write (mode {dmode:03o}): "
                          f"they could replace the file; run: chmod go-w {directory} (or move the file)")


def open_nofollow(path: Path, flags: int, mode: int = 0o600, what: str = "file") -> int:
    """``os.open`` that refuses a symlink at ``path`` (``O_NOFOLLOW``) and anything but a regular file.
    Raises :class:`StoreError` saying so; other OS errors propagate."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(f"{what} {path} is a symbolic link: refused (camscan never follows a link where "
                             f"its state lives; remove the link)") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{what} {path} is not a regular file: refused")
    except BaseException:
        os.close(fd)
        raise
    return fd


def prepare_database(path: Path, readonly: bool) -> None:
    """Before SQLite opens ``path``: refuse a symlink at it (or at its journal's names), and create it empty,
    mode 0600 from the start, when it does not exist yet (SQLite would create it with the umask's mode)."""
    for name in (path, Path(f"{path}-journal"), Path(f"{path}-wal")):
        if name.is_symlink():
            raise StoreError(f"inventory file {name} is a symbolic link: refused (camscan never follows a link "
                             "where its state lives; remove the link)")
    if readonly:
        return
    try:
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, 0o600, what="inventory")
    except OSError as exc:
        raise StoreError(f"cannot open inventory {path}: {exc.strerror}") from None
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)  # one made by an older camscan: the inventory names every camera on the site
    except OSError:
        pass
    finally:
        os.close(fd)
