"""Issue 12, limits of the HTTP client against hostile loopback peers: a reply head past 64 KiB, conflicting
Content-Length headers, a NUL in a header we would send, and a DTD hidden from a byte search by UTF-16."""

from __future__ import annotations

import pytest
from tcp_fakes import LoopbackDevice, Peer

from camscan.codec import xmlsafe
from camscan.probe.httpclient import MAX_HEAD, HttpFailure


@pytest.fixture
def device():
    made = []

    def make(serve):
        made.append(LoopbackDevice(serve))
        return made[-1]

    yield make
    for d in made:
        d.close()


def once(reply: bytes):
    def serve(peer: Peer) -> None:
        if peer.request() is not None:
            peer.send(reply)
    return serve


def test_a_reply_head_past_64_kib_is_refused(device):
    # 100 headers of 1 KiB each: within http.client's own limits (100 lines of 64 KiB), over ours
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(90))
    dev = device(once(head + b"Content-Length: 2\r\n\r\nok"))
    with dev.connect() as c, pytest.raises(HttpFailure) as err:
        c.request("GET", "/")
    assert err.value.kind == "protocol" and "head larger than" in err.value.reason


def test_a_head_just_under_the_cap_is_read(device):
    pad = b"X-Pad: " + b"a" * (MAX_HEAD - 200) + b"\r\n"
    dev = device(once(b"HTTP/1.1 200 OK\r\n" + pad + b"Content-Length: 2\r\n\r\nok"))
    with dev.connect() as c:
        assert c.request("GET", "/").body == b"ok"


@pytest.mark.parametrize("lengths", [b"Content-Length: 2\r\nContent-Length: 40\r\n", b"Content-Length: 2, 40\r\n"])
def test_conflicting_content_lengths_are_refused(device, lengths):
    dev = device(once(b"HTTP/1.1 200 OK\r\n" + lengths + b"\r\nok" + b"x" * 38))
    with dev.connect() as c, pytest.raises(HttpFailure) as err:
        c.request("GET", "/")
    assert err.value.kind == "protocol" and "Content-Length" in err.value.reason


def test_repeated_equal_content_lengths_are_accepted(device):
    dev = device(once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"))
    with dev.connect() as c:
        assert c.request("GET", "/").body == b"ok"


@pytest.mark.parametrize("headers", [{"X-Test": "a\x00b"}, {"X\x00": "v"}])
def test_nul_in_an_outgoing_header_is_refused_before_sending(device, headers):
    dev = device(once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    with dev.connect() as c, pytest.raises(ValueError, match="bad request header"):
        c.request("GET", "/", headers=headers)
    assert dev.requests == []


def test_a_utf16_document_with_a_dtd_is_refused_on_the_parsed_tree():
    doc = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>'.encode("utf-16")
    assert b"<!DOCTYPE" not in doc  # the byte search alone lets it through
    with pytest.raises(xmlsafe.UnsafeXML, match="DTD"):
        xmlsafe.parse(doc)
    assert xmlsafe.parse('<r>fine</r>'.encode("utf-16")).text == "fine"
