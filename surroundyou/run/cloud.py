"""Cloud mode: one S3 object in, one processed object out.

Started by EventBridge on Fargate with S3_BUCKET and S3_KEY. Logs are JSON
lines with stable keys. A repeated event for an unchanged source with the
same settings is recognised from the output's metadata and skipped.

One output per input, and only ours replaced: an output key is written only if
it is free or holds this worker's output of the same input (its ``source-key``
metadata); anything else there fails the input and stays untouched. Every check
that needs no download (bucket name, key, size, metadata, the existing output)
is made before the download.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from surroundyou import __version__
from surroundyou.audio.encode import check_encoder
from surroundyou.aws.clients import make_client
from surroundyou.aws.metrics import Origin, members
from surroundyou.aws.storage import (
    ExistingOutput,
    SourceObject,
    WriteConflict,
    check_bucket,
    check_user_metadata,
    download,
    event_key,
    existing_output,
    locate,
    metadata_value,
    output_key,
    upload,
)
from surroundyou.convert.engine import Report, convert
from surroundyou.convert.summary import fields, figures, log_converted, timing, warn_heavy_limiting
from surroundyou.convert.tempdirs import run_folder
from surroundyou.errors import InputError, StorageError
from surroundyou.formats import FORMATS, format_of
from surroundyou.logs import event, short
from surroundyou.settings import ENV_BUCKET, Settings

UPLOAD_RACES = 3  # conditional writes to try before giving up

Converter = Callable[[Path, Path, Settings], Report]
CLOUD = Origin("cloud")


@dataclass(frozen=True)
class Outcome:
    """What became of one object: converted, or skipped (and why), as the last log line says."""

    status: Literal["converted", "skipped"]
    message: str


def run_cloud(settings: Settings) -> Outcome:
    """The Fargate task: the object the event named, with a client configured from the environment."""
    return convert_object(make_client("s3"), settings, settings.bucket, settings.key)


def convert_object(
    client: Any,
    settings: Settings,
    bucket: str,
    key: str,
    converter: Converter = convert,
    context: Mapping[str, Any] | None = None,
    form_encoded: bool = False,
    origin: Origin = CLOUD,
) -> Outcome:
    """Convert s3://``bucket``/``key`` into the output prefix, unless an up-to-date output is there.
    Raises InputError for a bad object, StorageError for S3 faults (nothing written in either case).
    ``context``: fields added to the log's events (queue mode: the message's id and receive count).
    ``form_encoded``: the key is form-encoded, as S3's notifications have it (``storage.event_key``).
    ``origin``: the mode (and queue wait) the last line's metrics carry (``aws.metrics``)."""
    context = context or {}
    started = time.perf_counter()
    check_bucket(bucket)
    if bucket != settings.bucket:
        raise InputError(
            f"the event names bucket {short(bucket)!r}; this worker converts only {ENV_BUCKET} {settings.bucket!r}"
        )
    named = event_key(key, form_encoded)
    # Refuse a key outside the input prefix before touching S3 (an event's URL-encoding leaves the
    # prefix's slash alone, so the key as given tells); the key found is checked again below.
    fmt = FORMATS[settings.output_format]
    check_encoder(fmt)
    output_key(named, settings.input_prefix, settings.output_prefix, fmt.suffix)
    obj = locate(client, bucket, named, exact=form_encoded)
    decoded = obj.key != key
    event(
        "located",
        f"found s3://{bucket}/{short(obj.key)}" + (" (key was URL-encoded in the event)" if decoded else ""),
        bucket=bucket,
        key=obj.key,
        key_as_given=key,
        key_decoded=decoded,
        size=obj.size,
        **context,
    )
    out_key = output_key(obj.key, settings.input_prefix, settings.output_prefix, fmt.suffix)
    if obj.size > settings.max_input_bytes:
        raise InputError(f"{short(obj.key)}: {obj.size} bytes is over the limit of {settings.max_input_bytes} bytes")
    fingerprint = settings.fingerprint()
    metadata = {
        "source-key": metadata_value(obj.key),
        "source-etag": obj.etag,
        "settings": fingerprint,
        "surroundyou-version": __version__,
    }
    check_user_metadata(obj.key, metadata)

    def skipped(why: str) -> Outcome:
        message = f"s3://{bucket}/{short(out_key)}: {why}"
        metrics = members(origin, "skipped")
        event(
            "skipped", message, bucket=bucket, key=obj.key, output_key=out_key, status="skipped", **context, **metrics
        )
        return Outcome("skipped", message)

    previous = existing_output(client, bucket, out_key)
    _check_ours(previous, out_key, obj.key, metadata)
    if _made_alike(previous, metadata):
        return skipped("already up to date with this source and settings")
    with tempfile.TemporaryDirectory(prefix="object-", dir=run_folder()) as work:
        src = Path(work) / "source"  # never named after the key: the decoder sniffs the format itself
        dst = Path(work) / f"output{fmt.suffix}"
        download(client, bucket, obj, src)
        report = converter(src, dst, settings)
        lost = publish(client, bucket, obj, out_key, dst, metadata, previous)
        if lost is not None:
            return skipped(lost)
    message = f"s3://{bucket}/{short(obj.key)} -> s3://{bucket}/{short(out_key)}: {figures(report)}"
    seconds = time.perf_counter() - started
    metrics = members(origin, "converted", {**timing(report, seconds), **fields(report)})  # the line's own values
    warn_heavy_limiting(report, short(obj.key), settings, fmt, bucket=bucket, key=obj.key, **context)
    log_converted(
        report,
        seconds,
        message,
        bucket=bucket,
        key=obj.key,
        output_key=out_key,
        settings=fingerprint,
        **context,
        **metrics,
    )
    return Outcome("converted", message)


