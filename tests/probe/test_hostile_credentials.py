"""Issue 12, credentials against hostile loopback devices: none before a device asks, none to a port that is not
a credential port or an address outside [credentials] scope (the skip says how to allow it), none into a Digest
challenge without qop, SHA-256 chosen whatever order the device lists it in, one challenge per device (not per
call), and the https XAddr taken for a device that may be logged into."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import pytest
from tcp_fakes import LoopbackDevice, Peer

from camscan.discover.wsd import device_service_url
from camscan.models import Credentials
from camscan.probe.onvif import OnvifClientFactory, OnvifProbe
from camscan.transport import DEFAULT_CREDENTIAL_PORTS, CredentialPolicy, Transport

CREDS = Credentials("admin", "hostile-unit-pw")
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
ANY_PORT = range(1, 65536)

ENV = (b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
       b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" '
       b'xmlns:ter="http://www.onvif.org/ver10/error"><s:Body>%s</s:Body></s:Envelope>')
SDT = ENV % (b"<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
             b"<tt:DaylightSavings>false</tt:DaylightSavings></tds:SystemDateAndTime>"
             b"</tds:GetSystemDateAndTimeResponse>")
INFO = ENV % (b"<tds:GetDeviceInformationResponse><tds:Manufacturer>HostileCam</tds:Manufacturer>"
              b"<tds:Model>H-1</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
              b"<tds:SerialNumber>S1</tds:SerialNumber><tds:HardwareId>1</tds:HardwareId>"
              b"</tds:GetDeviceInformationResponse>")
NOT_AUTHORIZED = ENV % (b"<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized"
                        b'</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">Sender not Authorized'
                        b"</s:Text></s:Reason></s:Fault>")
NOT_SUPPORTED = ENV % (b"<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>ter:ActionNotSupported"
                       b'</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">not supported</s:Text>'
                       b"</s:Reason></s:Fault>")


def http(status: str, body: bytes = b"", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/soap+xml\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
            .encode() + body)


def carries_credentials(request: bytes) -> bool:
    return b"UsernameToken" in request or b"\r\nAuthorization:" in request


def answer_ops(request: bytes) -> bytes:
    if b"GetSystemDateAndTime" in request:
        return http("200 OK", SDT)
    if b"GetDeviceInformation" in request:
        return http("200 OK", INFO)
    return http("400 Bad Request", NOT_SUPPORTED)


@pytest.fixture
def device():
    made: list[LoopbackDevice] = []

    def make(answer: Callable[[bytes], bytes]) -> LoopbackDevice:
        def serve(peer: Peer) -> None:
            while (request := peer.request()) is not None:
                peer.send(answer(request))
        made.append(LoopbackDevice(serve))
        return made[-1]

    yield make
    for d in made:
        d.close()


@pytest.fixture(scope="module")
def factory() -> OnvifClientFactory:
    return OnvifClientFactory()


def probe(factory, dev: LoopbackDevice, **policy):
    kw = {"ports": ANY_PORT, **policy}
    transport = Transport(credentials=CredentialPolicy(CREDS, LOOPBACK, **kw))
    return OnvifProbe(factory, timeout=2, max_bytes=1 << 20, transport=transport).probe(
        "127.0.0.1", f"http://127.0.0.1:{dev.port}/onvif/device_service")


def wsse_asker(request: bytes) -> bytes:
    """A device that wants WS-Security for everything but the clock."""
    if b"GetSystemDateAndTime" in request or b"UsernameToken" in request:
        return answer_ops(request)
    return http("400 Bad Request", NOT_AUTHORIZED)


def test_a_device_that_never_asks_never_sees_the_credentials(factory, device):
    dev = device(answer_ops)
    result = probe(factory, dev)
    assert ("onvif.GetDeviceInformation", "manufacturer", "HostileCam") in {
        (e.source, e.field, e.value) for e in result.evidence}
    assert dev.requests and not [r for r in dev.requests if carries_credentials(r)]


def test_one_challenge_per_device_then_credentials_on_every_call(factory, device):
    dev = device(wsse_asker)
    result = probe(factory, dev)
    assert ("onvif.GetDeviceInformation", "model", "H-1") in {(e.source, e.field, e.value) for e in result.evidence}
    refused = [r for r in dev.requests if not carries_credentials(r) and b"GetSystemDateAndTime" not in r]
    assert len(refused) == 1  # the one anonymous question that brought the challenge
    later = dev.requests[dev.requests.index(refused[0]) + 1:]
    assert later and all(carries_credentials(r) for r in later)


def test_a_rogue_port_is_probed_without_credentials_and_the_skip_says_how_to_allow_it(factory, device):
    dev = device(wsse_asker)
    assert dev.port not in DEFAULT_CREDENTIAL_PORTS
    result = probe(factory, dev, ports=DEFAULT_CREDENTIAL_PORTS)
    assert not [r for r in dev.requests if carries_credentials(r)]
    (skip,) = [s for s in result.skips if s.stage == "onvif.auth"]
    assert f"credentials withheld from port {dev.port}" in skip.reason and "[credentials] ports" in skip.reason
    assert CREDS.password not in repr(result)


def test_an_address_outside_the_narrower_credential_scope_gets_none(factory, device):
    dev = device(wsse_asker)
    result = probe(factory, dev, narrower=[ipaddress.ip_network("127.0.0.2/32")])
    assert not [r for r in dev.requests if carries_credentials(r)]
    assert any("[credentials] scope" in s.reason for s in result.skips)


def digest_device(challenges: list[str]) -> Callable[[bytes], bytes]:
    offered = "".join(f"WWW-Authenticate: {c}\r\n" for c in challenges)

    def answer(request: bytes) -> bytes:
        if b"GetSystemDateAndTime" in request or b"\r\nAuthorization: Digest" in request:
            return answer_ops(request)
        return http("401 Unauthorized", b"", offered)
    return answer


def test_a_digest_challenge_without_qop_is_never_answered(factory, device):
    dev = device(digest_device(['Digest realm="cam", nonce="abc123"']))
    result = probe(factory, dev)
    assert not [r for r in dev.requests if carries_credentials(r)]
    assert any("without qop" in s.reason for s in result.skips), result.skips


@pytest.mark.parametrize("order", [
    ['Digest realm="cam", nonce="n1", qop="auth", algorithm=MD5',
     'Digest realm="cam", nonce="n1", qop="auth", algorithm=SHA-256'],
    ['Digest realm="cam", nonce="n1", qop="auth", algorithm=SHA-256',
     'Digest realm="cam", nonce="n1", qop="auth", algorithm=MD5'],
])
def test_sha256_is_chosen_whatever_the_order(factory, device, order):
    dev = device(digest_device(order))
    result = probe(factory, dev)
    answered = [r for r in dev.requests if b"\r\nAuthorization: Digest" in r]
    assert answered and all(re.search(rb"algorithm=SHA-256[,\r]", r) for r in answered)
    assert ("onvif.GetDeviceInformation", "model", "H-1") in {(e.source, e.field, e.value) for e in result.evidence}


def test_the_https_xaddr_is_taken_when_credentials_may_be_sent():
    xaddrs = ["http://198.51.100.7/onvif/device_service", "https://198.51.100.7/onvif/device_service"]
    assert device_service_url(xaddrs, "198.51.100.7", prefer_https=True).startswith("https://")
    assert device_service_url(xaddrs, "198.51.100.7").startswith("http://")
    assert device_service_url(xaddrs[:1], "198.51.100.7", prefer_https=True).startswith("http://")


def test_the_policy_never_hands_out_credentials_before_a_challenge():
    policy = CredentialPolicy(CREDS, LOOPBACK)
    assert policy.for_target("127.0.0.1", 80) is None
    assert policy.for_target("127.0.0.1", 80, challenged=True) is CREDS
    assert policy.for_target("127.0.0.1", 31337, challenged=True) is None
    assert policy.for_target("192.0.2.1", 80, challenged=True) is None
