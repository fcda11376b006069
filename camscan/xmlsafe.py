"""Transition alias of :mod:`camscan.codec.xmlsafe` for branches written before the codec package (issue #11);
removed once they have merged. Import :mod:`camscan.codec.xmlsafe`."""

from camscan.codec.xmlsafe import MAX_XML_BYTES, UnsafeXML, local, parse, text  # noqa: F401
