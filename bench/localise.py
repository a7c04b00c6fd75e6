#!/usr/bin/env python3
"""Where a listener hears the source: a template-matching binaural localisation model.

The model itself (the method and its references) is surroundyou/dsp/localisation.py, so that
``--plot`` can draw its track too; here are what it is measured on: signals rendered at known
directions (--validate), and the worker's output on real songs (one, or the table of four in five
modes). Templates from MIT KEMAR (Gardner & Martin 1995, as Debian's libmysofa1 ships it in SOFA form).

Usage:
  bench/localise.py SONG [worker options]   convert SONG (process_audio.py SONG -o OUT.flac --force
                                            and the options) and print the model's table row;
                                            --stretch K reads it as a listener whose spectral
                                            features lie K times higher than KEMAR's
  bench/localise.py --validate              the model on signals rendered at known directions
  bench/localise.py --table                 the four real songs (bench/README.md) in five modes
  bench/localise.py [SONG] --listeners DIR  read SONG (or the four songs) as each measured listener of
                                            the CIPIC HRTF database in DIR would (other heads than
                                            KEMAR: out of sample for the front/back bands)
  --worker FILE                             convert with another checkout's process_audio.py
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from surroundyou.dsp.hrtf import Hrtf
from surroundyou.dsp.localisation import (
    KEMAR_PACKAGE,
    KEMAR_SOFA,
    Measures,
    analyse,
    kemar_templates,
    measure,
    source_reference,
    templates,
    through_head,
)

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "process_audio.py"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "surroundyou-bench"
SONGS = ("awakening.mp3", "coherence.mp3", "machine_wars.mp3", "through_space.ogg")
MODES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("default", ()),
    ("--depth 0", ("--depth", "0")),
    ("--reverb 0", ("--reverb", "0")),
    ("--renderer pan", ("--renderer", "pan")),
    ("--hrtf KEMAR (in-sample)", ("--hrtf", str(KEMAR_SOFA))),
)


# The CIPIC HRTF database (Algazi et al. 2001; UC Davis, "for any purpose", with its copyright notice):
# 45 heads, each subject_NNN/hrir_final.mat with hrir_l and hrir_r of (25 lateral angles, 50 polar
# angles, 200 taps) at 44.1 kHz, in interaural-polar coordinates. Subjects 021 and 165 are KEMAR.
CIPIC_RATE = 44100
CIPIC_LATERAL_DEG = np.array([-80.0, -65.0, -55.0, *range(-45, 50, 5), 55.0, 65.0, 80.0])
CIPIC_FRONT, CIPIC_BACK = 8, 40  # the polar angles 0° and 180° (-45 + 5.625 k): the horizontal plane
CIPIC_KEMAR = ("subject_021", "subject_165")


def cipic_listeners(folder: Path) -> list[Path]:
    """The human subjects' hrir_final.mat files under ``folder`` (KEMAR left out)."""
    files = sorted(p for p in folder.glob("subject_*/hrir_final.mat") if p.parent.name not in CIPIC_KEMAR)
    if not files:
        raise SystemExit(f"localise: no subject_*/hrir_final.mat under {folder} (the CIPIC HRTF database)")
    return files


def cipic_hrtf(path: Path, rate: int) -> Hrtf:
    """One CIPIC subject's horizontal plane (front and back at each lateral angle) at ``rate``."""
    from scipy.io import loadmat

    from surroundyou.dsp.hrtf import to_rate

    data = loadmat(path)
    ears = np.stack((data["hrir_l"], data["hrir_r"]), axis=1)  # (lateral, ear, polar, taps)
    azimuth = np.concatenate((np.mod(CIPIC_LATERAL_DEG, 360.0), 180.0 - CIPIC_LATERAL_DEG))
    irs = np.concatenate((ears[:, :, CIPIC_FRONT], ears[:, :, CIPIC_BACK]))
    order = np.argsort(azimuth)
    irs = to_rate(irs[order].astype(np.float64), CIPIC_RATE, rate)
    return Hrtf(np.radians(azimuth[order]), irs.astype(np.float32), rate, 0)


# ---- rendering at known directions (validation) ---------------------------------------------------


