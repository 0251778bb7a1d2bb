"""Signs of life on long work: a tqdm bar on a terminal, log lines in batch jobs, or silence.

``progress=None`` (the default everywhere) means *automatic*: a bar when standard error is a
terminal, otherwise one plain line every :data:`LOG_INTERVAL` seconds (done, rate, ETA) so a
batch job's log shows it is alive; work shorter than that prints nothing. ``progress=True``
forces the bar, ``progress=False`` (``--quiet``) silences everything.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from tqdm.auto import tqdm

__all__ = ["LOG_INTERVAL", "LogBar", "Progress", "progress_mode"]

LOG_INTERVAL = 10.0  #: seconds between two log lines when standard error is not a terminal

Mode = Literal["bar", "log", "off"]


def progress_mode(progress: bool | None, stream: TextIO | None = None) -> Mode:
    """What ``progress`` means here: ``"bar"``, ``"log"`` or ``"off"``.

    Parameters
    ----------
    progress : bool or None
        True (always a bar), False (nothing) or None (a bar on a terminal, log lines otherwise).
    stream : file, optional
        The stream progress goes to (default: ``sys.stderr``).

    Returns
    -------
    str
        ``"bar"``, ``"log"`` or ``"off"``.

    Examples
    --------
    >>> progress_mode(False)
    'off'
    >>> import io
    >>> progress_mode(None, io.StringIO())
    'log'
    """
    if progress is False:
        return "off"
    if progress:
        return "bar"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "bar" if callable(isatty) and isatty() else "log"


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class LogBar:
    """A progress counter that writes one line every ``interval`` seconds, for logs.

    Lines read ``simulate: 4,200/14,700 bg (29%), chunk 3/10, 1,850 passes/s, ETA 0:00:12``;
    a last line with the total time follows only if an earlier line was written.

    Parameters
    ----------
    total : int
        Units of work (e.g. backgrounds).
    desc : str
        What is being done.
    unit : str
        The unit's name.
    initial : int
        Units already done (a resumed run).
    steps : int, optional
        Steps the work comes in (e.g. chunks), counted by :meth:`update`.
    interval : float, optional
        Seconds between lines (default :data:`LOG_INTERVAL`).
    stream : file, optional
        Where lines go (default: ``sys.stderr``).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = LogBar(10, "simulate", "bg", interval=0.0, stream=out)
    >>> bar.update(5, passes=60)
    >>> out.getvalue().startswith("simulate: 5/10 bg (50%)")
    True
    """

    total: int
    desc: str
    unit: str
    initial: int = 0
    steps: int | None = None
    interval: float | None = None
    stream: TextIO | None = None
    done: int = field(init=False)
    passes: int = field(init=False, default=0)
    steps_done: int = field(init=False, default=0)
    lines: int = field(init=False, default=0)
    _start: float = field(init=False, default_factory=time.perf_counter)
    _last: float = field(init=False)

    def __post_init__(self) -> None:
        if self.interval is None:
            self.interval = LOG_INTERVAL
        self.done = self.initial
        self._last = self._start

    def update(self, n: int, *, passes: int = 0) -> None:
        """Count ``n`` more units (and ``passes`` forward passes) done; maybe write a line.

        Parameters
        ----------
        n : int
            Units finished since the last call.
        passes : int
            Forward passes those units took.
        """
        self.done += n
        self.passes += passes
        self.steps_done += 1
        now = time.perf_counter()
        if now - self._last >= (LOG_INTERVAL if self.interval is None else self.interval):
            self._last = now
            self._write(self._line(now))

    def close(self) -> None:
        """Write the total time, if any line was written before."""
        if self.lines:
            elapsed = _clock(time.perf_counter() - self._start)
            self._write(f"{self.desc}: {self.done:,}/{self.total:,} {self.unit} in {elapsed}")

    def _line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        parts = [f"{self.desc}: {self.done:,}/{self.total:,} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        if self.steps:
            parts.append(f"chunk {self.steps_done}/{self.steps}")
        if self.passes:
            parts.append(f"{self.passes / elapsed:,.0f} passes/s")
        new = self.done - self.initial
        if new > 0 and self.done < self.total:
            parts.append(f"ETA {_clock((self.total - self.done) * elapsed / new)}")
        return ", ".join(parts)

    def _write(self, line: str) -> None:
        self.lines += 1
        stream = sys.stderr if self.stream is None else self.stream
        print(line, file=stream, flush=True)


class _TqdmBar:
    """tqdm with forward passes per second shown after the count."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._passes = 0

    def update(self, n: int, *, passes: int = 0) -> None:
        self._passes += passes
        if passes:
            rate = self._passes / max(self._bar.format_dict["elapsed"], 1e-9)
            self._bar.set_postfix_str(f"{rate:,.0f} passes/s", refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


class _Silent:
    def update(self, n: int, *, passes: int = 0) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Progress:
    """Where and how long work reports itself: phases and counted bars.

    Parameters
    ----------
    progress : bool or None
        As for :func:`progress_mode`.
    stream : file, optional
        Where lines and bars go (default: ``sys.stderr``).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(None, out).phase("reference truth"):
    ...     pass
    >>> out.getvalue().splitlines()[0]
    'causalgia: reference truth ...'
    """

    progress: bool | None = None
    stream: TextIO | None = None

    @property
    def mode(self) -> Mode:
        """``"bar"``, ``"log"`` or ``"off"`` (see :func:`progress_mode`)."""
        return progress_mode(self.progress, self.stream)

    def say(self, message: str) -> None:
        """Write one ``causalgia:`` line unless silenced.

        Parameters
        ----------
        message : str
            The line's text.
        """
        if self.mode != "off":
            print(f"causalgia: {message}", file=self._stream, flush=True)

    @contextmanager
    def phase(self, what: str) -> Iterator[None]:
        """Announce ``what`` before it starts and its time when it ends.

        Parameters
        ----------
        what : str
            The phase, e.g. ``"pooled fit (12 conditions)"``.

        Yields
        ------
        None
        """
        start = time.perf_counter()
        self.say(f"{what} ...")
        yield
        self.say(f"{what}: done in {time.perf_counter() - start:.1f} s")

    @contextmanager
    def bar(
        self, total: int, desc: str, unit: str, *, initial: int = 0, steps: int | None = None
    ) -> Iterator[LogBar | _TqdmBar | _Silent]:
        """A counter of ``total`` units: a tqdm bar, a :class:`LogBar` or nothing.

        Parameters
        ----------
        total : int
            Units of work.
        desc, unit : str
            What is done, and the unit's name.
        initial : int
            Units already done.
        steps : int, optional
            Steps (chunks) the work comes in, for log lines.

        Yields
        ------
        object
            Has ``update(n, passes=0)``.
        """
        mode = self.mode
        if mode == "off":
            counter: LogBar | _TqdmBar | _Silent = _Silent()
        elif mode == "log":
            counter = LogBar(total, desc, unit, initial=initial, steps=steps, stream=self.stream)
        else:
            counter = _TqdmBar(
                tqdm(total=total, initial=initial, unit=unit, desc=desc, file=self._stream)
            )
        try:
            yield counter
        finally:
            counter.close()

    @property
    def _stream(self) -> TextIO:
        return sys.stderr if self.stream is None else self.stream
