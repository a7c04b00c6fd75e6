#!/usr/bin/env python3
"""What a user waits for and pays: whole processes, started as a user starts them.

Every figure comes from a fresh process (start-up and imports included), run
alternately with the others in the same round, median of ``--repeat`` rounds:
  bare      python -c <pedalboard decode + MP3 V2 encode, block by block>: the codec floor
  binaural  python process_audio.py IN -o OUT (the default conversion)
  pan       the same with --renderer pan
  pinned    bare and binaural under taskset -c 0: one core, as a 0.5 vCPU Fargate task has
Wall time, CPU time (user + sys of the process and its children, from wait4) and
peak RSS; ratios are to the bare transcode of the same file in the same round.
Also: ``process_audio.py --version`` start-up, and peak memory on a long song.

Inputs (bench/README.md): real recorded songs from Debian's packages, fetched
with apt-get download and cached, plus a generated 3-minute song with sharp
transients that needs heavy limiting. Not a test: numbers vary with the machine;
run it on a quiet one. Usage: bench/bench.py [--repeat 3] [--long-minutes 30] [--write-docs]
(--write-docs: the results, with when, where, at which commit and by which command they
were measured, also replace those in docs/performance.md between its marker lines).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = str(ROOT / "process_audio.py")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "surroundyou-bench"
RATE = 44100
BLOCK = 65536
DOCS_PAGE = ROOT / "docs" / "performance.md"
# The lines of DOCS_PAGE between which --write-docs puts the results.
START_MARKER, END_MARKER = "<!-- bench-table -->", "<!-- /bench-table -->"

BARE = """
import sys
from pedalboard.io import AudioFile
with AudioFile(sys.argv[1]) as f, AudioFile(sys.argv[2], "w", f.samplerate, f.num_channels, quality="V2") as o:
    while (block := f.read(65536)).shape[1]:
        o.write(block)
"""

# (file name, Debian package, path inside it, how the bench file is made)
SONGS = [
    ("awakening.mp3", "singularity-music", "usr/share/games/singularity/music/Awakening.ogg", "mp3"),
    ("coherence.mp3", "singularity-music", "usr/share/games/singularity/music/Coherence.ogg", "mp3"),
    ("through_space.ogg", "singularity-music", "usr/share/games/singularity/music/Through Space.ogg", "copy"),
    ("machine_wars.mp3", "asc-music", "usr/share/games/asc/music/machine_wars.mp3", "copy"),
]


def real_songs() -> list[Path]:
    """The songs of SONGS in the cache, fetched and made on first use."""
    made = [CACHE / name for name, *_ in SONGS]
    if all(p.exists() for p in made):
        return made
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="surroundyou-songs-") as work:
        packages = sorted({pkg for _, pkg, _, _ in SONGS})
        print(f"... fetching {', '.join(packages)} with apt-get download", file=sys.stderr)
        got = subprocess.run(["apt-get", "download", *packages], cwd=work, capture_output=True, text=True)
        if got.returncode != 0:
            last = (got.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"bench: apt-get download {' '.join(packages)} failed ({last}); try: sudo apt-get update")
        for deb in Path(work).glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(work) / "root")], check=True)
        for name, _, inner, how in SONGS:
            src = Path(work) / "root" / inner
            if how == "copy":
                shutil.copyfile(src, CACHE / name)
            else:  # a 44.1 kHz MP3 at 256 kbps: what most users' files are
                cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-ar", "44100", "-b:a", "256k", str(CACHE / name)]
                subprocess.run(cmd, check=True)
    return made


def make_song(path: Path, minutes: float) -> None:
    """A music-like MP3 (pink-ish noise with a drum hit every half second), streamed to disk."""
    import numpy as np
    from pedalboard.io import AudioFile
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(1)
    sos = butter(1, 800, fs=RATE, output="sos")
    zi = np.zeros((sos.shape[0], 2, 2))
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


@dataclass(frozen=True)
class Run:
    wall: float  # s
    cpu: float  # s, user + sys of the process tree
    rss_mb: float  # peak resident set of the largest process


def run(cmd: list[str]) -> Run:
    """One whole process, as a user starts it; its output is thrown away.

    The kernel counts the memory a child had before its exec (a copy of this process)
    in its peak RSS, so this process imports nothing heavy: numpy, pedalboard and the
    song generation run in children of their own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "AWS_"))}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()  # drained while it runs, so a chatty child never blocks
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode(errors='replace')[-500:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def median(runs: list[Run]) -> Run:
    return Run(*(statistics.median(getattr(r, f) for r in runs) for f in ("wall", "cpu", "rss_mb")))


def seconds_of(path: Path) -> float:
    code = "import sys; from pedalboard.io import AudioFile; print(AudioFile(sys.argv[1]).duration)"
    return float(subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, check=True).stdout)


