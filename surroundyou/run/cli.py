"""The command line: flags -> Settings -> one of the modes -> exit code.

Every SurroundError becomes one line on stderr and its documented exit code,
argparse's own errors (an unknown flag, a missing value) too; SIGTERM/SIGINT
stop the run, clean up, and exit 143/130.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from argparse import SUPPRESS
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from surroundyou import __version__
from surroundyou.aws.metrics import Origin, members
from surroundyou.children import kill_all
from surroundyou.errors import EXIT_INTERNAL, Stopped, SurroundError, UsageError
from surroundyou.formats import SUFFIXES
from surroundyou.logs import event, setup
from surroundyou.progress import Bars, TerminalBars
from surroundyou.run import demo
from surroundyou.run.modes import Request, RunMode, decide, describe_modes, run
from surroundyou.settings import OPTIONS, Settings, build_settings, deprecated_names

# The modes are imported once chosen: cloud mode needs boto3, local mode the engine, --plot
# matplotlib; none of them is loaded for --help, --version or a usage error.

D = Settings()

DESCRIPTION = "\n".join(
    [
        "Turn songs into 8D audio: the sound circles slowly around your head (use headphones).",
        "",
        "Run modes, decided once from the arguments and the environment:",
        *describe_modes(),
    ]
)

EPILOG = """exit codes: 0 ok or skipped, 1 internal error, 2 usage or nothing to do, 3 bad input,
4 storage (S3 or disk), 130 interrupted (SIGINT), 143 terminated (SIGTERM)"""


class Parser(argparse.ArgumentParser):
    """argparse's errors as a UsageError: one line and exit 2, like every other usage error, rather
    than the usage block. Values are not parsed here: build_settings reads and checks them under the
    name they were given as (the flag, or the variable)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="process_audio.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        # A fixed width, so the help text (and the README's copy of it) never depends on the terminal.
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100),
    )
    p.add_argument(
        "inputs", nargs="*", type=Path, metavar="FILE", help="audio files or folders to convert (folders recursively)"
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help=f"output file ({', '.join(SUFFIXES)}) or folder, created when missing (default: OUTPUT_DIR)",
    )
    p.add_argument("--demo", action="store_true", help=f"convert a built-in {demo.SECONDS:.0f} s synthesised song")
    for option in OPTIONS:  # every setting with a flag, as settings.py declares it
        if option.flag is None:
            continue
        names = (option.short, option.flag) if option.short else (option.flag,)
        if isinstance(getattr(D, option.field), bool):  # a switch
            p.add_argument(*names, dest=option.field, action="store_true", help=option.help_text(False))
            continue
        # The text as given; the choices shown as argparse shows them, which it no longer checks.
        metavar = f"{{{','.join(option.choices)}}}" if option.choices else option.metavar
        p.add_argument(*names, dest=option.field, metavar=metavar, help=option.help_text(getattr(D, option.field)))
        if option.old_flag:  # still taken, not shown; build_settings uses it when the new flag is absent
            p.add_argument(option.old_flag, dest=f"old_{option.field}", help=SUPPRESS)
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw the path around the head, each ear's level and where it is heard, over time (needs matplotlib)",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signum)


def _on_signal_stop_now(signum: int, _frame: FrameType | None) -> None:
    """A stop in every mode but queue mode (which lets songs finish and kills at its deadline):
    the decoders' children are killed first, so that no ffmpeg holds up the unwinding."""
    kill_all()
    raise Stopped(signum)


def _task_metrics(origin: Origin | None, exit_code: int) -> dict[str, Any]:
    """A cloud task's last line, when it fails or stops, carries its object's metrics (``aws.metrics``);
    no other mode's line does (queue mode's failures are its objects' and messages', logged in service.py)."""
    return members(origin, "failed", exit_code=exit_code) if origin else {}


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    setup(json_lines=False, verbose=False)  # usage errors come before the log's format is known: text
    verbose = False
    origin: Origin | None = None  # set once the run is known to be a cloud task
    try:
        args = parser().parse_args(argv)
        verbose = bool(args.verbose)
        setup(json_lines=False, verbose=verbose)
        settings = build_settings(vars(args))
        if not settings.queue:
            signal.signal(signal.SIGTERM, _on_signal_stop_now)
            signal.signal(signal.SIGINT, _on_signal_stop_now)
        json_lines = settings.json_logs
        setup(json_lines=json_lines, verbose=verbose)
        for note in deprecated_names(vars(args)):
            event("deprecated", note, logging.WARNING)
        bar_for = TerminalBars() if not json_lines and sys.stderr.isatty() else Bars()

        request = Request(tuple(args.inputs), args.output, args.demo, args.plot)
        mode = decide(request, settings)
        origin = Origin("cloud") if mode is RunMode.CLOUD else None
        if args.plot is not None:
            from surroundyou.convert.plot import check_plot_path

            check_plot_path(args.plot)
        if settings.hrtf:  # checked once, before any song: a bad file fails the run, not every song
            from surroundyou.dsp.hrtf import read_sofa

            read_sofa(Path(settings.hrtf))
        return run(mode, request, settings, bar_for)
    except SurroundError as exc:
        code = exc.exit_code
        metrics = _task_metrics(origin, code)
        event("failed", str(exc), logging.ERROR, status="failed", exit_code=code, error=type(exc).__name__, **metrics)
        return code
    except Stopped as stop:
        event(
            "stopped",
            f"{stop.said}: the song under way was not written and its temporary files were removed",
            logging.ERROR,
            status="stopped",
            exit_code=stop.exit_code,
            **_task_metrics(origin, stop.exit_code),
        )
        return stop.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        event(
            "failed",
            f"internal error: {type(exc).__name__}: {exc}",
            logging.ERROR,
            exc_info=verbose,
            status="failed",
            exit_code=EXIT_INTERNAL,
            **_task_metrics(origin, EXIT_INTERNAL),
        )
        return EXIT_INTERNAL
