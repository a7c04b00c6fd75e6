"""Settings: the option table, flag > environment > default, checks with units, the fingerprint."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from surroundyou.errors import UsageError
from surroundyou.settings import OPTIONS, Option, Settings, bucket_name_problem, build_settings


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
        ({"period_s": 1.0}, "--period must be a number from 2 to 120 s (got 1)"),
        ({"period_s": float("nan")}, "--period must be a number from 2 to 120 s (got nan)"),
        ({"reverb": 1.5}, "--reverb must be a number from 0 to 1 (got 1.5)"),
        ({"ceiling_dbtp": 0.5}, "--ceiling must be a number from -9 to 0 dBTP (got 0.5)"),
        (
            {"quality": "320k"},
            "--quality must be V0..V9 (VBR) or a CBR bitrate in kbps such as 192 or 320 (got '320k')",
        ),
        ({"input_prefix": "input"}, "INPUT_PREFIX must be empty or a key prefix ending in '/' (got 'input')"),
        ({"input_prefix": "x/", "output_prefix": "x/"}, "INPUT_PREFIX 'x/' and OUTPUT_PREFIX 'x/' overlap"),
        ({"output_prefix": "input/out/"}, "INPUT_PREFIX 'input/' and OUTPUT_PREFIX 'input/out/' overlap"),
        ({"input_prefix": "processed/new/"}, "INPUT_PREFIX 'processed/new/' and OUTPUT_PREFIX 'processed/' overlap"),
        ({"input_prefix": ""}, "overlap"),  # every key is under the empty prefix
    ],
)
def test_settings_reject_bad_values_with_units(kwargs: dict[str, object], hint: str) -> None:
    with pytest.raises(UsageError, match=re.escape(hint)):
        Settings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        # the name is the one the value came from: the flag, the variable, or a former name of either
        ({"period_s": "-1"}, {}, "--period must be a number from 2 to 120 s (got -1)"),
        ({}, {"PERIOD_SECONDS": "-1"}, "PERIOD_SECONDS must be a number from 2 to 120 s (got -1)"),
        ({"period_s": "1"}, {"PERIOD_SECONDS": "20"}, "--period must be a number from 2 to 120 s (got 1)"),
        ({"period_s": "20"}, {"PERIOD_SECONDS": "1"}, None),  # the flag wins: the variable is not read
        ({"target_lufs": "3"}, {}, "--target-lufs must be a number from -40 to -6 LUFS (got 3)"),
        ({}, {"RENDERER": "bogus"}, "RENDERER must be one of binaural, pan (got 'bogus')"),
        ({"renderer": "bogus"}, {}, "--renderer must be one of binaural, pan (got 'bogus')"),
        ({}, {"SPATIAL_MODE": "bogus"}, "SPATIAL_MODE must be one of binaural, pan (got 'bogus')"),
        ({"old_renderer": "bogus"}, {}, "--mode must be one of binaural, pan (got 'bogus')"),
        ({"output_format": "m4a"}, {}, "--format must be one of mp3, wav, flac, ogg, opus (got 'm4a')"),
        ({}, {"MP3_QUALITY": "320k"}, "MP3_QUALITY must be V0..V9 (VBR) or a CBR bitrate in kbps such as 192 or 320"),
        ({}, {"VISIBILITY_SECONDS": "1"}, "VISIBILITY_SECONDS must be a whole number from 3 to 43200 s (got 1)"),
        ({}, {"OUTPUT_PREFIX": "out"}, "OUTPUT_PREFIX must be empty or a key prefix ending in '/' (got 'out')"),
        ({}, {"MAX_INPUT_BYTES": "0"}, "MAX_INPUT_BYTES must be a positive whole number (got 0)"),
        ({"block_frames": "0"}, {}, "--block-frames must be a whole number from 1 to 1048576 frames (got 0)"),
        # text that is not a number: the same message, with the range, under the name given
        ({"depth_db": "loud"}, {}, "--depth must be a number from 0 to 30 dB (got 'loud')"),
        ({}, {"DEPTH": "abc"}, "DEPTH must be a number from 0 to 30 dB (got 'abc')"),
        ({"jobs": "x"}, {}, "--jobs must be a whole number from 1 to 64 processes (got 'x')"),
        ({}, {"JOBS": "2.5"}, "JOBS must be a whole number from 1 to 64 processes (got '2.5')"),
        ({}, {"MAX_DURATION_SECONDS": "long"}, "MAX_DURATION_SECONDS must be a positive number (got 'long')"),
    ],
)
def test_a_bad_value_is_named_as_given_with_what_is_allowed(
    flags: dict[str, str], env: dict[str, str], message: str | None
) -> None:
    """Flags arrive as the text typed (cli.py does not parse them): build_settings parses and checks each
    value under the name it came from, and says what is allowed: the range with its unit, or the choices."""
    if message is None:
        build_settings(flags, env)
        return
    with pytest.raises(UsageError) as error:
        build_settings(flags, env)
    assert str(error.value).startswith(message), str(error.value)


def test_flags_given_as_text_are_parsed_and_cased_as_variables_are() -> None:
    settings = build_settings({"period_s": "20", "renderer": "PAN", "quality": "v0", "jobs": "3"}, {})
    assert (settings.period_s, settings.renderer, settings.quality, settings.jobs) == (20.0, "pan", "V0", 3)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "S3_READ_TIMEOUT_SECONDS must be a positive number (got 'soon')"),
        ("0", "S3_READ_TIMEOUT_SECONDS must be a positive number (got 0)"),
        ("nan", "S3_READ_TIMEOUT_SECONDS must be a positive number (got nan)"),
    ],
)
def test_a_variable_read_outside_the_settings_is_refused_the_same_way(value: str, message: str) -> None:
    from surroundyou.settings import positive_from_env

    assert positive_from_env("S3_READ_TIMEOUT_SECONDS", 60.0, float, {}) == 60.0
    assert positive_from_env("S3_READ_TIMEOUT_SECONDS", 60.0, float, {"S3_READ_TIMEOUT_SECONDS": " 5 "}) == 5.0
    with pytest.raises(UsageError, match=re.escape(message)):
        positive_from_env("S3_READ_TIMEOUT_SECONDS", 60.0, float, {"S3_READ_TIMEOUT_SECONDS": value})


def test_fingerprint_changes_with_the_sound_only() -> None:
    base = Settings()
    assert Settings(input_dir=Path("/elsewhere"), block_frames=1024).fingerprint() == base.fingerprint()
    assert Settings(period_s=10).fingerprint() != base.fingerprint()
    assert Settings(quality="V0").fingerprint() != base.fingerprint()


def test_every_setting_is_declared_once_and_the_command_line_follows_the_table() -> None:
    """settings.OPTIONS is the one declaration: each Settings field has one row, each flag is in --help
    with its variable and default, and each variable is scrubbed from the tests' environment."""
    from surroundyou.run.cli import parser
    from tests.support.processes import SETTINGS_VARIABLES

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
    "renderer": "pan",
    "hrtf": "x.sofa",
    "quality": "V0",
    "output_format": "flac",
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
    elif option.field in ("queue_url", "failed_queue_url"):  # queue mode needs its bucket
        changed = dataclasses.replace(base, queue_url="q", bucket="songs", failed_queue_url="f")
    elif option.field in OTHER_VALUES:
        changed = dataclasses.replace(base, **{option.field: OTHER_VALUES[option.field]})
    else:
        assert option.bounds is not None, option.field
        default = getattr(base, option.field)
        low, high = option.bounds
        changed = dataclasses.replace(base, **{option.field: type(default)(high if default != high else low)})
    assert (changed.fingerprint() != base.fingerprint()) == option.sound, option.field


