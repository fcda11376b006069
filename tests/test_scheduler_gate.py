"""The probe CPU gate: one slot, given up while waiting, reentrant, a no-op outside a held slot."""

from __future__ import annotations

import threading

from camscan.scheduler import CpuGate


def test_one_thread_computes_while_another_waits_on_a_device():
    gate = CpuGate(1)
    inside = []
    waiting = threading.Event()
    device_answers = threading.Event()  # a's device answers only once b has run: b must not wait for a

    def job(name: str) -> None:
        with gate.held():
            inside.append(name)
            if name == "a":
                with gate.waiting():  # a socket wait: the other job may run meanwhile
                    waiting.set()
                    assert device_answers.wait(10)
            inside.append(name)

    a = threading.Thread(target=job, args=("a",))
    a.start()
    assert waiting.wait(10)
    b = threading.Thread(target=gate.run, args=(job, "b"))
    b.start()
    b.join(10)  # a hang guard: b finishes while a still waits, or never
    assert not b.is_alive(), "b waited for a's device"
    device_answers.set()
    a.join(10)
    assert inside == ["a", "b", "b", "a"]


def test_a_held_slot_excludes_other_threads():
    gate = CpuGate(1)
    order = []
    trying = threading.Event()

    def other() -> None:
        trying.set()
        gate.run(order.append, "other")

    with gate.held():
        t = threading.Thread(target=other)
        t.start()
        assert trying.wait(10)
        t.join(0.2)  # it cannot get in while the slot is ours, however long it is given
        assert t.is_alive() and order == []
        order.append("mine")
    t.join(10)
    assert order == ["mine", "other"]


def test_reentrant_and_inert_outside_a_slot():
    gate = CpuGate(1)
    with gate.waiting():  # not held: nothing to give up
        pass
    with gate.held(), gate.held():  # nested use on one thread holds the one slot
        assert gate.run(lambda: 42) == 42
    with gate.held():  # and it was released
        pass
