"""Hostile files the tests make themselves, shared by the main suite and the image's tests."""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np

from tests.support.audio import pink_noise, write

RATE = 44100

# An HLS playlist with an end tag: ffmpeg's HLS demuxer would read ``segment``, a file of the machine.
# The comment line that is not ASCII got past the old text check.
PLAYLIST = "#EXTM3U\n# {comment}\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{segment}\n#EXT-X-ENDLIST\n"
# A live playlist (no end tag, a huge target duration): ffmpeg waits for more segments forever.
LIVE_PLAYLIST = "#EXTM3U\n# café ü\n#EXT-X-TARGETDURATION:100000\n#EXTINF:100000.0,\n{segment}\n"


def wav_declaring(path: Path, rate: int, channels: int, data: bytes) -> Path:
    """A 16-bit PCM WAV whose header declares ``rate`` Hz and ``channels``, holding ``data``."""
    block = channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, min(rate * block, 0xFFFFFFFF), block, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def noise_bytes(frames: int, channels: int = 2) -> bytes:
    """16-bit PCM noise, interleaved: the data of a ``wav_declaring`` file."""
    rng = np.random.default_rng(27)
    return (rng.standard_normal(frames * channels) * 3000).astype("<i2").tobytes()


def hanging_ffmpeg(folder: Path, seconds: float = 10.0) -> tuple[dict[str, str], str]:
    """A PATH whose ffprobe describes any file as ``seconds`` of 44.1 kHz stereo and whose ffmpeg never
    writes a byte (a decoder stuck on a file), and the command line of the sleep it leaves behind if
    it is not killed with its process group: ({"PATH": ...}, marker)."""
    marker = f"sleep {600 + int.from_bytes(os.urandom(2), 'big') / 1e5:.5f}"  # unique among processes
    folder.mkdir(parents=True, exist_ok=True)
    probe = {"streams": [{"sample_rate": "44100", "channels": 2, "duration": str(seconds)}], "format": {}}
    scripts = {
        "ffprobe": f"#!/bin/sh\necho '{json.dumps(probe)}'\n",
        "ffmpeg": f"#!/bin/sh\n{marker} &\nwait\n",  # a grandchild, as a real decoder's helpers would be
    }
    for name, text in scripts.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}, marker


def running(command_line: str) -> list[int]:
    """The pids of live processes whose whole command line is ``command_line`` (zombies excluded)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if " ".join(proc.info["cmdline"] or []) == command_line and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.info["pid"])
    return found


def m4a(path: Path, seconds: float = 2.0) -> Path:
    """An AAC file in MP4, made by the real ffmpeg: a format only ffmpeg decodes."""
    source = write(path.with_suffix(".wav"), pink_noise(seconds, 44100))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c:a", "aac", str(path)], check=True)
    return path


def mp3_bytes(path: Path, seconds: float) -> bytes:
    return write(path, pink_noise(seconds, RATE), quality="V2").read_bytes()


def wav_claims(wav: bytes, data_bytes: int) -> bytes:
    """The same WAV with a header that claims ``data_bytes`` of audio."""
    out = bytearray(wav)
    at = out.find(b"data")
    out[at + 4 : at + 8] = struct.pack("<I", data_bytes)
    out[4:8] = struct.pack("<I", min(0xFFFFFFFF, data_bytes + at))
    return bytes(out)


def xing_claims(mp3: bytes, byte_count: int) -> bytes:
    out = bytearray(mp3)
    tag = max(out.find(b"Xing"), out.find(b"Info"))
    flags = int.from_bytes(out[tag + 4 : tag + 8], "big")
    at = tag + 8 + (4 if flags & 1 else 0)
    out[at : at + 4] = byte_count.to_bytes(4, "big")
    return bytes(out)


def build_corpus(folder: Path, scratch: Path) -> tuple[dict[str, float], set[str]]:
    """Writes the corpus; returns {good file: expected seconds} and the names that must fail."""
    folder.mkdir()
    mp3 = mp3_bytes(scratch / "a.mp3", 4.0)
    wav = write(scratch / "one.wav", pink_noise(1.0, RATE)).read_bytes()
    files = {
        "zero.mp3": b"",
        "readme.mp3": b"This is not music.\n" * 50,
        "page.mp3": b"<!DOCTYPE html><html><body>404</body></html>",
        "truncated.mp3": mp3[:300],
        "header-only.wav": wav[:44],
        "half.mp3": mp3[: len(mp3) // 2],
        "claims-gigabytes.wav": wav_claims(wav, 0xFFFFFFF0),
        "claims-an-hour.wav": wav_claims(wav, 3600 * RATE * 4),
        "claims-hours.mp3": xing_claims(mp3_bytes(scratch / "b.mp3", 1.0), 10**9),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    write(folder / "silence.wav", np.zeros((2, RATE * 3), np.float32))
    write(folder / "one-second.wav", pink_noise(1.0, RATE, seed=1))
    write(folder / "8k-mono.wav", pink_noise(2.0, 8000, channels=1), rate=8000)
    write(folder / "hires.flac", pink_noise(2.0, 96000), rate=96000, bit_depth=24)
    write(folder / "six-channels.wav", pink_noise(2.0, RATE, channels=6))
    write(folder / "ü ñ spaced name.wav", pink_noise(1.5, RATE, seed=2))
    source = write(scratch / "src.wav", pink_noise(2.0, 48000, seed=3), rate=48000)
    for name, args in (
        ("vorbis-named.mp3", ["-c:a", "libvorbis", "-f", "ogg"]),
        ("aac-song.m4a", ["-c:a", "aac"]),
        ("opus-song.opus", ["-c:a", "libopus"]),
    ):
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), *args, str(folder / name)], check=True)
    good = {
        "half.mp3": 2.0,
        "claims-gigabytes.wav": 1.0,
        "claims-an-hour.wav": 1.0,
        "claims-hours.mp3": 1.0,
        "silence.wav": 3.0,
        "one-second.wav": 1.0,
        "8k-mono.wav": 2.0,
        "hires.flac": 2.0,
        "six-channels.wav": 2.0,
        "ü ñ spaced name.wav": 1.5,
        "vorbis-named.mp3": 2.0,
        "aac-song.m4a": 2.0,
        "opus-song.opus": 2.0,
    }
    bad = {"zero.mp3", "readme.mp3", "page.mp3", "truncated.mp3", "header-only.wav"}
    return good, bad


def float_wav(path: Path, x: np.ndarray, bits: int = 32, rate: int = RATE) -> Path:
    """(channels, n) samples as an IEEE-float WAV (format tag 3) of ``bits`` 32 or 64, values as given."""
    data = np.ascontiguousarray(x.T, dtype="<f4" if bits == 32 else "<f8").tobytes()
    channels, width = x.shape[0], bits // 8
    fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * channels * width, channels * width, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path
