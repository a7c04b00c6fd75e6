"""A streaming writer of stereo blocks in any output format (formats.py), published atomically.

The writer encodes into a hidden temporary file beside the destination and
moves it into place only when ``commit`` is called, so a failed or stopped
run never leaves a half-written output. pedalboard writes MP3, WAV, FLAC and Ogg
Vorbis in-process; ffmpeg writes Opus from float32 on a pipe, as a child with a deadline.

A full disk is reported by neither with its cause: pedalboard raises "Unable to write data"
(and its Ogg writer nothing at all: the file is cut short), ffmpeg 5 prints the error but
exits 0. So the encoded file is probed (``_write_error``): a failure, or a finished file after
which the disk takes no more, is a StorageError naming the output, the cause and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import subprocess
import tempfile
import uuid
from pathlib import Path
from types import TracebackType

import numpy as np
from pedalboard.io import AudioFile, WriteableAudioFile

from surroundyou.audio.tags import Tags, write_tags
from surroundyou.children import Child, run
from surroundyou.errors import OUT_OF_SPACE, StorageError, UsageError, storage_cause
from surroundyou.formats import Format

ENCODE_DEADLINE_S = 4 * 3600.0  # an ffmpeg writer is fed at the conversion's pace: a guard against a hang only
PROBE_DEADLINE_S = 30.0
# Written after the encoded data (and cut off again) to learn why a write failed or whether the disk
# is full: tags and the move into place need some room too.
PROBE_BYTES = 1 << 16
_ELSEWHERE = "choose another -o"


def check_encoder(fmt: Format) -> None:
    """A UsageError, before any conversion, if ``fmt`` needs an ffmpeg encoder this machine's ffmpeg lacks."""
    if fmt.ffmpeg_encoder and fmt.ffmpeg_encoder not in _ffmpeg_encoders():
        raise UsageError(f"--format {fmt.name} needs ffmpeg's {fmt.ffmpeg_encoder} encoder, which this ffmpeg lacks")


@functools.cache
def _ffmpeg_encoders() -> frozenset[str]:
    try:
        listed = run(["ffmpeg", "-hide_banner", "-encoders"], PROBE_DEADLINE_S).output.decode(errors="replace")
    except OSError:  # no ffmpeg at all
        return frozenset()
    return frozenset(line.split()[1] for line in listed.splitlines() if len(line.split()) > 1)


def cannot_write(path: Path, error: OSError) -> StorageError:
    """One line: the output ``path``, what its disk refused (space, quota, permission, read-only) and what to do.
    An output in a run's own temporary folder (cloud and queue mode convert there before the upload) is
    moved with TMPDIR, not -o."""
    where = path.resolve()
    in_temp = where.is_relative_to(Path(tempfile.gettempdir()).resolve()) and any(
        folder.name.startswith("surroundyou-") for folder in where.parents
    )
    if error.errno in OUT_OF_SPACE:
        fix = "free some space there or " + ("set TMPDIR=<a folder with more space>" if in_temp else _ELSEWHERE)
    elif error.errno in (errno.EACCES, errno.EPERM):
        other = "set TMPDIR=<a writable folder>" if in_temp else _ELSEWHERE
        fix = f"make the folder writable by uid {os.getuid()} or {other}"
    else:
        fix = "set TMPDIR=<another folder>" if in_temp else _ELSEWHERE
    return StorageError(f"cannot write {path}: {storage_cause(error)}; {fix}")


