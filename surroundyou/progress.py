"""Progress of a conversion, and what shows it.

A conversion reports the fraction done to a ``Progress``. A run gets ``Bars``: for one song at
a time, a ``Bar`` per song (a ``Progress`` that is closed when the song is done); for a batch on
several processes, one ``BatchBar`` for the whole batch, fed by the workers. Only a terminal
shows them (``TerminalBars``); logs, pipes and JSON lines get the silent kind.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

Progress = Callable[[float], None]  # called with the fraction done, 0..1

NAME_CHARS = 24  # of a song's name in the batch line
LINE_CHARS = 60  # the batch line's own part; the songs under way get what the terminal has left


class Bar:
    """Shows nothing: for pool workers, logs and pipes."""

    def __call__(self, fraction: float) -> None: ...

    def close(self) -> None: ...


class BatchBar:
    """The progress of a batch converted on several processes; shows nothing."""

    shows = False  # whether the workers should send their progress (and their log lines, to keep them off the bar)

    def started(self, key: str, label: str) -> None: ...

    def update(self, key: str, fraction: float) -> None: ...

    def done(self, key: str) -> None: ...

    @contextmanager
    def showing(self, logger: logging.Logger) -> Iterator[None]:
        """While the batch runs: ``logger``'s lines are written around the bar."""
        yield


class Bars:
    """What a run shows as it goes: here nothing."""

    def __call__(self, label: str) -> Bar:
        return Bar()

    def batch(self, weights: Mapping[str, float]) -> BatchBar:
        return BatchBar()


class TerminalBar(Bar):
    """A tqdm bar on stderr (imported only when a terminal shows it)."""

    def __init__(self, label: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=100,
            desc=label[:30],
            unit="%",
            leave=False,
            file=sys.stderr,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
        )

    def __call__(self, fraction: float) -> None:
        self._bar.update(int(fraction * 100) - self._bar.n)

    def close(self) -> None:
        self._bar.close()


class TerminalBatchBar(BatchBar):
    """One tqdm line on stderr for the whole batch: songs done of all, how far the work is and the time
    left (weighted by each song's ``weights``, its file size: a long song counts for more), and the
    songs under way with how far each is. Log lines are written above it, never through it."""

    shows = True

    def __init__(self, weights: Mapping[str, float]) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._weights = dict(weights)
        self._total = sum(self._weights.values()) or 1.0
        self._running: dict[str, tuple[str, float]] = {}  # key: (label, fraction)
        self._finished = 0
        self._work = 0.0  # the weight of the songs done
        self._lock = threading.Lock()
        self._bar = tqdm(
            total=1000,
            leave=False,
            file=sys.stderr,
            bar_format="{desc}|{bar:12}| {percentage:3.0f}%, {remaining} left{postfix}",
        )
        self._draw()

    def started(self, key: str, label: str) -> None:
        with self._lock:
            self._running[key] = (label, 0.0)
            self._draw()

    def update(self, key: str, fraction: float) -> None:
        with self._lock:
            if key in self._running:
                self._running[key] = (self._running[key][0], fraction)
                self._draw()

    def done(self, key: str) -> None:
        with self._lock:
            self._running.pop(key, None)
            self._finished += 1
            self._work += self._weights.get(key, 0.0)
            self._draw()

    def _draw(self) -> None:
        work = self._work + sum(self._weights.get(k, 0.0) * f for k, (_, f) in self._running.items())
        self._bar.set_description_str(f"{self._finished} of {len(self._weights)} songs ", refresh=False)
        room = max(0, _columns() - LINE_CHARS)
        songs = ", ".join(f"{label[:NAME_CHARS]} {fraction:.0%}" for label, fraction in self._running.values())
        self._bar.set_postfix_str(f"under way: {songs}"[:room] if songs and room else "", refresh=False)
        self._bar.update(round(1000 * work / self._total) - self._bar.n)  # redraws, at most 10 times a second

    @contextmanager
    def showing(self, logger: logging.Logger) -> Iterator[None]:
        handlers = logger.handlers[:]
        tqdm = self._tqdm

        class AroundTheBar(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                with tqdm.external_write_mode(file=sys.stderr):
                    for handler in handlers:
                        handler.handle(record)

        logger.handlers[:] = [AroundTheBar()]
        try:
            yield
        finally:
            logger.handlers[:] = handlers
            self._bar.close()


def _columns() -> int:
    """The width of the terminal the bars are on (stderr's: stdout may be a file)."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return shutil.get_terminal_size().columns


class TerminalBars(Bars):
    def __call__(self, label: str) -> Bar:
        return TerminalBar(label)

    def batch(self, weights: Mapping[str, float]) -> BatchBar:
        return TerminalBatchBar(weights)
