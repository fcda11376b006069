"""The device side of WS-Discovery 2005/04: parse a Probe, decide whether to answer, render replies.

Pure functions over bytes and a :class:`~camscan.lab.device.Device`; the UDP sockets live in
``server.py``. Protocol facts: /work/shared/reference/wsd-onvif.md §1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from camscan.lab.device import Device
from camscan.lab.soap import (
    CONVENTIONAL_PREFIXES,
    MAX_PROBE_BYTES,
    NS_SOAP11,
    NS_SOAP12,
    NS_TER,
    NS_WSA,
    NS_WSD,
    E,
    XmlRejected,
    child,
    envelope,
    parse_xml,
    resolve_qnames,
    soap_fault,
    text_of,
)

WSD_PORT = 3702
WSD_GROUP_V4 = "239.255.255.250"
WSD_GROUP_V6 = "ff02::c"
DISCOVERY_URN = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ACTION_PREFIX = "http://schemas.xmlsoap.org/ws/2005/04/discovery/"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
# Scope matching rules this responder implements (WS-D 2005/04 §5.1; ONVIF Core §7.3.3 adds rfc3986).
MATCH_RFC2396 = ACTION_PREFIX + "rfc2396"
MATCH_RFC3986 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"
MATCH_STRCMP0 = ACTION_PREFIX + "strcmp0"
SUPPORTED_MATCH_BY = (MATCH_RFC2396, MATCH_RFC3986, MATCH_STRCMP0)


@dataclass(frozen=True)
class Probe:
    """What a device needs from a Probe (or any other WS-Discovery message it received)."""

    action: str  # local action name: Probe, Resolve, Hello, ...
    message_id: str
    soap_ns: str
    types_text: str | None  # raw text of d:Types, None if absent
    types: tuple[tuple[str, str], ...] | None  # resolved QNames; None if a prefix was unbound
    types_on_envelope: bool  # every Types prefix was declared on the Envelope element
    scopes: tuple[str, ...] = ()
    match_by: str = MATCH_RFC2396
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def typed(self) -> bool:
        """True if the probe names at least one type."""
        return bool(self.types_text and self.types_text.split())


def parse_probe(data: bytes) -> Probe | str:
    """Parse one datagram. Returns a :class:`Probe`, or a string saying why it was ignored."""
    try:
        root = parse_xml(data, MAX_PROBE_BYTES)
    except XmlRejected as exc:
        return str(exc)
    if root.tag not in (f"{{{NS_SOAP12}}}Envelope", f"{{{NS_SOAP11}}}Envelope"):
        return f"not a SOAP envelope: {root.tag!r}"
    soap_ns = root.tag[1:].split("}")[0]
    header = child(root, f"{{{soap_ns}}}Header")
    body = child(root, f"{{{soap_ns}}}Body")
    if body is None:
        return "no SOAP Body"
    action = text_of(child(header, f"{{{NS_WSA}}}Action"))
    message_id = text_of(child(header, f"{{{NS_WSA}}}MessageID"))
    probe = child(body, f"{{{NS_WSD}}}Probe")
    if probe is None:
        # Other 2005/04 messages (Resolve, Hello from another device) or the 2009 OASIS version,
        # which ONVIF devices do not answer (wsd-onvif.md §1, last paragraph).
        first = next((c for c in body if isinstance(c.tag, str)), None)
        name = first.tag if first is not None else "(empty body)"
        return f"not a 2005/04 Probe: {name}"
    if action and not action.startswith(ACTION_PREFIX):
        return f"unexpected Action {action!r}"
    types_el = child(probe, f"{{{NS_WSD}}}Types")
    types_text = types_el.text if types_el is not None else None
    types = None
    on_envelope = True
    if types_el is not None and types_text and types_text.strip():
        resolved = resolve_qnames(types_text, types_el)
        types = tuple(resolved) if resolved is not None else None
        for token in types_text.split():
            prefix = token.rpartition(":")[0]
            if prefix and prefix not in (root.nsmap or {}):
                on_envelope = False
    elif types_el is not None or types_text is None:
        types = ()
    scopes_el = child(probe, f"{{{NS_WSD}}}Scopes")
    scopes: tuple[str, ...] = ()
    match_by = MATCH_RFC2396
    if scopes_el is not None:
        scopes = tuple((scopes_el.text or "").split())
        match_by = scopes_el.get("MatchBy", MATCH_RFC2396).strip() or MATCH_RFC2396
    return Probe(
        action="Probe",
        message_id=message_id,
        soap_ns=soap_ns,
        types_text=types_text,
        types=types,
        types_on_envelope=on_envelope,
        scopes=scopes,
        match_by=match_by,
    )


def device_types(dev: Device) -> list[tuple[str, str]]:
    """The device's advertised types as (namespace, local) pairs, from ``wsd_types`` QNames."""
    out = []
    for qname in dev["wsd_types"]:
        if qname.startswith("{"):
            uri, _, local = qname[1:].partition("}")
        else:
            prefix, _, local = qname.rpartition(":")
            uri = CONVENTIONAL_PREFIXES.get(prefix, prefix)
        out.append((uri, local))
    return out


