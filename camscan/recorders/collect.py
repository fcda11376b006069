"""Cameras behind recorders: ask each recorder, with the user's credentials, which cameras it records, and make
each camera a device row of its own.

Only devices that are recorders (``device_class == "recorder"`` when the fingerprint sets it, else a recorder
model number: Hikvision DS-7/8/9xxx, Dahua NVR/XVR/HCVR, or a recorder type in SADP/DHIP) are asked, only
when credentials were given and the recorder's address is in the credential scope, and only read-only GETs:

* Hikvision (and OEMs): ``/ISAPI/ContentMgmt/InputProxy/channels`` and ``.../channels/status``;
* Dahua (and OEMs): ``/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice``;
* any other recorder that speaks ONVIF: the media service's ``GetVideoSources`` (a count of channels, no
  identities), on the recorder's own address, anonymously first and with a WS-Security digest when refused,
  through zeep over our media WSDL subset (:mod:`camscan.recorders.media`).

The vendor APIs are asked on the recorder's first open plain-HTTP web port (80, 8080, 8000), then over HTTPS on
443 when that is open (a recorder serving HTTPS only, or redirecting to it), with the TLS context every camscan
connection uses. The cameras of all the recorders that answered are identified together, after the last one
answered: one pass over the OUI registry for all their MACs.

Credentials follow the same rules as every credentialed call: they come from the scan's transport
(:meth:`camscan.transport.Transport.credentials_for`, the one place the credential scope is decided) for the
recorder's own address and port, only as the answer to that recorder's Digest challenge (never Basic, never
unasked), and a rejection ends the recorder's inventory at once (a wrong password is tried once per recorder:
lockouts). A camera row's
``ip`` is the address the recorder reports (never contacted: it is on the recorder's own network and may
repeat behind other recorders); its identity comes from what the recorder says (model, serial, firmware), its
maker from the model number through the same fingerprint rules, its verdict from the same policy.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

from camscan import fingerprint, net, oui
from camscan.codec.auth import digest_authorization, digest_params
from camscan.models import Device, Evidence, Host, Skip, Via
from camscan.probe.httpclient import Connection, HttpFailure
from camscan.recorders import media
from camscan.recorders.parse import (
    MAX_BODY,
    Channel,
    merge_isapi,
    parse_dahua_remote_devices,
    parse_isapi_channels,
)
from camscan.transport import Transport, shared_context

log = logging.getLogger(__name__)

ISAPI_CHANNELS = "/ISAPI/ContentMgmt/InputProxy/channels"
ISAPI_STATUS = "/ISAPI/ContentMgmt/InputProxy/channels/status"
DAHUA_REMOTE = "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice"
WEB_PORTS = (80, 8080, 8000)  # plain-HTTP web ports recorders serve their API on, in order of preference
TLS_PORT = 443  # HTTPS: asked when no plain web port is open, or when the plain one gave no channel list
# recorders asked in one scan: each is two or three capped requests on 8 threads, within the scan's deadline; the
# cap bounds what a hostile segment answering as thousands of "recorders" can make camscan do (a /16 site of the
# benchmark has 167 recorders, a real one a few dozen)
MAX_RECORDERS = 1024

_HIK_RECORDER = re.compile(r"^i?DS-(7\d|8\d|9\d)\d{2}")  # DS-76xxNI, DS-7208HGHI, DS-96xxxNI...
# as the Dahua model rule: NVR + four digits or NVR6xx- (Uniview's NVR30x is not Dahua), XVR, HCVR
_DAHUA_RECORDER = re.compile(r"^(DHI?-)?(NVR\d{4}|NVR6\d{2}-|XVR\d{4}|HCVR\d{4})")
_GENERIC_RECORDER = re.compile(r"(^|[-_ ])(NVR|DVR|XVR)", re.I)


def recorder_family(device: Device) -> str | None:
    """``"hikvision"``, ``"dahua"`` or ``"onvif"`` for a recorder camscan knows how to ask, else None. A recorder is a
    device the fingerprint classed ``recorder``; one it could not class (``unknown``) counts when its model
    number or a SADP/DHIP device type says recorder."""
    device_class = str(device.device_class)
    model = (device.model or "").strip()
    if device_class == "unknown":
        says = any(e.field.casefold() in ("devicetype", "deviceclass", "device_class")
                   and re.search(r"NVR|DVR|XVR|recorder", e.value, re.I) for e in device.evidence)
        if not (says or _HIK_RECORDER.match(model) or _DAHUA_RECORDER.match(model)
                or _GENERIC_RECORDER.search(model)):
            return None
    elif device_class != "recorder":
        return None
    maker = (device.manufacturer or "").casefold()
    if maker == "hikvision" or (not maker and _HIK_RECORDER.match(model)):
        return "hikvision"
    if maker == "dahua" or (not maker and _DAHUA_RECORDER.match(model)):
        return "dahua"
    if any(e.source.startswith("onvif.") and e.field != "error" for e in device.evidence):
        return "onvif"  # any other recorder that speaks ONVIF: its media service lists the video sources
    return None


def web_ports(device: Device) -> list[tuple[int, bool]]:
    """The (port, tls) pairs to ask a recorder's web API on, in order: its first open plain-HTTP web port,
    then HTTPS on 443 when that is open (a recorder serving HTTPS only, or redirecting plain HTTP to it)."""
    open_ports = {int(e.value) for e in device.evidence if e.source == "tcp" and e.field == "open"
                  and e.value.isascii() and e.value.isdigit()}
    out = [(port, False) for port in WEB_PORTS if port in open_ports][:1]
    if TLS_PORT in open_ports:
        out.append((TLS_PORT, True))
    return out


BAD_CREDENTIALS = media.BAD_CREDENTIALS  # the skip's words for a rejected password, ONVIF or not


class _Denied(Exception):
    """The recorder rejected the credentials, asked for something other than Digest, or may not have them."""


class RecorderClient:
    """Read-only, Digest-authenticated GETs to one recorder (its own address and port only), through the
    scan's transport (which decides whether credentials may go to this address and port)."""

    def __init__(self, ip: str, port: int, transport: Transport, timeout: float, deadline: float | None,
                 tls: bool = False) -> None:
        self.ip, self.port, self.tls = ip, port, tls
        self.transport = transport
        # HTTPS with the context every other camscan connection uses (recorders' certificates are self-signed)
        self.conn = Connection(ip, port, tls=tls, timeout=timeout, deadline=deadline, transport=transport,
                               context=shared_context() if tls else None)
        self.nc = 0
        self.challenge: dict[str, str] | None = None

    def close(self) -> None:
        self.conn.close()

    def get(self, path: str, stale_retry: bool = True) -> bytes | None:
        """The body of a 200 answer; None for 404 and the like. Raises :class:`_Denied` or HttpFailure."""
        if self.challenge is None:
            first = self.conn.request("GET", path, max_bytes=MAX_BODY)
            if first.status == 200:
                return first.body  # the recorder asked for no credentials
            if first.status != 401:
                return None
            self.challenge = digest_params(first.headers.all("WWW-Authenticate"))
            if self.challenge is None:
                raise _Denied("the recorder asks for no HTTP Digest authentication (credentials are sent only "
                              "as a Digest answer)")
        creds = self.transport.credentials_for(self.ip, self.port, challenged=True)
        if creds is None:
            raise _Denied("credentials may not go to this address and port (outside the credential scope)")
        self.nc += 1
        auth = digest_authorization(self.challenge, "GET", path, creds.username, creds.password, nc=self.nc)
        if auth is None:
            raise _Denied("the recorder's Digest challenge asks for an algorithm camscan does not do")
        # a request carrying credentials is never sent twice: the recorder may have counted a failed login
        resp = self.conn.request("GET", path, headers={"Authorization": auth}, max_bytes=MAX_BODY, resend=False)
        if resp.status == 401:
            stale = digest_params(resp.headers.all("WWW-Authenticate"))
            if stale_retry and stale is not None and stale.get("stale", "").lower() == "true":
                self.challenge, self.nc = stale, 0  # an expired nonce, not a wrong password: answer it once
                return self.get(path, stale_retry=False)
            raise _Denied(BAD_CREDENTIALS)
        if resp.status != 200 or resp.truncated:
            return None
        return resp.body


