"""The one place camscan opens sockets, and the seam where a scan is recorded or replayed.

Probes and discovery never call ``socket.socket`` or ``socket.create_connection`` themselves: they ask a
:class:`Transport`. It gives

* :meth:`Transport.connect`: one TCP connection to ``ip:port`` (TLS on top when asked), as a :class:`Stream`
  whose every wait (connect, handshake, send, each read) is bounded by the :class:`Budget` of the current
  call: the earlier of the call's wall clock and the scan's deadline. A device trickling one byte a second
  costs one budget, never more. The HTTP client, the RTSP probe and the TLS certificate read all use it, and
  there is one non-blocking TLS handshake (:func:`_handshake`) for all of them.
* :meth:`Transport.udp_socket` (the UDP discovery window, IPv4 and IPv6), :meth:`Transport.tcp_socket` (the
  non-blocking connects of the port check) and :meth:`Transport.packet_socket` (the ARP sweep's layer-2 link,
  ``AF_PACKET``), so a test hands a scan a transport instead of patching :mod:`socket` process-wide.
  (Sockets that only serve interface ioctls stay where they are used.)

Waiting on a device gives up the CPU slot of the scan's scheduler: the scheduler passes its gate in
(:class:`Transport` ``gate``); outside a scan the gate is :data:`NO_GATE`, which does nothing.

**Credentials** are attached to a request in one place: a prober asks :meth:`Transport.credentials_for` with
the ``(address, port)`` the request goes to, and sends credentials only when it gets some back. The answer
comes from the :class:`CredentialPolicy` the caller passed in (``Transport(credentials=...)``): only to an
address in the scan scope (and in ``[credentials] scope``), only to a credential port (``[credentials]
ports``), only once the device asked (``challenged=True``: a probe answering a NotAuthorized fault or a 401).
No prober decides on its own.

**Recording and replay** (:mod:`camscan.replay`): a recording transport wraps the streams a live transport
opens and writes what devices said into a device folder; a replay transport answers connects from such a
folder without any network. The probes and parsers above them are the same.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from camscan import net
from camscan.models import Credentials

# OpenSSL's SSL_OP_LEGACY_SERVER_CONNECT (Python names it only from 3.12)
OP_LEGACY_SERVER_CONNECT = getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)


# --------------------------------------------------------------------------------------------- the CPU gate
class Gate(Protocol):
    """What the transport needs of the scheduler's CPU gate (:class:`camscan.scheduler.CpuGate`)."""

    def waiting(self) -> AbstractContextManager[None]: ...


class _NoGate:
    """The gate outside a scan: waiting gives nothing up."""

    @contextmanager
    def waiting(self) -> Iterator[None]:
        yield


NO_GATE = _NoGate()


