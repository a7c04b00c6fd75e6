"""Local modes: a folder of songs, named files, or the built-in demo."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from .demo import write_demo
from .encode import FORMATS
from .engine import Report, convert
from .errors import EXIT_OK, InputError, SurroundError, UsageError
from .logs import event
from .settings import ENV_INPUT_DIR, Settings

# Extensions picked up in folder mode; content decides how each is decoded.
AUDIO_SUFFIXES = frozenset(
    [
        ".mp3",
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".aif",
        ".aiff",
        ".aifc",
        ".m4a",
        ".mp4",
        ".aac",
        ".wma",
        ".ac3",
        ".webm",
        ".mka",
        ".caf",
        ".amr",
    ]
)
OUTPUT_SUFFIX = "_8d"

ProgressFactory = Callable[[str], "ProgressBar"]


class ProgressBar:
    """What the CLI hands in: a callable taking the fraction done, closed at the end."""

    def __call__(self, fraction: float) -> None: ...

    def close(self) -> None: ...


def find_inputs(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES
    )


def _fmt_time(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _lufs(value: float) -> str:
    return f"{value:.1f} LUFS" if math.isfinite(value) else "silent"


def _summary(src: Path, dst: Path, r: Report) -> str:
    return (
        f"{src.name} -> {dst}  {_fmt_time(r.input_seconds)} in {r.processing_seconds:.1f} s "
        f"({r.realtime_factor:.0f}x realtime), {_lufs(r.loudness_lufs)} {r.gain_db:+.1f} dB -> "
        f"{_lufs(r.output_lufs)}, limiter {r.limited_db:.1f} dB, motion {r.motion.ild_swing_db:.1f} dB "
        f"between the ears, delay up to {r.motion.itd_max_ms:.2f} ms"
    )


def convert_one(src: Path, dst: Path, settings: Settings, bars: ProgressFactory, plot: Path | None = None) -> Report:
    if dst.exists() and dst.resolve() == src.resolve():
        raise UsageError(f"{dst}: the output would overwrite the input")
    bar = bars(src.name)
    try:
        report = convert(src, dst, settings, bar)
    finally:
        bar.close()
    event(
        "converted",
        _summary(src, dst, report),
        input=str(src),
        output=str(dst),
        status="converted",
        input_seconds=round(report.input_seconds, 3),
        processing_seconds=round(report.processing_seconds, 3),
        realtime_factor=round(report.realtime_factor, 1),
        output_lufs=round(report.output_lufs, 2),
        motion_ild_swing_db=round(report.motion.ild_swing_db, 1),
        motion_itd_max_ms=round(report.motion.itd_max_ms, 3),
    )
    if plot is not None:
        from .plot import plot_motion

        plot_motion(report, settings, plot, src.name)
        event("plotted", f"motion plot -> {plot}", plot=str(plot))
    return report


def convert_many(
    pairs: Sequence[tuple[Path, Path]], settings: Settings, bars: ProgressFactory, plot: Path | None = None
) -> int:
    """Convert each pair, going on after failures; returns the exit code."""
    if plot is not None and len(pairs) != 1:
        raise UsageError(f"--plot draws one conversion, but there are {len(pairs)} inputs: name one")
    failures: list[SurroundError] = []
    for src, dst in pairs:
        try:
            convert_one(src, dst, settings, bars, plot)
        except SurroundError as exc:
            failures.append(exc)
            event("failed", str(exc), logging.ERROR, input=str(src), status="failed", exit_code=exc.exit_code)
    if len(pairs) > 1:
        event(
            "summary",
            f"{len(pairs) - len(failures)} converted, {len(failures)} failed",
            converted=len(pairs) - len(failures),
            failed=len(failures),
        )
    return max((f.exit_code for f in failures), default=EXIT_OK)


def run_folder(settings: Settings, bars: ProgressFactory, plot: Path | None = None) -> int:
    folder = settings.input_dir
    if not folder.is_dir():
        raise UsageError(
            f"no input folder {folder}/: create it and put songs in it, name files as arguments, "
            f"set {ENV_INPUT_DIR}, or try --demo"
        )
    inputs = find_inputs(folder)
    if not inputs:
        raise UsageError(f"no audio files in {folder}/ (looked for {', '.join(sorted(AUDIO_SUFFIXES))}); try --demo")
    pairs = [(src, settings.output_dir / f"{src.stem}{OUTPUT_SUFFIX}.mp3") for src in inputs]
    return convert_many(pairs, settings, bars, plot)


def run_files(
    inputs: Sequence[Path], output: Path | None, settings: Settings, bars: ProgressFactory, plot: Path | None = None
) -> int:
    """Named files: ``-o`` is the output file (its extension picks the format) or a folder."""
    if output is not None and output.suffix.lower() in FORMATS and not output.is_dir():
        if len(inputs) > 1:
            raise UsageError("-o names one file, but several inputs were given: make -o a folder")
        pairs = [(inputs[0], output)]
    else:
        folder = output if output is not None else settings.output_dir
        if output is not None and output.suffix:
            raise UsageError(f"-o {output}: unsupported output format; use {', '.join(FORMATS)} or a folder")
        pairs = [(src, folder / f"{src.stem}{OUTPUT_SUFFIX}.mp3") for src in inputs]
    for src, _ in pairs:
        if not src.is_file():
            raise InputError(f"{src}: no such file")
    return convert_many(pairs, settings, bars, plot)


def run_demo(output: Path | None, settings: Settings, bars: ProgressFactory, plot: Path | None = None) -> int:
    dst = output if output is not None else settings.output_dir / f"demo{OUTPUT_SUFFIX}.mp3"
    with tempfile.TemporaryDirectory(prefix="surroundyou-demo-") as work:
        src = write_demo(Path(work) / "demo.wav")
        event("demo", f"synthesised a {24} s demo song; converting it")
        convert_one(src, dst, settings, bars, plot)
    return EXIT_OK