def publish(
    client: Any,
    bucket: str,
    obj: SourceObject,
    out_key: str,
    output: Path,
    metadata: dict[str, str],
    previous: ExistingOutput | None,
) -> str | None:
    """Write ``output`` to ``out_key`` with conditional writes (of several workers on one key, exactly
    one output lands), replacing ``previous`` only if it is still what was read. Returns None when
    written, or why not: another worker's output from the same source and settings, or a newer source.
    Raises InputError if what was written meanwhile is not ours to replace (another input's output:
    of two inputs racing for one new output key, the loser fails), StorageError if the output kept
    changing under every attempt."""
    content_type = format_of(output).content_type
    for _ in range(UPLOAD_RACES):
        try:
            upload(client, bucket, out_key, output, content_type, metadata, previous.etag if previous else None)
            return None
        except WriteConflict:
            previous = existing_output(client, bucket, out_key)
            _check_ours(previous, out_key, obj.key, metadata)
            if _made_alike(previous, metadata):
                return "another worker wrote it first from the same source and settings"
            if locate(client, bucket, obj.key, exact=True).etag != obj.etag:
                return "the source was replaced meanwhile; its own event converts it"
    raise StorageError(f"s3://{bucket}/{out_key} kept changing under {UPLOAD_RACES} conditional writes")


def _check_ours(existing: ExistingOutput | None, out_key: str, key: str, metadata: Mapping[str, str]) -> None:
    """InputError unless the output under ``out_key`` is free or ours to replace: made by this worker
    (it has a ``source-key``) from the same input ``key`` that ``metadata`` describes."""
    if existing is None:
        return
    source = existing.metadata.get("source-key")
    if source is None:
        raise InputError(f"{short(out_key)} exists and was not made by SurroundYou; not overwritten")
    if source != metadata["source-key"]:
        raise InputError(
            f"{short(out_key)} holds the output of {short(unquote(source))}; not overwritten with the output of "
            f"{short(key)} (both map to this output key: rename one)"
        )


def _made_alike(existing: ExistingOutput | None, metadata: Mapping[str, str]) -> bool:
    """Whether an output was made from the same version of the same source with the same settings as
    the one ``metadata`` describes."""
    return bool(
        existing
        and existing.metadata.get("source-key") == metadata["source-key"]
        and existing.metadata.get("source-etag") == metadata["source-etag"]
        and existing.metadata.get("settings") == metadata["settings"]
    )
