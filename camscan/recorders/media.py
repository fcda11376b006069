"""An ONVIF recorder's video sources, through zeep over our own media WSDL subset (``data/onvif/media.wsdl``).

The same machinery as the device service (:mod:`camscan.probe.onvif`): zeep parses the WSDL once (here: the
first time a scan meets an ONVIF recorder, not at every scan's start), builds the request once
(:class:`~camscan.probe.onvif._Operation`: envelope, SOAP action, a WS-Security template), and the reply is
read with :mod:`camscan.codec.xmlsafe` on the element names zeep's schema defines. One call is made,
``GetVideoSources`` (ONVIF Media 5.2.1), through the device service's per-device session
(:class:`~camscan.probe.onvif._Session`): anonymously first, and only when the recorder refuses (ONVIF
NotAuthorized or HTTP 401) with the credentials the scan's transport allows for the media service's address
and port, as a WS-Security UsernameToken digest shifted by the recorder's clock offset (or an HTTP Digest
answer when that is what the recorder asks for); a rejection is not retried.

``GetProfiles`` is not asked: a profile repeats the source token and adds encoder settings and a name the
recorder makes up, none of which says which camera is behind the channel. What a channel row holds is what
the recorder says: its token, and the resolution of the source (a fact about the input, not identity).

The WSDL and schema bytes are read by :func:`preload` while the files can be (before a root scan drops its
privileges), so parsing later needs no file access.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from lxml import etree

from camscan.codec import xmlsafe
from camscan.recorders.parse import MAX_BODY, MAX_CHANNELS, Channel, video_source_channel
from camscan.transport import Transport

log = logging.getLogger(__name__)

ONVIF_DIR = Path(__file__).resolve().parent.parent / "data" / "onvif"
MEDIA_WSDL = ONVIF_DIR / "media.wsdl"
MEDIA_BINDING = "{http://www.onvif.org/ver10/media/wsdl}MediaBinding"
_FILES = ("media.wsdl", "onvif-subset.xsd")  # everything the WSDL loads (its one import, by relative path)

_texts: dict[str, bytes] | None = None
_factory = None  # camscan.probe.onvif.OnvifClientFactory, see factory()
_lock = threading.Lock()


def preload() -> None:
    """Read the WSDL subset's files now (cheap: no parse), for a scan that drops privileges before it meets a
    recorder."""
    global _texts
    if _texts is None:
        _texts = {name: (ONVIF_DIR / name).read_bytes() for name in _FILES}


def factory():
    """The media WSDL subset parsed (once per process, the first time a scan meets an ONVIF recorder) by the
    device service's :class:`~camscan.probe.onvif.OnvifClientFactory`, from the bytes :func:`preload` read."""
    global _factory
    with _lock:
        if _factory is None:
            from camscan.probe.onvif import OnvifClientFactory

            preload()
            _factory = OnvifClientFactory(MEDIA_WSDL, MEDIA_BINDING, files=_texts)
        return _factory


BAD_CREDENTIALS = ("bad credentials: the recorder rejected the username/password (tried once, not again: failed "
                   "logins lock accounts)")


class MediaRefused(Exception):
    """The recorder's media service wants credentials it may not have, or rejected them (``reason``)."""


def read_video_sources(ip: str, url: str, port: int, transport: Transport, timeout: float,
                       deadline: float | None, clock_offset: float = 0.0) -> tuple[list[Channel] | None, str]:
    """(channels, "") from the recorder's ``GetVideoSources``, or (None, why not). Raises :class:`MediaRefused`
    when credentials were needed and could not be used (withheld or rejected)."""
    from zeep.exceptions import Error as ZeepError

    from camscan.probe.onvif import DeviceError, OnvifProbe, _Session

    probe = OnvifProbe(factory(), timeout=timeout, max_bytes=MAX_BODY, deadline=deadline, transport=transport)
    session = _Session(probe, ip, url, port)
    session.offset = clock_offset  # from the device service's GetSystemDateAndTime (WS-Security Created)
    try:
        reply = session.ask("GetVideoSources")
    except DeviceError as exc:
        return None, f"its ONVIF media service: {exc}"
    except (ZeepError, etree.LxmlError, xmlsafe.UnsafeXML, ValueError, TypeError, AttributeError) as exc:
        return None, f"its ONVIF media service gave an unusable reply ({type(exc).__name__})"
    finally:
        session.http.close()
    if session.auth == "rejected":
        raise MediaRefused(BAD_CREDENTIALS)
    if session.needs_auth:
        why = session.withheld or transport.credentials_withheld(ip, port) or "credentials not sent"
        raise MediaRefused(f"its media service needs credentials: {why}")
    if reply is None:
        fault = session.faults.get("GetVideoSources")
        return None, (f"its ONVIF media service answered GetVideoSources with a fault: {fault}" if fault
                      else "no GetVideoSources answer from its ONVIF media service")
    out: list[Channel] = []
    for src in reply.VideoSources[:MAX_CHANNELS]:
        res = src.Resolution
        ch = video_source_channel(src._el.get("token"), res.Width if res is not None else None,
                                  res.Height if res is not None else None)
        if ch is not None and all(c.channel != ch.channel for c in out):
            out.append(ch)
    return out, ""
