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

from . import __version__
from .errors import EXIT_INTERNAL, Stopped, SurroundError, UsageError
from .logs import event, setup
from .progress import ProgressBar, TerminalBar
from .settings import Settings, build_settings

# The modes are imported once chosen: cloud mode needs boto3, local mode the engine, --plot
# matplotlib; none of them is loaded for --help, --version or a usage error.

D = Settings()

DESCRIPTION = """Turn songs into 8D audio: the sound circles slowly around your head (use headphones).

Modes:
  S3_BUCKET and S3_KEY set    convert that S3 object into OUTPUT_PREFIX (cloud mode)
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
    p.add_argument("--demo", action="store_true", help="convert a built-in 24 s synthesised song")
    p.add_argument(
        "--mode",
        choices=("binaural", "pan"),
        help=f"binaural: a head model, for headphones; pan: equal-power panning, also for loudspeakers "
        f"(default {D.mode}, env SPATIAL_MODE)",
    )
    p.add_argument(
        "--hrtf",
        metavar="FILE.sofa",
        help="binaural: render with a measured HRTF from a SOFA (AES69) file instead of the head model (env HRTF_SOFA)",
    )
    p.add_argument(
        "--width",
        type=float,
        metavar="DEGREES",
        help=f"binaural: stereo left and right circle this far either side of the path, 0 = mono "
        f"(default {D.width_deg:g}, env WIDTH_DEGREES)",
    )
    p.add_argument(
        "--depth",
        type=float,
        metavar="DB",
        help=f"binaural: level difference added between the ears at the sides, beyond the physical head, "
        f"0-30; 0 = the physical head only (default {D.depth_db:g}, env DEPTH)",
    )
    p.add_argument(
        "--period",
        type=float,
        metavar="SECONDS",
        help=f"seconds per circle around the head (default {D.period_s:g}, env PERIOD_SECONDS)",
    )
    p.add_argument(
        "--reverb",
        type=float,
        metavar="AMOUNT",
        help=f"room reverb wet level 0-1, 0 disables it (default {D.reverb:g}, env REVERB_AMOUNT)",
    )
    p.add_argument(
        "--target-lufs",
        type=float,
        metavar="LUFS",
        help=f"integrated loudness target (default {D.target_lufs:g}, env TARGET_LUFS)",
    )
    p.add_argument(
        "--ceiling",
        type=float,
        metavar="DBTP",
        help=f"true-peak ceiling of the decoded output (default {D.ceiling_dbtp:g}, env CEILING_DBTP)",
    )
    p.add_argument(
        "--quality",
        metavar="Q",
        help=f"MP3 quality: V0..V9 (VBR) or a CBR bitrate in kbps (default {D.quality}, env MP3_QUALITY)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help=f"local mode: convert N files at once, one process each (default {D.jobs}, env JOBS)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="folder mode: convert every song, also those whose output is up to date",
    )
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw the path around the head and each ear's level over time (needs matplotlib)",
    )
    p.add_argument(
        "--block-frames", type=int, metavar="N", help=f"frames per processing block (default {D.block_frames})"
    )
    p.add_argument(
        "--log-format",
        choices=("auto", "json", "text"),
        help="auto: JSON lines in cloud mode, text otherwise (env LOG_FORMAT)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logs, and tracebacks on errors")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signum)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    args = parser().parse_args(argv)
    verbose = bool(args.verbose)
    setup(json_lines=False, verbose=verbose)
    try:
        settings = build_settings(vars(args))
        json_lines = settings.json_logs
        setup(json_lines=json_lines, verbose=verbose)
        show_bars = not json_lines and sys.stderr.isatty() and settings.jobs == 1

        def bars(label: str) -> ProgressBar:
            return TerminalBar(label) if show_bars else ProgressBar()

        if args.plot is not None:
            if settings.cloud:
                raise UsageError("--plot works on local conversions, not in cloud mode")
            from .plot import check_plot_path

            check_plot_path(args.plot)
        if settings.hrtf:  # checked once, before any song: a bad file fails the run, not every song
            from .hrtf import read_sofa

            read_sofa(Path(settings.hrtf))
        if settings.cloud:
            from .cloud import run_cloud

            run_cloud(settings)
            return 0
        from .local import run_demo, run_files, run_folder

        if args.demo:
            return run_demo(args.output, settings, bars, args.plot)
        if args.inputs:
            return run_files(args.inputs, args.output, settings, bars, args.plot)
        return run_folder(settings, bars, args.plot)
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
