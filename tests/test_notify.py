"""Notifications against real local servers: an HTTP receiver on 127.0.0.1, an SMTP server (aiosmtpd) with
STARTTLS and a certificate from a CA made in the test, a syslog receiver on a unix datagram socket."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from receivers import SyslogReceiver, WebhookReceiver

from camscan import config
from camscan.models import Device, Diff, Finding, ListCitation, ScanResult, Verdict, Via
from camscan.notify import FailOn, alerting, summary
from camscan.notify.send import NotifySettings, notify, redact, syslog_target

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
x509 = pytest.importorskip("cryptography.x509")


def device(ip: str, verdict: Verdict, mac: str, maker: str = "Hikvision", brand: str | None = None) -> Device:
    findings = ()
    if verdict.flagged:
        findings = (Finding("hikvision", "Hangzhou Hikvision", verdict,
                            (ListCitation("ndaa889", "NDAA FY2019 section 889", "2018-08-13", "Pub. L. 115-232"),),
                            (), f"{maker} hardware: web server banner."),)
    return Device(ip=ip, mac=mac, manufacturer=maker, brand=brand, model="DS-2CD\x1b[31m", firmware="V5.5",
                  serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(), seen_by=("wsd",),
                  evidence=(), verdict=verdict, findings=findings)


def result(devices, new_flagged=None) -> ScanResult:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    diff = None if new_flagged is None else Diff(previous_scan=1, previous_started="x", new_flagged=new_flagged)
    return ScanResult(started=now, finished=now, targets=("198.51.100.0/24",), interfaces=("eth0",),
                      methods=("wsd",), devices=tuple(devices), skips=(), diff=diff, scan_id=2)


HIK = device("198.51.100.10", Verdict.SANCTIONED, "58:50:ed:00:00:01", brand="LTS")
REV = device("198.51.100.11", Verdict.REVIEW, "00:00:00:00:00:02")
CLEAR = device("198.51.100.12", Verdict.CLEAR, "00:00:00:00:00:03", maker="Axis")


# ------------------------------------------------------------------------------------ what a run alerts on
def test_alerting_follows_fail_on():
    r = result([CLEAR, REV, HIK], new_flagged=(REV.key,))
    assert alerting(r, FailOn.ANY) == [HIK, REV]  # sanctioned first
    assert alerting(r, FailOn.NEW) == [REV]
    assert alerting(r, FailOn.NONE) == []
    assert alerting(result([HIK]), FailOn.NEW) == [HIK]  # no inventory: everything flagged is news


def test_summary_one_line_per_device_with_verdict_ip_mac_maker_model_why():
    text = summary(result([HIK, CLEAR], new_flagged=(HIK.key,)), [HIK], FailOn.NEW)
    head, line = text.splitlines()
    assert head == "camscan: 1 device newly flagged (scan #2 of 198.51.100.0/24):"
    for part in ("SANCTIONED", "198.51.100.10", "58:50:ed:00:00:01", "Hikvision (as LTS)", "web server banner"):
        assert part in line
    assert "\x1b" not in text and "DS-2CD\\x1b[31m" in line  # device strings escaped
    assert summary(result([CLEAR]), [], FailOn.NEW) == ""


def test_a_camera_behind_a_recorder_is_named_with_its_recorder_and_channel():
    """Its address is on the recorder's own network (and may repeat behind other recorders): the alert line says
    which recorder and channel, and the webhook item carries the via object."""
    import dataclasses

    cam = dataclasses.replace(device("192.168.254.2", Verdict.SANCTIONED, "24:28:fd:23:00:02"),
                              via=Via("198.51.100.23", "mac:58:50:ed:33:64:17", "1", "192.168.254.2", "HIKVISION",
                                      "isapi"))
    text = summary(result([cam]), [cam], FailOn.ANY)
    assert "  SANCTIONED  192.168.254.2 behind recorder 198.51.100.23 channel 1  24:28:fd:23:00:02  " in text
    with WebhookReceiver() as hook:
        assert notify(NotifySettings(webhooks=(hook.url,), timeout=5), result([cam]), [cam], FailOn.ANY) == []
        (post,) = hook.posts()
    (item,) = post["newly_flagged"]
    assert item["ip"] == "192.168.254.2" and item["via"]["recorder_ip"] == "198.51.100.23"
    assert item["via"]["channel"] == "1"


# ----------------------------------------------------------------------------------------------- webhooks
def test_webhook_posts_text_and_newly_flagged():
    with WebhookReceiver() as hook:
        failures = notify(NotifySettings(webhooks=(hook.url,), timeout=5), result([HIK]), [HIK], FailOn.ANY)
        (post,) = hook.posts()
        headers = hook.requests[0]["headers"]
    assert failures == []
    assert headers["Content-Type"] == "application/json"
    assert post["text"].startswith("camscan: 1 device flagged") and "198.51.100.10" in post["text"]
    (item,) = post["newly_flagged"]
    assert {k: item[k] for k in ("ip", "mac", "manufacturer", "brand", "verdict", "entity", "lists")} == {
        "ip": "198.51.100.10", "mac": "58:50:ed:00:00:01", "manufacturer": "Hikvision", "brand": "LTS",
        "verdict": "sanctioned", "entity": "hikvision", "lists": ["NDAA FY2019 section 889"]}
    assert set(item) >= {"model", "firmware"} and item["via"] is None


def test_webhook_retries_once_then_reports_without_the_secret():
    with WebhookReceiver(statuses=(503,)) as hook:  # first attempt fails, the retry succeeds
        assert notify(NotifySettings(webhooks=(hook.url,), timeout=5), result([HIK]), [HIK], FailOn.ANY) == []
        assert len(hook.requests) == 2
    with WebhookReceiver(statuses=(500, 500, 500)) as hook:
        (failure,) = notify(NotifySettings(webhooks=(hook.url,), timeout=5), result([HIK]), [HIK], FailOn.ANY)
        assert len(hook.requests) == 2
    assert "HTTP 500" in failure and "SECRET-TOKEN" not in failure and "127.0.0.1" in failure


def test_webhook_redirect_is_not_followed():
    with WebhookReceiver(statuses=(302, 302)) as hook:
        (failure,) = notify(NotifySettings(webhooks=(hook.url,), timeout=5), result([HIK]), [HIK], FailOn.ANY)
    assert "HTTP 302" in failure


def test_unreachable_webhook_times_out_and_is_reported(tmp_path):
    import socket

    with socket.socket() as listener:  # accepts nothing: connects queue, the request never gets an answer
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        (failure,) = notify(NotifySettings(webhooks=(url,), timeout=0.5), result([HIK]), [HIK], FailOn.ANY)
    assert "webhook http://127.0.0.1" in failure and "/hook" not in failure
    assert redact("https://hooks.slack.com/services/T/B/X") == "https://hooks.slack.com/..."


def test_nothing_to_alert_notifies_nobody():
    with WebhookReceiver() as hook:
        assert notify(NotifySettings(webhooks=(hook.url,)), result([CLEAR]), [], FailOn.ANY) == []
        assert hook.requests == []


# ------------------------------------------------------------------------------------------------- config
def test_webhooks_from_config_or_environment_never_argv(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[notify]\nwebhooks = ["https://hooks.example.net/T/SECRET"]\nsyslog = true\n')
    cfg_file.chmod(0o644)
    with pytest.raises(config.ConfigError, match="accessible by other users"):
        config.load(cfg_file, environ={})
    cfg_file.chmod(0o600)
    assert config.load(cfg_file, environ={}).notify.webhooks == ("https://hooks.example.net/T/SECRET",)
    env = {"CAMSCAN_NOTIFY_WEBHOOKS": "https://a.example/1 https://b.example/2"}
    assert config.load(cfg_file, environ=env).notify.webhooks == ("https://a.example/1", "https://b.example/2")
    assert config.load(None, environ=env).notify.webhooks == ("https://a.example/1", "https://b.example/2")
    from camscan.cli import build_parser

    assert not any("webhook" in a for action in build_parser()._actions for a in action.option_strings)


def test_notify_config_is_validated(tmp_path):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[notify]\nsmtp_port = -1\nsylog = true\n')
    with pytest.raises(config.ConfigError) as err:
        config.load(cfg_file, environ={})
    assert "smtp_port" in str(err.value) and "'sylog'" in str(err.value)


# ----------------------------------------------------------------------------------------------- syslog
def test_syslog_to_a_unix_socket(tmp_path):
    path = str(tmp_path / "log.sock")
    with SyslogReceiver(path) as rx:
        assert notify(NotifySettings(syslog=True, syslog_address=path), result([HIK, REV]), [HIK, REV],
                      FailOn.ANY) == []
        messages = rx.receive(3)
    assert all(m.startswith("<12>") and "camscan[" in m for m in messages)
    assert "2 devices flagged" in messages[0] and "198.51.100.10" in messages[1] and "198.51.100.11" in messages[2]


def test_syslog_failure_is_reported(tmp_path):
    (failure,) = notify(NotifySettings(syslog=True, syslog_address=str(tmp_path / "none.sock")), result([HIK]),
                        [HIK], FailOn.ANY)
    assert "syslog" in failure
    assert syslog_target("127.0.0.1:514")[1] == ("127.0.0.1", 514)
    with pytest.raises(ValueError):
        syslog_target("localhost")


# ------------------------------------------------------------------------------------------------- email
def _ca_and_cert(tmp: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1/localhost signed by it (PEM files)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("camscan test CA")).issuer_name(name("camscan test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes, bool]] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.cond:
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content,
                                  session.ssl is not None))
            self.cond.notify_all()
        return "250 OK"


def _authenticator(box: _Mailbox):
    from aiosmtpd.smtp import AuthResult

    def check(server, session, envelope, mechanism, auth_data):
        box.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.login == b"camscan" and auth_data.password == b"mail-pw")
    return check


class _BoundController(aiosmtpd_controller.Controller):
    """aiosmtpd on a socket bound beforehand to 127.0.0.1 port 0 (no guessing a free port)."""

    def __init__(self, *args, **kwargs) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        super().__init__(*args, hostname="127.0.0.1", port=self.sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self.sock, ssl=self.ssl_context)


@pytest.fixture
def smtp_server(tmp_path):
    ca, cert, key = _ca_and_cert(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    box = _Mailbox()
    controller = _BoundController(box, tls_context=tls,
                                                require_starttls=True, authenticator=_authenticator(box),
                                                auth_require_tls=True)
    controller.start()
    try:
        yield controller, box, ca
    finally:
        controller.stop()


def _port(controller) -> int:
    return controller.port


def test_email_over_starttls_with_a_verified_certificate(smtp_server):
    controller, box, ca = smtp_server
    s = NotifySettings(smtp_host="127.0.0.1", smtp_port=_port(controller), smtp_cafile=str(ca),
                       smtp_username="camscan", smtp_password="mail-pw", mail_from="camscan@example.net",
                       mail_to=("security@example.net",), timeout=5)
    assert notify(s, result([HIK]), [HIK], FailOn.ANY) == []
    ((sender, rcpts, content, over_tls),) = box.messages
    assert sender == "camscan@example.net" and rcpts == ["security@example.net"] and over_tls
    text = content.decode()
    assert "Subject: camscan: 1 device flagged" in text and "198.51.100.10" in text
    assert box.logins == [(b"camscan", b"mail-pw")]


def test_email_refuses_an_unverified_certificate(smtp_server):
    controller, box, _ca = smtp_server
    s = NotifySettings(smtp_host="127.0.0.1", smtp_port=_port(controller), mail_from="a@example.net",
                       mail_to=("b@example.net",), timeout=5)  # the system CAs do not know the test CA
    (failure,) = notify(s, result([HIK]), [HIK], FailOn.ANY)
    assert "email via 127.0.0.1" in failure and "CERTIFICATE_VERIFY_FAILED" in failure
    assert box.messages == []


def test_email_password_from_a_private_file(tmp_path):
    pw = tmp_path / "smtp-password"
    pw.write_text("mail-pw\n")
    pw.chmod(0o600)
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[notify]\nsmtp_host = "127.0.0.1"\nsmtp_username = "camscan"\n'
                        'smtp_password_file = "smtp-password"\nfrom = "a@example.net"\nto = "b@example.net"\n')
    s = config.load(cfg_file, environ={}).notify
    assert s.smtp_password == "mail-pw" and s.mail_to == ("b@example.net",) and "mail-pw" not in repr(s)
    assert config.load(cfg_file, environ={"CAMSCAN_SMTP_PASSWORD": "env-pw"}).notify.smtp_password == "env-pw"
    pw.chmod(0o644)
    with pytest.raises(config.ConfigError, match="SMTP password file"):
        config.load(cfg_file, environ={})
