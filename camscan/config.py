"""TOML configuration and the CAMSCAN_* environment. Credentials are loaded here and nowhere else.

Credentials never come from argv (they would show in the process list): the environment
(``CAMSCAN_USERNAME``/``CAMSCAN_PASSWORD``) wins over the config file's ``[credentials]`` table. A config
file that holds a password must not be readable by other users, and no config, password or policy file may be
writable by anyone but its owner (:mod:`camscan.fsafe`). ``CAMSCAN_PASSWORD`` is removed from the
environment once read.

Config file layout (every key optional)::

    [scan]
    targets = ["198.51.100.0/24"]
    interfaces = ["eth0"]
    timeout = 3.0          # seconds per network call
    deadline = 120.0       # seconds for the whole scan (default: 120, scaled up for large targets)
    wsd_wait = 0.0         # extra WS-Discovery collection time for slow sites
    rate = 1000            # directed probes per second
    workers = 32
    user = "nobody"        # as root: the unprivileged user that probes and parses (camscan.privsep)
    site = "hq"            # this scanner's site in a shared inventory (default "default")

    [credentials]
    username = "auditor"
    password = "..."       # or password_file = "/etc/camscan/password" (first line)
    ports = [80, 443, 2020, 8000, 8080, 8899]   # the only ports credentials go to (this is the default)
    scope = ["198.51.100.0/25"]                 # optional: credentials only to these addresses of the scope

    [policy]
    files = ["/etc/camscan/site-policy.toml"]

    [output]
    format = "table"
    file = "/var/lib/camscan/report.json"
    db = "postgresql://camscan@db.example.org/camscan?sslmode=verify-full"   # or a SQLite path; no password
    keep = 30              # keep only the site's newest 30 scans

    [notify]               # see camscan/notify/send.py; CAMSCAN_NOTIFY_WEBHOOKS, CAMSCAN_SMTP_* win
    webhooks = ["https://..."]
    smtp_host = "mail.example.net"
    from = "camscan@example.net"
    to = ["security@example.net"]
    syslog = true
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camscan import fsafe
from camscan.errors import ConfigError
from camscan.models import Credentials
from camscan.notify.send import NotifySettings, settings_from
from camscan.store.location import valid_site

_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "scan": {"targets": list, "interfaces": list, "timeout": (int, float), "deadline": (int, float),
             "wsd_wait": (int, float), "rate": (int, float), "workers": int, "allow_large": bool,
             "user": str, "max_hosts": int, "site": str},
    "credentials": {"username": str, "password": str, "password_file": str, "ports": list, "scope": list},
    "policy": {"files": list},
    "output": {"format": str, "file": str, "db": str, "fail_on": str, "keep": int},
    "notify": {"webhooks": list, "smtp_host": str, "smtp_port": int, "smtp_cafile": str, "smtp_username": str,
               "smtp_password_file": str, "from": str, "to": (list, str), "syslog": bool, "syslog_address": str,
               "timeout": (int, float)},
}


# Numbers TOML may write as inf or nan, or negative; and values with fixed choices (the CLI's OutputFormat and
# FailOn, kept in step by a test).
_POSITIVE = {("scan", "timeout"), ("scan", "deadline"), ("scan", "rate"), ("scan", "workers"), ("output", "keep"),
             ("notify", "smtp_port"), ("notify", "timeout")}
_NON_NEGATIVE = {("scan", "wsd_wait")}
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("output", "format"): ("table", "json", "csv", "html", "cyclonedx"),
    ("output", "fail_on"): ("any", "new", "none", "kev"),
}


@dataclass
class Config:
    path: Path | None = None
    scan: dict[str, Any] = field(default_factory=dict)
    credentials: Credentials | None = None
    credential_ports: tuple[int, ...] | None = None  # [credentials] ports, None: the default
    credential_scope: tuple[ipaddress.IPv4Network, ...] = ()  # [credentials] scope
    policy_files: list[Path] = field(default_factory=list)
    output: dict[str, Any] = field(default_factory=dict)
    notify: NotifySettings = field(default_factory=NotifySettings)


def _credential_limits(cred: dict, path: Path | None) -> tuple[tuple[int, ...] | None, tuple]:
    """``[credentials] ports`` and ``scope``, checked: ports 1-65535, scope IPv4 networks."""
    ports = cred.get("ports")
    if ports is not None and (not ports or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports)):
        raise ConfigError(f"{path}: [credentials] ports must be a list of port numbers (1-65535), e.g. "
                          "[80, 443, 2020, 8000, 8080, 8899]")
    scope = []
    for item in cred.get("scope", []):
        try:
            scope.append(ipaddress.IPv4Network(str(item), strict=False))
        except ValueError:
            raise ConfigError(f"{path}: [credentials] scope: {item!r} is not an IPv4 network "
                              "(e.g. \"198.51.100.0/25\")") from None
    return (tuple(ports) if ports is not None else None), tuple(scope)


def validate(data: dict, path: Path) -> list[str]:
    """Every problem in a parsed config, as 'where: what' strings (empty list when valid)."""
    problems = []
    for section, value in data.items():
        if section not in _SCHEMA:
            problems.append(f"{path}: unknown section [{section}] (known: {', '.join(_SCHEMA)})")
            continue
        if not isinstance(value, dict):
            problems.append(f"{path}: [{section}] must be a table")
            continue
        for key, v in value.items():
            want = _SCHEMA[section].get(key)
            if want is None:
                problems.append(f"{path}: [{section}] unknown key {key!r} "
                                f"(known: {', '.join(_SCHEMA[section])})")
            elif not isinstance(v, want) or (isinstance(v, bool) and want is not bool):
                problems.append(f"{path}: [{section}] {key} has the wrong type ({type(v).__name__})")
            elif (section, key) in _POSITIVE | _NON_NEGATIVE and not (
                    math.isfinite(v) and (v >= 0 if (section, key) in _NON_NEGATIVE else v > 0)):
                low = "0 or more" if (section, key) in _NON_NEGATIVE else "greater than 0"
                problems.append(f"{path}: [{section}] {key} must be a finite number {low} (got {v!r})")
            elif (section, key) == ("scan", "site") and not valid_site(v):
                problems.append(f"{path}: [scan] site {v!r} is not a valid site name (letters, digits, '.', '_' "
                                "and '-', up to 63, starting with a letter or digit)")
            elif (section, key) in _CHOICES and v not in _CHOICES[section, key]:
                problems.append(f"{path}: [{section}] {key} must be one of {', '.join(_CHOICES[section, key])} "
                                f"(got {v!r})")
    return problems


def load(path: Path | None, environ: dict[str, str] | None = None) -> Config:
    """Read the config file (if any) and the environment. ConfigError says what is wrong and where."""
    env = os.environ if environ is None else environ
    cfg = Config(path=path)
    data: dict = {}
    if path is not None:
        if path.exists():  # a missing file gets its own message below
            fsafe.check_trusted(path, "config file")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        problems = validate(data, path)
        if problems:
            raise ConfigError("; ".join(problems))
    cfg.scan = dict(data.get("scan", {}))
    cfg.output = dict(data.get("output", {}))
    base = path.parent if path else Path.cwd()
    cfg.policy_files = [base / p for p in data.get("policy", {}).get("files", [])]
    cred = data.get("credentials", {})
    cfg.credential_ports, cfg.credential_scope = _credential_limits(cred, path)
    username = env.get("CAMSCAN_USERNAME") or cred.get("username")
    password = env.get("CAMSCAN_PASSWORD")
    if environ is None:
        # Read once, then gone from the environment: no child process (a notification hook, a browser
        # rendering a report) inherits the site's password.
        os.environ.pop("CAMSCAN_PASSWORD", None)
    if password is None and "password" in cred:
        fsafe.check_trusted(path, "config file", private=True)
        password = cred["password"]
    if password is None and "password_file" in cred:
        password = _read_secret(base / cred["password_file"], "password file")
    if password is not None and not username:
        raise ConfigError("a password is set but no username (CAMSCAN_USERNAME or [credentials] username)")
    if username and password is not None:
        cfg.credentials = Credentials(username=username, password=password)
    elif username:
        raise ConfigError("a username is set but no password (CAMSCAN_PASSWORD or [credentials] password)")
    notify = data.get("notify", {})
    if notify.get("webhooks"):  # a webhook URL carries its token: as secret as a password
        fsafe.check_trusted(path, "config file", private=True)
    cfg.notify = settings_from(notify, base, env, _read_secret)
    if environ is None:
        os.environ.pop("CAMSCAN_SMTP_PASSWORD", None)  # as CAMSCAN_PASSWORD above
    return cfg


def _read_secret(pfile: Path, what: str) -> str:
    """The first line of a file only its owner may read (an empty file is an empty secret)."""
    fsafe.check_trusted(pfile, what, private=True)
    try:
        return pfile.read_text(encoding="utf-8").splitlines()[0] if pfile.stat().st_size else ""
    except (OSError, IndexError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {pfile}: {exc}") from None
