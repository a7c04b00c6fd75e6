"""Queue mode: a long-running worker that converts the S3 uploads an SQS queue announces.

Started with QUEUE_URL and S3_BUCKET set (on Fargate: an ECS service, ``infra/deploy.py --mode
queue``). Each message is an S3 "Object Created" event, as EventBridge delivers it to SQS or as an S3
event notification (``Records[]``, keys form-encoded); each object it names is converted as in cloud
mode (``cloud.convert_object``: the same checks, conditional write, metadata and skip rules), and only
objects of S3_BUCKET: a message naming another bucket is bad input. Each object of a message is tried,
whatever became of the others. Then the message is:

  all converted, skipped or bad   deleted; each bad one (exit-3 class: not an S3 event, another
  input                           bucket, a missing object, not audio, ...) logged and sent to
                                  FAILED_QUEUE_URL (key and reason)
  any storage fault (exit 4) or   left alone: it comes back when its visibility lapses (the objects
  internal error                  done are skipped then), and the queue's redrive policy moves it
                                  to the DLQ after a few receives
  SIGTERM while converting        finished if it can end within STOP_TIMEOUT_SECONDS, otherwise
                                  made visible again at once (nothing is written)

While a song converts, its message stays hidden from other workers: its visibility is renewed every
third of VISIBILITY_SECONDS (``Leases``). ``--jobs N`` converts N messages at once, a thread each.
Exit codes: 0 after IDLE_EXIT_SECONDS without a message, 143 after SIGTERM (130 after SIGINT), 4 when
the queue cannot be read; the JSON log adds each message's time in the queue to cloud mode's fields.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from surroundyou import children
from surroundyou.aws.clients import make_client
from surroundyou.aws.metrics import Origin, members
from surroundyou.convert.engine import Report, convert
from surroundyou.errors import EXIT_OK, EXIT_STORAGE, InputError, Stopped, StorageError, SurroundError
from surroundyou.logs import MAX_FIELD_CHARS, event, short
from surroundyou.progress import Progress
from surroundyou.run.cloud import Converter, convert_object
from surroundyou.settings import Settings

POLL_S = 20  # SQS's longest long poll: the fewest empty receives
BATCH = 10  # SQS's most messages per receive
CLEANUP_S = 5.0  # of the stop timeout, kept for cleaning up and exiting
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

FileConverter = Callable[[Path, Path, Settings, Progress], Report]  # engine.convert's shape


def run_service(settings: Settings) -> int:
    """The queue worker, with clients configured from the environment; returns the exit code."""
    sqs = make_client("sqs", least_read_timeout_s=POLL_S + 10)  # a long poll is silent for up to POLL_S
    return Service(settings, sqs, make_client("s3")).run()


class Target(NamedTuple):
    """An object a message names."""

    bucket: str
    key: str  # as the message has it
    form_encoded: bool  # S3 notifications form-encode keys; EventBridge's encoding is open (storage.locate)


def targets(body: str) -> list[Target]:
    """The objects a message names: one for an EventBridge "Object Created" event, one per ObjectCreated
    record of an S3 notification, none for S3's test event. InputError for anything else."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise InputError("the message is not JSON, so not an S3 event") from None
    except RecursionError:  # json's parser recurses per level of nesting
        raise InputError("the message is JSON nested too deeply to be an S3 event") from None
    if not isinstance(doc, dict):
        raise InputError("the message is not an S3 event")
    if doc.get("Event") == "s3:TestEvent":  # sent once when S3 notifications are configured
        return []
    if doc.get("source") == "aws.s3" and doc.get("detail-type") == "Object Created":
        return [Target(_text(doc, "detail", "bucket", "name"), _text(doc, "detail", "object", "key"), False)]
    records = doc.get("Records")
    if isinstance(records, list):
        return [
            Target(_text(r, "s3", "bucket", "name"), _text(r, "s3", "object", "key"), True)
            for r in records
            if isinstance(r, dict) and str(r.get("eventName", "")).startswith("ObjectCreated:")
        ]
    raise InputError("the message is not an S3 Object Created event")


def _text(doc: dict[str, Any], *path: str) -> str:
    value: Any = doc
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise InputError(f"the S3 event has no {'.'.join(path)}")
    return value


def _log_failure(message: str, exit_code: int, origin: Origin, exc_info: bool = False, **fields: Any) -> None:
    """A message's or an object's "failed" event, as cloud mode's last line has it, with its metrics: every
    failed line counts one failure (an object's, or a message's that names nothing or was not deleted)."""
    metrics = members(origin, "failed", exit_code=exit_code)
    event(
        "failed", message, logging.ERROR, exc_info=exc_info, status="failed", exit_code=exit_code, **fields, **metrics
    )


