"""S3: key mapping, download, idempotency check, upload (clients come from ``aws.make_client``).

Nothing here touches the input object except to read it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from .aws import max_attempts
from .errors import InputError, StorageError
from .logs import log

MAX_KEY_BYTES = 1024
DOWNLOAD_CHUNK = 1 << 20
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")
_MISSING = {"404", "403", "NoSuchKey", "NotFound", "AccessDenied"}


def output_key(key: str, input_prefix: str, output_prefix: str, suffix: str = ".mp3") -> str:
    """``input/a/song.wav`` -> ``processed/a/song.mp3``; refuses keys outside the input prefix."""
    if not key.startswith(input_prefix):
        raise InputError(f"object key {key!r} is outside the input prefix {input_prefix!r}")
    rest = key[len(input_prefix) :]
    if not rest or rest.endswith("/"):
        raise InputError(f"object key {key!r} names a folder, not a file")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InputError(f"object key {key!r} contains control characters")
    if any(part in (".", "..") for part in rest.split("/")):
        raise InputError(f"object key {key!r} has '.' or '..' segments")
    folder, _, name = rest.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    out = f"{output_prefix}{folder + '/' if folder else ''}{stem}{suffix}"
    if len(out.encode("utf-8")) > MAX_KEY_BYTES:
        raise InputError(f"the output key for {key[:40]!r}... would be over S3's {MAX_KEY_BYTES}-byte limit")
    return out


def local_suffix(key: str) -> str:
    """A harmless file suffix for the downloaded copy (the key never names a local path)."""
    suffix = Path(key.rsplit("/", 1)[-1]).suffix
    return suffix.lower() if _SAFE_SUFFIX.match(suffix) else ""


@dataclass(frozen=True)
class SourceObject:
    key: str  # the key that exists
    etag: str
    size: int
    decoded: bool  # True if the event's key had to be URL-decoded


def _error(action: str, bucket: str, key: str, exc: Exception) -> StorageError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        detail = f"{err.get('Code', '?')}: {err.get('Message') or 'no message'}"
    else:
        detail = str(exc)
    return StorageError(f"{action} s3://{bucket}/{key} failed ({detail})")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def locate(client: Any, bucket: str, key: str) -> SourceObject:
    """Find the object under the key as given, then URL-decoded (events may encode it)."""
    candidates = [key] + ([unquote_plus(key)] if unquote_plus(key) != key else [])
    for candidate in candidates:
        try:
            head = client.head_object(Bucket=bucket, Key=candidate)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                continue
            raise _error("reading", bucket, candidate, exc) from None
        except BotoCoreError as exc:
            raise _error("reading", bucket, candidate, exc) from None
        return SourceObject(candidate, head["ETag"], int(head["ContentLength"]), candidate != key)
    tried = " or ".join(repr(c) for c in candidates)
    raise StorageError(f"s3://{bucket}: no object {tried} (missing, or not readable by this role)")


@dataclass(frozen=True)
class ExistingOutput:
    etag: str
    metadata: Mapping[str, str]


class WriteConflict(Exception):
    """A conditional write lost: another writer changed the output key first."""


def existing_output(client: Any, bucket: str, key: str) -> ExistingOutput | None:
    """The output already under ``key``, or None if there is none."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
        return ExistingOutput(head["ETag"], head.get("Metadata", {}))
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return None
        raise _error("checking", bucket, key, exc) from None
    except BotoCoreError as exc:
        raise _error("checking", bucket, key, exc) from None


def download(client: Any, bucket: str, obj: SourceObject, dest: Path) -> None:
    """Stream exactly the located version (IfMatch on its ETag) to ``dest``, 1 MiB at a time.

    botocore retries failed requests; a body cut off midway is retried here.
    """
    attempts = max_attempts()
    for attempt in range(1, attempts + 1):
        try:
            response = client.get_object(Bucket=bucket, Key=obj.key, IfMatch=obj.etag, ChecksumMode="ENABLED")
            with dest.open("wb") as out:
                shutil.copyfileobj(response["Body"], out, DOWNLOAD_CHUNK)
            if dest.stat().st_size != obj.size:
                raise StorageError(f"s3://{bucket}/{obj.key}: got {dest.stat().st_size} of {obj.size} bytes")
            return
        except ClientError as exc:
            raise _error("downloading", bucket, obj.key, exc) from None
        except (BotoCoreError, OSError, StorageError) as exc:
            if attempt == attempts:
                raise _error("downloading", bucket, obj.key, exc) from None
            log.warning("download of %s interrupted (%s); retrying (%d/%d)", obj.key, exc, attempt, attempts)


def upload(client: Any, bucket: str, key: str, path: Path, metadata: Mapping[str, str], replaces: str | None) -> None:
    """One conditional PUT, streamed from disk (S3 takes up to 5 GB so): the object appears whole or not at all.

    ``replaces``: the ETag of the output being replaced, or None if there was none. If another
    writer changed the key since it was read, S3 answers 412 and WriteConflict is raised.
    """
    condition = {"IfMatch": replaces} if replaces else {"IfNoneMatch": "*"}
    try:
        with path.open("rb") as body:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType="audio/mpeg",
                Metadata=dict(metadata),
                ChecksumAlgorithm="SHA256",
                **condition,
            )
    except ClientError as exc:
        if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise WriteConflict(key) from None
        raise _error("uploading", bucket, key, exc) from None
    except BotoCoreError as exc:
        raise _error("uploading", bucket, key, exc) from None


def metadata_value(text: str) -> str:
    """S3 user metadata must be ASCII: percent-encode anything else."""
    return quote(text, safe="/ ")
