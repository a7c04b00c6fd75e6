"""Output formats: which rate each takes, and a streaming writer that publishes atomically.

The writer encodes into a hidden temporary file beside the destination and
moves it into place only when ``commit`` is called, so a failed or stopped
run never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from types import TracebackType

import numpy as np
from pedalboard.io import AudioFile

from .errors import StorageError, UsageError
from .tags import Tags, write_tags

FORMATS = (".mp3", ".wav", ".flac", ".ogg")
LOSSLESS = (".wav", ".flac")  # written as 24-bit PCM
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# Headroom the limiter keeps below the requested ceiling, per format: lossy
# decoders overshoot the PCM they were given (LAME by up to ~1.6 dB, measured on a
# real 22.05 kHz song; 1.5 dB let its decoded true peak reach -0.96 dBTP at a -1 ceiling).
CODEC_MARGIN_DB = {".mp3": 1.7, ".ogg": 1.5, ".wav": 0.1, ".flac": 0.1}


def check_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(
            f"output {path.name}: unsupported format {suffix or '(none)'}; use one of {', '.join(FORMATS)}"
        )
    return suffix


def output_rate(suffix: str, source_rate: int) -> int:
    """The rate to render at: the source's, unless the format cannot store it."""
    if suffix != ".mp3" or source_rate in MP3_RATES:
        return source_rate
    if source_rate > MP3_RATES[-1]:
        return 44100 if source_rate % 11025 == 0 else 48000
    return min(r for r in MP3_RATES if r >= source_rate)


class Encoder:
    """Streaming writer of (2, n) float32 blocks to ``path``, committed atomically; ``path``'s format
    is one ``check_format`` accepted (the caller checks it first, before any decoding)."""

    def __init__(self, path: Path, rate: int, mp3_quality: str | int) -> None:
        self.path = path
        suffix = path.suffix.lower()
        self._held: np.ndarray | None = None
        self._tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part{suffix}")
        quality = mp3_quality if suffix == ".mp3" else None
        bit_depth = 24 if suffix in LOSSLESS else 16
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created here first: pedalboard reports an unwritable folder only as a ValueError without the cause.
            self._tmp.open("xb").close()
        except PermissionError as exc:
            raise StorageError(
                f"cannot write {path}: {exc.strerror} (the folder must be writable by uid {os.getuid()})"
            ) from None
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None
        try:
            self._file = AudioFile(str(self._tmp), "w", rate, 2, quality=quality, bit_depth=bit_depth)
        except (OSError, ValueError) as exc:
            self._tmp.unlink(missing_ok=True)
            raise StorageError(f"cannot write {path}: {exc}") from None

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
        self._file.write(np.ascontiguousarray(block, dtype=np.float32))

    def commit(self, tags: Tags | None = None) -> None:
        """Finish encoding, write ``tags``, and move the file into place."""
        if self._held is not None:
            held, self._held = self._held, None
            self.write(np.concatenate((held, np.zeros((2, 1), np.float32)), axis=1))
        self._file.close()
        if tags:
            write_tags(self._tmp, tags)
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:
            raise StorageError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def discard(self) -> None:
        with contextlib.suppress(Exception):
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