def media_url(device: Device) -> tuple[str, int, str, bool] | None:
    """(ip, port, path, tls) of the recorder's ONVIF media service, on the recorder's own address only: the
    media XAddr its device service gave when that names the recorder itself, else the usual path on the
    device-service port. None when every address it gave names another host (never followed)."""
    candidates = [e.value for e in device.evidence
                  if e.source in ("onvif.GetServices", "onvif.GetCapabilities") and e.field == "xaddr"
                  and "/media" in e.value.lower() and "media2" not in e.value.lower()]
    candidates += [x.rsplit("/", 1)[0] + "/media_service" for x in device.xaddrs]
    for url in candidates:
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.hostname == device.ip:
            return device.ip, port, parts.path or "/onvif/media_service", parts.scheme == "https"
    return None


def _clock_offset(device: Device) -> float:
    for e in device.evidence:
        if e.field == "clock_offset_s":
            try:
                return float(e.value)
            except ValueError:
                return 0.0
    return 0.0


def read_onvif_sources(device: Device, transport: Transport, timeout: float, deadline: float | None
                       ) -> tuple[list[Channel] | None, str]:
    """The video sources an ONVIF recorder lists (:mod:`camscan.recorders.media`: zeep over our media WSDL
    subset): asked anonymously first, then (when refused) once with the credentials the transport gives for
    the media service's address and port, as a WS-Security digest."""
    where = media_url(device)
    if where is None:
        return None, "its ONVIF media service address names another host: not followed"
    ip, port, path, tls = where
    url = f"{'https' if tls else 'http'}://{ip}:{port}{path}"
    try:
        return media.read_video_sources(ip, url, port, transport, timeout, deadline, _clock_offset(device))
    except media.MediaRefused as exc:
        raise _Denied(str(exc)) from None