def _write_error(path: Path) -> OSError | None:
    """The error a write of PROBE_BYTES after the end of ``path`` meets now, or None if they fit.
    The file is cut back to its size."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        return exc
    try:
        size = os.fstat(fd).st_size
        data = memoryview(bytes(PROBE_BYTES))
        try:
            while data:  # a write may store part of its bytes: the rest, or the error, follows
                data = data[os.pwrite(fd, data, size + PROBE_BYTES - len(data)) :]
        except OSError as exc:
            return exc
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
        return None
    finally:
        os.close(fd)


class Encoder:
    """Streaming writer of (2, n) float32 blocks to ``path`` in ``fmt``, committed atomically."""

    def __init__(self, path: Path, fmt: Format, rate: int, quality: str) -> None:
        self.path = path
        self.format = fmt
        self._held: np.ndarray | None = None
        self._tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{fmt.suffix}")
        self._file: WriteableAudioFile | None = None
        self._child: Child | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created here first: pedalboard reports an unwritable folder only as a ValueError without the cause.
            self._tmp.open("xb").close()
        except OSError as exc:
            raise cannot_write(path, exc) from None
        try:
            if fmt.ffmpeg_encoder:
                self._child = Child(self._ffmpeg_command(rate), ENCODE_DEADLINE_S, subprocess.DEVNULL, subprocess.PIPE)
            else:
                mp3_quality = (quality if quality.startswith("V") else int(quality)) if fmt.quality else None
                self._file = AudioFile(str(self._tmp), "w", rate, 2, quality=mp3_quality, bit_depth=fmt.bit_depth)
        except (OSError, ValueError) as exc:
            self._tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {path}: {exc}") from None

    def _ffmpeg_command(self, rate: int) -> list[str]:
        return [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar", str(rate), "-ac", "2",
            "-i", "pipe:0", "-c:a", self.format.ffmpeg_encoder, *self.format.ffmpeg_options,
            "-y", f"file:{self._tmp.resolve()}",
        ]  # fmt: skip

    def write(self, block: np.ndarray) -> None:
        # pedalboard cannot tell channels from samples in a 2x2 block: hold it back and join it to the next.
        if self._held is not None:
            block = np.concatenate((self._held, block), axis=1)
            self._held = None
        if block.shape[1] == 0:
            return
        if block.shape[1] == 2:
            self._held = block
            return
        if self._child is not None:
            try:
                self._child.stdin.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())
            except BrokenPipeError:
                raise self._failure(self._ffmpeg_failure()) from None
        else:
            assert self._file is not None
            try:
                self._file.write(np.ascontiguousarray(block, dtype=np.float32))
            except RuntimeError as exc:  # pedalboard's "Unable to write data to audio file."
                raise self._failure(f"the encoder failed: {exc}") from None

    def _failure(self, what: str) -> StorageError:
        """The encoder failed (``what`` it said): the disk's error if a write now meets one, else ``what``."""
        error = _write_error(self._tmp)
        if error is None:
            return StorageError(f"cannot write {self.path}: {what}")
        return cannot_write(self.path, error)

    def _ffmpeg_failure(self) -> str:
        """Why the ffmpeg writer ended, once it has: its last error line, or how it ended."""
        assert self._child is not None
        code = self._child.wait()
        if self._child.timed_out:
            return f"the encoder did not finish within {ENCODE_DEADLINE_S:.0f} s"
        last = self._child.errors[-1] if self._child.errors else f"exit code {code}"
        return f"the encoder failed: {last}"

    def _finish(self) -> None:
        if self._child is not None:
            with contextlib.suppress(BrokenPipeError):
                self._child.stdin.close()
            # ffmpeg 5 exits 0 after "No space left on device": any line it prints at -loglevel error fails
            if self._child.wait() != 0 or self._child.timed_out or self._child.errors:
                raise self._failure(self._ffmpeg_failure())
        else:
            assert self._file is not None
            try:
                self._file.close()
            except RuntimeError as exc:
                raise self._failure(f"the encoder failed: {exc}") from None
        # A writer that ended without an error may still have lost data to a full disk (pedalboard's Ogg)
        error = _write_error(self._tmp)
        if error is not None and error.errno in OUT_OF_SPACE:
            raise cannot_write(self.path, error)

    def commit(self, tags: Tags | None = None) -> None:
        """Finish encoding, write ``tags``, and move the file into place."""
        if self._held is not None:
            held, self._held = self._held, None
            self.write(np.concatenate((held, np.zeros((2, 1), np.float32)), axis=1))
        self._finish()
        if tags:
            write_tags(self._tmp, self.format.tags, tags)
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:
            raise cannot_write(self.path, exc) from None

    def discard(self) -> None:
        if self._child is not None:
            self._child.close()  # kills the encoder if it still runs
        with contextlib.suppress(Exception):
            if self._file is not None:
                self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> Encoder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None or self._tmp.exists():
            self.discard()
