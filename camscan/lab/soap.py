"""XML building and safe parsing shared by the fake devices.

Replies are written as text, the way gSOAP and the vendors' own stacks write them, not through an
XML library's serializer: the point of the lab is to reproduce the prefixes, namespace lists and
whitespace quirks of real devices (see ``profiles/_styles.toml``). Requests from the scanner are parsed with
a locked-down lxml parser (no DTD, no entities, no network, size cap).

Elements are described by :class:`E` with Clark-notation tags (``{uri}local``); a :class:`Style`
decides which prefix each namespace gets and how the text is laid out.
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

# Namespace URIs (wsd-onvif.md §1, §2).
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSA5 = "http://www.w3.org/2005/08/addressing"
NS_WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN = "http://www.onvif.org/ver10/network/wsdl"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_TT = "http://www.onvif.org/ver10/schema"
NS_TER = "http://www.onvif.org/ver10/error"
NS_TRT = "http://www.onvif.org/ver10/media/wsdl"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_XML = "http://www.w3.org/XML/1998/namespace"

SOAP_NS_BY_VERSION = {"1.2": NS_SOAP12, "1.1": NS_SOAP11}
SOAP_CONTENT_TYPE = {
    "1.2": "application/soap+xml; charset=utf-8",
    "1.1": "text/xml; charset=utf-8",
}

# Prefixes used when a style does not declare a namespace we need; these are the conventional
# ONVIF prefixes, also used to resolve QNames written in profile files (e.g. "dn:NetworkVideoTransmitter").
CONVENTIONAL_PREFIXES: dict[str, str] = {
    "env": NS_SOAP12,
    "wsa": NS_WSA,
    "d": NS_WSD,
    "dn": NS_DN,
    "tdn": NS_DN,
    "tds": NS_TDS,
    "tt": NS_TT,
    "ter": NS_TER,
    "trt": NS_TRT,
    "wsse": NS_WSSE,
    "wsu": NS_WSU,
}

# Kept beside the profiles so the package-data glob for lab/profiles/*.toml ships it.
STYLES_FILE = Path(__file__).with_name("profiles") / "_styles.toml"

# Request size caps. A WS-Discovery probe is one datagram of a few hundred bytes; ONVIF requests
# from a scanner are a few kilobytes. Anything far larger is hostile or broken.
MAX_PROBE_BYTES = 32 * 1024
MAX_SOAP_REQUEST_BYTES = 256 * 1024


@dataclass(frozen=True)
class E:
    """One XML element: Clark tag, optional text, children and attributes (Clark names allowed)."""

    tag: str
    text: str | None = None
    children: Sequence[E] = ()
    attrs: Mapping[str, str] = field(default_factory=dict)
    # Text made of QNames (d:Types, fault codes): Clark names, rendered with the style's prefixes
    # and joined by spaces, so the prefixes are always declared on the envelope.
    qtext: Sequence[str] = ()


def split_clark(name: str) -> tuple[str, str]:
    """Return (namespace uri, local name) of a Clark-notation name; uri is "" if none."""
    if name.startswith("{"):
        uri, _, local = name[1:].partition("}")
        return uri, local
    return "", name


@dataclass(frozen=True)
class Style:
    """How one vendor's stack lays out a SOAP envelope (one table of ``profiles/_styles.toml``)."""

    name: str
    namespaces: tuple[tuple[str, str], ...]
    xml_decl: str = '<?xml version="1.0" encoding="UTF-8"?>'
    indent: str | None = "  "  # None = everything on one line
    line_prefix: str = ""
    decl_newline: bool = True
    header_split: bool = False  # Tapo: "</SOAP-ENV:Header\n>"
    empty_header: bool = True  # ONVIF replies carry an empty <Header/>
    ns_newline: bool = False  # one namespace declaration per line (Xiongmai)
    wsd_header_order: tuple[str, ...] = ("MessageID", "RelatesTo", "To", "Action", "AppSequence")
    must_understand: tuple[str, ...] = ()
    must_understand_value: str = "true"
    provenance: str = ""

    def prefix_for(self, uri: str) -> str | None:
        """The prefix this style declares for ``uri`` (first one wins), if any."""
        for prefix, ns in self.namespaces:
            if ns == uri:
                return prefix
        return None


@lru_cache(maxsize=1)
def load_styles(path: Path = STYLES_FILE) -> dict[str, Style]:
    """Read every envelope style from ``profiles/_styles.toml``."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    styles: dict[str, Style] = {}
    for name, table in raw.items():
        kwargs = dict(table)
        kwargs["namespaces"] = tuple((str(p), str(u)) for p, u in table["namespaces"])
        for key in ("wsd_header_order", "must_understand"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        if kwargs.get("compact"):
            kwargs["indent"] = None
        kwargs.pop("compact", None)
        styles[name] = Style(name=name, **kwargs)
    return styles


def get_style(name: str) -> Style:
    """Look up a style by name; raises KeyError naming the known styles."""
    styles = load_styles()
    try:
        return styles[name]
    except KeyError:
        raise KeyError(f"unknown envelope style {name!r}; known: {', '.join(sorted(styles))}") from None


def _escape(text: str) -> str:
    """``xml.sax.saxutils.escape`` without its entity table: the same three replacements, inline."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


