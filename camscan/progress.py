"""Scan progress on a terminal (rich): the current stage, hosts discovered and identified, time left.

Shown only when stderr is a terminal and ``--quiet`` is not given, so cron, systemd and pipes never get
it. The bar measures time against the scan's deadline (the most a scan can take); the counts come from
:meth:`camscan.scan.Scanner.status`, read on each refresh. The display is transient: it is gone when the
scan ends, leaving only the summary line.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn
from rich.progress_bar import ProgressBar
from rich.text import Text


class _Counts(ProgressColumn):
    def __init__(self, owner: ScanProgress) -> None:
        super().__init__()
        self.owner = owner

    def render(self, task) -> Text:
        found, identified, left = self.owner.status()
        return Text(f"{found} discovered, {identified} identified, {left:.0f} s left")


class _TimeBar(BarColumn):
    """The share of the deadline spent so far."""

    def __init__(self, owner: ScanProgress) -> None:
        super().__init__()
        self.owner = owner

    def render(self, task) -> ProgressBar:
        left = self.owner.status()[2]
        return ProgressBar(total=self.owner.deadline, completed=self.owner.deadline - left,
                           width=self.bar_width, style=self.style, complete_style=self.complete_style,
                           finished_style=self.finished_style, pulse_style=self.pulse_style)


class ScanProgress:
    """A context manager and a ``progress(message)`` callback for :class:`camscan.scan.Scanner`."""

    def __init__(self, deadline: float, stream: TextIO | None = None) -> None:
        self.deadline = deadline
        self.scanner = None
        console = Console(file=stream or sys.stderr, stderr=stream is None)
        self._progress = Progress(SpinnerColumn(), TextColumn("camscan: {task.description}", markup=False),
                                  _TimeBar(self),
                                  _Counts(self), console=console, transient=True, refresh_per_second=4)
        self._task = self._progress.add_task("starting", total=deadline)

    def status(self) -> tuple[int, int, float]:
        if self.scanner is None:
            return 0, 0, self.deadline
        return self.scanner.status()

    def __call__(self, message: str) -> None:
        self._progress.update(self._task, description=message)

    def __enter__(self) -> ScanProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()


def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
    """Progress only on a terminal and never with --quiet (cron, systemd and pipes get none)."""
    stream = stream or sys.stderr
    return not quiet and stream.isatty()
