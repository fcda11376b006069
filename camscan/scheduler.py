"""The scan's scheduler: the probe jobs of every host, started as soon as what each needs is known, under one
deadline, with one CPU slot (:class:`CpuGate`) and an injectable clock.

Discovery (:mod:`camscan.discover.interface`) hands hosts to the :class:`Scheduler` as they answer
(:meth:`Scheduler.discovered`) and their open ports as they are known (:meth:`Scheduler.ports_known`); the
scheduler runs the :class:`camscan.probe.plan.ProbePlan`'s probers in a thread pool:

* ONVIF identity: on a host's first discovery reply with a device-service XAddr (the UDP window).
* HTTP/RTSP/TLS evidence: once the host's camera-port check is done and discovery has heard from it (its
  advertised web ports are then known), while the window and the sweep go on; hosts discovery never heard
  from wait for :meth:`Scheduler.finish`. A web port the host advertised only after its job started gets
  a job of its own then.
* ONVIF on open ports: at :meth:`Scheduler.finish`, for hosts that gave no device-service address; never
  earlier, or a device whose WS-Discovery reply came late would be asked twice (and a wrong password tried
  twice).
* ONVIF once more: at :meth:`Scheduler.collect`, for a host whose identity probe timed out before the device
  said anything and before any credentials went out (a device slow only while the sweeps loaded the network).

:meth:`Scheduler.collect` waits for every job until the deadline (on the injected ``clock``); jobs that fail
or run out of time become skips.

**The CPU gate.** One probe thread runs Python at a time; the others wait on their devices.

A scan's probe threads (ONVIF through zeep, HTTP evidence) are mostly CPU when the network is fast, and
CPython runs one thread's bytecode at a time anyway. What many runnable threads do cost is latency for the
scan's own I/O loops (the ARP sweep, the UDP window, the port check): each of their system calls releases
the GIL, and getting it back means competing with every runnable probe thread, up to the switch interval
(5 ms) per call. Measured on 2 cores with 16 busy threads, a 600-connect port check took 4.6-23 s instead
of 0.6 s; with one busy thread, 0.6-0.8 s.

So probe jobs hold a slot of the scan's gate while they compute and give it up while they wait on a
socket (:meth:`CpuGate.waiting` around every blocking call of the :class:`camscan.transport.Transport` the
scan built with its gate, and around the RTSP and TLS probes, which do little else). Many devices are
still waited on at once, which is what the threads are for; the loops compete with one probe thread at
most. Outside a scan (a probe called directly, in a test) no slot is held and :meth:`CpuGate.waiting` does
nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from camscan.discover.interface import DiscoverySink
from camscan.discover.wsd import device_service_url
from camscan.models import Host, ProbeResult, Skip
from camscan.probe.plan import ProbePlan

log = logging.getLogger(__name__)

# Probe jobs in the worker pool at once, per worker; the rest wait in the scheduler's backlog (issue 12).
QUEUE_FACTOR = 4
# Seconds the scan must have left for an identity probe that timed out before its device said anything to be
# tried once more (see Scheduler.collect).
RETRY_ROOM = 2.0
P = ParamSpec("P")
T = TypeVar("T")


class CpuGate:
    """``slots`` threads may hold the gate at a time (see the module docstring). Reentrant per thread."""

    def __init__(self, slots: int = 1) -> None:
        # One slot (the default) is a plain lock: acquire and release in C, where a Semaphore is a Python-level
        # Condition whose notify a probe thread pays on every socket call it gives the slot up for.
        self._sem = threading.Lock() if slots == 1 else threading.Semaphore(slots)
        self._local = threading.local()

    def _held(self) -> bool:
        return getattr(self._local, "held", False)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for the body (a probe job); nested use on one thread holds the same slot."""
        if self._held():
            yield
            return
        self._sem.acquire()
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            self._sem.release()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give the slot up while the body blocks (a socket call), and take it back after."""
        if not self._held():
            yield
            return
        self._local.held = False
        self._sem.release()
        try:
            yield
        finally:
            self._sem.acquire()
            self._local.held = True

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` holding a slot (for submitting probe jobs to an executor)."""
        with self.held():
            return fn(*args, **kwargs)



