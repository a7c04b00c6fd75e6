"""Progress of one conversion: a callable taking the fraction done, closed at the end."""

from __future__ import annotations

import sys
from collections.abc import Callable


class ProgressBar:
    """Shows nothing: for pool workers, logs and pipes."""

    def __call__(self, fraction: float) -> None: ...

    def close(self) -> None: ...


ProgressFactory = Callable[[str], ProgressBar]


class TerminalBar(ProgressBar):
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