class Leases:
    """Keeps the messages being worked on hidden from other workers: a thread renews each one's
    visibility every third of ``visibility_s``, until it is dropped."""

    def __init__(self, sqs: Any, url: str, visibility_s: int) -> None:
        self._sqs = sqs
        self._url = url
        self._visibility_s = visibility_s
        self._held: dict[str, str] = {}  # receipt handle -> message id
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="leases", daemon=True)

    def __enter__(self) -> Leases:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def hold(self, receipt: str, message_id: str) -> None:
        with self._lock:
            self._held[receipt] = message_id

    def drop(self, receipt: str) -> None:
        with self._lock:
            self._held.pop(receipt, None)

    def _renew(self) -> None:
        while not self._done.wait(self._visibility_s / 3):
            with self._lock:
                held = list(self._held.items())
            for receipt, message_id in held:
                try:
                    self._sqs.change_message_visibility(
                        QueueUrl=self._url, ReceiptHandle=receipt, VisibilityTimeout=self._visibility_s
                    )
                except (BotoCoreError, ClientError) as exc:
                    with self._lock:
                        if receipt not in self._held:  # finished meanwhile: nothing to keep
                            continue
                    event("lease_lost", f"message {message_id}: visibility not renewed: {exc}", logging.WARNING)


class Service:
    """Receives on the main thread (which alone gets signals), converts on ``settings.jobs`` threads."""

    def __init__(
        self,
        settings: Settings,
        sqs: Any,
        s3: Any,
        convert_file: FileConverter = convert,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.sqs = sqs
        self.s3 = s3
        self.url = settings.queue_url
        self._convert_file = convert_file
        self._clock = clock
        self._deadline: float | None = None  # once stopping: when SIGKILL is due, less the cleanup
        self._children_killed = False  # at the deadline: what they were decoding is returned, not failed
        self._last_work = clock()  # when a message was last received or finished
        self.counts: Counter[str] = Counter()
        self._counting = threading.Lock()  # the jobs' threads count

    def run(self) -> int:
        jobs = self.settings.jobs
        event(
            "service_started",
            f"taking S3 upload events from {self.url}, {jobs} at a time",
            queue_url=self.url,
            jobs=jobs,
        )
        running: set[Future[None]] = set()
        idle_exit = self.settings.idle_exit_s
        self._last_work = self._clock()
        with (
            Leases(self.sqs, self.url, self.settings.visibility_s) as leases,
            ThreadPoolExecutor(jobs, thread_name_prefix="job") as pool,
        ):
            try:
                while True:
                    running = {f for f in running if not f.done()}
                    if len(running) == jobs:
                        wait(running, return_when=FIRST_COMPLETED)
                        continue
                    poll = POLL_S
                    if idle_exit:  # polls no longer than the idle time, so that the exit is not late
                        idle_left = idle_exit - (self._clock() - self._last_work)
                        if idle_left <= 0 and not running:
                            return self._finish(EXIT_OK, f"no message for {idle_exit:g} s")
                        poll = min(POLL_S, max(1, math.ceil(idle_left if not running else idle_exit)))
                    for message in self._receive(jobs - len(running), poll):
                        self._last_work = self._clock()
                        running.add(pool.submit(self._handle, message, leases))
            except Stopped as stop:
                self._deadline = self._clock() + self.settings.stop_timeout_s - CLEANUP_S
                for signum in STOP_SIGNALS:  # a second signal waits for the cleanup too
                    signal.signal(signum, lambda *_: None)
                event("stopping", f"{stop.said}: finishing or returning {len(running)} message(s)")
                wait(running, timeout=max(0.0, self._deadline - self._clock()))
                if any(not job.done() for job in running):  # held up in a child (ffmpeg) past the deadline
                    self._children_killed = True
                    children.kill_all()
                    wait(running)
                return self._finish(stop.exit_code, stop.said)
            except StorageError as exc:  # the queue cannot be read: what runs may still finish
                wait(running)
                self._finish(EXIT_STORAGE, str(exc))
                raise

    def _receive(self, most: int, poll_s: int) -> list[dict[str, Any]]:
        try:
            answer = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(BATCH, most),
                WaitTimeSeconds=poll_s,
                VisibilityTimeout=self.settings.visibility_s,
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot receive from {self.url}: {exc}") from None
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def _handle(self, message: dict[str, Any], leases: Leases) -> None:
        """One message, to the end: deleted, sent on as failed, left for redelivery or returned."""
        receipt, message_id = message["ReceiptHandle"], message["MessageId"]
        attributes = message.get("Attributes", {})
        waited = max(0.0, time.time() - float(attributes.get("SentTimestamp", time.time() * 1000)) / 1000)
        receives = int(attributes.get("ApproximateReceiveCount", 1))
        fields = {"message_id": message_id, "receive_count": receives}
        origin = Origin("queue", waited)
        event(
            "received",
            f"message {message_id}: receive {receives}, {waited:.1f} s after it was sent",
            queue_wait_seconds=round(waited, 3),
            **fields,
        )
        leases.hold(receipt, message_id)
        try:
            if self._deadline is not None:
                raise Stopped(signal.SIGTERM)
            try:
                objects = targets(message["Body"])
            except InputError as exc:  # the message names nothing convertible: retrying cannot help
                self._failed(fields, "", "", exc, origin)
                objects = []
            finished = [self._convert(target, fields, origin) for target in objects]  # each one, whatever the others do
            if all(finished):
                self._delete(receipt)
        except Stopped:
            leases.drop(receipt)
            self._visible_now(receipt)
            self._count("returned")
            event("returned", f"message {message_id}: returned to the queue unfinished (stopping)", **fields)
        except SurroundError as exc:
            self._count("failed")
            why = f"{exc}; left in the queue, it comes back when its visibility lapses"
            _log_failure(f"message {message_id}: {why}", exc.exit_code, origin, error=type(exc).__name__, **fields)
        except Exception as exc:  # noqa: BLE001 - one message's bug must not stop the service
            self._count("failed")
            why = f"internal error: {type(exc).__name__}: {exc}; left in the queue"
            _log_failure(f"message {message_id}: {why}", 1, origin, exc_info=self.settings.verbose, **fields)
        finally:
            leases.drop(receipt)
            self._last_work = self._clock()  # idle time counts from the end of the last message

    def _convert(self, target: Target, fields: dict[str, Any], origin: Origin) -> bool:
        """One object: True when done with (converted, skipped, or bad input reported), False when it
        met a fault a retry may mend (the message is then left to come back)."""
        bucket, key = target.bucket, target.key
        try:
            converter = self._converter_until_stop()
            outcome = convert_object(
                self.s3, self.settings, bucket, key, converter, fields, target.form_encoded, origin
            )
            self._count(outcome.status)
            return True
        except InputError as exc:
            self._failed(fields, bucket, key, exc, origin)
            return True
        except SurroundError as exc:
            self._left(target, fields, origin, str(exc), exc.exit_code, type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - one object's bug must not stop the service
            why = f"internal error: {type(exc).__name__}: {exc}"
            self._left(target, fields, origin, why, 1, type(exc).__name__, exc_info=self.settings.verbose)
        return False

    def _left(
        self,
        target: Target,
        fields: dict[str, Any],
        origin: Origin,
        why: str,
        code: int,
        error: str,
        exc_info: bool = False,
    ) -> None:
        """Log an object that met a fault a retry may mend: its message is left in the queue."""
        self._count("failed")
        _log_failure(
            f"s3://{short(target.bucket)}/{short(target.key)}: {why}; the message is left in the queue, it comes "
            "back when its visibility lapses",
            code,
            origin,
            exc_info=exc_info,
            error=error,
            bucket=short(target.bucket, MAX_FIELD_CHARS),
            key=short(target.key, MAX_FIELD_CHARS),
            **fields,
        )

    def _converter_until_stop(self) -> Converter:
        """The converter, with progress that gives up (raising Stopped) once a stop is under way and the
        song, at the pace it has gone so far, would not be done before the deadline."""

        def converter(src: Path, dst: Path, settings: Settings) -> Report:
            started = self._clock()

            def progress(fraction: float) -> None:
                if self._deadline is None:
                    return
                now = self._clock()
                remaining = (now - started) * (1.0 - fraction) / fraction if fraction > 0 else math.inf
                if now + remaining > self._deadline:
                    raise Stopped(signal.SIGTERM)

            try:
                return self._convert_file(src, dst, settings, progress)
            except SurroundError:
                if self._children_killed:  # its decoder was killed at the stop's deadline, not by the file
                    raise Stopped(signal.SIGTERM) from None
                raise

        return converter

    def _failed(self, fields: dict[str, Any], bucket: str, key: str, exc: SurroundError, origin: Origin) -> None:
        self._count("bad_input")
        where = f"s3://{short(bucket)}/{short(key)}: " if key else f"message {fields['message_id']}: "
        bucket_field, key_field = short(bucket, MAX_FIELD_CHARS) or None, short(key, MAX_FIELD_CHARS) or None
        _log_failure(
            f"{where}{exc}",
            exc.exit_code,
            origin,
            error=type(exc).__name__,
            bucket=bucket_field,
            key=key_field,
            **fields,
        )
        if not self.settings.failed_queue_url:
            return
        body = {"bucket": bucket_field, "key": key_field, "reason": str(exc), "exit_code": exc.exit_code, **fields}
        try:
            self.sqs.send_message(QueueUrl=self.settings.failed_queue_url, MessageBody=json.dumps(body))
        except (BotoCoreError, ClientError) as send_error:
            raise StorageError(f"cannot report the failure to {self.settings.failed_queue_url}: {send_error}") from None

    def _delete(self, receipt: str) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot delete a finished message from {self.url}: {exc}") from None

    def _visible_now(self, receipt: str) -> None:
        try:
            self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=0)
        except (BotoCoreError, ClientError) as exc:
            event("lease_lost", f"could not return a message at once ({exc}); it returns when its visibility lapses")

    def _count(self, what: str) -> None:
        with self._counting:
            self.counts[what] += 1

    def _finish(self, code: int, why: str) -> int:
        counts = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items())) or "nothing done"
        event("service_stopped", f"{why}: {counts}", status="stopped", exit_code=code, counts=dict(self.counts))
        return code