def read_channels(family: str, client: RecorderClient) -> tuple[list[Channel] | None, str]:
    """(channels, reason): the recorder's camera list, or None and why not."""
    if family == "hikvision":
        body = client.get(ISAPI_CHANNELS)
        channels = parse_isapi_channels(body) if body is not None else None
        if channels is None:
            return None, "no InputProxy channel list at " + ISAPI_CHANNELS
        status_body = client.get(ISAPI_STATUS)
        status = parse_isapi_channels(status_body) if status_body is not None else None
        return merge_isapi(channels, status), ""
    body = client.get(DAHUA_REMOTE)
    channels = parse_dahua_remote_devices(body) if body is not None else None
    if channels is None:
        return None, "no RemoteDevice configuration at /cgi-bin/configManager.cgi"
    return channels, ""


def camera_host(recorder: Device, ch: Channel) -> Host:
    """What the recorder says about one camera, as the evidence of a host that was never contacted."""
    src = f"recorder.{ch.source}"
    facts = [("model", ch.model), ("firmware", ch.firmware), ("serial", ch.serial), ("mac", ch.mac),
             ("vendor", ch.vendor), ("protocol", ch.protocol), ("address", ch.address), ("name", ch.name),
             ("resolution", ch.resolution)]
    if ch.online is not None:
        facts.append(("online", "true" if ch.online else "false"))
    evidence = tuple(Evidence(src, k, v) for k, v in facts if v)
    evidence += (Evidence(src, "recorder", f"{recorder.ip} channel {ch.channel}"),)
    return Host(ip=ch.address or "", mac=net.normalise_mac(ch.mac), seen_by=("recorder",), evidence=evidence)


def camera_device(recorder: Device, ch: Channel, rules: Sequence[fingerprint.Rule] | None = None,
                  host: Host | None = None) -> Device:
    """One camera behind ``recorder`` as a device row (no verdict yet: policy's job), from the channel's facts
    as the recorder reports them (``host``: those facts with OUI evidence added); the maker from the model
    number (and the MAC's OUI) through the fingerprint rules."""
    dev = fingerprint.identify(host if host is not None else camera_host(recorder, ch), rules)
    return dataclasses.replace(
        # a recorder's video input: a camera unless a rule says otherwise (an encoder's model, say)
        dev, device_class=dev.device_class if dev.device_class != "unknown" else "camera",
        model=ch.model or dev.model, firmware=ch.firmware, serial=ch.serial,
        brand=ch.vendor, manufacturer=dev.manufacturer or ch.vendor,
        via=Via(recorder_ip=recorder.ip, recorder_key=recorder.key, channel=ch.channel, address=ch.address,
                protocol=ch.protocol, source=ch.source))


