"""The probe CPU gate: one slot, given up while waiting, reentrant, a no-op outside a held slot."""

from __future__ import annotations

import threading

from camscan.scheduler import CpuGate


def test_one_thread_computes_while_another_waits_on_a_device():
    gate = CpuGate(1)
    inside = []
    waiting = threading.Event()
    device_answers = threading.Event()  # a's device answers only once b has run: b must not need a's slot

    def job(name: str) -> None:
        with gate.held():
            inside.append(name)
            if name == "a":
                with gate.waiting():  # a socket wait: the other job may run meanwhile
                    waiting.set()
                    assert device_answers.wait(30)  # a hang guard only
            inside.append(name)

    a = threading.Thread(target=job, args=("a",))
    a.start()
    assert waiting.wait(30)
    gate.run(job, "b")  # would deadlock if a's wait kept the slot
    device_answers.set()
    a.join(30)
    assert inside == ["a", "b", "b", "a"]


def test_a_held_slot_excludes_other_threads():
    gate = CpuGate(1)
    order = []
    with gate.held():
        t = threading.Thread(target=gate.run, args=(order.append, "other"))
        t.start()
        t.join(0.1)  # a bounded look: the other thread is still blocked on the slot
        assert t.is_alive() and order == []  # blocked: the slot is ours
        order.append("mine")
    t.join(30)
    assert order == ["mine", "other"]


def test_reentrant_and_inert_outside_a_slot():
    gate = CpuGate(1)
    with gate.waiting():  # not held: nothing to give up
        pass
    with gate.held(), gate.held():  # nested use on one thread holds the one slot
        assert gate.run(lambda: 42) == 42
    with gate.held():  # and it was released
        pass
