"""Console output that reads well on a terminal and in a log: progress and one-line messages.

On a terminal, a live tqdm bar. Anywhere else (output redirected to a file, a SLURM log, CI),
one short line every ``interval`` seconds and one at the end, instead of thousands of ``\\r``
refreshes on one line::

    prepare: 640/1600 clips (40%), 71.2 clips/s, 13 s left
    extract mp3.zip: 1.2/3.0 GiB (40%), 52.1 MiB/s, 35 s left

Every progress of autotag's comes from :func:`progress` (clips, songs) or :func:`byte_bar`
(downloads, checksums, extraction); :func:`log` prints a message without garbling a bar.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm.auto import tqdm

LOG_INTERVAL = 30.0  # seconds between lines in a log: a few per minute of work


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class LogLines:
    """The tqdm subset the code uses (``update``, ``set_postfix_str``, ``write``, ``close``),
    written as occasional lines."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        initial: int = 0,
        interval: float = LOG_INTERVAL,
        file: TextIO | None = None,
        final: bool = True,
        unit_scale: bool = False,
    ) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.unit_scale = unit_scale  # counts of bytes: written in KiB, MiB, GiB
        self.final = final  # a last line at close (off where the caller prints a summary)
        self.interval, self.file = interval, file or sys.stderr
        self.start = self.last = time.monotonic()
        self.start_n = initial
        self.postfix = ""
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line()

    def set_postfix_str(self, s: str) -> None:
        self.postfix = s

    def write(self, s: str, file: TextIO | None = None) -> None:
        print(s, file=file or self.file, flush=True)

    def _line(self) -> None:
        done = self.n - self.start_n
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = done / elapsed
        if self.unit_scale:  # 1.2/3.0 GiB, 52.1 MiB/s
            size = lambda n: tqdm.format_sizeof(n, self.unit, 1024)  # noqa: E731
            count = size(self.n) + (f"/{size(self.total)}" if self.total else "")
            speed = f"{size(rate)}/s"
        else:
            count = f"{self.n}" + (f"/{self.total}" if self.total else "") + f" {self.unit}s"
            speed = f"{rate:.1f} {self.unit}s/s"
        parts = [f"{self.desc}: {count}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(speed)
        if self.total and rate > 0 and self.n < self.total:
            parts.append(f"{(self.total - self.n) / rate:.0f} s left")
        if self.postfix:
            parts.append(self.postfix)
        print(", ".join(parts), file=self.file, flush=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.final:
                self._line()

    def __enter__(self) -> LogLines:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(
    total: int | None,
    desc: str,
    unit: str,
    initial: int = 0,
    disable: bool = False,
    file: TextIO | None = None,
    final: bool = True,
    unit_scale: bool = False,
    leave: bool = True,
) -> Any:
    """A tqdm bar on a terminal, :class:`LogLines` elsewhere; a silent bar when ``disable``.

    ``unit_scale``: the counts are bytes (KiB, MiB, GiB). ``leave=False``: the bar is erased
    when done, and in a log no last line is written (a step inside a longer one)."""
    file = file or sys.stderr
    if disable or is_terminal(file):
        scale = {"unit_scale": True, "unit_divisor": 1024} if unit_scale else {}
        return tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            file=file,
            disable=disable,
            dynamic_ncols=True,
            smoothing=0.1,
            leave=leave,
            **scale,
        )
    return LogLines(
        total, desc, unit, initial, file=file, final=final and leave, unit_scale=unit_scale
    )


def byte_bar(
    total: int | None, desc: str, enabled: bool, initial: int = 0, leave: bool = True
) -> Any:
    """A progress counting bytes (shown in KiB/MiB/GiB): :func:`progress` in bytes; silent
    unless ``enabled``."""
    return progress(
        total, desc, "B", initial=initial, disable=not enabled, unit_scale=True, leave=leave
    )


def log(msg: str) -> None:
    """Print ``msg`` on stdout without garbling a progress bar that is being drawn."""
    tqdm.write(msg, file=sys.stdout)