def pink_noise(seconds: float, rate: int, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """(n,) float32 pink noise (1/f power), RMS ``level``."""
    n = int(seconds * rate)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0.0
    x = np.fft.irfft(spectrum, n)
    return (x / x.std() * level).astype(np.float32)


def kemar_static(x: np.ndarray, rate: int, azimuth_deg: float, sofa: Path = KEMAR_SOFA) -> np.ndarray:
    """Mono ``x`` through the measured HRIR pair nearest ``azimuth_deg`` (clockwise): (2, n)."""
    from surroundyou.dsp.hrtf import convolve, load_sofa

    hrtf = load_sofa(sofa, rate)
    k = int(np.argmin(np.abs(np.mod(np.degrees(hrtf.azimuths) - azimuth_deg + 180.0, 360.0) - 180.0)))
    return convolve(x.astype(np.float32), hrtf.irs[k])[:, : x.size]


def render(renderer: object, stereo: np.ndarray, block: int = 65536) -> np.ndarray:
    """A renderer (surroundyou.dsp.motion.Spatializer) run over a whole (2, n) signal."""
    parts = [renderer.process(stereo[:, i : i + block]) for i in range(0, stereo.shape[1], block)]  # type: ignore[attr-defined]
    return np.concatenate([*parts, renderer.flush()], axis=1)  # type: ignore[attr-defined]


def circle(x: np.ndarray, rate: int, period_s: float, hrtf: bool, **kwargs: float) -> np.ndarray:
    """Mono ``x`` circling through the worker's binaural renderer (spherical head or KEMAR), no room."""
    from surroundyou.dsp.binaural import BinauralRenderer
    from surroundyou.dsp.hrtf import load_sofa

    measured = load_sofa(KEMAR_SOFA, rate) if hrtf else None
    renderer = BinauralRenderer(rate, period_s, mono=True, hrtf=measured, **kwargs)  # type: ignore[arg-type]
    return render(renderer, np.stack((x, x)))


@dataclass(frozen=True)
class StaticReading:
    azimuth_deg: float
    lateral_deg: float  # the median over the audible frames
    itd_lateral_deg: float  # the timing cue's alone
    ild_lateral_deg: float  # the level cue's alone
    front_pct: float  # frames read as in front
    compact_pct: float


def read_static(y: np.ndarray, rate: int, azimuth_deg: float, reference: np.ndarray | None) -> StaticReading:
    track = analyse(y, rate, kemar_templates(rate), reference)
    inner = track.audible.copy()
    inner[:2] = inner[-2:] = False  # the frames the window shares with the silence around the signal
    return StaticReading(
        azimuth_deg,
        float(np.median(track.lateral[inner])),
        float(np.nanmedian(track.itd_lateral[inner])),
        float(np.nanmedian(track.ild_lateral[inner])),
        float(100.0 * np.mean(track.p_front[inner] > 0.5)),
        float(100.0 * np.mean(track.compact[inner])),
    )


def validate(rate: int = 44100) -> str:
    """The model on pink noise rendered at known directions; a printable report."""
    lines = [header("bench/localise.py --validate")]
    x = pink_noise(3.0, rate)
    tpl = kemar_templates(rate)
    reference = source_reference(x, rate, tpl)
    directions = np.arange(0.0, 360.0, 30.0)
    for name, make in (("MIT KEMAR (in-sample)", kemar_static), ("spherical head (worker, no room)", through_head)):
        readings = [read_static(make(x, rate, float(a)), rate, float(a), reference) for a in directions]
        lines.append(f"\nStatic pink noise, 3 s per direction, through {name}:\n")
        lines.append("| azimuth | true lateral | read lateral | error | timing / level cue | read as front | compact |")
        lines.append("|---|---|---|---|---|---|---|")
        errors, itd_errors, correct = [], [], []
        for r in readings:
            true = math.degrees(math.asin(math.sin(math.radians(r.azimuth_deg))))
            errors.append(abs(r.lateral_deg - true))
            itd_errors.append(abs(r.itd_lateral_deg - true))
            side = math.cos(math.radians(r.azimuth_deg))
            if abs(side) > 0.1:
                correct.append(r.front_pct if side > 0 else 100.0 - r.front_pct)
            lines.append(
                f"| {r.azimuth_deg:.0f}° | {true:+.0f}° | {r.lateral_deg:+.0f}° | {errors[-1]:.0f}° "
                f"| {r.itd_lateral_deg:+.0f}° / {r.ild_lateral_deg:+.0f}° "
                f"| {r.front_pct:.0f} % | {r.compact_pct:.0f} % |"
            )
        lines.append(
            f"\nMean lateral error {np.mean(errors):.1f}° (max {np.max(errors):.0f}°), timing cue alone "
            f"{np.mean(itd_errors):.1f}° (max {np.max(itd_errors):.0f}°); "
            f"front/back correct {np.mean(correct):.0f} % of frames (the 10 directions off the ears)"
        )
    noise = pink_noise(36.0, rate, seed=1)
    lines.append("\nPink noise circling (12 s period, 36 s, mono, no room) through the worker's renderer:\n")
    lines.append(ROW_HEAD)
    for name, y in (
        ("KEMAR (in-sample)", circle(noise, rate, 12.0, hrtf=True)),
        ("spherical head, depth 0", circle(noise, rate, 12.0, hrtf=False)),
        ("spherical head, depth 10", circle(noise, rate, 12.0, hrtf=False, depth_db=10.0)),
    ):
        lines.append(row("pink noise", name, measure(analyse(y, rate, tpl), 12.0)))
    rng = np.random.default_rng(2)
    diffuse = np.stack([pink_noise(10.0, rate, seed=int(s)) for s in rng.integers(0, 1000, 2)])
    track = analyse(diffuse, rate, tpl)
    lines.append(
        f"\nControl: independent pink noise in each ear (no direction), 10 s: compact "
        f"{100 * track.compact[track.audible].mean():.0f} % of frames, coherence median "
        f"{np.median(track.coherence[track.audible]):.2f}"
    )
    return "\n".join(lines)


# ---- the worker on real songs ---------------------------------------------------------------------

ROW_HEAD = (
    "| input | mode | corr | compact (coherent, cues agree) | reach L / R | reach ITD / ILD "
    "| AUC front/back | period |\n"
    "|---|---|---|---|---|---|---|---|"
)


def row(name: str, mode: str, m: Measures) -> str:
    """One line of the table under ROW_HEAD."""
    return (
        f"| {name} | {mode} | {m.corr:.2f} | {m.compact_pct:.0f} % ({m.coherent_pct:.0f} %, {m.agree_pct:.0f} %) "
        f"| {m.reach_left:.0f}° / {m.reach_right:.0f}° "
        f"| {m.itd_reach:.0f}° / {m.ild_reach:.0f}° | {m.auc:.2f} | {m.period_s:.2f} s |"
    )


def decode(path: Path) -> tuple[np.ndarray, int]:
    """The whole file as (2, n) float32 and its rate, decoded as the worker decodes (in blocks)."""
    from surroundyou.audio.decode import read_span
    from surroundyou.settings import Settings

    x, rate, _ = read_span(path, Settings().max_input_bytes)
    return x, int(rate)


def convert(song: Path, options: list[str], out: Path, worker: Path = WORKER) -> None:
    cmd = [sys.executable, str(worker), str(song), "-o", str(out), "--force", *options]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"localise: {shlex.join(cmd)} failed ({done.returncode}): {last}")


