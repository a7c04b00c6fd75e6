"""Local modes: a folder of songs, named files, or the built-in demo: which inputs, which outputs.

The conversion of the pairs (processes, stops, the summary) is batch.py's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from .batch import convert_many, convert_one, up_to_date
from .demo import SECONDS as DEMO_SECONDS
from .demo import write_demo
from .encode import FORMATS
from .errors import EXIT_OK, InputError, UsageError
from .logs import event
from .progress import BarFor
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
UP_TO_DATE = "its output is up to date (same input, same settings; --force converts it again)"


def find_inputs(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES
    )


def run_folder(settings: Settings, bar_for: BarFor, plot: Path | None = None) -> int:
    folder = settings.input_dir
    if not folder.is_dir():
        raise UsageError(
            f"no input folder {folder}/: create it and put songs in it, name files as arguments, "
            f"set {ENV_INPUT_DIR}, or try --demo"
        )
    inputs = find_inputs(folder)
    others = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p not in inputs)
    if not inputs:
        raise UsageError(f"no audio files in {folder}/ (looked for {', '.join(sorted(AUDIO_SUFFIXES))}); try --demo")
    pairs = [(src, settings.output_dir / f"{src.stem}{OUTPUT_SUFFIX}.mp3") for src in inputs]
    skipped = [(path, "not an audio file name") for path in others]
    if not settings.force:
        done = {src for src, dst in pairs if up_to_date(src, dst, settings)}
        pairs = [(src, dst) for src, dst in pairs if src not in done]
        skipped += [(src, UP_TO_DATE) for src in sorted(done)]
    return convert_many(pairs, settings, bar_for, plot, skipped=skipped)


def run_files(
    inputs: Sequence[Path], output: Path | None, settings: Settings, bar_for: BarFor, plot: Path | None = None
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
    return convert_many(pairs, settings, bar_for, plot)


def run_demo(output: Path | None, settings: Settings, bar_for: BarFor, plot: Path | None = None) -> int:
    dst = output if output is not None else settings.output_dir / f"demo{OUTPUT_SUFFIX}.mp3"
    with tempfile.TemporaryDirectory(prefix="surroundyou-demo-") as work:
        src = write_demo(Path(work) / "demo.wav")
        event("demo", f"synthesised a {DEMO_SECONDS:g} s demo song; converting it")
        convert_one(src, dst, settings, bar_for, plot)
    return EXIT_OK
