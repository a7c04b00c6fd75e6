"""The command line: flags -> Settings -> one of the modes -> exit code.

Every SurroundError becomes one line on stderr and its documented exit code;
SIGTERM/SIGINT stop the run, clean up, and exit 143/130.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from . import __version__, demo
from .children import kill_all
from .errors import EXIT_INTERNAL, Stopped, SurroundError, UsageError
from .logs import event, setup
from .progress import Bar, TerminalBar
from .settings import OPTIONS, Settings, build_settings

# The modes are imported once chosen: cloud mode needs boto3, local mode the engine, --plot
# matplotlib; none of them is loaded for --help, --version or a usage error.

D = Settings()

DESCRIPTION = """Turn songs into 8D audio: the sound circles slowly around your head (use headphones).

Modes:
  S3_BUCKET and S3_KEY set    convert that S3 object into OUTPUT_PREFIX (cloud mode)
  QUEUE_URL and S3_BUCKET     convert the objects of that bucket the queue's upload events name (queue mode)
  no arguments                convert every audio file in ./input (INPUT_DIR) into ./output (OUTPUT_DIR)
  FILE [FILE ...] [-o OUT]    convert the named files
  --demo                      convert a built-in synthesised song"""

EPILOG = """exit codes: 0 ok or skipped, 1 internal error, 2 usage or nothing to do, 3 bad input,
4 storage (S3 or disk), 130 interrupted (SIGINT), 143 terminated (SIGTERM)"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="process_audio.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        # A fixed width, so the help text (and the README's copy of it) never depends on the terminal.
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100),
    )
    p.add_argument("inputs", nargs="*", type=Path, metavar="FILE", help="audio files to convert")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help="output file (.mp3, .wav, .flac, .ogg) or folder (default: OUTPUT_DIR)",
    )
    p.add_argument("--demo", action="store_true", help=f"convert a built-in {demo.SECONDS:.0f} s synthesised song")
    for option in OPTIONS:  # every setting with a flag, as settings.py declares it
        if option.flag is None:
            continue
        names = (option.short, option.flag) if option.short else (option.flag,)
        if isinstance(getattr(D, option.field), bool):  # a switch
            p.add_argument(*names, dest=option.field, action="store_true", help=option.help_text(False))
            continue
        p.add_argument(
            *names,
            dest=option.field,
            type=option.parse,
            choices=option.choices,
            metavar=option.metavar,
            help=option.help_text(getattr(D, option.field)),
        )
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw the path around the head and each ear's level over time (needs matplotlib)",
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


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    args = parser().parse_args(argv)
    verbose = bool(args.verbose)
    setup(json_lines=False, verbose=verbose)
    try:
        settings = build_settings(vars(args))
        if not settings.queue:
            signal.signal(signal.SIGTERM, _on_signal_stop_now)
            signal.signal(signal.SIGINT, _on_signal_stop_now)
        json_lines = settings.json_logs
        setup(json_lines=json_lines, verbose=verbose)
        show_bars = not json_lines and sys.stderr.isatty() and settings.jobs == 1

        def bar_for(label: str) -> Bar:
            return TerminalBar(label) if show_bars else Bar()

        if args.plot is not None:
            if settings.cloud or settings.queue:
                raise UsageError("--plot works on local conversions, not in cloud or queue mode")
            from .plot import check_plot_path

            check_plot_path(args.plot)
        if settings.hrtf:  # checked once, before any song: a bad file fails the run, not every song
            from .hrtf import read_sofa

            read_sofa(Path(settings.hrtf))
        if settings.cloud:
            from .cloud import run_cloud

            run_cloud(settings)
            return 0
        if settings.queue:
            from .service import run_service

            return run_service(settings)
        from .local import run_demo, run_files, run_folder

        if args.demo:
            return run_demo(args.output, settings, bar_for, args.plot)
        if args.inputs:
            return run_files(args.inputs, args.output, settings, bar_for, args.plot)
        return run_folder(settings, bar_for, args.plot)
    except SurroundError as exc:
        event("failed", str(exc), logging.ERROR, status="failed", exit_code=exc.exit_code, error=type(exc).__name__)
        return exc.exit_code
    except Stopped as stop:
        event(
            "stopped",
            f"stopped by signal {stop.signum}; cleaned up, no output written",
            logging.ERROR,
            status="stopped",
            exit_code=stop.exit_code,
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
        )
        return EXIT_INTERNAL