# ------------------------------------------------------------------------------------------------ budgets
class TransportError(Exception):
    """A connection that produced no usable answer. ``kind`` is one of: ``deadline`` (the scan's deadline),
    ``wall`` (the call's wall-clock cap), ``connect_timeout``, ``timeout`` (one operation waited the
    per-operation timeout), ``refused``, ``reset``, ``closed`` (closed without a reply), ``tls``, ``protocol``
    (the peer does not speak the protocol), ``other``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Budget:
    """The time left for one call: the earlier of its wall-clock cap and the scan's deadline (both
    ``time.monotonic()``), with ``op_timeout`` the most any single wait may take."""

    def __init__(self, wall: float, deadline: float | None, op_timeout: float) -> None:
        now = time.monotonic()
        self.end = now + max(0.0, wall)
        self.kind = "wall"
        if deadline is not None and deadline < self.end:
            self.end, self.kind = deadline, "deadline"
        self.op_timeout = op_timeout
        self.spent = False  # the budget (not the per-operation timeout) ended a wait

    def timeout(self) -> float:
        """The socket timeout for the next operation; raises TimeoutError once the budget is spent."""
        left = self.end - time.monotonic()
        if left <= 0:
            self.spent = True
            raise TimeoutError("call budget spent")
        if left < self.op_timeout:
            self.spent = True  # if this wait times out, the budget ended it
            return left
        self.spent = False
        return self.op_timeout

    def over(self) -> bool:
        return time.monotonic() >= self.end


def slow(kind: str) -> str:
    """The reason for a budget that ran out, in words."""
    return ("scan deadline reached while waiting for the reply" if kind == "deadline"
            else "no complete answer within the wall-clock cap")


# ------------------------------------------------------------------------------------------------- streams
class Stream:
    """One connected TCP stream (TLS when ``tls``) to ``ip:port``. Each operation waits at most what the
    current :attr:`budget` has left (set it per call) and gives up the scheduler's CPU slot while it waits.
    Socket errors surface as OSError/TimeoutError/ssl.SSLError, for the protocol client to word."""

    def __init__(self, sock: socket.socket, ip: str, port: int, tls: bool, gate: Gate = NO_GATE) -> None:
        self.sock = sock
        self.ip = ip
        self.port = port
        self.tls = tls
        self.gate = gate
        self.budget: Budget | None = None

    def _arm(self) -> None:
        if self.budget is not None:
            self.sock.settimeout(self.budget.timeout())

    def send_all(self, data: bytes) -> None:
        self._arm()
        with self.gate.waiting():
            self.sock.sendall(data)

    def recv_into(self, buf) -> int:  # type: ignore[no-untyped-def]
        self._arm()
        with self.gate.waiting():
            return self.sock.recv_into(buf)

    def recv(self, size: int) -> bytes:
        self._arm()
        with self.gate.waiting():
            return self.sock.recv(size)

    def idle_readable(self) -> bool:
        """Whether an idle (kept-alive) connection has anything to say: bytes, a close, a reset, an error."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        try:
            return wait_ready(self.sock, False, 0.0)
        except (OSError, ValueError):
            return True

    def peer_certificate(self) -> bytes | None:
        """The DER certificate the peer presented (TLS streams), None when there is none."""
        if not isinstance(self.sock, ssl.SSLSocket):
            return None
        return self.sock.getpeercert(binary_form=True)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def wait_ready(sock: socket.socket, write: bool, timeout: float) -> bool:
    """Whether ``sock`` is ready to read (or write) within ``timeout`` seconds. poll() where there is one:
    select() refuses descriptors above FD_SETSIZE (1024), and a scan holds many sockets at once."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        return bool(poller.poll(max(0.0, timeout) * 1000))
    ready = select.select([sock] if not write else [], [sock] if write else [], [], max(0.0, timeout))
    return any(ready)


def permissive_context() -> ssl.SSLContext:
    """A client context that accepts what old device firmware offers (TLS 1.0, small keys, legacy
    renegotiation) and verifies nothing: camscan reads certificates, it does not trust them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    except (ValueError, ssl.SSLError):
        pass  # the OpenSSL build forbids it: keep its default
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pass  # a TLS library without security levels: keep its default list
    ctx.options |= OP_LEGACY_SERVER_CONNECT
    return ctx


_CONTEXT: ssl.SSLContext | None = None