class Scheduler(DiscoverySink):
    """The probe jobs of one scan (see the module docstring). ``workers`` threads wait on devices at once;
    ``gate`` is the CPU gate the scan's transport gives up while waiting; ``clock`` is ``time.monotonic``
    unless a test injects another. Give it the plan (:meth:`use`) before discovery hands it hosts."""

    def __init__(self, workers: int, gate: CpuGate | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.gate = gate or CpuGate(1)
        self.clock = clock
        self.plan: ProbePlan | None = None
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="camscan-probe")
        self.lock = threading.RLock()  # RLock: a job done at once calls back into _pump under it
        # At most QUEUE_FACTOR x workers probe jobs are in the pool at a time; the rest wait in the backlog (a
        # spoofed flood of sources must not become thousands of queued jobs) and go in as jobs finish. Those
        # still waiting when the deadline comes become skips that say so (issue 12).
        self.limit = QUEUE_FACTOR * max(1, workers)
        self.running = 0
        self.backlog: deque[tuple[Future, Callable[..., ProbeResult], tuple]] = deque()
        self.onvif: dict[str, Future[ProbeResult]] = {}
        self.evidence: list[tuple[str, Future[ProbeResult]]] = []
        self.asked: dict[str, set[tuple[str, int]]] = {}  # web services an evidence job covers, per host
        self.seen: dict[str, Host] = {}
        self.ports: dict[str, list[int]] = {}
        self.skips: list[Skip] = []

    def use(self, plan: ProbePlan) -> None:
        self.plan = plan

    def start(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """A background job in the pool, outside the gate (the WSDL parse that overlaps discovery)."""
        return self.pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        """Stop taking jobs and drop the ones not started (running ones end at their own deadline)."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- what discovery hands over
    def discovered(self, host: Host) -> None:
        with self.lock:
            self.seen[host.ip] = host
            if host.ip not in self.onvif and host.xaddrs:
                if device_service_url(host.xaddrs, host.ip) is None:
                    self.skips.append(Skip(host.ip, "onvif", "no usable device-service XAddr in the discovery "
                                                             "reply"))
                else:
                    self.onvif[host.ip] = self._job(self._plan().identity.probe, host, ())
            self._early(host.ip)

    def counts(self) -> tuple[int, int]:
        """(hosts discovered, hosts with probe jobs that have all finished)."""
        with self.lock:
            jobs = [*self.onvif.items(), *self.evidence]
            found = len(self.seen.keys() | self.ports.keys())
        pending = {ip for ip, fut in jobs if not fut.done()}
        return found, len({ip for ip, _fut in jobs} - pending)

    def ports_known(self, ip: str, ports: Sequence[int]) -> None:
        with self.lock:
            self.ports[ip] = list(ports)
            self._early(ip)

    def finish(self, hosts: dict[str, Host], open_ports: dict[str, list[int]]) -> None:
        """Start what is still missing for every host of the scan (IPv6-only rows get no probes)."""
        plan = self._plan()
        with self.lock:
            log.debug("%d evidence job(s) started during discovery, %d ONVIF identities", len(self.evidence),
                      len(self.onvif))
            for ip, host in hosts.items():
                if ":" in ip:
                    continue
                ports = open_ports.get(ip, [])
                if ip not in self.asked:
                    self._submit(ip, host, ports)
                else:
                    extra = [s for s in plan.web_services(host, ports) if s not in self.asked[ip]]
                    if extra:
                        self.asked[ip].update(extra)
                        self.evidence.append((ip, self._job(plan.web.probe, host, sorted({p for _s, p in extra}))))
                if ip not in self.onvif and plan.has_identity_port(ports):
                    self.evidence.append((ip, self._job(plan.identity.probe, host, ports)))

    def collect(self, deadline: float, skips: list[Skip]) -> list[dict[str, ProbeResult]]:
        """Every job's result, waited for until ``deadline`` (on the clock); one dict per job family (a host
        may have several evidence jobs: their results are combined). Jobs that fail or run out of time
        become skips."""
        with self.lock:
            skips += self.skips
            onvif_jobs = list(self.onvif.items())
            evidence_jobs = list(self.evidence)
        onvif_jobs = self._unstarted(onvif_jobs, deadline, skips)
        evidence_jobs = self._unstarted(evidence_jobs, deadline, skips)
        onvif: dict[str, ProbeResult] = {}
        again: list[tuple[str, Future[ProbeResult]]] = []
        for ip, fut in onvif_jobs:
            got = self._result(ip, fut, deadline, skips, "onvif")
            if got is not None:
                onvif[ip] = got
                if got.again and ip in self.seen and deadline - self.clock() > RETRY_ROOM:
                    # It timed out before the device said anything, and no credentials went out: asked once
                    # more now (typically after the sweeps, whose load on the network made it slow).
                    with self.lock:
                        again.append((ip, self._job(self._plan().identity.probe, self.seen[ip], ())))
        for ip, fut in again:
            dropped: list[Skip] = []
            got = self._result(ip, fut, deadline, dropped, "onvif")
            if got is not None and not got.again:  # an answer this time (else the first try's skip stands)
                log.debug("ONVIF identity of %s read on the second try", ip)
                onvif[ip] = got
        evidence: dict[str, ProbeResult] = {}
        for ip, fut in evidence_jobs:
            got = self._result(ip, fut, deadline, skips, "probe")
            if got is not None:
                evidence.setdefault(ip, ProbeResult()).absorb(got)
        return [onvif, evidence]

    # -- internals (called with the lock held)
    def _plan(self) -> ProbePlan:
        if self.plan is None:
            raise RuntimeError("Scheduler.use(plan) before discovery")
        return self.plan

    def _job(self, fn: Callable[..., ProbeResult], *args: object) -> Future[ProbeResult]:
        """A probe job's future: handed to the pool now, or once fewer than :attr:`limit` jobs are in it."""
        fut: Future[ProbeResult] = Future()
        self.backlog.append((fut, fn, args))
        self._pump()
        return fut

    def _pump(self) -> None:
        with self.lock:
            while self.backlog and self.running < self.limit:
                outer, fn, args = self.backlog.popleft()
                if not outer.set_running_or_notify_cancel():
                    continue  # given up at the deadline
                self.running += 1
                try:
                    inner = self.pool.submit(self.gate.run, fn, *args)
                except RuntimeError as exc:  # the pool was shut down: the scan is ending
                    self.running -= 1
                    outer.set_exception(exc)
                    continue
                inner.add_done_callback(lambda done, outer=outer: self._finished(outer, done))

    def _finished(self, outer: Future, inner: Future) -> None:
        try:
            outer.set_result(inner.result())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the job
            outer.set_exception(exc)
        with self.lock:
            self.running -= 1
        self._pump()

    def _unstarted(self, jobs: list[tuple[str, Future[ProbeResult]]], deadline: float, skips: list[Skip]
                   ) -> list[tuple[str, Future[ProbeResult]]]:
        """The jobs worth waiting for; one still in the backlog at the deadline becomes a skip saying why."""
        out = []
        for ip, fut in jobs:
            if not fut.done() and not fut.running():
                try:
                    fut.result(timeout=max(0.0, deadline - self.clock()))
                except FutureTimeout:
                    if not fut.running() and fut.cancel():
                        skips.append(Skip(ip, "probe", "not probed: still waiting for a probe worker when the scan "
                                                       f"deadline came (at most {self.limit} jobs are queued, "
                                                       f"{QUEUE_FACTOR} x --workers; more --workers or a larger "
                                                       "--deadline reach more hosts)"))
                        continue
                except Exception:  # noqa: BLE001 - reported by _result
                    pass
            out.append((ip, fut))
        return out

    def _early(self, ip: str) -> None:
        if ip not in self.asked and ip in self.ports and ip in self.seen:
            self._submit(ip, self.seen[ip], self.ports[ip])

    def _submit(self, ip: str, host: Host, ports: list[int]) -> None:
        plan = self._plan()
        self.asked[ip] = set(plan.web_services(host, ports))
        self.evidence.append((ip, self._job(self._evidence, plan, host, plan.evidence_ports(host, ports))))

    @staticmethod
    def _evidence(plan: ProbePlan, host: Host, ports: list[int]) -> ProbeResult:
        out = ProbeResult()
        for prober in (plan.web, *plan.others):
            out.absorb(prober.probe(host, ports))
        return out

    def _result(self, ip: str, fut: Future[ProbeResult], deadline: float, skips: list[Skip], stage: str
                ) -> ProbeResult | None:
        try:
            return fut.result(timeout=max(0.0, deadline - self.clock()))
        except FutureTimeout:
            skips.append(Skip(ip, stage, "scan deadline reached before the device answered"))
        except Exception as exc:  # noqa: BLE001 - last-resort guard: one device must not end the scan
            log.debug("%s probe of %s crashed", stage, ip, exc_info=True)
            skips.append(Skip(ip, stage, f"internal error while probing: {type(exc).__name__}: {exc}"))
        return None