@lru_cache(maxsize=64)
def _style_namespaces(style: Style, soap_ns: str) -> tuple[tuple[tuple[str, str], ...], dict[str, str], str]:
    """A style's declarations for one SOAP version: (prefix, uri) pairs, the prefix of each uri (first one wins)
    and the rendered ``xmlns:`` list. Every reply of a device starts from these; computing them is most of the
    cost of a small envelope. The dict is copied by each writer before it is extended."""
    decls: list[tuple[str, str]] = []
    prefixes: dict[str, str] = {}
    for prefix, uri in style.namespaces:
        if uri in (NS_SOAP12, NS_SOAP11):
            uri = soap_ns  # a SOAP 1.1 profile keeps the style's prefix, swaps the URI
        decls.append((prefix, uri))
        prefixes.setdefault(uri, prefix)
    return tuple(decls), prefixes, _decl_list(style, tuple(decls))


def _decl_sep(style: Style) -> str:
    return "\n" + (style.indent or "") if style.ns_newline else " "


def _decl_list(style: Style, decls: Sequence[tuple[str, str]]) -> str:
    return _decl_sep(style).join(f"xmlns:{p}={quoteattr(u)}" for p, u in decls)


class _Writer:
    """Serialises :class:`E` trees with a style's prefixes, collecting undeclared namespaces."""

    def __init__(self, style: Style, soap_ns: str) -> None:
        self.style = style
        self.soap_ns = soap_ns
        decls, prefixes, self.decl_text = _style_namespaces(style, soap_ns)
        self.decls = list(decls)
        self.prefixes = dict(prefixes)
        self.extra: list[tuple[str, str]] = []
        self.qnames: dict[str, str] = {}
        self._nl = (
            None if style.indent is None else ["\n" + style.line_prefix + style.indent * level for level in range(8)]
        )

    def prefix(self, uri: str) -> str:
        if uri == NS_XML:
            return "xml"
        if uri not in self.prefixes:
            taken = {p for p, _ in self.decls} | {p for p, _ in self.extra}
            base = next((p for p, u in CONVENTIONAL_PREFIXES.items() if u == uri), "ns")
            candidate, n = base, 0
            while candidate in taken:
                n += 1
                candidate = f"{base}{n}"
            self.prefixes[uri] = candidate
            self.extra.append((candidate, uri))
        return self.prefixes[uri]

    def qname(self, clark: str) -> str:
        # Memoised per writer: a prefix, once given, never changes within one envelope.
        name = self.qnames.get(clark)
        if name is None:
            uri, local = split_clark(clark)
            name = self.qnames[clark] = f"{self.prefix(uri)}:{local}" if uri else local
        return name

    def nl(self, level: int) -> str:
        if self._nl is None:
            return ""
        if level < len(self._nl):
            return self._nl[level]
        return "\n" + self.style.line_prefix + (self.style.indent or "") * level

    def element(self, el: E, level: int) -> str:
        name = self.qname(el.tag)
        attrs = "".join(f" {self.qname(k)}={quoteattr(v)}" for k, v in el.attrs.items()) if el.attrs else ""
        if el.qtext:
            return f"<{name}{attrs}>{' '.join(self.qname(q) for q in el.qtext)}</{name}>"
        if not el.children:
            if el.text is None:
                return f"<{name}{attrs}/>" if self.style.indent is not None else f"<{name}{attrs}></{name}>"
            return f"<{name}{attrs}>{_escape(el.text)}</{name}>"
        nl = self.nl(level + 1)
        inner = "".join([nl + self.element(c, level + 1) for c in el.children])
        return f"<{name}{attrs}>{inner}{self.nl(level)}</{name}>"


def envelope(
    style: Style,
    body: Sequence[E],
    header: Sequence[E] | None = None,
    soap_version: str = "1.2",
) -> bytes:
    """Render a whole SOAP envelope in ``style``.

    ``header=None`` writes an empty Header when the style does (gSOAP always does), ``[]`` omits it.
    """
    soap_ns = SOAP_NS_BY_VERSION[soap_version]
    w = _Writer(style, soap_ns)
    env = w.prefix(soap_ns)
    parts: list[str] = []
    if header is None:
        if style.empty_header:
            close = f"</{env}:Header\n>" if style.header_split else f"</{env}:Header>"
            parts.append(w.nl(1) + f"<{env}:Header>{close}")
    else:
        inner = "".join([w.nl(2) + w.element(h, 2) for h in header])
        close = f"</{env}:Header\n>" if style.header_split else f"</{env}:Header>"
        parts.append(w.nl(1) + f"<{env}:Header>{inner}{w.nl(1)}{close}")
    inner = "".join([w.nl(2) + w.element(b, 2) for b in body])
    parts.append(w.nl(1) + f"<{env}:Body>{inner}{w.nl(1)}</{env}:Body>")
    decls = w.decl_text
    if w.extra:  # namespaces the style does not declare, in order of first use
        extra = _decl_list(style, w.extra)
        decls = f"{decls}{_decl_sep(style)}{extra}" if decls else extra
    lead = style.line_prefix if style.indent is not None else ""
    text = (
        style.xml_decl
        + ("\n" if style.decl_newline and style.xml_decl else "")
        + f"{lead}<{env}:Envelope {decls}>"
        + "".join(parts)
        + w.nl(0)
        + f"</{env}:Envelope>"
    )
    if style.indent is not None:
        text += "\n"
    return text.encode("utf-8")


