"""A tiny hand-written client the lab tests run *inside the scanner namespace* (via ``Site.exec``).

It deliberately does not use camscan's own code: the tests check the lab against the wire
protocols, not against the scanner. Prints one JSON document on stdout.

    python lab_client.py probe  '{"dest": "239.255.255.250", "types": "dn:NetworkVideoTransmitter"}'
    python lab_client.py soap   '{"url": "...", "op": "GetSystemDateAndTime", "username": "admin", ...}'
    python lab_client.py http   '{"url": "...", "digest": ["admin", "pw"]}'
    python lab_client.py udp    '{"dest": "239.255.255.250", "port": 37020, "payload": "<Probe>...</Probe>"}'
    python lab_client.py raw    '{"host": "...", "port": 80, "send": "GET / HTTP/1.0\\r\\n\\r\\n"}'
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import select
import socket
import sys
import time
import uuid

import requests
from requests.auth import HTTPDigestAuth

NS_DECL = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
)
PROBE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f"<s:Envelope {NS_DECL}><s:Header><a:MessageID>{{mid}}</a:MessageID>"
    '<a:To s:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
    '<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'
    "</s:Header><s:Body><d:Probe>{types}</d:Probe></s:Body></s:Envelope>"
)
SOAP = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f"<s:Envelope {NS_DECL}>{{header}}<s:Body>{{body}}</s:Body></s:Envelope>"
)
WSS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-"
SECURITY = (
    f'<s:Header><wsse:Security xmlns:wsse="{WSS}wssecurity-secext-1.0.xsd" '
    f'xmlns:wsu="{WSS}wssecurity-utility-1.0.xsd" s:mustUnderstand="1">'
    "<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"
    f'<wsse:Password Type="{WSS}username-token-profile-1.0#{{ptype}}">{{password}}</wsse:Password>'
    f'<wsse:Nonce EncodingType="{WSS}soap-message-security-1.0#Base64Binary">{{nonce}}</wsse:Nonce>'
    "<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
)


def probe(args: dict) -> dict:
    """Send one Probe (optionally repeated with the same MessageID) and collect replies until ``wait``; with
    ``until`` (addresses), until all of those have answered and ``grace`` seconds more (``wait``: a hang guard)."""
    dest = args.get("dest", "239.255.255.250")
    family = socket.AF_INET6 if ":" in dest else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        s.bind(("::", 0))
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("eth0"))
        addr = (dest, 3702, 0, socket.if_nametoindex("eth0"))
    else:
        s.bind((args.get("bind", "0.0.0.0"), 0))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        addr = (dest, 3702)
    mid = args.get("message_id") or f"urn:uuid:{uuid.uuid4()}"
    types = args.get("types")
    types_xml = f"<d:Types>{types}</d:Types>" if types else ""
    data = PROBE.format(mid=mid, types=types_xml).encode()
    for _ in range(1 + int(args.get("repeat", 0))):
        s.sendto(data, addr)
    replies = []
    deadline = time.monotonic() + float(args.get("wait", 1.5))
    waiting_for = set(args.get("until") or ())
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([s], [], [], left)
        if ready:
            payload, src = s.recvfrom(65536)
            replies.append({"src": src[0], "port": src[1], "xml": payload.decode("utf-8", "replace")})
            if waiting_for and waiting_for <= {r["src"] for r in replies}:
                waiting_for = set()  # all in: now only the grace period, for replies that should not come
                deadline = min(deadline, time.monotonic() + float(args.get("grace", 0.5)))
    return {"message_id": mid, "replies": replies}


def soap(args: dict) -> dict:
    """POST one device-service operation, optionally with a WS-Security UsernameToken."""
    header = ""
    if args.get("username") is not None:
        nonce = os.urandom(16)
        created_dt = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(args.get("offset_s", 0)))
        created = created_dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        password = args.get("password", "")
        ptype = args.get("ptype", "PasswordDigest")
        if ptype == "PasswordDigest":
            password = base64.b64encode(
                hashlib.sha1(nonce + created.encode() + password.encode()).digest()
            ).decode()
        header = SECURITY.format(
            user=args["username"],
            ptype=ptype,
            password=password,
            nonce=base64.b64encode(nonce).decode(),
            created=created,
        )
    body = args.get("body") or f"<tds:{args['op']}/>"
    data = SOAP.format(header=header, body=body).encode()
    auth = HTTPDigestAuth(*args["digest"]) if args.get("digest") else None
    headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
    try:
        r = requests.post(
            args["url"], data=data, headers=headers, timeout=float(args.get("timeout", 5)), auth=auth
        )
    except requests.RequestException as exc:
        return {"error": type(exc).__name__, "detail": str(exc)}
    return {"status": r.status_code, "headers": dict(r.headers), "body": r.text}


def http(args: dict) -> dict:
    """GET a URL, optionally with HTTP Digest credentials."""
    auth = HTTPDigestAuth(*args["digest"]) if args.get("digest") else None
    try:
        r = requests.get(args["url"], timeout=float(args.get("timeout", 5)), auth=auth)
    except requests.RequestException as exc:
        return {"error": type(exc).__name__, "detail": str(exc)}
    return {"status": r.status_code, "headers": dict(r.headers), "body": r.text}


def raw(args: dict) -> dict:
    """Send raw bytes over TCP and read until close, ``max_bytes`` or ``timeout`` (never raises)."""
    t0 = time.monotonic()
    out: dict = {"received": 0, "head": "", "error": None}
    chunks: list[bytes] = []
    deadline = t0 + float(args.get("timeout", 3))  # overall, so a trickling server cannot keep us
    try:
        with socket.create_connection(
            (args["host"], int(args["port"])), timeout=float(args.get("timeout", 3))
        ) as s:
            s.sendall(args.get("send", "").encode())
            while out["received"] < int(args.get("max_bytes", 64 * 1024 * 1024)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("overall deadline")
                s.settimeout(left)
                piece = s.recv(65536)
                if not piece:
                    break
                out["received"] += len(piece)
                if sum(len(c) for c in chunks) < 4096:
                    chunks.append(piece)
    except OSError as exc:
        out["error"] = type(exc).__name__
    out["head"] = b"".join(chunks)[:4096].decode("utf-8", "replace")
    out["elapsed"] = time.monotonic() - t0
    return out


def udp(args: dict) -> dict:
    """Send one datagram (``payload`` text or ``payload_hex``) and collect replies until ``wait``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("0.0.0.0", 0))
    data = bytes.fromhex(args["payload_hex"]) if "payload_hex" in args else args["payload"].encode()
    s.sendto(data, (args["dest"], int(args["port"])))
    replies = []
    deadline = time.monotonic() + float(args.get("wait", 1.0))
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([s], [], [], left)
        if ready:
            payload, src = s.recvfrom(65536)
            replies.append({"src": src[0], "hex": payload.hex()})
    return {"replies": replies}


def main() -> None:
    cmd, raw_args = sys.argv[1], sys.argv[2]
    out = {"probe": probe, "soap": soap, "http": http, "raw": raw, "udp": udp}[cmd](json.loads(raw_args))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
