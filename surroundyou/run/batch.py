"""Converting a list of (input, output) pairs: one after another, or on a pool of processes.

Failures are reported and the batch goes on; a stop (SIGTERM, Ctrl-C) ends the workers
with their temporary files removed; the last line sums up. Each output carries a marker
(both fingerprints: settings and input) by which local mode later knows it is up to date.
Which pairs to convert (discovery, naming, skipping) is the output plan's (plan.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from logging.handlers import QueueHandler
from pathlib import Path
from typing import Any

from surroundyou.children import kill_all
from surroundyou.convert.engine import Report, convert
from surroundyou.convert.summary import figures, headline, log_converted, realtime_factor, warn_heavy_limiting
from surroundyou.convert.tempdirs import adopt, run_folder
from surroundyou.errors import EXIT_OK, Stopped, SurroundError, UsageError
from surroundyou.formats import format_of
from surroundyou.logs import event, log, setup
from surroundyou.progress import Bar, Bars, BatchBar
from surroundyou.run.plan import LEFT_ALONE, UP_TO_DATE, source_marker
from surroundyou.settings import Settings


def _fmt_time(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _summary(src: Path, dst: Path, r: Report, settings: Settings) -> str:
    """The song's line: its words by default; with -v and in JSON, the measured figures."""
    head = f"{src.name} -> {dst}  {_fmt_time(r.input_seconds)} in {r.processing_seconds:.1f} s"
    if settings.verbose or settings.json_logs:
        return f"{head} ({realtime_factor(r, r.processing_seconds, 0) or 0:.0f}x realtime): {figures(r)}"
    return f"{head}: {headline(r)}"


def convert_one(src: Path, dst: Path, settings: Settings, bar_for: Bars, plot: Path | None = None) -> Report:
    """Convert one planned pair (plan.py has refused an output that would overwrite an input)."""
    bar = bar_for(src.name)
    try:
        report = convert(src, dst, settings, bar, marker=source_marker(src, dst, settings))
    finally:
        bar.close()
    where = {"input": str(src), "output": str(dst)}
    warn_heavy_limiting(report, src.name, settings, format_of(dst), **where)
    log_converted(report, report.processing_seconds, _summary(src, dst, report, settings), **where)
    if plot is not None:
        from surroundyou.convert.plot import plot_motion

        plot_motion(report, settings, plot, src.name, dst)
        event("plotted", f"motion plot -> {plot}", plot=str(plot))
    return report


class _RelayedBar(Bar):
    """A song's progress in a pool worker, sent to the parent (``_relay``) at each whole percent."""

    def __init__(self, queue: Any, key: str) -> None:
        self._queue, self._key, self._percent = queue, key, -1

    def __call__(self, fraction: float) -> None:
        if int(fraction * 100) != self._percent:  # at most a hundred messages a song
            self._percent = int(fraction * 100)
            self._queue.put(("update", self._key, fraction))


class _RelayedBars(Bars):
    """In a pool worker whose batch shows a line: a song's start and progress, for the parent's line."""

    def __init__(self, queue: Any, key: str) -> None:
        self._queue, self._key = queue, key

    def __call__(self, label: str) -> Bar:
        self._queue.put(("started", self._key, label))
        return _RelayedBar(self._queue, self._key)


def _relay(queue: Any, line: BatchBar) -> None:
    """In the parent: the workers' progress onto the batch's line, their log lines through its log."""
    while (item := queue.get()) is not None:
        if isinstance(item, logging.LogRecord):
            log.handle(item)
        elif item[0] == "started":
            line.started(item[1], item[2])
        else:
            line.update(item[1], item[2])


_busy = False  # in a pool worker: a conversion is under way
_queue: Any = None  # in a pool worker of a batch that shows a line: where progress and log lines go
STOP_GRACE_S = 10.0  # after a stop, workers still alive this long are killed
RELAY_DRAIN_S = 5.0  # after the pool, the longest wait for the workers' last lines


def _kill_workers_later() -> None:
    """Kill, after a grace period for their cleanup, the workers that outlive a stop's SIGTERM
    (one did, at the end of a batch: see convert_many), so that a stop cannot hang."""

    def kill() -> None:
        for worker in multiprocessing.active_children():
            worker.kill()

    timer = threading.Timer(STOP_GRACE_S, kill)
    timer.daemon = True
    timer.start()