def soap_fault(
    style: Style,
    code: str,
    subcode: str | Sequence[str] | None,
    reason: str,
    soap_version: str = "1.2",
) -> bytes:
    """A SOAP fault envelope. ``code``/``subcode`` are Clark names such as ``{NS_TER}NotAuthorized``;
    the code's namespace is replaced by the envelope's, so ``{NS_SOAP12}Sender`` works for 1.1 too.
    """
    soap_ns = SOAP_NS_BY_VERSION[soap_version]
    code_local = split_clark(code)[1]
    if soap_version == "1.1":
        # SOAP 1.1 faults: faultcode/faultstring, codes Client/Server.
        code11 = {"Sender": "Client", "Receiver": "Server"}.get(code_local, code_local)
        fault = E(
            f"{{{soap_ns}}}Fault",
            children=(E("faultcode", qtext=(f"{{{soap_ns}}}{code11}",)), E("faultstring", reason)),
        )
    else:
        code_children: list[E] = [E(f"{{{soap_ns}}}Value", qtext=(f"{{{soap_ns}}}{code_local}",))]
        subcodes = [subcode] if isinstance(subcode, str) else list(subcode or ())
        nested: E | None = None
        for sub in reversed(subcodes):  # ter:ActionNotSupported / ter:NoSuchService nest inside each other
            inner: tuple[E, ...] = (E(f"{{{soap_ns}}}Value", qtext=(sub,)),)
            if nested is not None:
                inner += (nested,)
            nested = E(f"{{{soap_ns}}}Subcode", children=inner)
        if nested is not None:
            code_children.append(nested)
        fault = E(
            f"{{{soap_ns}}}Fault",
            children=(
                E(f"{{{soap_ns}}}Code", children=tuple(code_children)),
                E(
                    f"{{{soap_ns}}}Reason",
                    children=(E(f"{{{soap_ns}}}Text", reason, attrs={f"{{{NS_XML}}}lang": "en"}),),
                ),
            ),
        )
    return envelope(style, [fault], soap_version=soap_version)


# --- safe parsing -------------------------------------------------------------------------------


class XmlRejected(ValueError):
    """A request we refuse to parse (too large, DTD, not XML); the message is the reason."""


def _parser() -> etree.XMLParser:
    # resolve_entities=False: no entity expansion; no_network: no external fetches;
    # load_dtd=False: internal subsets are not loaded; huge_tree=False keeps libxml2's depth/size limits.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


# One parser per thread, reused: building one per request was a measurable share of a small request's cost,
# and an lxml parser must not be used by two threads at once (the device server has one thread).
_PARSERS = threading.local()
_DTD_MARKUP = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_xml(data: bytes, limit: int) -> etree._Element:
    """Parse untrusted bytes into an element tree or raise :class:`XmlRejected` with the reason."""
    if len(data) > limit:
        raise XmlRejected(f"document of {len(data)} bytes exceeds the {limit}-byte cap")
    if _DTD_MARKUP.search(data):
        raise XmlRejected("document carries a DTD")
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = _parser()
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from None
    if root is None:
        raise XmlRejected("empty document")
    if root.getroottree().docinfo.doctype:
        raise XmlRejected("document carries a DTD")
    return root


def child(el: etree._Element | None, *clark: str) -> etree._Element | None:
    """First direct child of ``el`` whose tag is one of ``clark``."""
    if el is None:
        return None
    for c in el:
        if isinstance(c.tag, str) and c.tag in clark:
            return c
    return None


def text_of(el: etree._Element | None) -> str:
    """Stripped text content of an element, "" if absent."""
    if el is None or el.text is None:
        return ""
    return el.text.strip()


def resolve_qnames(text: str, el: etree._Element) -> list[tuple[str, str]] | None:
    """Resolve a whitespace-separated QName list against the namespaces in scope at ``el``.

    Returns None if a prefix is not bound (such a Types entry can match nothing).
    """
    out: list[tuple[str, str]] = []
    nsmap = el.nsmap
    for token in text.split():
        prefix, sep, local = token.rpartition(":")
        if not sep:
            out.append((nsmap.get(None, ""), token))
            continue
        uri = nsmap.get(prefix)
        if uri is None:
            return None
        out.append((uri, local))
    return out


def iter_elements(root: etree._Element, clark: str) -> Iterable[etree._Element]:
    """All descendants named ``clark``."""
    return root.iter(clark)
