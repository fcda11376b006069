"""HTTP authentication codecs (RFC 7235 challenges, RFC 7616 Digest answers), shared by every stage.

:func:`parse_challenges` reads ``WWW-Authenticate`` values (HTTP, RTSP, ONVIF's HTTP Digest);
:func:`digest_params` picks the Digest challenge to answer out of a set of headers (SHA-256 first, never one
without qop: :func:`digest_refusal`); :func:`digest_authorization`
computes the answer. Pure functions: tested on strings, never raise on a device's text.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping

MAX_CHALLENGE = 4096  # characters of one WWW-Authenticate value parsed

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """``WWW-Authenticate`` challenges (RFC 7235 section 4.1) as (lower-case scheme, params), params with
    lower-case names. Tolerant of what devices send (several challenges in one value, missing commas,
    unquoted values, stray characters); never raises. A parameter before any scheme goes under ''."""
    s = value[:MAX_CHALLENGE]
    out: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    i, n = 0, len(s)
    while i < n:
        while i < n and (s[i].isspace() or s[i] == ","):
            i += 1
        m = _TOKEN.match(s, i)
        if not m:
            i += 1  # a stray character: skip it
            continue
        token, i = m.group(), m.end()
        j = i
        while j < n and s[j] == " ":
            j += 1
        if j < n and s[j] == "=":
            j += 1
            while j < n and s[j] == " ":
                j += 1
            if j < n and s[j] == '"':
                val, i = _quoted(s, j)
            else:
                k = j
                while k < n and s[k] != "," and not s[k].isspace():
                    k += 1
                val, i = s[j:k], k
            if current is None:
                current = {}
                out.append(("", current))
            current.setdefault(token.lower(), val)
        else:
            current = {}
            out.append((token.lower(), current))
    return out


def _quoted(s: str, j: int) -> tuple[str, int]:
    """The quoted-string starting at ``s[j] == '"'``: (unescaped text, index after it)."""
    buf = []
    k = j + 1
    while k < len(s):
        c = s[k]
        if c == "\\" and k + 1 < len(s):
            buf.append(s[k + 1])
            k += 2
            continue
        if c == '"':
            return "".join(buf), k + 1
        buf.append(c)
        k += 1
    return "".join(buf), k  # unterminated: take the rest


def digest_params(values: Iterable[str]) -> dict[str, str] | None:
    """The Digest challenge to answer among ``WWW-Authenticate`` ``values``, or None when there is none: among
    those this client can answer (:func:`digest_usable`), SHA-256 before MD5 whatever order the device lists
    them in (RFC 7616 section 3.7: a client picks the strongest it supports); failing any, the first Digest
    challenge (which :func:`digest_authorization` then refuses, and :func:`digest_refusal` explains)."""
    found = [params for value in values for scheme, params in parse_challenges(value) if scheme == "digest"]
    usable = [p for p in found if digest_usable(p)]
    if usable:
        return min(usable, key=lambda p: 0 if _algorithm(p).startswith("sha-256") else 1)
    return found[0] if found else None


def _algorithm(challenge: Mapping[str, str]) -> str:
    return challenge.get("algorithm", "MD5").strip().lower()


def digest_refusal(challenge: Mapping[str, str]) -> str | None:
    """Why this client will not answer a Digest challenge (None: it will). No ``qop`` is RFC 2069 Digest: no
    client nonce, so a listener can replay the answer and test guesses against it offline at leisure; trusted
    clients (curl, browsers) refuse to send a password into it."""
    if _algorithm(challenge).removesuffix("-sess") not in _DIGEST_HASHES:
        return f"unsupported Digest algorithm {challenge.get('algorithm', '')[:40]!r}"
    if not challenge.get("nonce"):
        return "Digest challenge without a nonce"
    if any(c in v for v in challenge.values() for c in "\r\n\x00"):
        return "Digest challenge with control characters"
    qops = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
    if not qops:
        return "Digest challenge without qop (RFC 2069 style: no client nonce, answer replayable)"
    if "auth" not in qops:
        return "Digest challenge offers only qop=auth-int"
    return None


def digest_usable(challenge: Mapping[str, str]) -> bool:
    return digest_refusal(challenge) is None


_DIGEST_HASHES = {"md5": hashlib.md5, "sha-256": hashlib.sha256}


def digest_authorization(challenge: Mapping[str, str], method: str, uri: str, username: str, password: str,
                         nc: int = 1, cnonce: str | None = None) -> str | None:
    """The ``Authorization`` value answering a Digest challenge (params with lower-case names, as
    :func:`parse_challenges` gives them), per RFC 7616 section 3.4; None when the
    challenge asks for something this client does not do (see :func:`digest_refusal`: an unknown algorithm,
    ``auth-int`` only, no ``qop`` at all)."""
    if digest_refusal(challenge) is not None:
        return None  # line breaks never reach our header block; no qop, no answer (see digest_refusal)
    algorithm = challenge.get("algorithm", "MD5").strip()
    factory = _DIGEST_HASHES[algorithm.lower().removesuffix("-sess")]
    realm = challenge.get("realm", "")
    nonce = challenge.get("nonce", "")

    def h(text: str) -> str:
        return factory(text.encode("utf-8")).hexdigest()

    cnonce = cnonce or os.urandom(8).hex()
    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.lower().endswith("-sess"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    ncv = f"{nc:08x}"
    response = h(f"{ha1}:{nonce}:{ncv}:{cnonce}:auth:{ha2}")
    parts = [f'username="{_quote(username)}"', f'realm="{_quote(realm)}"', f'nonce="{_quote(nonce)}"',
             f'uri="{_quote(uri)}"', f"algorithm={algorithm}", f'response="{response}"']
    if "opaque" in challenge:
        parts.append(f'opaque="{_quote(challenge["opaque"])}"')
    parts += ["qop=auth", f"nc={ncv}", f'cnonce="{cnonce}"']
    return "Digest " + ", ".join(parts)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
