"""Recorder channel lists: pure parsers from a recorder's reply bytes to :class:`Channel` values.

* Hikvision ISAPI ``GET /ISAPI/ContentMgmt/InputProxy/channels`` (``InputProxyChannelList``) and
  ``.../channels/status`` (``InputProxyChannelStatusList``): one ``InputProxyChannel[Status]`` per channel,
  ``id`` and a ``sourceInputPortDescriptor`` (``proxyProtocol``, ``ipAddress``, and on newer firmware
  ``model``, ``serialNumber``, ``firmwareVersion``, ``macAddress``), ``online`` in the status list.
* Dahua ``GET /cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice``: ``key=value`` lines
  ``table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_<N>.<Field>=<value>`` (N 0-based, channel N+1), fields
  ``Address, DeviceType, Enable, Mac, Name, ProtocolType, SerialNo, Vendor, Version``, and on some firmware the
  camera's ``Password``.
* ONVIF ``GetVideoSources`` (media ``trt:`` or device-IO ``tmd:``): one ``VideoSources`` token per source. A live
  scan reads the media reply through zeep's schema (:mod:`camscan.recorders.media`), which hands each source to
  :func:`video_source_channel`; :func:`parse_onvif_video_sources` reads either reply from bytes.

Every reply is hostile input. The parsers read only the fields named in ``_ISAPI_FIELDS``/``_DAHUA_FIELDS``;
everything else, and in particular every password, key or token field, is dropped as the bytes are parsed:
no such value is ever held in a :class:`Channel`, so none can reach a log, evidence, the inventory or a
report. Sizes are capped (channels per recorder, characters per value). Parsers never raise: a reply they
cannot read gives ``None`` and the caller records a skip.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from camscan.codec import xmlsafe

MAX_CHANNELS = 256  # the largest recorders have 128 or 256 IP channels
MAX_VALUE = 128  # characters kept of any one value
MAX_BODY = 256 * 1024

# a field name that may hold a secret: never read, whatever the parser (checked against the field tables
# at import, so a new field cannot bring one in by mistake)
SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|cred|auth|salt|hash|cert", re.I)


@dataclass(frozen=True)
class Channel:
    """One camera a recorder lists, as the recorder reports it (nothing here was asked of the camera)."""

    channel: str
    source: str  # "isapi" | "dahua.RemoteDevice" | "onvif.media" | "onvif.deviceio"
    address: str | None = None  # on the recorder's network
    protocol: str = ""  # how the recorder reaches it ("HIKVISION", "Private", "Onvif"...)
    model: str | None = None
    vendor: str | None = None  # the maker as the recorder names it (Dahua "Vendor"), often just the protocol
    serial: str | None = None
    firmware: str | None = None
    mac: str | None = None
    name: str | None = None
    online: bool | None = None
    resolution: str | None = None  # an ONVIF video source's, "1920x1080": a fact about the input, not identity


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = "".join(ch for ch in value.strip() if ch.isprintable())[:MAX_VALUE]
    return value or None


def _address(value: str | None) -> str | None:
    """An IP address as the recorder wrote it, or None for empty/placeholder values."""
    value = _clean(value)
    if not value:
        return None
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return value if re.fullmatch(r"[A-Za-z0-9.\-:]{1,64}", value) else None  # a host name: kept as text
    if ip.is_unspecified or str(ip) in ("192.168.0.0",):  # Dahua's empty slot
        return None
    return str(ip)


def _bool(value: str | None) -> bool | None:
    v = (value or "").strip().lower()
    return True if v == "true" else False if v == "false" else None


# ------------------------------------------------------------------------------------------------ ISAPI
_ISAPI_FIELDS = {  # element local name -> Channel attribute
    "proxyProtocol": "protocol", "ipAddress": "address", "hostName": "address", "model": "model",
    "serialNumber": "serial", "firmwareVersion": "firmware", "macAddress": "mac", "name": "name",
    "online": "online", "deviceName": "name", "manufacturer": "vendor",
}
_ISAPI_CHANNELS = ("InputProxyChannel", "InputProxyChannelStatus")


def parse_isapi_channels(data: bytes) -> list[Channel] | None:
    """Channels from an ``InputProxyChannelList`` or ``InputProxyChannelStatusList`` reply; None when the
    reply is not one (or unsafe XML)."""
    try:
        root = xmlsafe.parse(data[:MAX_BODY] if len(data) > MAX_BODY else data)
    except xmlsafe.UnsafeXML:
        return None
    if xmlsafe.local(root.tag) not in ("InputProxyChannelList", "InputProxyChannelStatusList"):
        return None
    out: list[Channel] = []
    for el in root:
        if xmlsafe.local(el.tag) not in _ISAPI_CHANNELS:
            continue
        fields: dict[str, str] = {}
        cid = None
        for sub in el.iter():
            name = xmlsafe.local(sub.tag)
            if sub is not el and name == "id" and sub.getparent() is el:
                cid = _clean(xmlsafe.text(sub))
            attr = _ISAPI_FIELDS.get(name)
            if attr and attr not in fields and xmlsafe.text(sub):
                fields[attr] = xmlsafe.text(sub)
        if not cid:
            continue
        out.append(Channel(
            channel=cid, source="isapi", address=_address(fields.get("address")),
            protocol=_clean(fields.get("protocol")) or "", model=_clean(fields.get("model")),
            vendor=_clean(fields.get("vendor")), serial=_clean(fields.get("serial")),
            firmware=_clean(fields.get("firmware")), mac=_clean(fields.get("mac")), name=_clean(fields.get("name")),
            online=_bool(fields.get("online"))))
        if len(out) >= MAX_CHANNELS:
            break
    return out


def merge_isapi(channels: list[Channel], status: list[Channel] | None) -> list[Channel]:
    """The channel list with what the status list adds (model, serial, firmware, online), by channel id."""
    if not status:
        return channels
    by_id = {c.channel: c for c in status}
    out = []
    for c in channels:
        s = by_id.pop(c.channel, None)
        if s is not None:
            c = replace(c, address=c.address or s.address, protocol=c.protocol or s.protocol,
                        model=c.model or s.model, vendor=c.vendor or s.vendor, serial=c.serial or s.serial,
                        firmware=c.firmware or s.firmware, mac=c.mac or s.mac, name=c.name or s.name,
                        online=s.online if s.online is not None else c.online)
        out.append(c)
    out += list(by_id.values())[: max(0, MAX_CHANNELS - len(out))]
    return out


# ---------------------------------------------------------------------------------------- Dahua RemoteDevice
_DAHUA_KEY = re.compile(r"^table\.RemoteDevice\.(?:uuid:)?(?:System_CONFIG_NETCAMERA_INFO_(\d{1,4})|\[(\d{1,4})\])"
                        r"\.([A-Za-z]{1,32})$")
_DAHUA_FIELDS = {  # top-level field of a slot -> Channel attribute (VideoInputs[..] and the rest are dropped)
    "Address": "address", "DeviceType": "model", "Mac": "mac", "Name": "name", "ProtocolType": "protocol",
    "SerialNo": "serial", "Vendor": "vendor", "Version": "firmware", "Enable": "enable",
}
# DeviceType values that name no model (measured on recorders: "IP Camera", "IPC"); Vendor values that name a
# protocol rather than a maker
_GENERIC_MODELS = {"", "ipc", "ip camera", "ipcamera", "camera", "unknown", "general", "onvif"}
_GENERIC_VENDORS = {"", "private", "onvif", "general", "rtsp", "custom", "unknown"}


def parse_dahua_remote_devices(data: bytes) -> list[Channel] | None:
    """Enabled channels of a ``RemoteDevice`` configuration reply; None when the reply is not one."""
    try:
        text = data[:MAX_BODY].decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - bytes.decode with errors="replace" does not raise; defensive
        return None
    slots: dict[int, dict[str, str]] = {}
    seen_table = False
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep:
            continue
        m = _DAHUA_KEY.match(key.strip())
        if m is None:
            if key.startswith("table.RemoteDevice"):
                seen_table = True  # a nested field (VideoInputs[0]...), or one we do not read
            continue
        seen_table = True
        field = m.group(3)
        attr = _DAHUA_FIELDS.get(field)
        if attr is None:
            continue  # Password, UserName and every other field: dropped here, never stored
        index = int(m.group(1) or m.group(2))
        if index not in slots and len(slots) >= MAX_CHANNELS:
            continue
        slots.setdefault(index, {}).setdefault(attr, value[:4 * MAX_VALUE])
    if not seen_table:
        return None
    out = []
    for index in sorted(slots):
        f = slots[index]
        if _bool(f.get("enable")) is False:
            continue
        address = _address(f.get("address"))
        model = _clean(f.get("model"))
        if model and model.casefold() in _GENERIC_MODELS:
            model = None
        if address is None and model is None:
            continue  # an empty slot
        vendor = _clean(f.get("vendor"))
        out.append(Channel(
            channel=str(index + 1), source="dahua.RemoteDevice", address=address,
            protocol=_clean(f.get("protocol")) or "", model=model,
            vendor=None if vendor is None or vendor.casefold() in _GENERIC_VENDORS else vendor,
            serial=_clean(f.get("serial")), firmware=_clean(f.get("firmware")), mac=_clean(f.get("mac")),
            name=_clean(f.get("name"))))
    return out


# ---------------------------------------------------------------------------------------------- ONVIF
def video_source_channel(token: str | None, width: str | None, height: str | None,
                         source: str = "onvif.media") -> Channel | None:
    """One ONVIF video source as a channel (its token; its resolution when both sides are numbers), or None
    for a source without a usable token."""
    token = _clean(token)
    if not token:
        return None
    w, h = (_clean(width) or "").strip(), (_clean(height) or "").strip()
    ok = all(v.isascii() and v.isdigit() and len(v) <= 6 for v in (w, h))
    resolution = f"{int(w)}x{int(h)}" if ok else None
    return Channel(channel=token, source=source, protocol="ONVIF", resolution=resolution)


def parse_onvif_video_sources(data: bytes, source: str = "onvif.media") -> list[Channel] | None:
    """Video sources of a ``GetVideoSourcesResponse`` (media ``trt:`` or device-IO ``tmd:``): one channel per
    source token (an ONVIF recorder lists its inputs without the cameras' identities)."""
    try:
        root = xmlsafe.parse(data[:MAX_BODY] if len(data) > MAX_BODY else data)
    except xmlsafe.UnsafeXML:
        return None
    resp = next((el for el in root.iter() if xmlsafe.local(el.tag) == "GetVideoSourcesResponse"), None)
    if resp is None:
        return None
    out: list[Channel] = []
    for el in resp:
        if xmlsafe.local(el.tag) not in ("VideoSources", "VideoSource", "Token"):
            continue
        token = el.get("token") if xmlsafe.local(el.tag) != "Token" else xmlsafe.text(el)
        token = _clean(token)
        if token and all(c.channel != token for c in out):
            out.append(Channel(channel=token, source=source, protocol="ONVIF"))
        if len(out) >= MAX_CHANNELS:
            break
    return out


assert not any(SECRET_NAME.search(k) for k in (*_ISAPI_FIELDS, *_DAHUA_FIELDS)), "a read field may hold a secret"
