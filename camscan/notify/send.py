"""Notification channels for the devices a run alerts on: webhooks, email (SMTP with STARTTLS), syslog.

Settings come from the config file's ``[notify]`` table and the environment, never from the command line:
webhook URLs carry their token in the URL (Slack, Teams) and would show in the process list.

    [notify]
    webhooks = ["https://hooks.example.net/services/T000/B000/XXXX"]   # or CAMSCAN_NOTIFY_WEBHOOKS (spaces)
    smtp_host = "mail.example.net"
    smtp_port = 587                     # STARTTLS; the server's certificate is verified for smtp_host
    smtp_cafile = "/etc/camscan/ca.pem" # optional: the CA to verify it with (default: the system's)
    smtp_username = "camscan"           # or CAMSCAN_SMTP_USERNAME
    smtp_password_file = "/etc/camscan/smtp-password"   # or CAMSCAN_SMTP_PASSWORD
    from = "camscan@example.net"
    to = ["security@example.net"]
    syslog = true
    syslog_address = "/dev/log"         # a unix socket path, or host:port (UDP)
    timeout = 10.0                      # seconds per attempt

Each channel gets a timeout per attempt and one retry. A failure is returned as a message (the CLI prints
it on stderr, so cron mails it); it never changes the scan, what was stored, or the exit status. Messages
about a webhook never show its URL beyond scheme and host (the rest is the secret).
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from camscan.models import Device, ScanResult
from camscan.notify import FailOn, record, summary

DEFAULT_TIMEOUT = 10.0
ATTEMPTS = 2  # one try and one retry
USER_AGENT = "camscan-notify"


@dataclass(frozen=True)
class NotifySettings:
    webhooks: tuple[str, ...] = ()
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_cafile: str | None = None
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    mail_from: str | None = None
    mail_to: tuple[str, ...] = ()
    syslog: bool = False
    syslog_address: str = "/dev/log"
    timeout: float = DEFAULT_TIMEOUT

    @property
    def any(self) -> bool:
        return bool(self.webhooks or self.smtp_host or self.syslog)


def redact(url: str) -> str:
    """``https://hooks.slack.com/...``: enough to tell which webhook failed, not the token in its path."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..."


def payload(result: ScanResult, devices: list[Device], fail_on: FailOn) -> dict:
    """The webhook body: ``text`` for chat services (Slack, Mattermost, Teams accept it as is) and
    ``newly_flagged`` for programs."""
    return {"text": summary(result, devices, fail_on).rstrip("\n"), "newly_flagged": [record(d) for d in devices],
            "scan_id": result.scan_id, "targets": list(result.targets),
            "finished": result.finished.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _retry(what: str, attempt: Callable[[], None]) -> str | None:
    """Run ``attempt`` up to :data:`ATTEMPTS` times; None when it succeeded, else the last error as text."""
    error = ""
    for _ in range(ATTEMPTS):
        try:
            attempt()
            return None
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            error = str(exc) or type(exc).__name__
    return f"notify: {what} failed after {ATTEMPTS} attempts: {error}"


def send_webhook(url: str, body: dict, timeout: float) -> None:
    import requests

    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    try:
        # never follow a redirect: the token would travel to wherever it points
        resp = requests.post(url, json=body, timeout=timeout, allow_redirects=False,
                             headers={"User-Agent": USER_AGENT})
    except requests.RequestException as exc:
        raise OSError(type(exc).__name__) from None
    if not 200 <= resp.status_code < 300:
        raise OSError(f"HTTP {resp.status_code}")


def send_mail(s: NotifySettings, subject: str, text: str) -> None:
    if not (s.mail_from and s.mail_to):
        raise ValueError("[notify] smtp_host needs from and to")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = s.mail_from, ", ".join(s.mail_to), subject
    msg["Date"], msg["Message-ID"] = formatdate(localtime=False), make_msgid(domain="camscan")
    msg.set_content(text)
    context = ssl.create_default_context(cafile=s.smtp_cafile)  # verifies the chain and the host name
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout) as smtp:
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            raise smtplib.SMTPException(f"{s.smtp_host} does not offer STARTTLS; not sending in clear text")
        smtp.starttls(context=context)
        smtp.ehlo()
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password or "")
        smtp.send_message(msg)


def syslog_target(address: str) -> tuple[int, str | tuple[str, int]]:
    """(socket family, address) for a unix socket path or ``host:port`` (UDP)."""
    if address.startswith("/"):
        return socket.AF_UNIX, address
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"syslog_address {address!r} is neither a socket path nor host:port")
    return socket.AF_INET, (host.strip("[]"), int(port))


def send_syslog(address: str, lines: list[str], timeout: float) -> None:
    """One RFC 3164 message per line, facility user, severity warning (``<12>``)."""
    family, target = syslog_target(address)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        stamp = datetime.now(UTC).strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1)
        for line in lines:
            sock.sendto(f"<12>{stamp} camscan[{os.getpid()}]: {line}".encode()[:2048], target)


def notify(settings: NotifySettings, result: ScanResult, devices: list[Device], fail_on: FailOn) -> list[str]:
    """Tell every configured channel about ``devices``; returns the failures as messages (none: all sent)."""
    if not devices or not settings.any:
        return []
    failures: list[str] = []
    text = summary(result, devices, fail_on)
    if settings.webhooks:
        body = payload(result, devices, fail_on)
        for url in settings.webhooks:
            failures.append(_retry(f"webhook {redact(url)}", lambda u=url: send_webhook(u, body, settings.timeout)))
    if settings.smtp_host:
        subject = text.splitlines()[0].removeprefix("camscan: ").rstrip(":")
        failures.append(_retry(f"email via {settings.smtp_host}:{settings.smtp_port}",
                               lambda: send_mail(settings, f"camscan: {subject}", text)))
    if settings.syslog:
        failures.append(_retry(f"syslog to {settings.syslog_address}",
                               lambda: send_syslog(settings.syslog_address, text.rstrip("\n").splitlines(),
                                                   settings.timeout)))
    return [f for f in failures if f]


def settings_from(table: dict, base: Path, environ: dict[str, str] | None = None,
                  read_secret: Callable[[Path, str], str] | None = None) -> NotifySettings:
    """NotifySettings from a validated ``[notify]`` table and the environment (which wins)."""
    env = os.environ if environ is None else environ
    hooks = env.get("CAMSCAN_NOTIFY_WEBHOOKS")
    webhooks = tuple(hooks.split()) if hooks is not None else tuple(table.get("webhooks", ()))
    password = env.get("CAMSCAN_SMTP_PASSWORD")
    if password is None and table.get("smtp_password_file") and read_secret is not None:
        password = read_secret(base / table["smtp_password_file"], "SMTP password file")
    to = table.get("to", ())
    return NotifySettings(
        webhooks=webhooks,
        smtp_host=table.get("smtp_host"),
        smtp_port=int(table.get("smtp_port", 587)),
        smtp_cafile=str(base / table["smtp_cafile"]) if table.get("smtp_cafile") else None,
        smtp_username=env.get("CAMSCAN_SMTP_USERNAME") or table.get("smtp_username"),
        smtp_password=password,
        mail_from=table.get("from"),
        mail_to=(to,) if isinstance(to, str) else tuple(to),
        syslog=bool(table.get("syslog", False)),
        syslog_address=table.get("syslog_address", "/dev/log"),
        timeout=float(table.get("timeout", DEFAULT_TIMEOUT)),
    )

