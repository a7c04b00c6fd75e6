"""Small pure pieces: settings, key mapping, format sniffing, rates."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from surroundyou.decode import sniff
from surroundyou.encode import output_rate
from surroundyou.errors import InputError, UsageError
from surroundyou.settings import OPTIONS, Option, Settings, build_settings
from surroundyou.storage import local_suffix, output_key


def test_settings_resolve_flag_then_environment_then_default() -> None:
    assert build_settings({}, {}).period_s == 12.0
    assert build_settings({}, {"PERIOD_SECONDS": "20"}).period_s == 20.0
    assert build_settings({"period_s": 5.0}, {"PERIOD_SECONDS": "20"}).period_s == 5.0
    assert build_settings({}, {"S3_BUCKET": "b", "S3_KEY": " input/a b.mp3"}).key == " input/a b.mp3"
    assert not build_settings({}, {}).cloud
    with pytest.raises(UsageError, match="S3_BUCKET is set but S3_KEY is not"):
        build_settings({}, {"S3_BUCKET": "b", "S3_KEY": ""})
    with pytest.raises(UsageError, match="S3_KEY is set but S3_BUCKET is not"):
        build_settings({}, {"S3_KEY": "input/a.mp3"})


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"period_s": 1.0}, "--period must be 2–120 s, got 1"),
        ({"period_s": float("nan")}, "--period"),
        ({"reverb": 1.5}, "--reverb must be 0–1"),
        ({"ceiling_dbtp": 0.5}, "--ceiling must be -9–0 dBTP"),
        ({"quality": "320k"}, "--quality"),
        ({"input_prefix": "input"}, "must end with '/'"),
        ({"input_prefix": "x/", "output_prefix": "x/"}, "must differ"),
    ],
)
def test_settings_reject_bad_values_with_units(kwargs: dict[str, object], hint: str) -> None:
    with pytest.raises(UsageError, match=hint.replace("(", r"\(")):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_fingerprint_changes_with_the_sound_only() -> None:
    base = Settings()
    assert Settings(input_dir=Path("/elsewhere"), block_frames=1024).fingerprint() == base.fingerprint()
    assert Settings(period_s=10).fingerprint() != base.fingerprint()
    assert Settings(quality="V0").fingerprint() != base.fingerprint()


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("input/a/song.wav", "processed/a/song.mp3"),
        ("input/song", "processed/song.mp3"),
        ("input/.hidden", "processed/.hidden.mp3"),
        ("input/my song+1.MP3", "processed/my song+1.mp3"),
        ("input/a.b/c", "processed/a.b/c.mp3"),
    ],
)
def test_output_key_mapping(key: str, expected: str) -> None:
    assert output_key(key, "input/", "processed/") == expected


@pytest.mark.parametrize("key", ["processed/x.mp3", "inputx.mp3", "input/", "input/folder/", "/input/a.mp3"])
def test_keys_outside_the_input_prefix_or_folders_are_refused(key: str) -> None:
    with pytest.raises(InputError):
        output_key(key, "input/", "processed/")


@pytest.mark.parametrize(
    ("key", "suffix"),
    [
        ("input/a.mp3", ".mp3"),
        ("input/../../etc/passwd", ""),
        ("input/x.m4a", ".m4a"),
        ("input/a.b/c", ""),
        ("input/evil.mp3/../x", ""),
        ("input/x.toolongext", ""),
    ],
)
def test_local_copy_suffix_is_harmless(key: str, suffix: str) -> None:
    assert local_suffix(key) == suffix


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
        (b"\x00\x00\x00\x20ftypM4A ", "other"),
    ],
)
def test_sniff_detects_the_container_from_content(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(
    ("suffix", "rate", "expected"),
    [
        (".mp3", 44100, 44100),
        (".mp3", 96000, 48000),
        (".mp3", 88200, 44100),
        (".mp3", 37800, 44100),
        (".mp3", 8000, 8000),
        (".wav", 96000, 96000),
        (".flac", 37800, 37800),
    ],
)
def test_output_rate(suffix: str, rate: int, expected: int) -> None:
    assert output_rate(suffix, rate) == expected


def test_source_key_metadata_is_encoded_as_the_readme_says() -> None:
    from urllib.parse import unquote

    from surroundyou.storage import metadata_value

    key = "input/Björk – Jóga.flac"
    assert metadata_value(key) == "input/Bj%C3%B6rk %E2%80%93 J%C3%B3ga.flac"  # the README's example
    assert metadata_value(key).isascii() and unquote(metadata_value(key)) == key
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "`input/Bj%C3%B6rk %E2%80%93 J%C3%B3ga.flac`" in readme


def test_every_setting_is_declared_once_and_the_command_line_follows_the_table() -> None:
    """settings.OPTIONS is the one declaration: each Settings field has one row, each flag is in --help
    with its variable and default, and each variable is scrubbed from the tests' environment."""
    from conftest import SETTINGS_VARIABLES

    from surroundyou.cli import parser

    assert sorted(o.field for o in OPTIONS) == sorted(f.name for f in dataclasses.fields(Settings))
    help_text = " ".join(parser().format_help().split())
    for option in OPTIONS:
        if option.flag:
            assert option.flag in help_text
        if option.env:
            assert option.env in SETTINGS_VARIABLES
            if option.flag:
                assert f"env {option.env}" in help_text, option.env


# A value other than the default for each field (numbers: the other end of their range).
OTHER_VALUES = {
    "mode": "pan",
    "hrtf": "x.sofa",
    "quality": "V0",
    "log_format": "json",
    "input_dir": Path("elsewhere"),
    "output_dir": Path("elsewhere"),
    "input_prefix": "in/",
    "output_prefix": "out/",
    "force": True,
    "verbose": True,
    "max_input_bytes": 5,
    "max_duration_s": 5.0,
}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.field)
def test_the_fingerprint_changes_with_what_changes_the_sound_and_only_that(option: Option) -> None:
    base = Settings()
    if option.field in ("bucket", "key"):  # cloud mode needs both
        changed = dataclasses.replace(base, bucket="b", key="k")
    elif option.field in OTHER_VALUES:
        changed = dataclasses.replace(base, **{option.field: OTHER_VALUES[option.field]})
    else:
        assert option.bounds is not None, option.field
        default = getattr(base, option.field)
        low, high = option.bounds
        changed = dataclasses.replace(base, **{option.field: type(default)(high if default != high else low)})
    assert (changed.fingerprint() != base.fingerprint()) == option.sound, option.field
