"""The hand-over queue between concurrent discovery stages."""

from __future__ import annotations

import selectors
import threading

from camscan.discover.feed import Feed


def test_put_wakes_a_selector_and_take_drains():
    feed = Feed()
    with selectors.DefaultSelector() as sel:
        sel.register(feed, selectors.EVENT_READ)
        assert sel.select(0) == []
        threading.Timer(0.05, feed.put, args=(["198.51.100.7"],)).start()
        assert sel.select(2)  # woken by the other thread
        assert feed.take() == ["198.51.100.7"]
        assert sel.select(0) == []  # the wake-up was consumed with the items
        assert not feed.done
        feed.close()
        assert sel.select(0) and feed.done


def test_nothing_is_taken_after_close_and_many_puts_never_block():
    feed = Feed(["198.51.100.1"])
    for i in range(100_000):  # more wake-ups than a pipe holds: put must not block
        feed.put([f"10.0.{i // 256 % 256}.{i % 256}"])
    assert len(feed.take()) == 100_001
    feed.close()
    feed.put(["198.51.100.2"])
    assert feed.take() == [] and feed.done