class RecorderInventory:
    """The cameras behind every recorder of a scan, each a device row; skips say which recorders could not be
    asked and why."""

    def __init__(self, transport: Transport, timeout: float, deadline: float | None,
                 evaluate: Callable[[Device], Device], rules: Sequence[fingerprint.Rule] | None = None) -> None:
        self.transport = transport
        self.timeout = timeout
        self.deadline = deadline
        self.evaluate = evaluate
        self.rules = rules

    def run(self, devices: Sequence[Device]) -> tuple[list[Device], list[Skip]]:
        recorders = [(d, f) for d in devices if d.via is None for f in [recorder_family(d)] if f]
        if not recorders:
            return [], []
        skips: list[Skip] = []
        asked = []
        for d, family in recorders[:MAX_RECORDERS]:
            ports = web_ports(d)
            if not self.transport.credentials_given:
                skips.append(Skip(d.ip, "recorder", "a recorder: the cameras behind it were not listed, as its "
                                                    "camera list needs credentials and none were given "
                                                    "(CAMSCAN_USERNAME/CAMSCAN_PASSWORD or --config)"))
            elif not ports and family != "onvif":
                skips.append(Skip(d.ip, "recorder", "a recorder with no open web port (80, 8080, 8000, 443): "
                                                    "its camera list was not asked for"))
            else:
                asked.append((d, family, ports))
        for d, _f in recorders[MAX_RECORDERS:]:
            skips.append(Skip(d.ip, "recorder", f"more than {MAX_RECORDERS} recorders in one scan: not asked "
                                                "(scan fewer targets at a time)"))
        if not asked:
            return [], skips
        answered: list[tuple[Device, list[Channel]]] = []
        with ThreadPoolExecutor(max_workers=min(8, len(asked)), thread_name_prefix="camscan-recorder") as pool:
            jobs = [(d, pool.submit(self._ask, d, family, ports)) for d, family, ports in asked]
            for d, job in jobs:
                wait = None if self.deadline is None else max(0.0, self.deadline - time.monotonic()) + 1.0
                try:
                    channels, skip = job.result(timeout=wait)
                except FutureTimeout:
                    skips.append(Skip(d.ip, "recorder", "scan deadline reached before the recorder answered"))
                    continue
                if channels is not None:
                    answered.append((d, channels))
                if skip:
                    skips.append(skip)
        return self._rows(answered), skips

    def _rows(self, answered: Sequence[tuple[Device, Sequence[Channel]]]) -> list[Device]:
        """The camera rows of every recorder that answered, their MACs' OUI evidence found in one pass over the
        registry for all of them (a pass streams the whole registry, whatever the number of MACs)."""
        hosts = oui.with_evidence({f"{i}/{j}": camera_host(rec, ch)
                                   for i, (rec, channels) in enumerate(answered) for j, ch in enumerate(channels)})
        return [self.evaluate(camera_device(rec, ch, self.rules, hosts[f"{i}/{j}"]))
                for i, (rec, channels) in enumerate(answered) for j, ch in enumerate(channels)]

    def _one(self, recorder: Device, family: str, port: int | None = None,
             tls: bool = False) -> tuple[list[Device], Skip | None]:
        """One recorder's camera rows (on ``port``, else on the ports :func:`web_ports` names)."""
        channels, skip = self._ask(recorder, family, [(port, tls)] if port else web_ports(recorder))
        return (self._rows([(recorder, channels)]) if channels is not None else []), skip

    def _ask(self, recorder: Device, family: str, ports: Sequence[tuple[int, bool]]
             ) -> tuple[list[Channel] | None, Skip | None]:
        """The recorder's channel list, or None and a skip saying why not. A vendor API is asked on each of
        ``ports`` in turn until one gives the list; a refusal of the credentials ends it at once (lockouts)."""
        reasons: list[str] = []
        for port, tls in (ports if family != "onvif" else [(0, False)]):
            try:
                if family == "onvif":
                    channels, reason = read_onvif_sources(recorder, self.transport, self.timeout, self.deadline)
                else:
                    client = RecorderClient(recorder.ip, port, self.transport, self.timeout, self.deadline, tls=tls)
                    try:
                        channels, reason = read_channels(family, client)
                    finally:
                        client.close()
            except _Denied as exc:
                return None, Skip(recorder.ip, "recorder", f"camera list not read: {exc}")
            except HttpFailure as exc:
                channels, reason = None, exc.reason
            except Exception as exc:  # noqa: BLE001 - last-resort guard: one recorder must not end the scan
                log.debug("recorder inventory of %s crashed", recorder.ip, exc_info=True)
                return None, Skip(recorder.ip, "recorder", f"internal error: {type(exc).__name__}")
            if channels is not None:
                log.debug("recorder %s lists %d camera(s)", recorder.ip, len(channels))
                return channels, None
            reasons.append(reason if family == "onvif" or len(ports) < 2
                           else f"{'https' if tls else 'http'}:{port}: {reason}")
        return None, Skip(recorder.ip, "recorder", f"camera list not read: {'; '.join(reasons)}")


def merge_rows(devices: Sequence[Device], rows: Sequence[Device]) -> list[Device]:
    """``devices`` followed by the camera rows whose key no device has already: a camera also seen on the
    LAN keeps its own (contacted) row, and a camera two recorders list appears once."""
    keys = {d.key for d in devices}
    out = list(devices)
    for r in rows:
        if r.key not in keys:
            keys.add(r.key)
            out.append(r)
    return out
