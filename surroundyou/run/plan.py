"""The output plan: every (input, output) pair of a local run, decided before any conversion starts.

One function, ``plan``, for every local mode (named files, named folders, ``INPUT_DIR``, the demo):
  - ``-o FILE.ext`` is the output of the one input (its extension picks the format); any other
    ``-o`` is a folder, created when missing (default: ``OUTPUT_DIR``);
  - a named file's output is ``<out>/<stem>_8d.<ext>``;
  - a folder is searched recursively and its tree mirrored: ``in/Artist/Album/song.flac`` ->
    ``<out>/Artist/Album/song_8d.<ext>``; hidden files and folders are left out, and so are the
    output folder when it lies inside the input folder and files that are our outputs already;
  - inputs of one folder that share a name apart from the extension keep it in their outputs'
    names (``song.wav`` -> ``song.wav_8d.mp3``, ``song.flac`` -> ``song.flac_8d.mp3``), so nothing
    is overwritten; any other clash (two named files of the same name from different folders) is
    refused before anything is converted;
  - an output made from the same input with the same settings and format is skipped (``--force``
    converts it again), so a rerun over an unchanged folder converts nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from surroundyou.audio.tags import read_marker
from surroundyou.errors import InputError, UsageError
from surroundyou.formats import FORMATS, SUFFIXES, Format, by_suffix, format_of
from surroundyou.settings import ENV_INPUT_DIR, Settings

# Extensions taken as songs in a folder; content decides how each is decoded.
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
OUTPUT_SUFFIX = "_8d"  # added to an output's stem
NOT_AUDIO = "not an audio file name"
OURS = "already converted by SurroundYou (name the file to convert it again)"
LEFT_ALONE = {NOT_AUDIO: "not audio", OURS: "SurroundYou outputs, left alone"}  # how the totals group them
UP_TO_DATE = "its output is up to date (same input, same settings; --force converts it again)"


@dataclass
class Plan:
    """What a local run converts, and what it leaves alone (each with the reason)."""

    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def file_format(output: Path | None) -> Format | None:
    """The format of the one output file ``-o`` names, or None when ``-o`` is a folder (or not given);
    a UsageError if it looks like a file of a format the worker cannot write."""
    if output is None or output.is_dir():
        return None
    fmt = by_suffix(output)
    if fmt is None and output.suffix.lower() in AUDIO_SUFFIXES:
        raise UsageError(f"-o {output}: cannot write {output.suffix} files; use one of {', '.join(SUFFIXES)}")
    return fmt  # None: a folder, made when missing (its name may have a dot)


def plan(inputs: Sequence[Path], output: Path | None, settings: Settings) -> Plan:
    """The pairs for named files and folders (``inputs``), or ``INPUT_DIR`` when none is named."""
    named_fmt = file_format(output)
    if named_fmt is not None:
        assert output is not None  # for the type checker: a format means -o was given
        if len(inputs) != 1 or inputs[0].is_dir():
            raise UsageError(f"-o {output} names one file, but the input is {_inputs(inputs)}: make -o a folder")
        _check_exists(inputs[0])
        return _to_convert(Plan(), _checked([(inputs[0], output)]), settings)
    fmt = FORMATS[settings.output_format]
    folder = output if output is not None else settings.output_dir
    result = Plan()
    named: list[tuple[Path, Path]] = []  # (input, the folder its output goes to)
    for given in inputs or [_input_dir(settings)]:
        _check_exists(given)
        if given.is_dir():
            found, others = _walk(given, folder)
            named += [(src, folder / src.parent.relative_to(given)) for src in found]
            result.skipped += others
        else:
            named.append((given, folder))
    if not named:
        raise UsageError(f"no audio files in {_inputs(inputs or [settings.input_dir])} (looked for {_looked_for()})")
    return _to_convert(result, _checked(_name_outputs(named, fmt)), settings)


def _to_convert(result: Plan, pairs: list[tuple[Path, Path]], settings: Settings) -> Plan:
    """``result`` with the ``pairs`` to convert: all of them with --force, else those whose output is not
    up to date (the others are skipped, with that reason)."""
    for src, dst in pairs:
        if not settings.force and up_to_date(src, dst, settings):
            result.skipped.append((src, UP_TO_DATE))
        else:
            result.pairs.append((src, dst))
    return result


def source_marker(src: Path, dst: Path, settings: Settings) -> str:
    """What ``dst``, made from ``src`` with ``settings``, is tagged with: the fingerprint of the settings
    and of the output's format, and the input's."""
    digest = hashlib.sha256()
    with src.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return f"settings {settings.fingerprint(format_of(dst).name)} input sha256 {digest.hexdigest()}"


def up_to_date(src: Path, dst: Path, settings: Settings) -> bool:
    """Whether ``dst`` was made from this very ``src`` with these settings and format (its tag says so)."""
    if not dst.is_file():
        return False
    try:
        return read_marker(dst) == source_marker(src, dst, settings)
    except OSError:
        return False


def demo_output(output: Path | None, settings: Settings) -> Path:
    """Where the demo song goes: ``-o`` (a file, or a folder) or ``OUTPUT_DIR``, as ``demo_8d.<ext>``."""
    if file_format(output) is not None:
        assert output is not None
        return output
    folder = output if output is not None else settings.output_dir
    return folder / f"demo{OUTPUT_SUFFIX}{FORMATS[settings.output_format].suffix}"


def has_songs(folder: Path) -> bool:
    """Whether ``folder`` (which may not exist) holds a song anywhere in it, as a run would find them."""
    return folder.is_dir() and any(path.suffix.lower() in AUDIO_SUFFIXES for path in _files(folder))


def _input_dir(settings: Settings) -> Path:
    folder = settings.input_dir
    if not folder.is_dir():
        raise UsageError(
            f"no input folder {folder}/ ({ENV_INPUT_DIR}): create it and put songs in it, name files or "
            "folders as arguments, or try --demo"
        )
    return folder


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")


def _inputs(inputs: Sequence[Path]) -> str:
    return ", ".join(f"{p}/" if p.is_dir() else str(p) for p in inputs[:3]) + (", ..." if len(inputs) > 3 else "")


def _looked_for() -> str:
    return ", ".join(sorted(AUDIO_SUFFIXES))


def _walk(top: Path, output: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(songs, other files with the reason each is left alone) under ``top``, sorted, without hidden
    files and folders and without ``output`` if it lies inside ``top``. A file that is one of our
    outputs (it carries the marker tag), say of an earlier run into another folder, is left alone:
    converting it would circle the circle."""
    if _same(top, output):
        raise UsageError(f"-o {output} is the input folder itself: outputs would be taken as songs by the next run")
    songs: list[Path] = []
    others: list[tuple[Path, str]] = []
    for path in _files(top, skip=output.resolve()):
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            others.append((path, NOT_AUDIO))
        elif read_marker(path):
            others.append((path, OURS))
        else:
            songs.append(path)
    return songs, others