def test_queue_mode_converts_one_bucket_excludes_cloud_mode_and_owns_its_failed_queue() -> None:
    with pytest.raises(UsageError, match="QUEUE_URL and S3_KEY are both set: queue mode or cloud mode"):
        build_settings({}, {"QUEUE_URL": "q", "S3_BUCKET": "songs", "S3_KEY": "k"})
    with pytest.raises(UsageError, match="QUEUE_URL is set but S3_BUCKET is not"):
        build_settings({}, {"QUEUE_URL": "q"})
    with pytest.raises(UsageError, match=r"S3_BUCKET must be a valid S3 bucket name: .* \(got 'My_Songs'\)$"):
        build_settings({}, {"QUEUE_URL": "q", "S3_BUCKET": "My_Songs"})
    with pytest.raises(UsageError, match="belongs to queue mode"):
        build_settings({}, {"FAILED_QUEUE_URL": "f"})
    with pytest.raises(UsageError, match=re.escape("VISIBILITY_SECONDS must be a whole number from 3 to 43200 s")):
        build_settings({}, {"QUEUE_URL": "q", "S3_BUCKET": "songs", "VISIBILITY_SECONDS": "1"})
    settings = build_settings({}, {"QUEUE_URL": "q", "S3_BUCKET": "songs", "IDLE_EXIT_SECONDS": "30"})
    assert settings.queue and not settings.cloud and settings.json_logs and settings.idle_exit_s == 30.0
    assert settings.bucket == "songs"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("songs", None),
        ("my.songs-2024", None),
        ("abc", None),
        ("a" * 63, None),
        ("ab", "3-63"),
        ("a" * 64, "3-63"),
        ("Songs", "3-63"),
        ("my_songs", "3-63"),
        ("-songs", "3-63"),
        ("songs.", "3-63"),
        ("songs\n", "3-63"),  # $ in a regular expression would let a trailing newline through
        ("so..ngs", "two dots"),
        ("192.168.1.1", "IP address"),
        ("xn--songs", "reserved"),
        ("songs-s3alias", "reserved"),
        ("songs--x-s3", "reserved"),
    ],
)
def test_bucket_names_follow_s3s_rules(name: str, problem: str | None) -> None:
    found = bucket_name_problem(name)
    assert found is None if problem is None else problem in (found or ""), found


def test_the_renderers_former_names_still_work_and_are_named_as_deprecated() -> None:
    from surroundyou.settings import deprecated_names

    assert build_settings({"old_renderer": "pan"}, {}).renderer == "pan"
    assert build_settings({}, {"SPATIAL_MODE": "PAN"}).renderer == "pan"
    assert build_settings({}, {"SPATIAL_MODE": "pan", "RENDERER": "binaural"}).renderer == "binaural"  # new wins
    assert build_settings({"renderer": "binaural", "old_renderer": "pan"}, {}).renderer == "binaural"
    assert deprecated_names({"old_renderer": "pan"}, {"SPATIAL_MODE": "pan"}) == [
        "--mode is now --renderer (the old name still works, for now)",
        "SPATIAL_MODE is now RENDERER (the old name still works, for now)",
    ]
    assert deprecated_names({"renderer": "pan"}, {"RENDERER": "pan"}) == []
