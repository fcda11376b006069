"""The probing child's result crosses the pipe as JSON lines (the report without devices, then one line per
device) and comes back equal to what was sent; a line missing or garbled is an unreadable result, never a
partial one taken for whole."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from camscan import privsep, serialize
from camscan.errors import RunError

GOLDEN = Path(__file__).parent / "report" / "golden" / "report-v1.json"


def _through_pipe(write) -> list:
    r, w = os.pipe()
    t = threading.Thread(target=lambda: (write(w), os.close(w)))
    t.start()
    try:
        return privsep._read_lines(r)
    finally:
        t.join()
        os.close(r)


def test_the_result_comes_back_whole_device_by_device():
    result = serialize.report_from_dict(json.loads(GOLDEN.read_text()))
    assert result.devices
    lines = _through_pipe(lambda fd: privsep._send_result(result, fd))
    assert len(lines) == 1 + len(result.devices)
    assert privsep._decode(lines, 0) == result


def test_a_missing_or_garbled_device_line_is_refused():
    result = serialize.report_from_dict(json.loads(GOLDEN.read_text()))
    lines = _through_pipe(lambda fd: privsep._send_result(result, fd))
    with pytest.raises(RunError, match="devices arrived"):
        privsep._decode(lines[:-1], 0)
    garbled = _through_pipe(lambda fd: os.write(fd, json.dumps({"result": {}, "devices": 1}).encode() + b"\n{x\n"))
    with pytest.raises(RunError, match="unreadable result"):
        privsep._decode(garbled, 0)
