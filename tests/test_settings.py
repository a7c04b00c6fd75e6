"""Settings: the option table, flag > environment > default, checks with units, the fingerprint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from surroundyou.errors import UsageError
from surroundyou.settings import OPTIONS, Option, Settings, build_settings


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


def test_every_setting_is_declared_once_and_the_command_line_follows_the_table() -> None:
    """settings.OPTIONS is the one declaration: each Settings field has one row, each flag is in --help
    with its variable and default, and each variable is scrubbed from the tests' environment."""
    from helpers import SETTINGS_VARIABLES

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
    "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
}


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.field)
def test_the_fingerprint_changes_with_what_changes_the_sound_and_only_that(option: Option) -> None:
    base = Settings()
    if option.field in ("bucket", "key"):  # cloud mode needs both
        changed = dataclasses.replace(base, bucket="b", key="k")
    elif option.field == "failed_queue_url":  # only in queue mode
        changed = dataclasses.replace(base, queue_url="q", failed_queue_url="f")
    elif option.field in OTHER_VALUES:
        changed = dataclasses.replace(base, **{option.field: OTHER_VALUES[option.field]})
    else:
        assert option.bounds is not None, option.field
        default = getattr(base, option.field)
        low, high = option.bounds
        changed = dataclasses.replace(base, **{option.field: type(default)(high if default != high else low)})
    assert (changed.fingerprint() != base.fingerprint()) == option.sound, option.field


def test_queue_mode_excludes_cloud_mode_and_owns_its_failed_queue() -> None:
    with pytest.raises(UsageError, match="queue mode or cloud mode"):
        build_settings({}, {"QUEUE_URL": "q", "S3_BUCKET": "b", "S3_KEY": "k"})
    with pytest.raises(UsageError, match="belongs to queue mode"):
        build_settings({}, {"FAILED_QUEUE_URL": "f"})
    with pytest.raises(UsageError, match="VISIBILITY_SECONDS must be 3–43200 s"):
        build_settings({}, {"QUEUE_URL": "q", "VISIBILITY_SECONDS": "1"})
    settings = build_settings({}, {"QUEUE_URL": "q", "IDLE_EXIT_SECONDS": "30"})
    assert settings.queue and not settings.cloud and settings.json_logs and settings.idle_exit_s == 30.0