def _scope_matches(probe_scope: str, device_scopes: list[str], rule: str) -> bool:
    if rule == MATCH_STRCMP0:
        return probe_scope in device_scopes

    # rfc2396/rfc3986: segment-wise prefix match; scheme and authority case-insensitive.
    def norm(s: str) -> list[str]:
        scheme, sep, rest = s.partition("://")
        if not sep:
            return s.rstrip("/").split("/")
        authority, _, path = rest.partition("/")
        return [scheme.lower(), authority.lower(), *[p for p in path.rstrip("/").split("/") if p != ""]]

    want = norm(probe_scope)
    return any(norm(d)[: len(want)] == want for d in device_scopes)


@dataclass(frozen=True)
class Decision:
    """What to do with a probe: answer, fault (unicast only), or stay silent with a reason."""

    answer: bool
    fault: str = ""  # "untyped" | "matching_rule" when a SOAP fault goes back instead
    reason: str = ""


def decide(dev: Device, probe: Probe, multicast: bool) -> Decision:
    """Apply type matching (AND over the probe's Types), scope matching and the profile's quirks."""
    if probe.types is None:
        return Decision(False, reason="Types prefix not bound")
    if probe.typed and dev["wsd_strict_prefixes"] and not probe.types_on_envelope:
        return Decision(False, reason="Types prefix not declared on the Envelope")
    answers = dev["wsd_answers"]
    if not probe.typed:
        if dev["wsd_untyped_fault"]:
            return Decision(False, fault="untyped", reason="untyped probe answered with a fault")
        if answers == "typed":
            return Decision(False, reason="device ignores untyped probes")
    else:
        if answers == "untyped":
            return Decision(False, reason="device ignores typed probes")
        have = set(device_types(dev))
        missing = [t for t in probe.types if t not in have]
        if missing:
            return Decision(False, reason=f"type mismatch: {missing}")
    if probe.scopes:
        if probe.match_by not in SUPPORTED_MATCH_BY:
            # Core §7.3.6: a unicast probe gets a fault, a multicast one is dropped silently.
            if multicast:
                return Decision(False, reason=f"unsupported MatchBy {probe.match_by}")
            return Decision(False, fault="matching_rule", reason=f"unsupported MatchBy {probe.match_by}")
        scopes = [dev.fill(s) for s in dev["wsd_scopes"]]
        for s in probe.scopes:
            if not _scope_matches(s, scopes, probe.match_by):
                return Decision(False, reason=f"scope mismatch: {s}")
    return Decision(True)


def _type_qnames(dev: Device) -> tuple[str, ...]:
    """The advertised types as Clark names; the writer renders them with the style's prefixes."""
    return tuple(f"{{{uri}}}{local}" for uri, local in device_types(dev))


