"""Cloud mode end to end: moto's S3 server over HTTP, the worker as a subprocess."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from surroundyou.aws.metrics import NAMESPACE
from surroundyou.settings import Settings
from tests.support import emf
from tests.support.audio import decode, loudness_lufs, pink_noise, true_peak_dbtp, write
from tests.support.cloud import fetch, logs, put_song, run_worker
from tests.support.hostile import hanging_ffmpeg, m4a, running
from tests.support.processes import start_cli, wait_until


@pytest.mark.parametrize("given", ["input/my song+1.mp3", "input/my+song%2B1.mp3"])
def test_raw_and_url_encoded_keys_convert(s3, tmp_path: Path, given: str) -> None:
    client, bucket, env = s3
    source = put_song(client, bucket, "input/my song+1.mp3", tmp_path)
    source_etag = client.head_object(Bucket=bucket, Key="input/my song+1.mp3")["ETag"]
    result = run_worker(env, bucket, given)
    assert result.returncode == 0, result.stderr
    records = logs(result.stderr)
    located = next(r for r in records if r["event"] == "located")
    assert located["key"] == "input/my song+1.mp3"
    assert located["key_decoded"] is (given != "input/my song+1.mp3")
    done = records[-1]
    assert done["event"] == "converted" and done["status"] == "converted"
    assert done["output_key"] == "processed/my song+1.mp3"
    for field in ("bucket", "key", "input_seconds", "processing_seconds", "realtime_factor"):
        assert field in done
    # The same definition as local mode's: seconds of song per second of the job, which here
    # includes the download and the upload beside the conversion.
    assert done["realtime_factor"] == pytest.approx(done["input_seconds"] / done["processing_seconds"], rel=0.05)
    assert done["processing_seconds"] > done["conversion_seconds"]
    obj, path = fetch(client, bucket, "processed/my song+1.mp3", tmp_path)
    assert obj["ContentType"] == "audio/mpeg"
    assert obj["Metadata"]["source-etag"] == source_etag
    assert obj["Metadata"]["settings"] == Settings().fingerprint()
    y, rate = decode(path)
    assert abs(y.shape[1] / rate - 3.0) < 4.2 and y.shape[1] / rate >= 3.0
    assert loudness_lufs(y, rate) == pytest.approx(-14.0, abs=0.5)
    assert true_peak_dbtp(y) <= -1.0
    # the input object is unchanged, and nothing else appeared
    assert client.get_object(Bucket=bucket, Key="input/my song+1.mp3")["Body"].read() == source
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["input/my song+1.mp3", "processed/my song+1.mp3"]


def test_nested_key_keeps_its_folders_and_gets_mp3_extension(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    data = write(tmp_path / "x.wav", pink_noise(1.0, 48000), rate=48000).read_bytes()
    client.put_object(Bucket=bucket, Key="input/albums/Été/track.wav", Body=data)
    result = run_worker(env, bucket, "input/albums/Été/track.wav")
    assert result.returncode == 0, result.stderr
    assert client.head_object(Bucket=bucket, Key="processed/albums/Été/track.mp3")["ContentLength"] > 0


def test_duplicate_event_is_skipped_and_new_settings_or_upload_reprocess(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    put_song(client, bucket, "input/song.mp3", tmp_path)
    assert run_worker(env, bucket, "input/song.mp3").returncode == 0
    first = client.head_object(Bucket=bucket, Key="processed/song.mp3")
    again = run_worker(env, bucket, "input/song.mp3")
    assert again.returncode == 0
    assert logs(again.stderr)[-1]["status"] == "skipped"
    assert client.head_object(Bucket=bucket, Key="processed/song.mp3")["LastModified"] == first["LastModified"]
    changed = run_worker(env, bucket, "input/song.mp3", TARGET_LUFS="-18")
    assert logs(changed.stderr)[-1]["status"] == "converted"
    put_song(client, bucket, "input/song.mp3", tmp_path, seconds=2.0)  # a newer upload, new ETag
    newer = run_worker(env, bucket, "input/song.mp3", TARGET_LUFS="-18")
    assert logs(newer.stderr)[-1]["status"] == "converted"


def test_corrupt_upload_fails_with_bad_input_code_and_no_output(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    client.put_object(Bucket=bucket, Key="input/bad.mp3", Body=b"\xff\xfb\x90\x00" + b"\x00garbage" * 100)
    result = run_worker(env, bucket, "input/bad.mp3")
    assert result.returncode == 3
    record = logs(result.stderr)[-1]
    assert record["status"] == "failed" and record["exit_code"] == 3 and "Traceback" not in result.stderr
    assert client.list_objects_v2(Bucket=bucket, Prefix="processed/")["KeyCount"] == 0


def test_missing_object_is_bad_input(s3) -> None:
    """No retry brings it back (a deleted upload, or a key this role may not read): exit 3, not 4."""
    _, bucket, env = s3
    result = run_worker(env, bucket, "input/nothing-here.mp3")
    assert result.returncode == 3
    assert "no object" in logs(result.stderr)[-1]["message"]


def test_key_outside_the_input_prefix_is_refused(s3, tmp_path: Path) -> None:
    client, bucket, env = s3
    put_song(client, bucket, "elsewhere/song.mp3", tmp_path)
    result = run_worker(env, bucket, "elsewhere/song.mp3")
    assert result.returncode == 3
    records = logs(result.stderr)
    assert len(records) == 1 and "outside the input prefix" in records[0]["message"]  # refused, never "found"
    assert client.list_objects_v2(Bucket=bucket, Prefix="processed/")["KeyCount"] == 0


@pytest.mark.parametrize("key", ["input/song.mp3", "input/missing.mp3"], ids=["success", "failure"])
def test_credentials_never_reach_the_logs(s3, tmp_path: Path, key: str) -> None:
    client, bucket, env = s3
    put_song(client, bucket, "input/song.mp3", tmp_path)
    fake = {
        "AWS_ACCESS_KEY_ID": "AKIAFAKEKEYID0000001",
        "AWS_SECRET_ACCESS_KEY": "fakeSecret/DoNotLog+0000000000000000001",
        "AWS_SESSION_TOKEN": "FAKE-SESSION-TOKEN-1234",
    }
    result = run_worker(
        {**env, **fake},
        bucket,
        key,
        LOG_FORMAT="json",
    )
    assert result.returncode == (0 if key.endswith("song.mp3") else 3), result.stderr
    for value in fake.values():
        assert value not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("S3_READ_TIMEOUT_SECONDS", "soon", "S3_READ_TIMEOUT_SECONDS must be a positive number (got 'soon')"),
        ("S3_READ_TIMEOUT_SECONDS", "0", "S3_READ_TIMEOUT_SECONDS must be a positive number (got 0)"),
        ("AWS_MAX_ATTEMPTS", "many", "AWS_MAX_ATTEMPTS must be a positive whole number (got 'many')"),
    ],
)
def test_a_mistyped_storage_variable_is_a_usage_error(s3, variable: str, value: str, hint: str) -> None:
    """Read by the client factory, not the settings, but refused the same way: exit 2, one line."""
    _client, bucket, env = s3
    result = run_worker(env, bucket, "input/song.mp3", **{variable: value})
    assert result.returncode == 2, result.stderr
    records = logs(result.stderr)
    assert len(records) == 1 and hint in records[0]["message"], records


def test_sigterm_while_the_decoder_hangs_ends_the_run_and_leaves_no_process(s3, tmp_path: Path) -> None:
    """A decoder stuck on a file (a stand-in ffmpeg that never writes) held the worker past its SIGTERM,
    and its process outlived the worker: a stop now kills every child's process group first."""
    client, bucket, env = s3
    client.put_object(Bucket=bucket, Key="input/song.m4a", Body=m4a(tmp_path / "song.m4a").read_bytes())
    path, marker = hanging_ffmpeg(tmp_path / "bin")
    worker = start_cli(env={**env, **path, "S3_BUCKET": bucket, "S3_KEY": "input/song.m4a"})
    try:
        assert wait_until(lambda: bool(running(marker))), "the stand-in decoder never started"
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    finally:
        worker.kill()
        left = running(marker)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert worker.returncode == 143, stderr
    assert left == []
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix="processed/")
    # The task's last line counts its upload as failed, of the "stopped" class (EventBridge does not retry it).
    stopped = stderr.strip().splitlines()[-1]
    assert json.loads(stopped)["event"] == "stopped"
    assert emf.value(emf.datapoints(stopped), NAMESPACE, "Failed", Mode="cloud", FailureClass="stopped") == 1


@pytest.mark.parametrize(("name", "content_type"), [("flac", "audio/flac"), ("opus", "audio/ogg; codecs=opus")])
def test_output_format_names_the_key_the_content_type_and_the_fingerprint(
    s3, tmp_path: Path, name: str, content_type: str
) -> None:
    client, bucket, env = s3
    put_song(client, bucket, "input/album/song.mp3", tmp_path)
    result = run_worker(env, bucket, "input/album/song.mp3", OUTPUT_FORMAT=name)
    assert result.returncode == 0, result.stderr
    obj, path = fetch(client, bucket, f"processed/album/song.{name}", tmp_path)
    assert obj["ContentType"] == content_type
    assert obj["Metadata"]["settings"] == Settings(output_format=name).fingerprint() != Settings().fingerprint()
    assert path.read_bytes()[:4] == (b"fLaC" if name == "flac" else b"OggS")
    y, rate = decode(path)
    assert loudness_lufs(y, rate) == pytest.approx(-14.0, abs=0.5)
    assert true_peak_dbtp(y) <= -1.0
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["input/album/song.mp3", f"processed/album/song.{name}"]
