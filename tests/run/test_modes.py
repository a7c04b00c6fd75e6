"""The run mode: one decision from the command line and the environment; contradictions are usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from surroundyou.errors import UsageError
from surroundyou.run.modes import Request, RunMode, decide
from surroundyou.settings import Settings

CLOUD = Settings(bucket="bucket", key="input/x.mp3")
QUEUE = Settings(bucket="bucket", queue_url="https://sqs.example/q")


def test_each_mode_from_its_inputs(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp3").write_bytes(b"")
    local = Settings(input_dir=tmp_path / "in")
    assert decide(Request(), CLOUD, {}) is RunMode.CLOUD
    assert decide(Request(), QUEUE, {}) is RunMode.QUEUE
    assert decide(Request(demo=True), local, {}) is RunMode.DEMO
    assert decide(Request((Path("a.mp3"),)), local, {}) is RunMode.LOCAL
    assert decide(Request(), local, {}) is RunMode.LOCAL


def test_nothing_to_convert_runs_the_demo_unless_input_dir_was_set(tmp_path: Path) -> None:
    empty = Settings(input_dir=tmp_path / "input")
    assert decide(Request(), empty, {}) is RunMode.DEMO
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "notes.txt").write_text("no song")
    assert decide(Request(), empty, {}) is RunMode.DEMO
    # A folder the user named is theirs: its emptiness is an error later, never a silent demo.
    assert decide(Request(), empty, {"INPUT_DIR": str(tmp_path / "input")}) is RunMode.LOCAL


@pytest.mark.parametrize("settings", [CLOUD, QUEUE], ids=["cloud", "queue"])
@pytest.mark.parametrize(
    ("request_", "named"),
    [
        (Request(inputs=(Path("song.mp3"),)), "FILE arguments"),
        (Request(demo=True), "--demo"),
        (Request(output=Path("out")), "-o"),
        (Request(plot=Path("p.png")), "--plot"),
    ],
)
def test_local_arguments_with_s3_or_a_queue_are_usage_errors(settings: Settings, request_: Request, named: str) -> None:
    with pytest.raises(UsageError, match=f"^{named} cannot be used with"):
        decide(request_, settings, {})


def test_force_with_s3_and_files_with_demo_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--force cannot be used with S3_BUCKET and S3_KEY"):
        decide(Request(), Settings(bucket="bucket", key="input/x.mp3", force=True), {})
    with pytest.raises(UsageError, match="name no files"):
        decide(Request(inputs=(Path("a.mp3"),), demo=True), Settings(), {})
