"""Progress that reads well on a terminal and in a log.

On a terminal, a live tqdm bar. Anywhere else (output redirected to a file, a SLURM log, CI),
one short line every ``interval`` seconds and one at the end, instead of thousands of ``\\r``
refreshes on one line::

    prepare: 640/1600 clips (40%), 71.2 clips/s, 13 s left
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
    ) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
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
        parts = [
            f"{self.desc}: {self.n}" + (f"/{self.total}" if self.total else "") + f" {self.unit}s"
        ]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{rate:.1f} {self.unit}s/s")
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
) -> Any:
    """A tqdm bar on a terminal, :class:`LogLines` elsewhere; a silent bar when ``disable``."""
    file = file or sys.stderr
    if disable or is_terminal(file):
        return tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            file=file,
            disable=disable,
            dynamic_ncols=True,
            smoothing=0.1,
        )
    return LogLines(total, desc, unit, initial, file=file, final=final)
