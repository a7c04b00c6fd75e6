"""S3 keys: the output key, the local copy's suffix, the metadata's encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from surroundyou.errors import InputError
from surroundyou.storage import local_suffix, output_key


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


def test_source_key_metadata_is_encoded_as_the_readme_says() -> None:
    from urllib.parse import unquote

    from surroundyou.storage import metadata_value

    key = "input/Björk – Jóga.flac"
    assert metadata_value(key) == "input/Bj%C3%B6rk %E2%80%93 J%C3%B3ga.flac"  # the README's example
    assert metadata_value(key).isascii() and unquote(metadata_value(key)) == key
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "`input/Bj%C3%B6rk %E2%80%93 J%C3%B3ga.flac`" in readme
