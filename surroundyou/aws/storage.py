"""S3: key mapping, the checks made before any download, download, idempotency check, upload
(clients come from ``aws.make_client``).

Nothing here touches the input object except to read it. Errors are classified for retrying: what no
retry can mend (a key S3 cannot hold, a missing object or bucket, metadata over S3's limit) is an
InputError; S3 faults that may pass (5xx, throttling, timeouts, connections, a denied write) are a
StorageError.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from surroundyou.aws.clients import max_attempts
from surroundyou.errors import InputError, StorageError
from surroundyou.logs import log, short
from surroundyou.settings import bucket_name_problem

MAX_KEY_BYTES = 1024  # S3's longest key, in UTF-8 bytes
MAX_METADATA_BYTES = 2048  # S3's user metadata: the UTF-8 bytes of every name and value, summed
DOWNLOAD_CHUNK = 1 << 20
_SUFFIX = re.compile(r"[A-Za-z0-9]{1,5}")  # a name's suffix that the output's replaces
_MISSING = {"404", "403", "NoSuchKey", "NoSuchBucket", "NotFound", "AccessDenied"}  # 403: no s3:ListBucket
_GONE = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}  # a GET after a HEAD that found it: deleted meanwhile
_UNFIXABLE = {"InvalidBucketName", "KeyTooLongError", "MetadataTooLarge", "InvalidObjectState"}


def check_bucket(bucket: str) -> None:
    """InputError unless ``bucket`` keeps S3's naming rules: checked before any S3 call."""
    problem = bucket_name_problem(bucket)
    if problem:
        raise InputError(f"{short(bucket)!r} is not a valid S3 bucket name ({problem})")


def output_key(key: str, input_prefix: str, output_prefix: str, suffix: str) -> str:
    """``input/a/song.wav`` -> ``processed/a/song.mp3`` (``suffix``: the output format's). Refuses keys S3
    cannot hold, keys outside the input prefix, and keys that would need normalising: an empty segment
    (``input//x.mp3`` would map to ``input/x.mp3``'s output). Only a clean suffix (1-5 letters or digits)
    is replaced; any other name keeps its whole self: ``x.mp3 `` (a trailing space) -> ``x.mp3 .mp3``."""
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InputError(
            f"object key {short(key)!r} is not valid Unicode (a lone surrogate): S3 keys are UTF-8"
        ) from None
    if size > MAX_KEY_BYTES:
        raise InputError(f"object key {short(key)!r} is {size} bytes, over S3's {MAX_KEY_BYTES}-byte limit")
    if not key.startswith(input_prefix):
        raise InputError(f"object key {short(key)!r} is outside the input prefix {input_prefix!r}")
    rest = key[len(input_prefix) :]
    if not rest or rest.endswith("/"):
        raise InputError(f"object key {short(key)!r} names a folder, not a file")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InputError(f"object key {short(key)!r} contains control characters")
    parts = rest.split("/")
    if "" in parts:
        raise InputError(f"object key {short(key)!r} has an empty segment ('//' or a leading '/'); not normalised")
    if any(part in (".", "..") for part in parts):
        raise InputError(f"object key {short(key)!r} has '.' or '..' segments")
    folder, _, name = rest.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    base = stem if dot and stem.lstrip(".") and _SUFFIX.fullmatch(ext) else name
    out = f"{output_prefix}{folder + '/' if folder else ''}{base}{suffix}"
    if len(out.encode("utf-8")) > MAX_KEY_BYTES:
        raise InputError(f"the output key for {short(key)!r} would be over S3's {MAX_KEY_BYTES}-byte limit")
    return out


def check_user_metadata(key: str, metadata: Mapping[str, str]) -> None:
    """InputError if ``metadata`` is over S3's user-metadata limit (found before the download, not at
    the upload after the whole conversion). ``key``: the source, named in the message."""
    size = sum(len(name.encode("utf-8")) + len(value.encode("utf-8")) for name, value in metadata.items())
    if size > MAX_METADATA_BYTES:
        raise InputError(
            f"{short(key)!r}: the output's metadata (the source key, percent-encoded) would be {size} bytes, "
            f"over S3's {MAX_METADATA_BYTES}-byte limit for user metadata; use a shorter key"
        )


