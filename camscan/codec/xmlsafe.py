"""Safe XML parsing for device replies: no DTDs, no entities, no network, bounded size.

Every XML document a device sends is hostile input. lxml is told not to resolve entities or touch the
network, and any document carrying a DOCTYPE is refused: before lxml sees it when the bytes show one, and
in any case on the parsed document (a UTF-16 document hides it from a byte search), which rules out entity
expansion bombs and external entities whatever the parser's defaults are.
"""

from __future__ import annotations

from lxml import etree

MAX_XML_BYTES = 1 << 20


class UnsafeXML(ValueError):
    """The document was refused (DTD, too large) or could not be parsed."""


_PARSER_KW = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                  huge_tree=False, remove_comments=True, remove_pis=True)


def parse(data: bytes, limit: int = MAX_XML_BYTES) -> etree._Element:
    """Parse ``data`` into an element tree or raise :class:`UnsafeXML` with the reason."""
    if len(data) > limit:
        raise UnsafeXML(f"document of {len(data)} bytes exceeds the {limit}-byte limit")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXML("document carries a DTD (refused: entities are never expanded)")
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_KW))
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise UnsafeXML(f"malformed XML: {str(exc)[:120]}") from None
    if root is None:
        raise UnsafeXML("empty document")
    # The byte test above misses a DTD in another encoding (UTF-16 has no b"<!DOCTYPE" in it): what decides
    # is the parsed document. No entity was expanded (resolve_entities=False), but none is accepted either.
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None or any(
            True for _ in root.iter(etree.Entity)):
        raise UnsafeXML("document carries a DTD (refused: entities are never expanded)")
    return root


def local(tag: object) -> str:
    """Local name of an element tag (``{ns}name`` -> ``name``); '' for comments and the like."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def text(el: etree._Element | None) -> str:
    """Element text with surrounding whitespace removed ('' for None)."""
    if el is None or el.text is None:
        return ""
    return el.text.strip()