def generate(path: Path, minutes: float) -> None:
    """``make_song`` in a child process: this one stays small (see ``run``)."""
    subprocess.run([sys.executable, __file__, "--make-song", str(path), str(minutes)], check=True)


def measure(src: Path, out: Path, repeat: int, pinned: bool) -> dict[str, Run]:
    """Median of ``repeat`` rounds; in each round every variant runs once, in the same order."""
    py = sys.executable
    variants = {
        "bare": [py, "-c", BARE, str(src), str(out)],
        "binaural": [py, WORKER, str(src), "-o", str(out)],
        "pan": [py, WORKER, "--renderer", "pan", str(src), "-o", str(out)],
    }
    if pinned:
        variants["bare 1 core"] = ["taskset", "-c", "0", *variants["bare"]]
        variants["binaural 1 core"] = ["taskset", "-c", "0", *variants["binaural"]]
    rounds: dict[str, list[Run]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, cmd in variants.items():
            rounds[name].append(run(cmd))
    return {name: median(runs) for name, runs in rounds.items()}


def ratio(a: Run, b: Run, field: str) -> str:
    return f"{getattr(a, field) / getattr(b, field):.2f}"


@dataclass(frozen=True)
class Row:
    src: Path
    kind: str  # "real" or how it was generated
    seconds: float  # the song's length
    runs: dict[str, Run]  # median per variant (measure)


@dataclass(frozen=True)
class Results:
    rows: list[Row]
    pinned: bool  # the one-core variants ran
    repeat: int
    version: Run  # process_audio.py --version
    long_minutes: float
    long_run: Run | None


def table(rows: list[Row], pinned: bool) -> list[str]:
    """The main results: a Markdown table, a row per input."""
    columns = ["input", "length", "bare decode+encode", "binaural (ratio)", "pan (ratio)"]
    columns += ["CPU bare / binaural (ratio)"]
    columns += ["1 core: bare / binaural (ratio)"] if pinned else []
    columns += ["peak RSS bare / binaural / pan"]
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in rows:
        m, seconds = row.runs, row.seconds
        b, bi, pa = m["bare"], m["binaural"], m["pan"]
        line = (
            f"| {row.src.name} ({row.kind}) | {int(seconds // 60)}:{int(seconds % 60):02d} | {b.wall:.2f} s "
            f"| {bi.wall:.2f} s ({ratio(bi, b, 'wall')}) | {pa.wall:.2f} s ({ratio(pa, b, 'wall')}) "
            f"| {b.cpu:.2f} / {bi.cpu:.2f} s ({ratio(bi, b, 'cpu')})"
        )
        if pinned:
            p_b, p_bi = m["bare 1 core"], m["binaural 1 core"]
            line += f" | {p_b.wall:.2f} / {p_bi.wall:.2f} s ({ratio(p_bi, p_b, 'wall')})"
        lines.append(line + f" | {b.rss_mb:.0f} / {bi.rss_mb:.0f} / {pa.rss_mb:.0f} MB |")
    return lines


def summary(results: Results) -> list[str]:
    """The median ratios over the real songs, the start-up and the long song's peak memory."""
    lines = []
    real = [row.runs for row in results.rows if row.kind == "real"]
    if real:

        def med(variant: str, field: str, base: str = "bare") -> float:
            return statistics.median(getattr(m[variant], field) / getattr(m[base], field) for m in real)

        line = (
            f"Real songs, median ratio to bare: binaural wall {med('binaural', 'wall'):.2f}, "
            f"pan wall {med('pan', 'wall'):.2f}, binaural CPU {med('binaural', 'cpu'):.2f}"
        )
        if results.pinned:
            line += f", binaural on 1 core {med('binaural 1 core', 'wall', 'bare 1 core'):.2f}"
        lines.append(line + ".")
    lines.append(f"Start-up: process_audio.py --version {results.version.wall:.2f} s (median of 5).")
    if results.long_run is not None:
        lines.append(
            f"Long song ({results.long_minutes:g} min, generated): binaural {results.long_run.wall:.1f} s, "
            f"peak RSS {results.long_run.rss_mb:.0f} MB."
        )
    return lines


def machine() -> str:
    """The cores and CPU model (from /proc/cpuinfo) and the Python version."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


def commit() -> str:
    """The checkout's short commit, marked when files it tracks have changed since."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True
        )
    except OSError:  # no git
        return "an unknown commit"
    if head.returncode != 0:
        return "an unknown commit (not a git checkout)"
    return head.stdout.strip() + (" with uncommitted changes" if changed.stdout.strip() else "")