@dataclass(frozen=True)
class SourceObject:
    key: str  # the key that exists
    etag: str
    size: int


def _error(action: str, bucket: str, key: str, exc: Exception, unfixable: Iterable[str] = _UNFIXABLE) -> Exception:
    """An S3 failure as one line: InputError if its code is one no retry mends, else StorageError."""
    code = _code(exc) if isinstance(exc, ClientError) else ""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        detail = f"{code or '?'}: {err.get('Message') or 'no message'}"
    else:
        detail = str(exc)
    kind = InputError if code in unfixable else StorageError
    return kind(f"{action} s3://{bucket}/{short(key)} failed ({detail})")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _head(client: Any, bucket: str, key: str, action: str) -> dict[str, Any] | None:
    """The object's HEAD answer, or None if it does not exist (or is not readable: see _MISSING)."""
    try:
        head: dict[str, Any] = client.head_object(Bucket=bucket, Key=key)
        return head
    except ClientError as exc:
        if _code(exc) in _MISSING:
            return None
        raise _error(action, bucket, key, exc) from None
    except BotoCoreError as exc:
        raise _error(action, bucket, key, exc) from None


def form_decoded(key: str) -> str | None:
    """``key`` decoded as S3 form-encodes keys in its notifications ('+' a space, %XX UTF-8 bytes), or
    None if it is no such encoding."""
    try:
        return unquote_plus(key, errors="strict")
    except UnicodeDecodeError:
        return None


def event_key(key: str, form_encoded: bool) -> str:
    """The key an event names: decoded if the event is known to form-encode it (S3's notifications),
    else as given (EventBridge's encoding is open: ``locate`` tries both spellings)."""
    if not form_encoded:
        return key
    decoded = form_decoded(key)
    if decoded is None:
        raise InputError(f"the event's key {short(key)!r} is not form-encoded UTF-8 as S3 encodes keys")
    return decoded


def locate(client: Any, bucket: str, key: str, exact: bool = False) -> SourceObject:
    """Find the object an event names. ``exact``: ``key`` is the object's key (decoded by ``event_key``,
    or read from S3): only it is looked up. Otherwise (EventBridge, whose encoding AWS leaves open) the
    key as given and its form-decoded spelling are both tried: one must exist; if both do, which one
    the event meant is unknown and it is refused."""
    decoded = None if exact else form_decoded(key)
    candidates = [key] if decoded is None or decoded == key else [key, decoded]
    found = [(c, head) for c in candidates if (head := _head(client, bucket, c, "reading")) is not None]
    if not found:
        tried = " or ".join(repr(short(c)) for c in candidates)
        raise InputError(f"s3://{bucket}: no object {tried} (missing, or not readable by this role)")
    if len(found) > 1:
        raise InputError(
            f"ambiguous key: both {short(candidates[1])!r} and {short(key)!r} exist; the event may name either "
            "(S3 writes a space as '+'), so neither is converted: rename one"
        )
    candidate, head = found[0]
    return SourceObject(candidate, head["ETag"], int(head["ContentLength"]))


@dataclass(frozen=True)
class ExistingOutput:
    etag: str
    metadata: Mapping[str, str]


class WriteConflict(Exception):
    """A conditional write lost: another writer changed the output key first."""


def existing_output(client: Any, bucket: str, key: str) -> ExistingOutput | None:
    """The output already under ``key``, or None if there is none."""
    head = _head(client, bucket, key, "checking")
    return None if head is None else ExistingOutput(head["ETag"], head.get("Metadata", {}))


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
                raise StorageError(f"s3://{bucket}/{short(obj.key)}: got {dest.stat().st_size} of {obj.size} bytes")
            return
        except ClientError as exc:
            raise _error("downloading", bucket, obj.key, exc, _UNFIXABLE | _GONE) from None
        except (BotoCoreError, OSError, StorageError) as exc:
            if attempt == attempts:
                raise _error("downloading", bucket, obj.key, exc) from None
            log.warning("download of %s interrupted (%s); retrying (%d/%d)", short(obj.key), exc, attempt, attempts)


def upload(
    client: Any,
    bucket: str,
    key: str,
    path: Path,
    content_type: str,
    metadata: Mapping[str, str],
    replaces: str | None,
) -> None:
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
                ContentType=content_type,
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
