"""Hostile files the tests make themselves, shared by the main suite and the image's tests."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

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
    import subprocess

    from audio import pink_noise, write

    source = write(path.with_suffix(".wav"), pink_noise(seconds, 44100))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c:a", "aac", str(path)], check=True)
    return path
