"""Cloud mode: one S3 object in, one processed object out.

Started by EventBridge on Fargate with S3_BUCKET and S3_KEY. Logs are JSON
lines with stable keys. A repeated event for an unchanged source with the
same settings is recognised from the output's metadata and skipped.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from . import __version__
from .engine import Progress, convert
from .errors import InputError
from .logs import event
from .settings import Settings
from .storage import (
    download,
    existing_metadata,
    local_suffix,
    locate,
    make_client,
    metadata_value,
    output_key,
    upload,
)


def run_cloud(settings: Settings, progress: Progress | None = None) -> None:
    started = time.perf_counter()
    bucket = settings.bucket
    client = make_client("s3")
    obj = locate(client, bucket, settings.key)
    event(
        "located",
        f"found s3://{bucket}/{obj.key}" + (" (key was URL-encoded in the event)" if obj.decoded else ""),
        bucket=bucket,
        key=obj.key,
        key_as_given=settings.key,
        key_decoded=obj.decoded,
        size=obj.size,
    )
    out_key = output_key(obj.key, settings.input_prefix, settings.output_prefix)
    if obj.size > settings.max_input_bytes:
        raise InputError(f"{obj.key}: {obj.size} bytes is over the limit of {settings.max_input_bytes} bytes")
    fingerprint = settings.fingerprint()
    previous = existing_metadata(client, bucket, out_key)
    if previous and previous.get("source-etag") == obj.etag and previous.get("settings") == fingerprint:
        event(
            "skipped",
            f"s3://{bucket}/{out_key} is already up to date with this source and settings",
            bucket=bucket,
            key=obj.key,
            output_key=out_key,
            status="skipped",
        )
        return
    with tempfile.TemporaryDirectory(prefix="surroundyou-") as work:
        src = Path(work) / f"source{local_suffix(obj.key)}"
        dst = Path(work) / "output.mp3"
        download(client, bucket, obj, src)
        report = convert(src, dst, settings, progress)
        metadata = {
            "source-key": metadata_value(obj.key),
            "source-etag": obj.etag,
            "settings": fingerprint,
            "surroundyou-version": __version__,
        }
        upload(client, bucket, out_key, dst, metadata)
    total = time.perf_counter() - started
    event(
        "converted",
        f"s3://{bucket}/{obj.key} -> s3://{bucket}/{out_key}",
        bucket=bucket,
        key=obj.key,
        output_key=out_key,
        status="converted",
        input_seconds=round(report.input_seconds, 3),
        processing_seconds=round(total, 3),
        conversion_seconds=round(report.processing_seconds, 3),
        realtime_factor=round(report.input_seconds / total, 1) if total > 0 else None,
        loudness_lufs=round(report.loudness_lufs, 2),
        gain_db=round(report.gain_db, 2),
        output_lufs=round(report.output_lufs, 2),
        motion_ild_swing_db=round(report.motion.ild_swing_db, 1),
        motion_itd_max_ms=round(report.motion.itd_max_ms, 3),
        limited_db=round(report.limited_db, 2),
        decoder=report.decoder,
        settings=fingerprint,
    )
