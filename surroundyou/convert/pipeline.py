"""Threads that pass audio blocks along in order, each with a bounded queue.

The conversion's stages (decoder, room, spatialiser, finishing, encoder) each run on a
thread of their own; numpy and pedalboard release the GIL for the heavy parts, so the
stages overlap on several cores. Every queue is short, so memory stays at a few blocks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")


def read_ahead(items: Iterator[T], depth: int = 2, name: str = "decode") -> Iterator[T]:
    """Iterate ``items`` up to ``depth`` steps ahead on a worker thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        pending = deque(pool.submit(next, items, None) for _ in range(depth))
        while (item := pending.popleft().result()) is not None:
            pending.append(pool.submit(next, items, None))
            yield item


class Stage:
    """One worker thread running jobs in the order given; ``submit`` waits while ``depth`` jobs are
    unfinished, and raises what an earlier job raised. Leaving the ``with`` block waits for them all."""

    def __init__(self, name: str, depth: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[Future[None]] = deque()
        self._depth = depth

    def submit(self, job: Callable[..., None], *args: object) -> None:
        if len(self._pending) == self._depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(job, *args))

    def drain(self) -> None:
        """Wait for every job submitted so far (raising the first failure)."""
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._pool.shutdown(wait=True)
