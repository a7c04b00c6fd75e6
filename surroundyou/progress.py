"""Progress of a conversion, and the bars that show it.

A conversion reports the fraction done to a ``Progress``; a batch gives each file a ``Bar``
(a ``Progress`` that is closed when the file is done), made by a ``BarFor`` from the file's label.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Progress = Callable[[float], None]  # called with the fraction done, 0..1


class Bar:
    """Shows nothing: for pool workers, logs and pipes."""

    def __call__(self, fraction: float) -> None: ...

    def close(self) -> None: ...


BarFor = Callable[[str], Bar]


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