def _worker_init(json_lines: bool, verbose: bool, folder: Path, queue: Any) -> None:
    """In each pool worker: the parent's logging (through ``queue`` when the parent shows a line) and
    temporary folder, and SIGTERM as a clean stop (temporary files removed)."""
    global _queue

    def stop(signum: int, _frame: object) -> None:
        if _busy:
            kill_all()  # no decoder child may hold up the unwinding
            raise Stopped(signum)  # unwinds the conversion, removing its temporary files
        # Idle: nothing to clean up, so end at once, as SIGTERM's default would. (Raising SystemExit
        # here could land in the interpreter's own shutdown, after the pool's last task, and print
        # "Exception ignored in: <module 'threading'>" with a traceback at the end of a good run.)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    setup(json_lines, verbose)
    if queue is not None:
        _queue = queue
        log.handlers[:] = [QueueHandler(queue)]
    adopt(folder)


def _attempt(
    src: Path, dst: Path, settings: Settings, bar_for: Bars, plot: Path | None = None
) -> tuple[Path, int, str]:
    """(input, exit code, error message) for one conversion: a failure is reported, not raised."""
    try:
        convert_one(src, dst, settings, bar_for, plot)
        return src, EXIT_OK, ""
    except SurroundError as exc:
        return src, exc.exit_code, str(exc)


def _convert_in_worker(job: tuple[Path, Path, Settings]) -> tuple[Path, int, str]:
    """``_attempt`` in a pool worker."""
    global _busy
    src, dst, settings = job
    _busy = True
    try:
        return _attempt(src, dst, settings, _RelayedBars(_queue, str(src)) if _queue is not None else Bars())
    except Stopped as stop:
        raise SystemExit(stop.exit_code) from None  # exits the worker quietly, after the cleanup above
    finally:
        _busy = False


def convert_many(
    pairs: Sequence[tuple[Path, Path]],
    settings: Settings,
    bar_for: Bars,
    plot: Path | None = None,
    skipped: Sequence[tuple[Path, str]] = (),
) -> int:
    """Convert each pair (on ``settings.jobs`` processes), going on after failures; returns the exit code.

    ``skipped``: inputs left alone, each with the reason (the plan's: up to date, not audio, ours).
    """
    up_to_date = [path for path, reason in skipped if reason == UP_TO_DATE]
    if plot is not None and not pairs and len(up_to_date) == 1:
        raise UsageError(f"--plot draws a conversion, but {up_to_date[0].name} is up to date: add --force")
    if plot is not None and len(pairs) != 1:
        raise UsageError(f"--plot draws one conversion, but there are {len(pairs)} inputs: name one")
    left_alone = [(path, reason) for path, reason in skipped if reason != UP_TO_DATE]
    for path in up_to_date:
        event("skipped", f"skipped {path.name}: {UP_TO_DATE}", input=str(path), status="skipped", reason=UP_TO_DATE)
    for path, reason in left_alone:  # named in the totals; each one under -v
        event("left alone", f"left alone {path}: {reason}", logging.DEBUG, input=str(path), reason=reason)
    codes: list[int] = []
    failures: list[str] = []
    finished: set[Path] = set()
    started = time.time()

    def record(src: Path, code: int, message: str) -> None:
        line.done(str(src))
        if code != EXIT_OK:
            event("failed", message, logging.ERROR, input=str(src), status="failed", exit_code=code)
            failures.append(message)
        codes.append(code)
        finished.add(src)

    line = bar_for.batch({str(src): _weight(src) for src, _ in pairs}) if _pooled(pairs, settings) else BatchBar()
    try:
        with line.showing(log):
            _convert_pairs(pairs, settings, bar_for, line, plot, record)
    except Stopped as stop:  # in a batch, say what was done and what was not, then stop
        if len(pairs) + len(skipped) < 2:
            raise
        # A song whose output was committed just before the stop, but not yet recorded, counts as converted.
        left = [src.name for src, dst in pairs if src not in finished and not _written_since(dst, started)]
        done = len(pairs) - len(left)
        event(
            "summary",
            f"{stop.how} after {done} of {len(pairs)} songs: {done - len(failures)} converted, "
            f"{len(up_to_date)} up to date, {len(failures)} failed; not converted: {a_few(left)}",
            converted=done - len(failures),
            up_to_date=len(up_to_date),
            failed=len(failures),
            not_converted=len(left),
        )
        raise

    failed = len(failures)
    if len(pairs) + len(skipped) > 1:
        reasons = ": " + "; ".join(failures) if failures else ""
        event(
            "summary",
            f"{len(pairs) - failed} converted, {len(up_to_date)} up to date, {failed} failed{reasons}"
            + "".join(f"; {why}: {a_few(names)}" for why, names in left_alone_groups(left_alone).items()),
            converted=len(pairs) - failed,
            up_to_date=len(up_to_date),
            left_alone=len(left_alone),
            failed=failed,
        )
    return max(codes, default=EXIT_OK)


