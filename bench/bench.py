#!/usr/bin/env python3
"""Speed and memory of the conversion against a bare decode + encode of the same MP3.

Generates music-like stereo MP3s (pink noise with drum-like hits, 44.1 kHz,
V2) of 3, 10 and 30 minutes, then measures in a fresh child process each:
  bare     pedalboard decode + MP3 V2 encode, block by block (the codec floor)
  binaural the full SurroundYou conversion with default settings
  pan      the same with --mode pan
and prints a table: wall seconds, realtime factor, peak RSS, ratio to bare.
Not a test: numbers vary with the machine. Usage: bench/bench.py [--minutes 3 10 30] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RATE = 44100
BLOCK = 65536


def make_song(path: Path, minutes: float) -> None:
    """Stream a music-like MP3 to disk without holding it in memory."""
    from pedalboard.io import AudioFile
    from scipy.signal import butter, sosfilt, sosfilt_zi

    rng = np.random.default_rng(1)
    # Pink-ish noise: white noise through a gentle low-pass; hits every half second.
    sos = butter(1, 800, fs=RATE, output="sos")
    zi = np.stack([sosfilt_zi(sos)] * 2, axis=1) * 0.0
    total = int(minutes * 60 * RATE)
    with AudioFile(str(path), "w", RATE, 2, quality="V2") as out:
        for start in range(0, total, BLOCK):
            n = min(BLOCK, total - start)
            white = rng.standard_normal((2, n)).astype(np.float32)
            low, zi = sosfilt(sos, white, axis=1, zi=zi)
            block = (0.25 * low + 0.02 * white).astype(np.float32)
            t = (start + np.arange(n)) % (RATE // 2)
            block += (0.6 * np.exp(-t / 2000.0) * np.sin(2 * np.pi * 60 * t / RATE)).astype(np.float32)
            out.write(block)


def child(mode: str, src: str, dst: str) -> None:
    """Run one measurement in this process; print wall seconds and peak RSS as JSON."""
    sys.path.insert(0, str(ROOT))
    from pedalboard.io import AudioFile

    from surroundyou.engine import convert
    from surroundyou.settings import Settings

    started = time.perf_counter()
    if mode == "bare":
        with AudioFile(src) as f, AudioFile(dst, "w", f.samplerate, f.num_channels, quality="V2") as o:
            while (block := f.read(BLOCK)).shape[1]:
                o.write(block)
    else:
        convert(Path(src), Path(dst), Settings(mode=mode))
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "peak_mb": peak_mb}))


def measure(mode: str, src: Path, dst: Path, repeat: int) -> dict[str, float]:
    """Best wall time and largest peak RSS over ``repeat`` fresh processes."""
    runs = []
    for _ in range(repeat):
        cmd = [sys.executable, __file__, "--child", mode, str(src), str(dst)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"wall": min(r["wall"] for r in runs), "peak_mb": max(r["peak_mb"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[3, 10, 30])
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the best time counts")
    parser.add_argument("--modes", nargs="+", default=["binaural", "pan"], choices=["binaural", "pan"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="surroundyou-bench-") as work:
        for minutes in args.minutes:
            src = Path(work) / f"song_{minutes:g}min.mp3"
            make_song(src, minutes)
            bare = measure("bare", src, Path(work) / "bare.mp3", args.repeat)
            for mode in args.modes:
                rows.append((minutes, mode, bare, measure(mode, src, Path(work) / "out.mp3", args.repeat)))
            print(f"... {minutes:g} min done", file=sys.stderr)
    print(
        "| input | mode | bare decode+encode | conversion | realtime | peak RSS (bare / conversion) | ratio to bare |"
    )
    print("|---|---|---|---|---|---|---|")
    for minutes, mode, bare, conv in rows:
        print(
            f"| {minutes:g} min | {mode} | {bare['wall']:.2f} s | {conv['wall']:.2f} s "
            f"| {minutes * 60 / conv['wall']:.0f}x "
            f"| {bare['peak_mb']:.0f} MB / {conv['peak_mb']:.0f} MB | {conv['wall'] / bare['wall']:.2f} |"
        )


if __name__ == "__main__":
    main()