def _match_body(dev: Device, element: str) -> E:
    """d:ProbeMatch / d:Hello content (EndpointReference, Types, Scopes, XAddrs, MetadataVersion)."""
    sep = dev["wsd_list_sep"]
    scopes = sep.join(dev.fill(s) for s in dev["wsd_scopes"])
    xaddrs = sep.join(dev.fill(x) for x in [*dev["wsd_xaddrs"], *dev["wsd_extra_xaddrs"]])
    epr_children = [E(f"{{{NS_WSA}}}Address", dev.fill(dev["wsd_address"]))]
    if dev["wsd_epr_extras"]:
        # IPCAM quirk: empty ReferenceProperties/Parameters and a PortType "ttl" in the EPR.
        epr_children += [
            E(f"{{{NS_WSA}}}ReferenceProperties", ""),
            E(f"{{{NS_WSA}}}ReferenceParameters", ""),
            E(f"{{{NS_WSA}}}PortType", "ttl"),
        ]
    children = [E(f"{{{NS_WSA}}}EndpointReference", children=tuple(epr_children))]
    if dev["wsd_types"]:
        children.append(E(f"{{{NS_WSD}}}Types", qtext=_type_qnames(dev)))
    children.append(E(f"{{{NS_WSD}}}Scopes", scopes))
    children.append(E(f"{{{NS_WSD}}}XAddrs", xaddrs))
    if dev["wsd_metadata_version"] >= 0:
        children.append(E(f"{{{NS_WSD}}}MetadataVersion", str(dev["wsd_metadata_version"])))
    return E(f"{{{NS_WSD}}}{element}", children=tuple(children))


def _header(
    dev: Device,
    action: str,
    to: str,
    relates_to: str | None,
    random_uuid: str | None = None,
    message_number: str | None = None,
) -> list[E]:
    """The WS-Addressing header in the style's order. ``random_uuid``/``message_number`` replace a fresh
    UUID and the next AppSequence number (:class:`ProbeMatchTemplate` passes slot markers)."""
    style = dev.wsd_style
    epr = dev.fill(dev["wsd_address"])
    uuid = dev.random_uuid() if random_uuid is None else random_uuid
    message_id = dev.fill(dev["wsd_message_id"], random_uuid=uuid, epr=epr)
    soap_ns = NS_SOAP11 if dev["wsd_soap_version"] == "1.1" else NS_SOAP12
    mu = {f"{{{soap_ns}}}mustUnderstand": style.must_understand_value}
    items: dict[str, E] = {
        "MessageID": E(f"{{{NS_WSA}}}MessageID", message_id),
        "To": E(f"{{{NS_WSA}}}To", to, attrs=mu if "To" in style.must_understand else {}),
        "Action": E(
            f"{{{NS_WSA}}}Action",
            ACTION_PREFIX + action,
            attrs=mu if "Action" in style.must_understand else {},
        ),
        "ReplyTo": E(
            f"{{{NS_WSA}}}ReplyTo",
            children=(E(f"{{{NS_WSA}}}Address", ANONYMOUS),),
            attrs=mu if "ReplyTo" in style.must_understand else {},
        ),
    }
    if relates_to is not None:
        items["RelatesTo"] = E(f"{{{NS_WSA}}}RelatesTo", relates_to)
    if dev["wsd_app_sequence"]:
        number = str(dev.next_message_number()) if message_number is None else message_number
        attrs = {"InstanceId": str(dev.instance_id), "MessageNumber": number}
        if "AppSequence" in style.must_understand:
            attrs = {**mu, **attrs}
        items["AppSequence"] = E(f"{{{NS_WSD}}}AppSequence", attrs=attrs)
    order = list(style.wsd_header_order)
    for name in ("MessageID", "RelatesTo", "To", "Action", "AppSequence"):
        if name not in order:
            order.append(name)
    return [items[n] for n in order if n in items and (n != "ReplyTo" or "ReplyTo" in style.wsd_header_order)]


def render_probe_matches(dev: Device, probe: Probe) -> bytes:
    """The ProbeMatches reply to ``probe`` in the device's discovery style."""
    return _probe_matches(dev, probe.message_id)


def _probe_matches(
    dev: Device, probe_id: str, random_uuid: str | None = None, message_number: str | None = None
) -> bytes:
    relates = dev.fill(dev["wsd_relates_to"], probe_id=probe_id)
    header = _header(dev, "ProbeMatches", dev.fill(dev["wsd_to"]), relates, random_uuid, message_number)
    body = [E(f"{{{NS_WSD}}}ProbeMatches", children=(_match_body(dev, "ProbeMatch"),))]
    return envelope(dev.wsd_style, body, header=header, soap_version=dev["wsd_soap_version"])


