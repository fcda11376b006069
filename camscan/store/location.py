"""Where the inventory lives: a SQLite file (a path) or a PostgreSQL database (a ``postgresql://`` URL).

``--db``, ``CAMSCAN_DB`` and ``[output] db`` all take either. A URL never carries a password: it would show in
the process list, the shell history and crontab. libpq's own mechanisms supply it instead (``PGPASSWORD``,
``~/.pgpass``, a service file named by ``PGSERVICEFILE``), so a URL with one is a usage error. Every other
parameter (``sslmode=verify-full``, ``sslrootcert=...``, ``host=/run/postgresql`` for a unix socket) goes to
libpq unchanged. Anything printed shows :func:`redact`'s form, with any password removed all the same.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from camscan.errors import UsageError

SCHEMES = ("postgresql", "postgres")
DEFAULT_SITE = "default"
_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True)
class Location:
    """A SQLite file (``path``) or a PostgreSQL URL (``url``, password-free)."""

    path: Path | None = None
    url: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def __str__(self) -> str:
        return redact(self.url) if self.url is not None else str(self.path)


def default_path(environ: dict[str, str] | None = None) -> Path:
    """The SQLite inventory when nothing names one: /var/lib/camscan for root, else the XDG state directory."""
    env = os.environ if environ is None else environ
    if os.geteuid() == 0:
        return Path("/var/lib/camscan/inventory.sqlite3")
    state = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "camscan" / "inventory.sqlite3"


def parse(text: str, where: str = "--db") -> Location:
    """A path or a ``postgresql://`` URL; a URL with a password, or of another scheme, is a usage error."""
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if not scheme:
        return Location(path=Path(text).expanduser())
    if scheme not in SCHEMES:
        raise UsageError(f"{where}: unsupported database URL {redact(text)!r} (a file path, or a "
                         f"postgresql:// URL)")
    if _password(text):
        raise UsageError(f"{where}: the database URL {redact(text)!r} carries a password, which would show in "
                         "the process list and shell history; give it through libpq instead: PGPASSWORD in the "
                         "environment, a ~/.pgpass file, or a service file (PGSERVICEFILE)")
    return Location(url=text)


def resolve(db: str | None, config_db: str | None = None, environ: dict[str, str] | None = None) -> Location:
    """--db, else ``$CAMSCAN_DB``, else ``[output] db``, else the default SQLite file."""
    env = os.environ if environ is None else environ
    if db:
        return parse(db, "--db")
    if env.get("CAMSCAN_DB"):
        return parse(env["CAMSCAN_DB"], "CAMSCAN_DB")
    if config_db:
        return parse(config_db, "[output] db")
    return Location(path=default_path(env))


def _password(url: str) -> bool:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        return True
    return any(k == "password" for k, _ in parse_qsl(parts.query, keep_blank_values=True))


def redact(url: str) -> str:
    """``url`` with any password (user info or ``password=`` parameter) removed, for printing."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    netloc = f"{userinfo}@{hosts}" if at else hosts
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k == "password" for k, _ in pairs):
        query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="/*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def valid_site(text: str) -> bool:
    """A site name: letters, digits, '.', '_', '-' (up to 63, starting with a letter or digit)."""
    return bool(_SITE.fullmatch(text))


def site_name(text: str, where: str = "--site") -> str:
    """``text`` if it is a valid site name, else a usage error."""
    if not valid_site(text):
        raise UsageError(f"{where}: invalid site name {text!r} (letters, digits, '.', '_' and '-', up to 63, "
                         "starting with a letter or digit)")
    return text