def period_option(options: list[str]) -> float:
    """The circle's period the worker will use: --period if given, else the settings' default."""
    from surroundyou.settings import Settings

    for i, opt in enumerate(options):
        if opt == "--period" and i + 1 < len(options):
            return float(options[i + 1])
        if opt.startswith("--period="):
            return float(opt.split("=", 1)[1])
    return float(os.environ.get("PERIOD_SECONDS", Settings().period_s))


def converted(song: Path, options: list[str], worker: Path = WORKER) -> tuple[np.ndarray, int]:
    """``song`` converted by ``worker`` with ``options``, decoded: (2, n) and the rate."""
    with tempfile.TemporaryDirectory(prefix="surroundyou-loc-") as work:
        out = Path(work) / "out.flac"
        convert(song, options, out, worker)
        return decode(out)


def measure_song(song: Path, options: list[str], stretch: float = 1.0, worker: Path = WORKER) -> Measures:
    """Convert ``song`` with the worker and read the result with the model (``stretch``: kemar_templates())."""
    y, rate = converted(song, options, worker)
    return measure(analyse(y, rate, kemar_templates(rate, stretch)), period_option(options))


LISTENERS_HEAD = (
    "| input | mode | AUC, KEMAR | AUC, CIPIC listeners: median (10th-90th percentile), lowest "
    "| listeners with AUC >= 0.80 | compact, median | reach, median | corr, median |\n"
    "|---|---|---|---|---|---|---|---|"
)