def _files(top: Path, skip: Path | None = None) -> Iterator[Path]:
    """The files under ``top``, sorted, without hidden files and folders and without the folder ``skip``."""
    for folder, dirs, files in os.walk(top):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        yield from (here / f for f in sorted(files) if not f.startswith(".") and (here / f).is_file())


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _name_outputs(named: list[tuple[Path, Path]], fmt: Format) -> list[tuple[Path, Path]]:
    """Each input's output path: ``<folder>/<stem>_8d.<ext>``, or ``<name>_8d.<ext>`` for inputs of one
    folder that share a stem; a file named twice counts once."""
    seen: set[Path] = set()
    inputs = []
    for src, folder in named:
        if (real := src.resolve()) not in seen:
            seen.add(real)
            inputs.append((src, folder))
    by_stem: dict[tuple[Path, Path, str], int] = defaultdict(int)
    for src, folder in inputs:
        by_stem[(src.parent.resolve(), folder, src.stem)] += 1

    def name(src: Path, folder: Path) -> Path:
        base = src.name if by_stem[(src.parent.resolve(), folder, src.stem)] > 1 else src.stem
        return folder / f"{base}{OUTPUT_SUFFIX}{fmt.suffix}"

    return [(src, name(src, folder)) for src, folder in inputs]


def _checked(pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """``pairs``, unless two of them write one output or an output would overwrite an input (UsageError)."""
    inputs = {src.resolve() for src, _ in pairs}
    owners: dict[Path, Path] = {}
    for src, dst in pairs:
        other = owners.setdefault(dst.resolve(), src)
        if other is not src:
            raise UsageError(
                f"{other} and {src} would both be written to {dst}: convert them in separate runs with different -o"
            )
        if dst.resolve() in inputs:
            raise UsageError(f"{dst}: the output would overwrite an input")
    return pairs
