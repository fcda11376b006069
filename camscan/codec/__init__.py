"""Codecs shared by the discovery and probe stages: pure functions on bytes and strings, no sockets.

* :mod:`camscan.codec.text`: :func:`~camscan.codec.text.strip_controls` (device text to evidence values)
* :mod:`camscan.codec.auth`: RFC 7235 challenges, RFC 7616 Digest answers
* :mod:`camscan.codec.scopes`: ONVIF scope URIs
* :mod:`camscan.codec.xmlsafe`: XML parsing with no DTDs, no entities, bounded size
* :mod:`camscan.codec.datagram`: :class:`~camscan.codec.datagram.Parsed`, one discovery reply read
"""
