"""ONVIF scope URIs (``onvif://www.onvif.org/<category>/<value>``), as WS-Discovery and GetScopes carry them."""

from __future__ import annotations

from urllib.parse import unquote


def split_scope(scope: str) -> tuple[str, str] | None:
    """``onvif://www.onvif.org/name/HIKVISION%20X`` -> (``name``, ``HIKVISION X``); None if not
    ONVIF-style."""
    prefix = "onvif://www.onvif.org/"
    if not scope.lower().startswith(prefix):
        return None
    rest = scope[len(prefix):]
    if "/" not in rest:
        return rest.lower(), ""
    cat, value = rest.split("/", 1)
    return cat.lower(), unquote(value, errors="replace").strip()
