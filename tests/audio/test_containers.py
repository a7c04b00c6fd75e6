"""Formats: sniffing the container from content, mapping channels to stereo, the output's sample rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from surroundyou.audio.containers import sniff
from surroundyou.dsp.channels import to_stereo


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"FORM\x00\x00\x00\x00AIFF", "aiff"),
        (b"fLaC\x00\x00", "flac"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis", "ogg"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead", "ogg-other"),
        (b"ID3\x04\x00", "mp3"),
        (b"\xff\xfb\x90\x44", "mp3"),
        (b"<!DOCTYPE html><html>", "text"),
        (b"hello world\n", "text"),
        (b"\x00\x00\x00\x20ftypM4A ", "mp4"),
        # What is not an accepted container (playlists and concat scripts that make ffmpeg open other files),
        # and the containers only ffmpeg reads
        (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nx.m3u8\n", "text"),
        (b"ffconcat version 1.0\n# caf\xc3\xa9\nfile a.mp3\n", "text"),
        (b"#EXTM3U\n# caf\xe9\nx.ts\n", "unknown"),  # not UTF-8, so not text either
        (b"\x89PNG\r\n\x1a\n\x00\x00", "unknown"),
        (b"\xff\xf1\x50\x80\x24\x9f\xfc", "aac"),
        (b"\xff\xfd\xe0\x04", "mp2"),
        (b"\xff\xff\xff\xff", "unknown"),  # a frame sync with reserved fields
        (b"\x0b\x77\x28\x00\x54\x40", "ac3"),
        (b"\x0b\x77\x01\xa0\x74\x87", "eac3"),
        (b"\x1a\x45\xdf\xa3\x9f", "matroska"),
        (b"RF64\xff\xff\xff\xffWAVEds64", "wav"),
    ],
)
def test_sniff_detects_the_container_from_content_and_refuses_the_rest(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


def test_channel_mapping() -> None:
    mono = np.arange(4, dtype=np.float32)[None, :]
    np.testing.assert_array_equal(to_stereo(mono), np.vstack([mono, mono]))
    six = np.zeros((6, 3), np.float32)
    six[2] = 1.0  # centre
    six[3] = 1.0  # LFE is dropped
    np.testing.assert_allclose(to_stereo(six), np.full((2, 3), math.sqrt(0.5)), atol=1e-6)
    six[:] = 0
    six[4] = 1.0  # back left goes left only
    out = to_stereo(six)
    assert out[0].min() > 0.7 and np.all(out[1] == 0)
