"""Runtime state of one fake device, shared by all of its protocol services.

Built by the device server from one entry of the spec file (see ``netns.Site._write_spec``): the
merged profile settings, addressing, the device clock (real time + ``clock_offset_s``), template
variables for profile strings, and the small mutable state the protocols need (AppSequence message
numbers, recently seen probe ids, failed-login counter).
"""

from __future__ import annotations

import collections
import datetime as dt
import ipaddress
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from camscan.lab.soap import Style, get_style

_TEMPLATE = re.compile(r"\{(\w+)\}")


def fill(template: str, variables: Mapping[str, str]) -> str:
    """Replace ``{name}`` for known names only, so JSON or other braces in bodies survive."""
    return _TEMPLATE.sub(lambda m: variables.get(m.group(1), m.group(0)), template)


def format_mac(mac: str, fmt: str) -> str:
    """MAC in a vendor's notation: colon (58:50:ed:..), dash, upper (58:50:ED:..), bare (5850ed..)."""
    if fmt == "dash":
        return mac.replace(":", "-")
    if fmt == "upper":
        return mac.upper()
    if fmt == "bare":
        return mac.replace(":", "")
    return mac


@dataclass
class Device:
    """One fake device at run time."""

    name: str
    ns: str
    ip: str
    prefixlen: int
    mac: str
    ipv6_ll: str
    uuid: str
    uuid_mac: str
    settings: dict[str, Any]
    gateway: str = ""
    instance_id: int = field(default_factory=lambda: int(time.time()))
    message_number: int = 0
    failed_logins: int = 0
    seen_probes: collections.OrderedDict[str, float] = field(default_factory=collections.OrderedDict)
    variables: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, entry: Mapping[str, Any]) -> Device:
        """Build from one device entry of the server spec JSON."""
        dev = cls(
            name=entry["name"],
            ns=entry["ns"],
            ip=entry["ip"],
            prefixlen=int(entry["prefixlen"]),
            mac=entry["mac"],
            ipv6_ll=entry["ipv6_ll"],
            uuid=entry["uuid"],
            uuid_mac=entry["uuid_mac"],
            gateway=entry.get("gateway", ""),
            settings=dict(entry["settings"]),
        )
        dev.variables = dev._variables()
        # Identity strings may use templates too (an Axis serial is its MAC): expand them once.
        for key in ("manufacturer", "model", "firmware", "serial", "hardware_id", "hostname"):
            dev.settings[key] = dev.fill(str(dev.settings[key]))
        dev.variables = dev._variables()
        return dev

    # --- settings shortcuts -------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self.settings[key]

    @property
    def port(self) -> int:
        """The ONVIF device-service port."""
        return int(self.settings["port"])

    @property
    def http_port(self) -> int:
        """The web UI port (the ONVIF port when not set separately)."""
        return int(self.settings["http_port"]) or self.port

    @property
    def style(self) -> Style:
        """Envelope style of ONVIF replies."""
        return get_style(self.settings["style"])

    @property
    def wsd_style(self) -> Style:
        """Envelope style of WS-Discovery messages."""
        return get_style(self.settings["wsd_style"])

    @property
    def latency_s(self) -> float:
        """Emulated one-way processing delay added before every reply (no netem in the kernel)."""
        return max(0.0, float(self.settings["latency_ms"]) / 1000.0)

    # --- clock --------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The device clock in UTC: real time shifted by ``clock_offset_s``."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(self.settings["clock_offset_s"]))

    # --- templates ----------------------------------------------------------------------------

    def _variables(self) -> dict[str, str]:
        s = self.settings
        port = self.port
        netmask = str(ipaddress.IPv4Network(f"0.0.0.0/{self.prefixlen}").netmask)
        return {
            "ip": self.ip,
            "netmask": netmask,
            "gateway": self.gateway,
            "port": str(port),
            "http_port": str(self.http_port),
            "port_suffix": "" if port == 80 else f":{port}",
            "onvif_path": s["onvif_path"],
            "mac": self.mac,
            "MAC": self.mac.upper(),
            "mac_dash": self.mac.replace(":", "-"),
            "MAC_DASH": self.mac.replace(":", "-").upper(),
            "mac_hex": self.mac.replace(":", ""),
            "MAC_HEX": self.mac.replace(":", "").upper(),
            "manufacturer": s["manufacturer"],
            "model": s["model"],
            "firmware": s["firmware"],
            "serial": s["serial"],
            "hardware_id": s["hardware_id"],
            "hostname": s["hostname"],
            "uuid": self.uuid,
            "uuid_mac": self.uuid_mac,
            "UUID": self.uuid.upper(),
            "ipv6_ll": self.ipv6_ll,
            "name": self.name,
        }

    def fill(self, template: str, **extra: str) -> str:
        """Expand a profile string with this device's variables (plus per-message ``extra``)."""
        if extra:
            return fill(template, {**self.variables, **extra})
        return fill(template, self.variables)

    # --- WS-Discovery state -------------------------------------------------------------------

    def next_message_number(self) -> int:
        """AppSequence MessageNumber: increases with every message the device sends."""
        self.message_number += 1
        return self.message_number

    def first_sight(self, message_id: str, window_s: float = 30.0) -> bool:
        """True the first time a probe MessageID is seen; repeats (SOAP-over-UDP copies) are False."""
        now = time.monotonic()
        while self.seen_probes:
            oldest_id, t = next(iter(self.seen_probes.items()))
            if now - t <= window_s and len(self.seen_probes) < 512:
                break
            self.seen_probes.pop(oldest_id)
        if message_id in self.seen_probes:
            return False
        self.seen_probes[message_id] = now
        return True

    @staticmethod
    def random_uuid() -> str:
        """A fresh message UUID."""
        return str(uuid.uuid4())
