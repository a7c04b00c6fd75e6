"""The output-format registry: one row per format, read by the encoder, the tags, S3 and the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from surroundyou.errors import UsageError
from surroundyou.formats import FORMATS, LOW_RATE_MARGIN_DB, by_suffix, format_of


@pytest.mark.parametrize(
    ("name", "rate", "expected"),
    [
        ("mp3", 44100, 44100),
        ("mp3", 96000, 48000),
        ("mp3", 88200, 44100),
        ("mp3", 37800, 44100),
        ("mp3", 8000, 8000),
        ("wav", 96000, 96000),
        ("flac", 37800, 37800),
        ("opus", 44100, 48000),
        ("opus", 8000, 48000),
        ("opus", 96000, 48000),
    ],
)
def test_the_rate_rendered_at_is_one_the_format_can_store(name: str, rate: int, expected: int) -> None:
    assert FORMATS[name].output_rate(rate) == expected


def test_every_format_has_its_own_suffix_and_a_content_type() -> None:
    suffixes = [f.suffix for f in FORMATS.values()]
    assert len(set(suffixes)) == len(suffixes)
    for fmt in FORMATS.values():
        assert by_suffix(Path(f"x{fmt.suffix.upper()}")) is fmt
        assert fmt.content_type.startswith("audio/")
        assert fmt.writer in ("pedalboard", "ffmpeg")
        assert 0.0 < fmt.codec_margin_db < 4.0


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_lossless_formats_keep_more_headroom_below_32_khz(name: str) -> None:
    fmt = FORMATS[name]
    assert fmt.margin_db(44100) == fmt.margin_db(48000) == fmt.codec_margin_db
    low = fmt.margin_db(22050)
    assert low == (max(fmt.codec_margin_db, LOW_RATE_MARGIN_DB) if name in ("wav", "flac") else fmt.codec_margin_db)


def test_an_unknown_suffix_names_the_choices() -> None:
    with pytest.raises(UsageError, match=r"unsupported format \.m4a; use one of \.mp3, \.wav, \.flac, \.ogg, \.opus"):
        format_of(Path("x.m4a"))