def shared_context() -> ssl.SSLContext:
    """One permissive context for every connection (building one costs more than a handshake)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = permissive_context()
    return _CONTEXT


# ------------------------------------------------------------------------------------------- credentials
# Ports credentials may go to unless the user says otherwise ([credentials] ports): where cameras serve ONVIF and
# their web UI (80, 8000, 8080 NVRs, 8899 Xiongmai-class boards, 2020 TP-Link Tapo) and HTTPS (443).
DEFAULT_CREDENTIAL_PORTS = (80, 443, 2020, 8000, 8080, 8899)


class CredentialPolicy:
    """Which credentials, if any, may go with a request to ``(ip, port)``: THE place credentials are attached.

    Credentials go only

    * to an address inside ``scope`` (the scan's targets, or the attached subnets when no target was given) and
      inside ``narrower`` when the user gave one (``[credentials] scope``, a list of CIDRs);
    * to a port in ``ports`` (``[credentials] ports``, default :data:`DEFAULT_CREDENTIAL_PORTS`): a device may
      advertise a service on any port, and anything listening there would collect the login;
    * after the device asked for them (``challenged``: an ONVIF NotAuthorized fault or an HTTP 401 to a request
      sent without them): a device that answers anonymously never sees them. The prober keeps what one
      challenge allowed for the rest of that device's probe.

    Probers never read credentials anywhere else: they call :meth:`Transport.credentials_for` per request, and
    :meth:`withheld` words why none came. ``given`` says whether the user gave any."""

    def __init__(self, credentials: Credentials | None = None, scope: Sequence = (),
                 ports: Sequence[int] = DEFAULT_CREDENTIAL_PORTS, narrower: Sequence = ()) -> None:
        self._credentials = credentials
        self.scope = tuple(scope)
        self.ports = tuple(ports)
        self._ports = frozenset(self.ports)
        self.narrower = tuple(narrower)

    @property
    def given(self) -> bool:
        return self._credentials is not None

    def withheld(self, ip: str, port: int) -> str | None:
        """Why credentials may not go to ``ip:port`` even when the device asks (None: they may), in words that
        say how to allow them where that is the user's choice."""
        if self._credentials is None:
            return "no credentials given (CAMSCAN_USERNAME/CAMSCAN_PASSWORD or --config)"
        if not net.in_scope(ip, self.scope):
            return "credentials are not sent to this address: it is outside the scan scope"
        if self.narrower and not net.in_scope(ip, self.narrower):
            return "credentials are not sent to this address: it is outside [credentials] scope"
        if port not in self._ports:
            listed = ", ".join(str(p) for p in self.ports)
            return (f"credentials withheld from port {port}: it is not a credential port ({listed}); to allow it, "
                    f"list it in the config's [credentials] ports, e.g. ports = [{listed}, {port}]")
        return None

    def for_target(self, ip: str, port: int, challenged: bool = False) -> Credentials | None:
        """The credentials to send to ``ip:port`` once the device asked (``challenged``), or None."""
        if not challenged or self.withheld(ip, port) is not None:
            return None
        return self._credentials


NO_CREDENTIALS = CredentialPolicy()


# ------------------------------------------------------------------------------------------ the transport
class Transport:
    """Opens every socket of a scan (see the module docstring). ``gate``: the scheduler's CPU gate;
    ``credentials``: the :class:`CredentialPolicy`. Thread-safe: it holds no per-connection state."""

    def __init__(self, gate: Gate = NO_GATE, credentials: CredentialPolicy = NO_CREDENTIALS) -> None:
        self.gate = gate
        self.credentials = credentials

    # -- the credential seam
    def credentials_for(self, ip: str, port: int, challenged: bool = False) -> Credentials | None:
        """Credentials for a request to ``ip:port`` whose device asked for them (``challenged``), or None."""
        return self.credentials.for_target(ip, port, challenged)

    def credentials_withheld(self, ip: str, port: int) -> str | None:
        """Why no credentials go to ``ip:port`` (None: they may, once the device asks)."""
        return self.credentials.withheld(ip, port)

    @property
    def credentials_given(self) -> bool:
        return self.credentials.given

    # -- TCP streams
    def connect(self, ip: str, port: int, budget: Budget, *, tls: bool = False,
                context: ssl.SSLContext | None = None) -> Stream:
        """A connected :class:`Stream` (TLS handshake done when ``tls``) within ``budget``; raises
        :class:`TransportError` (``connect_timeout``, ``refused``, ``tls``, ``wall``/``deadline``, ...)."""
        try:
            timeout = budget.timeout()
            with self.gate.waiting():
                sock = socket.create_connection((ip, port), timeout=timeout)
        except BaseException as exc:
            if isinstance(exc, (TimeoutError, socket.timeout)) and not budget.spent:
                raise TransportError("connect_timeout", "connect timed out") from None
            raise failure(exc, budget) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small requests, sent whole
            if tls:
                sock = _handshake(sock, budget, context or shared_context(), self.gate)
        except BaseException:
            sock.close()
            raise
        return Stream(sock, ip, port, tls, self.gate)

    def received(self, protocol: str, ip: str, data: bytes) -> None:
        """A discovery datagram from ``ip`` that ``protocol``'s codec accepted (a recording keeps it)."""

    # -- datagram and raw sockets
    def udp_socket(self, family: int = socket.AF_INET) -> socket.socket:
        """An unbound UDP socket (the discovery window sets its options and binds it): one opened in advance by
        a privileged parent (:func:`preopen_udp`) while there is one, else a new one."""
        if family == socket.AF_INET and _preopened:
            return _preopened.pop()
        return socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)

    def tcp_socket(self) -> socket.socket:
        """A non-blocking IPv4 TCP socket, not yet connected (the port check's ``connect_ex``)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock

    def packet_socket(self) -> socket.socket:
        """A Linux ``AF_PACKET`` raw socket receiving nothing until bound (the ARP sweep's link); raises
        PermissionError without CAP_NET_RAW, AttributeError where there is no AF_PACKET."""
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)


DIRECT = Transport()

# IPv4 UDP sockets a privileged parent opened (and gave forced buffer sizes, which need CAP_NET_ADMIN) before its
# unprivileged child took over the scan (camscan.privsep); handed out by Transport.udp_socket.
_preopened: list[socket.socket] = []


def preopen_udp(count: int, prepare: Callable[[socket.socket], None]) -> None:
    """Open ``count`` IPv4 UDP sockets now, each set up by ``prepare``, for :meth:`Transport.udp_socket`."""
    while len(_preopened) < count:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        prepare(sock)
        _preopened.append(sock)


def close_preopened() -> None:
    """Close the sockets :func:`preopen_udp` opened (the parent, once its child has its own copies)."""
    while _preopened:
        _preopened.pop().close()


def _handshake(raw: socket.socket, budget: Budget, ctx: ssl.SSLContext, gate: Gate) -> ssl.SSLSocket:
    """TLS over ``raw`` with every wait inside the budget (a device dribbling its handshake cannot hold the
    call: the handshake runs non-blocking and each wait is bounded by what is left)."""
    try:
        tls = ctx.wrap_socket(raw, server_hostname=None, do_handshake_on_connect=False)
    except (ssl.SSLError, OSError) as exc:
        raise TransportError("tls", f"TLS handshake failed: {exc}") from None
    try:
        tls.setblocking(False)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                write = False
            except ssl.SSLWantWriteError:
                write = True
            except (ssl.SSLError, OSError) as exc:
                raise TransportError("tls", "TLS handshake failed") from exc
            try:
                left = budget.timeout()
            except TimeoutError:
                raise TransportError(budget.kind, slow(budget.kind)) from None
            with gate.waiting():
                ready = wait_ready(tls, write, left)
            if not ready:
                if budget.spent:
                    raise TransportError(budget.kind, slow(budget.kind))
                raise TransportError("timeout", "TLS handshake timed out")
    except BaseException:
        # wrap_socket detached ``raw``: closing it (as the caller does) no longer closes the descriptor, and
        # the failure's traceback would hold this socket open for as long as the failure is kept.
        tls.close()
        raise
    return tls


def failure(exc: BaseException, budget: Budget) -> TransportError:
    """What went wrong, as a TransportError (re-raises what is not the device's doing)."""
    import http.client

    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, (TimeoutError, socket.timeout)):
        if budget.spent:
            return TransportError(budget.kind, slow(budget.kind))
        return TransportError("timeout", "read timed out")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError("refused", "connection refused")
    if isinstance(exc, http.client.RemoteDisconnected):
        return TransportError("closed", "the device closed the connection without a reply")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return TransportError("reset", "connection reset by the device")
    if isinstance(exc, ssl.SSLError):
        return TransportError("tls", "TLS failed")
    if isinstance(exc, http.client.IncompleteRead):
        return TransportError("closed", "the device closed the connection in the middle of the reply")
    if isinstance(exc, (http.client.HTTPException, ValueError, UnicodeError)):
        return TransportError("protocol", f"not a valid HTTP reply ({type(exc).__name__})")
    if isinstance(exc, OSError):
        return TransportError("other", f"connection failed: {exc.strerror or exc}")
    if isinstance(exc, Exception):
        return TransportError("other", f"{type(exc).__name__}: {exc}"[:160])
    raise exc  # KeyboardInterrupt, SystemExit: not ours to turn into a skip
