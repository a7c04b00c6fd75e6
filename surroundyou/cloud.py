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
from .engine import convert
from .errors import InputError, StorageError
from .logs import event
from .settings import Settings
from .storage import (
    ExistingOutput,
    WriteConflict,
    download,
    existing_output,
    local_suffix,
    locate,
    make_client,
    metadata_value,
    output_key,
    upload,
)
from .summary import describe, fields, timing

UPLOAD_RACES = 3  # conditional writes to try before giving up


def run_cloud(settings: Settings) -> None:
    started = time.perf_counter()
    bucket = settings.bucket
    client = make_client("s3")
    # Refuse a key outside the input prefix before touching S3 (an event's URL-encoding leaves the
    # prefix's slash alone, so the key as given tells); the decoded key is checked again below.
    output_key(settings.key, settings.input_prefix, settings.output_prefix)
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

    def up_to_date(existing: ExistingOutput | None) -> bool:
        return bool(
            existing
            and existing.metadata.get("source-etag") == obj.etag
            and existing.metadata.get("settings") == fingerprint
        )

    def skipped(why: str) -> None:
        event(
            "skipped",
            f"s3://{bucket}/{out_key}: {why}",
            bucket=bucket,
            key=obj.key,
            output_key=out_key,
            status="skipped",
        )

    previous = existing_output(client, bucket, out_key)
    if up_to_date(previous):
        skipped("already up to date with this source and settings")
        return
    with tempfile.TemporaryDirectory(prefix="surroundyou-") as work:
        src = Path(work) / f"source{local_suffix(obj.key)}"
        dst = Path(work) / "output.mp3"
        download(client, bucket, obj, src)
        report = convert(src, dst, settings)
        metadata = {
            "source-key": metadata_value(obj.key),
            "source-etag": obj.etag,
            "settings": fingerprint,
            "surroundyou-version": __version__,
        }
        # Conditional writes: of several workers on one key, exactly one output lands.
        for _ in range(UPLOAD_RACES):
            try:
                upload(client, bucket, out_key, dst, metadata, previous.etag if previous else None)
                break
            except WriteConflict:
                previous = existing_output(client, bucket, out_key)
                if up_to_date(previous):
                    skipped("another worker wrote it first from the same source and settings")
                    return
                if locate(client, bucket, obj.key).etag != obj.etag:
                    skipped("the source was replaced meanwhile; its own event converts it")
                    return
        else:
            raise StorageError(f"s3://{bucket}/{out_key} kept changing under {UPLOAD_RACES} conditional writes")
    total = time.perf_counter() - started
    event(
        "converted",
        f"s3://{bucket}/{obj.key} -> s3://{bucket}/{out_key}: {describe(report)}",
        bucket=bucket,
        key=obj.key,
        output_key=out_key,
        status="converted",
        settings=fingerprint,
        **timing(report, total),
        **fields(report),
    )
