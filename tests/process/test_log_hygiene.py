"""Logs stay one JSON object per line whatever the input.

The worker runs as a whole process against moto's S3 (and SQS) over HTTP with keys holding the
characters Unicode-aware readers break lines at (U+2028, U+2029, U+0085), with a 200 KB key
(in a queue message: an environment string holds at most 128 KB), and with a float WAV whose
infinite samples make numpy warn. Each stderr line must be a JSON object, the lines must be the
same whether split at newlines or the way ``str.splitlines`` splits, and no line may be longer
than MAX_LINE_BYTES.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from surroundyou import logs
from tests.support.audio import pink_noise, write
from tests.support.hostile import float_wav
from tests.support.processes import run_cli, start_cli
from tests.support.queue import bridge_event, send

MAX_LINE_BYTES = 4096
ODD_KEY = "input/odd\u2028line\u2029para\x85next.mp3"


def json_lines(stderr: str, max_bytes: int = MAX_LINE_BYTES) -> list[dict[str, Any]]:
    """The records of a worker's stderr: every line one JSON object, however lines are split,
    none over ``max_bytes``."""
    lines = stderr.splitlines()
    assert lines == stderr.removesuffix("\n").split("\n"), "a line separator other than \\n is raw in the log"
    for line in lines:
        assert len(line.encode()) <= max_bytes, (len(line.encode()), line[:300])
    return [json.loads(line) for line in lines]


def test_keys_with_unicode_line_separators_stay_on_one_line(s3: Any, tmp_path: Path) -> None:
    client, bucket, env = s3
    song = write(tmp_path / "song.mp3", pink_noise(2.0, 44100), quality="V2")
    client.put_object(Bucket=bucket, Key=ODD_KEY, Body=song.read_bytes())
    result = run_cli(env={**env, "S3_BUCKET": bucket, "S3_KEY": ODD_KEY})
    records = json_lines(result.stderr)
    assert result.returncode in (0, 3), result.stderr[-500:]  # converted, or its key refused: one line either way
    assert any(r.get("key") == ODD_KEY or ODD_KEY in r["message"] for r in records), records


def _bounded_key_is_named(records: list[dict[str, Any]], key: str) -> None:
    """Some record names the key by its start, none holds it whole."""
    texts = [str(v) for r in records for v in r.values()]
    assert not any(key in text for text in texts)
    assert any(key[:30] in text for text in texts), records


def test_a_200_kb_key_in_a_message_makes_no_long_log_line(queues: dict[str, Any]) -> None:
    key = "input/" + "q" * 200_000 + ".mp3"
    send(queues, bridge_event(queues["bucket"], key))
    worker = start_cli(env=queues["env"])
    try:
        _, stderr = worker.communicate(timeout=120)  # it stops once the queue has been idle a while
    finally:
        worker.kill()
    assert worker.returncode == 0, stderr[-500:]
    records = json_lines(stderr)
    _bounded_key_is_named(records, key)


def test_numpy_warnings_on_infinite_samples_are_json_records(s3: Any, tmp_path: Path) -> None:
    """Six channels with +inf and -inf: folding them to stereo makes numpy warn (inf - inf)."""
    client, bucket, env = s3
    x = pink_noise(2.0, 44100, channels=6).astype(np.float64)
    x[:, 40000:50000] = np.inf
    x[3, 40000:50000] = -np.inf
    client.put_object(Bucket=bucket, Key="input/inf.wav", Body=float_wav(tmp_path / "inf.wav", x).read_bytes())
    result = run_cli(env={**env, "S3_BUCKET": bucket, "S3_KEY": "input/inf.wav"})
    records = json_lines(result.stderr)
    assert result.returncode == 3 and "not plausible audio" in records[-1]["message"], result.stderr[-500:]


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """logs.setup(JSON) for one test, its handler writing to the StringIO returned; the logger and
    the warnings hook restored afterwards."""
    monkeypatch.setattr(logs.log, "handlers", list(logs.log.handlers))
    monkeypatch.setattr(logs.log, "propagate", logs.log.propagate)
    monkeypatch.setattr(logs.log, "level", logs.log.level)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    logs.setup(json_lines=True, verbose=False)
    stream = io.StringIO()
    (handler,) = logs.log.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return stream


def test_python_and_numpy_warnings_become_one_json_line_each(json_logs: io.StringIO) -> None:
    with warnings.catch_warnings(), np.errstate(invalid="warn"):
        warnings.simplefilter("always")
        warnings.warn("something odd\nover two lines", UserWarning, stacklevel=1)
        _ = np.array([np.inf], dtype=np.float32) - np.array([np.inf], dtype=np.float32)
    records = json_lines(json_logs.getvalue())
    assert [r["event"] for r in records] == ["library_warning", "library_warning"]
    assert records[0]["message"] == "UserWarning: something odd\nover two lines"
    assert records[1]["message"].startswith("RuntimeWarning: invalid value encountered in subtract")


def test_a_record_is_one_bounded_line_whatever_it_holds(json_logs: io.StringIO) -> None:
    """Bounded in characters: escaped, each of these takes up to 6 bytes."""
    key = "input/" + "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e\r\n" * 30_000
    logs.event("located", f"found s3://bucket/{key} (it is odd)", logging.INFO, key=key)
    (record,) = json_lines(json_logs.getvalue(), 6 * (logs.MAX_MESSAGE_CHARS + logs.MAX_FIELD_CHARS) + 200)
    assert record["key"] == key[: logs.MAX_FIELD_CHARS] + f"…[{len(key)} chars]"
    assert record["message"].startswith("found s3://bucket/input/") and record["message"].endswith("(it is odd)")


def test_short_keeps_the_start_and_says_how_long() -> None:
    assert logs.short("input/song.mp3") == "input/song.mp3"
    assert logs.short("a" * 101) == "a" * 100 + "…[101 chars]"
    assert logs.short("x" * 50 + "tail", 20, tail=4) == "x" * 16 + "…[54 chars]…tail"