def _convert_pairs(
    pairs: Sequence[tuple[Path, Path]],
    settings: Settings,
    bar_for: Bars,
    line: BatchBar,
    plot: Path | None,
    record: Callable[[Path, int, str], None],
) -> None:
    """Convert the pairs, on a pool of ``settings.jobs`` processes (``line`` showing their progress) or
    one after another (each song its own bar), ``record``-ing each."""
    if _pooled(pairs, settings):
        context = multiprocessing.get_context("spawn")  # no forked copies of threads or locks
        jobs = [(src, dst, settings) for src, dst in pairs]
        with _relaying(line, context) as queue:
            init = (settings.json_logs, settings.verbose, run_folder(), queue)
            # Leaving the with-block (also on a stop) terminates the workers, which clean up on SIGTERM.
            with context.Pool(min(settings.jobs, len(pairs)), _worker_init, init) as pool:
                try:
                    for result in pool.imap_unordered(_convert_in_worker, jobs):
                        record(*result)
                except BaseException:  # a stop: the with-block terminates the pool
                    _kill_workers_later()
                    raise
                # All done: let the workers end on their own. Terminating them instead hung the batch at
                # its end in 2 runs of 32: a worker survived its SIGTERM blocked on the task queue's lock,
                # which terminate() holds, and the join waited forever (seen with py-spy; why the signal
                # did not end it is not known). A stop still terminates them.
                pool.close()
                pool.join()
    else:
        for src, dst in pairs:
            record(*_attempt(src, dst, settings, bar_for, plot))


def _pooled(pairs: Sequence[tuple[Path, Path]], settings: Settings) -> bool:
    """Whether the pairs are converted on a pool of processes (else one after another, in this one)."""
    return settings.jobs > 1 and len(pairs) > 1


@contextmanager
def _relaying(line: BatchBar, context: Any) -> Iterator[Any]:
    """The queue a pool's workers send their progress and log lines to, drained onto ``line`` by a thread
    until the block ends (after the pool's: the workers' last lines come before the end marker); None
    when ``line`` shows nothing (the workers then log for themselves)."""
    if not line.shows:
        yield None
        return
    queue = context.Queue()
    relay = threading.Thread(target=_relay, args=(queue, line), daemon=True)
    relay.start()
    try:
        yield queue
    finally:
        queue.put(None)
        relay.join(RELAY_DRAIN_S)


def _weight(src: Path) -> float:
    """How much of a batch's work a song is, for its time left: its file's size (a fair proxy for its length)."""
    try:
        return float(src.stat().st_size)
    except OSError:
        return 0.0


def _written_since(path: Path, started: float) -> bool:
    try:
        return path.stat().st_mtime >= started
    except OSError:
        return False


NAMED = 3  # files named in the totals per reason; the rest are counted


def left_alone_groups(left_alone: Sequence[tuple[Path, str]]) -> dict[str, list[str]]:
    """The names of the files left alone, by the short form of the reason."""
    groups: dict[str, list[str]] = {}
    for path, reason in left_alone:
        groups.setdefault(LEFT_ALONE.get(reason, reason), []).append(path.name)
    return groups


def a_few(names: Sequence[str]) -> str:
    """A few names, then how many more: "a.txt, b.jpg, c.pdf and 4 more"."""
    shown = ", ".join(names[:NAMED])
    return f"{shown} and {len(names) - NAMED} more" if len(names) > NAMED else shown