# Slot markers of a ProbeMatchTemplate. XML text cannot hold NUL, so no profile string should contain one;
# the template still counts them and falls back to rendering when the counts are off.
_SLOT_UUID, _SLOT_PROBE_ID, _SLOT_NUMBER = "\x00uuid\x00", "\x00probe\x00", "\x00number\x00"
_SLOTS = re.compile(b"(\x00(?:uuid|probe|number)\x00)")


class ProbeMatchTemplate:
    """One device's ProbeMatches rendered once, with slots for what changes from one reply to the next: the
    fresh UUID of its MessageID, the probe's MessageID (RelatesTo) and the AppSequence MessageNumber.

    The device server answers every probe with this envelope on its one thread; rendering it from the
    element tree costs about 0.3 ms, filling three slots a few microseconds. The bytes are those of
    :func:`render_probe_matches` (tests/lab compare every profile); settings must not change afterwards.
    """

    def __init__(self, dev: Device) -> None:
        self.dev = dev
        self.app_sequence = bool(dev["wsd_app_sequence"])
        data = _probe_matches(dev, _SLOT_PROBE_ID, _SLOT_UUID, _SLOT_NUMBER)
        pieces = _SLOTS.split(data)
        expected = [
            dev["wsd_message_id"].count("{random_uuid}"),
            dev["wsd_relates_to"].count("{probe_id}"),
            1 if self.app_sequence else 0,
        ]
        found = [pieces[1::2].count(slot.encode()) for slot in (_SLOT_UUID, _SLOT_PROBE_ID, _SLOT_NUMBER)]
        # None: a profile string carries a marker itself, so render each reply from scratch instead.
        self.pieces: list[bytes] | None = pieces if found == expected else None

    def render(self, probe: Probe) -> bytes:
        """The ProbeMatches reply to ``probe`` (advances the device's AppSequence like a rendered one)."""
        if self.pieces is None:
            return render_probe_matches(self.dev, probe)
        values = {
            _SLOT_UUID.encode(): self.dev.random_uuid().encode(),
            _SLOT_PROBE_ID.encode(): escape(probe.message_id).encode(),
        }
        if self.app_sequence:
            values[_SLOT_NUMBER.encode()] = str(self.dev.next_message_number()).encode()
        pieces = self.pieces
        out = [pieces[0]]
        for i in range(1, len(pieces), 2):
            out.append(values[pieces[i]])
            out.append(pieces[i + 1])
        return b"".join(out)


def render_hello(dev: Device) -> bytes:
    """A Hello announcement (multicast to the group on start, Core §7.3.2)."""
    header = _header(dev, "Hello", DISCOVERY_URN, None)
    body = [_match_body(dev, "Hello")]
    return envelope(dev.wsd_style, body, header=header, soap_version=dev["wsd_soap_version"])


def render_bye(dev: Device) -> bytes:
    """A Bye announcement (EndpointReference only, Core §7.3.5)."""
    header = _header(dev, "Bye", DISCOVERY_URN, None)
    epr = E(
        f"{{{NS_WSA}}}EndpointReference", children=(E(f"{{{NS_WSA}}}Address", dev.fill(dev["wsd_address"])),)
    )
    body = [E(f"{{{NS_WSD}}}Bye", children=(epr,))]
    return envelope(dev.wsd_style, body, header=header, soap_version=dev["wsd_soap_version"])


def render_fault(dev: Device, probe: Probe, kind: str) -> bytes:
    """A SOAP fault to a unicast probe (unsupported MatchBy) or to an untyped probe (quirk)."""
    if kind == "matching_rule":
        return soap_fault(
            dev.wsd_style,
            f"{{{NS_SOAP12}}}Sender",
            f"{{{NS_WSD}}}MatchingRuleNotSupported",
            "the matching rule specified is not supported",
            soap_version=dev["wsd_soap_version"],
        )
    return soap_fault(
        dev.wsd_style,
        f"{{{NS_SOAP12}}}Sender",
        f"{{{NS_TER}}}InvalidArgVal",
        "Types required",
        soap_version=dev["wsd_soap_version"],
    )