def listeners_row(song: Path, options: list[str], files: list[Path], worker: Path = WORKER) -> str:
    """``song`` converted once, read with KEMAR's templates and with each CIPIC listener's."""
    y, rate = converted(song, options, worker)
    period = period_option(options)
    kemar = measure(analyse(y, rate, kemar_templates(rate)), period)
    each = [measure(analyse(y, rate, templates(cipic_hrtf(f, rate))), period) for f in files]
    auc = np.array([m.auc for m in each])
    p10, p50, p90 = np.percentile(auc, (10, 50, 90))
    return (
        f"| {song.name} | {shlex.join(options) or 'default'} | {kemar.auc:.2f} "
        f"| {p50:.2f} ({p10:.2f}-{p90:.2f}), {auc.min():.2f} | {np.sum(auc >= 0.8)} of {auc.size} "
        f"| {np.median([m.compact_pct for m in each]):.0f} % "
        f"| {np.median([0.5 * (m.reach_left + m.reach_right) for m in each]):.0f}° "
        f"| {np.median([m.corr for m in each]):.2f} |"
    )


def header(command: str) -> str:
    """When, on what machine and at which commit (bench/bench.py's own helpers), by which command."""
    spec = importlib.util.spec_from_file_location("localise_bench_helpers", ROOT / "bench" / "bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up there
    spec.loader.exec_module(bench)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Measured on {when} on {bench.machine()}, at commit {bench.commit()}, with `{command}`."


def table(songs: list[Path], worker: Path = WORKER) -> str:
    command = "bench/localise.py --table" + ("" if worker == WORKER else f" --worker {worker}")
    lines = [header(command), "", ROW_HEAD]
    for song in songs:
        for mode, options in MODES:
            started = time.perf_counter()
            m = measure_song(song, list(options), worker=worker)
            print(f"... {song.name} {mode}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
            lines.append(row(song.name, mode, m))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0], epilog="Other options go to the worker.")
    parser.add_argument("song", nargs="?", type=Path, help="a song to convert and read")
    parser.add_argument("--validate", action="store_true", help="read noise rendered at known directions")
    parser.add_argument("--table", action="store_true", help="the real songs of bench/README.md in five modes")
    parser.add_argument(
        "--stretch",
        type=float,
        default=1.0,
        help="read SONG with KEMAR's level spectra stretched in frequency by this factor, as another listener's",
    )
    parser.add_argument(
        "--listeners",
        type=Path,
        metavar="DIR",
        help="read SONG (or the four songs) as each listener of the CIPIC HRTF database in DIR",
    )
    parser.add_argument("--worker", type=Path, default=WORKER, help="the process_audio.py that converts")
    args, worker_options = parser.parse_known_args(argv)
    if not KEMAR_SOFA.exists():
        raise SystemExit(f"localise: {KEMAR_SOFA} is missing; install it with: apt-get install {KEMAR_PACKAGE}")
    if args.validate and args.worker != WORKER:
        parser.error("--validate renders in this checkout; --worker applies to a SONG, --table or --listeners")
    if args.listeners is not None and args.stretch != 1.0:
        parser.error("--listeners reads with each listener's own head; --stretch moves KEMAR's: use one")
    if args.listeners is not None:
        files = cipic_listeners(args.listeners)
        songs = [args.song] if args.song is not None else [CACHE / name for name in SONGS]
        command = ["bench/localise.py", *([str(args.song)] if args.song else []), "--listeners", str(args.listeners)]
        if args.worker != WORKER:
            command += ["--worker", str(args.worker)]
        print(header(shlex.join([*command, *worker_options])), "", LISTENERS_HEAD, sep="\n")
        for song in songs:
            print(listeners_row(song, worker_options, files, args.worker), flush=True)
    elif args.validate:
        print(validate())
    elif args.table:
        missing = [name for name in SONGS if not (CACHE / name).exists()]
        if missing:
            raise SystemExit(f"localise: {', '.join(missing)} not in {CACHE}; bench/bench.py fetches them")
        print(table([CACHE / name for name in SONGS], args.worker))
    elif args.song is not None:
        mode = (shlex.join(worker_options) or "default") + (
            f", templates x{args.stretch:g}" if args.stretch != 1.0 else ""
        )
        command = ["bench/localise.py", str(args.song), *worker_options]
        if args.stretch != 1.0:
            command += ["--stretch", f"{args.stretch:g}"]
        print(header(shlex.join(command)), "", ROW_HEAD, sep="\n")
        print(row(args.song.name, mode, measure_song(args.song, worker_options, args.stretch, args.worker)))
    else:
        parser.error("name a SONG, or --validate or --table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
