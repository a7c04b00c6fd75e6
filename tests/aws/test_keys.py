"""S3 keys: the output key, the event key's decoding, the metadata's encoding and size."""

from __future__ import annotations

from pathlib import Path

import pytest

from surroundyou.aws.storage import MAX_METADATA_BYTES, check_user_metadata, form_decoded, metadata_value, output_key
from surroundyou.errors import InputError


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("input/a/song.wav", "processed/a/song.mp3"),
        ("input/song", "processed/song.mp3"),
        ("input/.hidden", "processed/.hidden.mp3"),
        ("input/my song+1.MP3", "processed/my song+1.mp3"),
        ("input/a.b/c", "processed/a.b/c.mp3"),
        ("input/x.mp3 ", "processed/x.mp3 .mp3"),  # not a clean suffix: the whole name is kept
        ("input/x.toolongext", "processed/x.toolongext.mp3"),
        ("input/x.mp3.", "processed/x.mp3..mp3"),
        ("input/..mp3", "processed/..mp3.mp3"),
        ("input/ü.fl ac", "processed/ü.fl ac.mp3"),
    ],
)
def test_output_key_mapping(key: str, expected: str) -> None:
    assert output_key(key, "input/", "processed/", ".mp3") == expected


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("processed/x.mp3", "outside the input prefix"),
        ("inputx.mp3", "outside the input prefix"),
        ("/input/a.mp3", "outside the input prefix"),
        ("input/", "names a folder"),
        ("input/folder/", "names a folder"),
        ("input//x.mp3", "empty segment"),  # never silently the output of input/x.mp3
        ("input/a//x.mp3", "empty segment"),
        ("input/../x.mp3", "'..' segments"),
        ("input/\ud800.mp3", "lone surrogate"),
        ("input/" + "a" * 1100, "over S3's 1024-byte limit"),
    ],
)
def test_keys_s3_cannot_hold_outside_the_prefix_or_needing_normalising_are_refused(key: str, hint: str) -> None:
    with pytest.raises(InputError, match=hint):
        output_key(key, "input/", "processed/", ".mp3")


def test_a_refused_long_key_is_shortened_in_the_message() -> None:
    with pytest.raises(InputError) as refused:
        output_key("input/" + "ü" * 100_000, "input/", "processed/", ".mp3")
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize(
    ("key", "decoded"),
    [("input/a+b.mp3", "input/a b.mp3"), ("input/a%2Bb.mp3", "input/a+b.mp3"), ("input/%C3%A9", "input/é")],
)
def test_event_keys_decode_as_s3_form_encodes_them(key: str, decoded: str) -> None:
    assert form_decoded(key) == decoded


def test_a_key_that_is_no_form_encoding_does_not_decode() -> None:
    assert form_decoded("input/%ff.mp3") is None  # S3 encodes UTF-8: a lone 0xff byte is no key of S3's


def test_metadata_over_s3s_2_kb_is_refused_and_just_under_it_is_not() -> None:
    # S3 counts the UTF-8 bytes of each name and value (without the x-amz-meta- prefix).
    fixed = {"source-etag": '"' + "0" * 32 + '"', "settings": "0" * 16}
    used = sum(len(k) + len(v) for k, v in fixed.items()) + len("source-key")
    check_user_metadata("k", {**fixed, "source-key": "x" * (MAX_METADATA_BYTES - used)})
    with pytest.raises(InputError, match="over S3's 2048-byte limit for user metadata"):
        check_user_metadata("k", {**fixed, "source-key": "x" * (MAX_METADATA_BYTES - used + 1)})
    cjk = "input/" + "音" * 225 + ".mp3"  # 685 bytes as a key; 9 bytes a character once percent-encoded
    with pytest.raises(InputError):
        check_user_metadata(cjk, {**fixed, "source-key": metadata_value(cjk)})


def test_source_key_metadata_is_encoded_as_the_readme_says() -> None:
    from urllib.parse import unquote

    key = "input/Björk – Jóga.flac"
    assert metadata_value(key) == "input/Bj%C3%B6rk %E2%80%93 J%C3%B3ga.flac"  # the README's example
    assert metadata_value(key).isascii() and unquote(metadata_value(key)) == key
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "`input/Bj%C3%B6rk %E2%80%93 J%C3%B3ga.flac`" in readme