def provenance(repeat: int, argv: list[str]) -> str:
    """When, on what machine, at which commit and by which command the results were measured."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    # ./dev bench runs this script with the project's Python and passes its arguments on unchanged.
    command = shlex.join(["./dev", "bench", *argv])
    return (
        f"Measured on {when} on {machine()}, at commit {commit()}, with `{command}`: "
        f"median of {repeat} rounds, whole processes."
    )


def report(results: Results, measured: str) -> list[str]:
    """What the bench prints and --write-docs writes: provenance, table, summary (Markdown)."""
    return [measured, "", *table(results.rows, results.pinned), "", *summary(results)]


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with what lies between its START_MARKER and END_MARKER lines replaced by ``block``.

    ValueError unless each marker is a line of its own, once, the start before the end. Blank lines
    keep the block apart from the markers, so that Markdown reads it as blocks of its own."""
    lines = text.splitlines(keepends=True)
    bare = [line.strip() for line in lines]
    if (
        bare.count(START_MARKER) != 1
        or bare.count(END_MARKER) != 1
        or bare.index(START_MARKER) > bare.index(END_MARKER)
    ):
        raise ValueError(f"needs a line {START_MARKER} and, after it, a line {END_MARKER}, once each")
    start, end = bare.index(START_MARKER), bare.index(END_MARKER)
    return "".join(lines[: start + 1]) + "\n" + block.strip("\n") + "\n\n" + "".join(lines[end:])


def write_docs(page: Path, block: str | None = None) -> None:
    """Put ``block`` between the markers of ``page``; with None, only check that it can.
    Exits with one line when the page or its markers are missing."""
    try:
        text = page.read_text()
        updated = replace_between_markers(text, block or "")
    except (OSError, ValueError) as e:
        raise SystemExit(f"bench: --write-docs: {page}: {getattr(e, 'strerror', None) or e}") from None
    if block is not None:
        page.write_text(updated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts (default 3)")
    parser.add_argument("--long-minutes", type=float, default=30, help="length of the memory run (0: skip)")
    parser.add_argument("--no-pinned", action="store_true", help="skip the one-core runs")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help=f"also write the results into {DOCS_PAGE.relative_to(ROOT)}, between its {START_MARKER} "
        f"and {END_MARKER} lines",
    )
    parser.add_argument("--make-song", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_song:
        make_song(Path(args.make_song[0]), float(args.make_song[1]))
        return
    if args.write_docs:
        write_docs(DOCS_PAGE)  # a missing page or marker fails now, not after minutes of measuring
    pinned = not args.no_pinned and shutil.which("taskset") is not None

    version = median([run([sys.executable, WORKER, "--version"]) for _ in range(5)])
    rows = []
    with tempfile.TemporaryDirectory(prefix="surroundyou-bench-") as work:
        stress = Path(work) / "stress_3min.mp3"
        generate(stress, 3)
        inputs = [(p, "real") for p in real_songs()] + [(stress, "generated, heavy limiting")]
        for src, kind in inputs:
            rows.append(Row(src, kind, seconds_of(src), measure(src, Path(work) / "out.mp3", args.repeat, pinned)))
            print(f"... {src.name} done", file=sys.stderr)
        long_run = None
        if args.long_minutes > 0:
            long_song = Path(work) / f"long_{args.long_minutes:g}min.mp3"
            generate(long_song, args.long_minutes)
            long_run = run([sys.executable, WORKER, str(long_song), "-o", str(Path(work) / "long_8d.mp3")])

    results = Results(rows, pinned, args.repeat, version, args.long_minutes, long_run)
    block = "\n".join(report(results, provenance(args.repeat, sys.argv[1:])))
    print(block)
    if args.write_docs:
        write_docs(DOCS_PAGE, block)
        print(f"... wrote the results into {DOCS_PAGE.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
