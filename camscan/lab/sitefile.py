"""Device profiles and site files of the emulated lab: loading, validation, defaults.

A *profile* (``profiles/<name>.toml``) describes one modelled device type: identity, WS-Discovery
style, ONVIF envelope style, HTTP headers and paths, auth policy, quirks. A *site*
(``sites/<name>.toml``) places devices on subnets and may override any profile key per device.
Precedence, lowest first: :data:`DEVICE_DEFAULTS` < profile < ``[site]`` credentials < site
``[defaults]`` < the ``[[device]]`` entry.

Pure data handling: no sockets, no namespaces, so it is tested without root.
"""

from __future__ import annotations

import copy
import ipaddress
import tomllib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILES_DIR = Path(__file__).with_name("profiles")
SITES_DIR = Path(__file__).with_name("sites")

# Fake devices may only use documentation / benchmarking ranges (RFC 5737, RFC 2544): an emulated
# camera must never carry an address that could belong to a real host.
ALLOWED_RANGES = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15")
)

FAULTS = (
    "", "malformed_xml", "hang", "trickle", "reset", "huge", "entity_bomb", "soap_fault", "redirect", "xxe"
)
WSD_FAULTS = ("", "malformed_xml", "entity_bomb", "xxe")
AUTH_POLICIES = ("none", "read_system", "all")
AUTH_SCHEMES = ("ws_security", "http_digest", "both")
WSD_ANSWERS = ("both", "typed", "untyped")
HWADDRESS_FORMATS = ("colon", "dash", "upper", "bare")

# Every key a profile or a device entry may set, with its default. Types are checked against these.
DEVICE_DEFAULTS: dict[str, Any] = {
    # identity ------------------------------------------------------------------------------
    "provenance": "",
    "description": "",
    "manufacturer": "",
    "model": "",
    "firmware": "",
    "serial": "",
    "hardware_id": "",
    "hostname": "",
    "mac_prefix": "02:00:00",  # locally administered: resolves to no vendor
    # addressing ----------------------------------------------------------------------------
    "port": 80,  # ONVIF device-service port
    "http_port": 0,  # web UI port; 0 = same listener as `port`
    "tls": False,  # serve HTTPS on `port` and `http_port` (a self-signed certificate: the openssl command)
    "ipv6": True,  # link-local address, WS-Discovery on FF02::C, dual-stack TCP
    "tcp_ports": [],  # plain TCP listeners that accept and close (vendor SDK ports: Dahua 37777, Xiongmai 34567)
    # ONVIF ---------------------------------------------------------------------------------
    "onvif": True,
    "onvif_path": "/onvif/device_service",
    "style": "gsoap",
    "onvif_soap_version": "1.2",
    "onvif_server": "",  # Server header on ONVIF replies; "" = the [http] server value, "none" = no header
    "services": ["device", "media", "events", "imaging"],
    "service_version": "2.60",
    "video_sources": 1,  # media GetVideoSources answers this many sources (a recorder: one per channel)
    "timezone": "UTC0",
    "utc_offset_s": 0,  # local time = UTC + this (what TZ means; kept explicit, no TZ parser)
    "date_time_type": "NTP",
    "daylight_savings": False,
    "omit_utc_time": False,
    "omit_local_time": False,
    "hwaddress_format": "colon",
    "configurable_scopes": ["name", "location"],
    # auth ----------------------------------------------------------------------------------
    "auth": "read_system",
    "auth_scheme": "ws_security",
    "auth_window_s": 300,
    "auth_realm": "",  # HTTP Digest realm; "" = "{manufacturer}"
    "auth_fault_text": "Sender not Authorized",
    "lockout_after": 0,  # failed credentialed requests before lock-out; 0 = never
    "strict_preauth": False,  # also reject bad credentials on PRE_AUTH operations
    "username": "admin",
    "password": "",
    # behaviour -----------------------------------------------------------------------------
    "clock_offset_s": 0,
    "latency_ms": 0,
    "fault": "",
    # where `redirect` sends the client and what the `xxe` external entity names (a trap's address)
    "fault_url": "",
    # host[:port] written into GetServices/GetCapabilities XAddrs; "" = the device's own address
    "onvif_xaddr_host": "",
    # WS-Discovery --------------------------------------------------------------------------
    "wsd": True,
    "wsd_style": "gsoap_wsd",
    "wsd_soap_version": "1.2",
    "wsd_types": ["dn:NetworkVideoTransmitter", "tds:Device"],
    "wsd_scopes": [
        "onvif://www.onvif.org/type/video_encoder",
        "onvif://www.onvif.org/Profile/Streaming",
        "onvif://www.onvif.org/hardware/{model}",
        "onvif://www.onvif.org/name/{manufacturer}",
    ],
    "wsd_address": "urn:uuid:{uuid}",
    "wsd_message_id": "urn:uuid:{random_uuid}",
    "wsd_relates_to": "{probe_id}",
    "wsd_to": "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous",
    "wsd_answers": "both",
    "wsd_untyped_fault": False,
    "wsd_strict_prefixes": False,
    "wsd_max_delay_ms": 500,  # WS-Discovery APP_MAX_DELAY (WS-D 2005/04; SOAP-over-UDP App. I)
    "wsd_repeat": 0,  # extra copies of each ProbeMatch (UNICAST_UDP_REPEAT is up to 2)
    "wsd_xaddrs": ["http://{ip}{port_suffix}{onvif_path}"],
    "wsd_extra_xaddrs": [],
    "wsd_list_sep": " ",
    "wsd_metadata_version": 1,
    "wsd_app_sequence": True,
    "wsd_epr_extras": False,
    "wsd_hello": False,  # every other device on the segment receives it: O(n²) at scale
    "wsd_bye": False,
    "wsd_fault": "",
    "wsd_flood": 0,  # extra copies of every ProbeMatch, each with a fresh MessageID, sent at once
    "wsd_pad_bytes": 0,  # pad every ProbeMatch with junk scopes to this many bytes (oversized datagrams)
    # tables --------------------------------------------------------------------------------
    "http": {
        "server": "",
        "headers": {},
        "header_case": "normal",
        "connection": "keep-alive",
        "paths": {},
        "not_found_body": "",
        "unauthorized_body": "",
        "unauthorized_content_type": "text/html",
    },
    # Vendor discovery / streaming protocols; empty = not served (see server.py's registry).
    "sadp": {},
    "dhip": {},
    "rtsp": {},
}

