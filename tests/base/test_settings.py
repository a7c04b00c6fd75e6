"""Settings: the option table, flag > environment > default, checks with units, the fingerprint."""

from __future__ import annotations

import dataclasses
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
        ({"period_s": 1.0}, "--period must be 2–120 s, got 1"),
        ({"period_s": float("nan")}, "--period"),
        ({"reverb": 1.5}, "--reverb must be 0–1"),
        ({"ceiling_dbtp": 0.5}, "--ceiling must be -9–0 dBTP"),
        ({"quality": "320k"}, "--quality"),
        ({"input_prefix": "input"}, "must end with '/'"),
        ({"input_prefix": "x/", "output_prefix": "x/"}, "INPUT_PREFIX 'x/' and OUTPUT_PREFIX 'x/' overlap"),
        ({"output_prefix": "input/out/"}, "INPUT_PREFIX 'input/' and OUTPUT_PREFIX 'input/out/' overlap"),
        ({"input_prefix": "processed/new/"}, "INPUT_PREFIX 'processed/new/' and OUTPUT_PREFIX 'processed/' overlap"),
        ({"input_prefix": ""}, "overlap"),  # every key is under the empty prefix
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
    with pytest.raises(UsageError, match=r"S3_BUCKET must be a valid S3 bucket name \(.*\), got 'My_Songs'"):
        build_settings({}, {"QUEUE_URL": "q", "S3_BUCKET": "My_Songs"})
    with pytest.raises(UsageError, match="belongs to queue mode"):
        build_settings({}, {"FAILED_QUEUE_URL": "f"})
    with pytest.raises(UsageError, match="VISIBILITY_SECONDS must be 3–43200 s"):
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
