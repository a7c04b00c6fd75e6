"""Local runs: named files and folders, the songs of INPUT_DIR, or the built-in demo.

Which pairs to convert is the output plan's (plan.py); converting them (processes, stops, the
summary) is batch.py's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from surroundyou.audio.encode import check_encoder
from surroundyou.convert.tempdirs import run_folder
from surroundyou.errors import EXIT_OK
from surroundyou.formats import format_of
from surroundyou.logs import event
from surroundyou.progress import Bars
from surroundyou.run.batch import convert_many, convert_one
from surroundyou.run.demo import SECONDS as DEMO_SECONDS
from surroundyou.run.demo import write_demo
from surroundyou.run.plan import demo_output, plan
from surroundyou.settings import Settings


def run_local(
    inputs: Sequence[Path], output: Path | None, settings: Settings, bar_for: Bars, plot: Path | None = None
) -> int:
    """Named files and folders (``inputs``), or INPUT_DIR's songs: every pair planned first, then converted."""
    planned = plan(inputs, output, settings)
    for fmt in {format_of(dst) for _, dst in planned.pairs}:
        check_encoder(fmt)
    return convert_many(planned.pairs, settings, bar_for, plot, skipped=planned.skipped)


def run_demo(
    output: Path | None, settings: Settings, bar_for: Bars, plot: Path | None = None, asked: bool = True
) -> int:
    """The built-in song; ``asked``: by --demo (else chosen because there was nothing to convert)."""
    dst = demo_output(output, settings)
    check_encoder(format_of(dst))
    with tempfile.TemporaryDirectory(prefix="demo-", dir=run_folder()) as work:
        src = write_demo(Path(work) / "demo.wav")
        why = "" if asked else f"no songs in {settings.input_dir}/ and none named: "
        event("demo", f"{why}synthesised a {DEMO_SECONDS:g} s demo song; converting it")
        convert_one(src, dst, settings, bar_for, plot)
    return EXIT_OK