_ENUMS: dict[str, tuple[str, ...]] = {
    "fault": FAULTS,
    "wsd_fault": WSD_FAULTS,
    "auth": AUTH_POLICIES,
    "auth_scheme": AUTH_SCHEMES,
    "wsd_answers": WSD_ANSWERS,
    "hwaddress_format": HWADDRESS_FORMATS,
    "onvif_soap_version": ("1.2", "1.1"),
    "wsd_soap_version": ("1.2", "1.1"),
    "date_time_type": ("NTP", "Manual"),
}

# Keys of a [[device]] entry that are placement, not profile overrides.
# ``duplicate_ip = true`` places a device on an address another device already has (an address conflict:
# two MACs answer ARP for one IP); it then needs its own ``mac``.
_PLACEMENT_KEYS = {"profile", "ip", "mac", "name", "duplicate_ip"}


class SiteFileError(ValueError):
    """A profile or site file is missing, malformed, or asks for something unsafe."""


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` into a copy of ``base`` (tables merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check_keys(data: Mapping[str, Any], where: str) -> None:
    for key, value in data.items():
        if key not in DEVICE_DEFAULTS:
            raise SiteFileError(f"{where}: unknown key {key!r}")
        default = DEVICE_DEFAULTS[key]
        ok = (
            isinstance(value, type(default))
            or (isinstance(default, float) and isinstance(value, int))
            or (isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float))
        )
        if isinstance(default, bool) != isinstance(value, bool):
            ok = False
        if not ok:
            raise SiteFileError(f"{where}: {key} must be {type(default).__name__}, got {value!r}")
        if key in _ENUMS and value not in _ENUMS[key]:
            raise SiteFileError(f"{where}: {key} = {value!r}, expected one of {_ENUMS[key]}")
        if key == "http":
            for hk in value:
                if hk not in DEVICE_DEFAULTS["http"]:
                    raise SiteFileError(f"{where}: unknown [http] key {hk!r}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SiteFileError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SiteFileError(f"{path}: {exc}") from None


def profile_names() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml") if not p.name.startswith("_"))


def load_profile(name_or_path: str | Path) -> dict[str, Any]:
    """A profile merged over :data:`DEVICE_DEFAULTS`, validated. Accepts a shipped name or a path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILES_DIR / f"{name_or_path}.toml"
    raw = _read_toml(path)
    _check_keys(raw, str(path))
    if not raw.get("provenance"):
        raise SiteFileError(f"{path}: every profile needs a provenance line")
    merged = _merge(DEVICE_DEFAULTS, raw)
    merged["profile"] = path.stem
    return merged


def _mac_from(prefix: str, ip: ipaddress.IPv4Address) -> str:
    """Profile OUI + the last three octets of the IPv4 address: unique per site, stable across runs."""
    parts = prefix.lower().split(":")
    if len(parts) != 3 or not all(len(p) == 2 for p in parts):
        raise SiteFileError(f"mac_prefix {prefix!r} must look like 58:50:ed")
    tail = ip.packed[1:]
    return ":".join(parts + [f"{b:02x}" for b in tail])


def _normalise_mac(mac: str) -> str:
    hexdigits = mac.replace(":", "").replace("-", "").lower()
    if len(hexdigits) != 12 or any(c not in "0123456789abcdef" for c in hexdigits):
        raise SiteFileError(f"bad MAC address {mac!r}")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def ipv6_link_local(mac: str) -> str:
    """The EUI-64 link-local address the kernel would derive from ``mac`` (RFC 4291 App. A)."""
    b = bytearray(int(x, 16) for x in mac.split(":"))
    b[0] ^= 0x02
    eui = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\x00" * 6 + eui))


@dataclass(frozen=True)
class DeviceSpec:
    """One fake device as placed in a site: addressing plus the merged profile settings."""

    index: int
    name: str
    profile_name: str
    ip: str
    prefixlen: int
    mac: str
    gateway: str
    bridge: str
    settings: dict[str, Any] = field(repr=False, compare=False)
    onlink: str = ""  # a misaddressed device's on-link route to the site subnet (a foreign [[subnet]])

    @property
    def ipv6_ll(self) -> str:
        """EUI-64 link-local address configured on the device's eth0."""
        return ipv6_link_local(self.mac)

    @property
    def uuid(self) -> str:
        """Stable endpoint UUID (uuid5 of the MAC), so inventory tests see the same id every run."""
        return device_uuid(self.mac)

    @property
    def uuid_mac(self) -> str:
        """A UUID whose node field is the MAC, the way Hikvision builds its endpoint address."""
        return device_uuid_mac(self.mac)

    def server_entry(self, ns: str) -> dict[str, Any]:
        """This device as one entry of the device server's spec file."""
        return {
            "name": self.name,
            "ns": ns,
            "ip": self.ip,
            "prefixlen": self.prefixlen,
            "mac": self.mac,
            "ipv6_ll": self.ipv6_ll,
            "uuid": self.uuid,
            "uuid_mac": self.uuid_mac,
            "gateway": self.gateway,
            "settings": self.settings,
        }


def device_uuid(mac: str) -> str:
    """Stable endpoint UUID for a MAC."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"camscan-lab:{mac}"))


def device_uuid_mac(mac: str) -> str:
    """A UUID whose last group is the MAC (Hikvision style)."""
    return device_uuid(mac)[:24] + mac.replace(":", "")


@dataclass(frozen=True)
class SubnetSpec:
    """A routed subnet behind the site router (multicast does not cross it)."""

    cidr: str
    router_ip: str
    bridge: str


@dataclass(frozen=True)
class SiteSpec:
    """A whole site: scanner placement, credentials, subnets and devices."""

    name: str
    description: str
    subnet: str
    scanner_ip: str
    scanner_mac: str
    gateway: str
    username: str
    password: str
    subnets: tuple[SubnetSpec, ...]
    devices: tuple[DeviceSpec, ...]
    source: str = ""

    @property
    def prefixlen(self) -> int:
        """Prefix length of the scanner's subnet."""
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def routed(self) -> bool:
        """True if the site has a router namespace."""
        return bool(self.subnets)


def _check_ip(ip: str, where: str) -> ipaddress.IPv4Address:
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        raise SiteFileError(f"{where}: bad IPv4 address {ip!r}") from None
    if not any(addr in net for net in ALLOWED_RANGES):
        raise SiteFileError(
            f"{where}: {ip} is outside the documentation/benchmark ranges "
            f"({', '.join(str(n) for n in ALLOWED_RANGES)})"
        )
    return addr


def build_site(data: Mapping[str, Any], *, source: str = "") -> SiteSpec:
    """Validate a parsed site document (the TOML layout, as a dict) into a :class:`SiteSpec`."""
    where = source or "<site>"
    site = dict(data.get("site", {}))
    unknown = set(data) - {"site", "defaults", "subnet", "device"}
    if unknown:
        raise SiteFileError(f"{where}: unknown top-level keys {sorted(unknown)}")
    unknown_site = set(site) - {
        "name",
        "description",
        "subnet",
        "scanner_ip",
        "scanner_mac",
        "gateway",
        "username",
        "password",
    }
    if unknown_site:
        raise SiteFileError(f"{where}: unknown [site] keys {sorted(unknown_site)}")
    try:
        main = ipaddress.IPv4Network(site.get("subnet", "198.51.100.0/24"))
    except ValueError as exc:
        raise SiteFileError(f"{where}: [site] subnet: {exc}") from None
    hosts = main.hosts()
    default_gw = str(next(hosts))
    scanner_ip = site.get("scanner_ip", str(next(hosts)))
    scanner = _check_ip(scanner_ip, f"{where} [site] scanner_ip")
    if scanner not in main:
        raise SiteFileError(f"{where}: scanner_ip {scanner_ip} not in {main}")
    gateway = site.get("gateway", default_gw)
    _check_ip(gateway, f"{where} [site] gateway")
    scanner_mac = _normalise_mac(site.get("scanner_mac", _mac_from("02:00:5e", scanner)))

    defaults = dict(data.get("defaults", {}))
    _check_keys(defaults, f"{where} [defaults]")

    subnets: list[SubnetSpec] = []
    nets: list[tuple[ipaddress.IPv4Network, str, str]] = [(main, gateway, "br0")]
    foreign: list[ipaddress.IPv4Network] = []
    for i, sub in enumerate(data.get("subnet", []), start=1):
        if not sub.get("routed", False):
            # A foreign subnet on the scanner's own segment (br0): its devices are misaddressed (a factory
            # default such as 192.168.1.64 on another LAN), reachable at layer 2 only; they get an on-link
            # route to the site subnet so their discovery replies reach the scanner, as multicast ones would.
            net = ipaddress.IPv4Network(sub["cidr"])
            _check_ip(str(net.network_address), f"{where} [[subnet]] {i}")
            nets.append((net, str(next(net.hosts())), "br0"))
            foreign.append(net)
            continue
        net = ipaddress.IPv4Network(sub["cidr"])
        _check_ip(str(net.network_address), f"{where} [[subnet]] {i}")
        router_ip = sub.get("router_ip", str(next(net.hosts())))
        _check_ip(router_ip, f"{where} [[subnet]] {i} router_ip")
        bridge = f"br{i}"
        subnets.append(SubnetSpec(str(net), router_ip, bridge))
        nets.append((net, router_ip, bridge))

    creds: dict[str, Any] = {}
    if "username" in site:
        creds["username"] = site["username"]
    if "password" in site:
        creds["password"] = site["password"]

    profiles: dict[str, dict[str, Any]] = {}
    devices: list[DeviceSpec] = []
    seen_ip: dict[str, str] = {scanner_ip: "scanner", gateway: "gateway"}
    seen_mac: dict[str, str] = {scanner_mac: "scanner"}
    for index, entry in enumerate(data.get("device", []), start=1):
        dwhere = f"{where} [[device]] {index}"
        if "profile" not in entry or "ip" not in entry:
            raise SiteFileError(f"{dwhere}: needs profile and ip")
        pname = entry["profile"]
        if pname not in profiles:
            try:
                profiles[pname] = load_profile(pname)
            except SiteFileError as exc:
                raise SiteFileError(f"{dwhere}: {exc}") from None
        overrides = {k: v for k, v in entry.items() if k not in _PLACEMENT_KEYS}
        _check_keys(overrides, dwhere)
        settings = _merge(_merge(_merge(profiles[pname], creds), defaults), overrides)
        ip = _check_ip(entry["ip"], dwhere)
        placed = next(((n, g, b) for n, g, b in nets if ip in n), None)
        if placed is None:
            raise SiteFileError(f"{dwhere}: {ip} is on none of the site's subnets")
        net, gw, bridge = placed
        duplicate = entry.get("duplicate_ip", False)
        if not isinstance(duplicate, bool):
            raise SiteFileError(f"{dwhere}: duplicate_ip must be true or false")
        if str(ip) in seen_ip and not (duplicate and seen_ip[str(ip)] not in ("scanner", "gateway")):
            raise SiteFileError(f"{dwhere}: {ip} already used by {seen_ip[str(ip)]}")
        if duplicate and str(ip) not in seen_ip:
            raise SiteFileError(f"{dwhere}: duplicate_ip = true but no earlier device has {ip}")
        mac = _normalise_mac(entry["mac"]) if "mac" in entry else _mac_from(settings["mac_prefix"], ip)
        if mac in seen_mac:
            raise SiteFileError(f"{dwhere}: MAC {mac} already used by {seen_mac[mac]}")
        name = entry.get("name", f"d{index}")
        seen_ip.setdefault(str(ip), name)
        seen_mac[mac] = name
        for key in ("wsd_style", "style"):
            from camscan.lab.soap import get_style  # local: keep this module importable alone

            try:
                get_style(settings[key])
            except KeyError as exc:
                raise SiteFileError(f"{dwhere}: {exc.args[0]}") from None
        spec = DeviceSpec(
            index=index,
            name=name,
            profile_name=pname,
            ip=str(ip),
            prefixlen=net.prefixlen,
            mac=mac,
            gateway=gw,
            bridge=bridge,
            settings=settings,
            onlink=str(main) if net in foreign else "",
        )
        # Expand templates in identity strings ({MAC_HEX} serials ...) so tests see final values.
        from camscan.lab.device import Device

        settings.update(Device.from_spec(spec.server_entry("")).settings)
        devices.append(spec)
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise SiteFileError(f"{where}: device names must be unique")
    return SiteSpec(
        name=site.get("name", Path(source).stem if source else "site"),
        description=site.get("description", ""),
        subnet=str(main),
        scanner_ip=scanner_ip,
        scanner_mac=scanner_mac,
        gateway=gateway,
        username=site.get("username", ""),
        password=site.get("password", ""),
        subnets=tuple(subnets),
        devices=tuple(devices),
        source=source,
    )


def site_names() -> list[str]:
    """Names of the shipped sites."""
    return sorted(p.stem for p in SITES_DIR.glob("*.toml"))


def load_site_spec(name_or_path: str | Path) -> SiteSpec:
    """Read and validate a site file: a shipped name (``"test"``) or a path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SITES_DIR / f"{name_or_path}.toml"
    return build_site(_read_toml(path), source=str(path))


def generate_site(
    count: int,
    profiles: Iterable[str] | None = None,
    *,
    cidr: str = "198.18.0.0/15",
    username: str = "admin",
    password: str = "camscan-lab-pw",
    defaults: Mapping[str, Any] | None = None,
) -> SiteSpec:
    """A synthetic site of ``count`` devices cycling through ``profiles`` (benchmark sites).

    Addresses start at .10 of ``cidr``; the scanner is .2 and the gateway .1.
    """
    names = list(profiles) if profiles is not None else profile_names()
    if not names:
        raise SiteFileError("no profiles to generate a site from")
    net = ipaddress.IPv4Network(cidr)
    if count > net.num_addresses - 12:
        raise SiteFileError(f"{count} devices do not fit in {cidr}")
    base = int(net.network_address)
    devices = [
        {"profile": names[i % len(names)], "ip": str(ipaddress.IPv4Address(base + 10 + i))}
        for i in range(count)
    ]
    doc = {
        "site": {
            "name": f"generated-{count}",
            "subnet": cidr,
            "scanner_ip": str(ipaddress.IPv4Address(base + 2)),
            "gateway": str(ipaddress.IPv4Address(base + 1)),
            "username": username,
            "password": password,
        },
        # No Hello storms: every device receives every other device's Hello, O(n²) at this scale.
        "defaults": {"wsd_hello": False, **(defaults or {})},
        "device": devices,
    }
    return build_site(doc, source=f"<generated {count}>")
