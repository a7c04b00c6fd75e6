"""The output plan: which (input, output) pairs a local run converts, decided before any conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

from surroundyou.errors import InputError, UsageError
from surroundyou.run.plan import NOT_AUDIO, plan
from surroundyou.settings import Settings


def touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not decoded by the plan")


def pairs(inputs: list[Path], output: Path | None, settings: Settings) -> dict[Path, Path]:
    return dict(plan(inputs, output, settings).pairs)


def test_input_dir_goes_to_the_o_folder(tmp_path: Path) -> None:
    song = tmp_path / "in" / "song.mp3"
    touch(song)
    settings = Settings(input_dir=tmp_path / "in", output_dir=tmp_path / "output")
    assert pairs([], tmp_path / "out", settings) == {song: tmp_path / "out" / "song_8d.mp3"}


def test_a_folder_is_searched_recursively_and_its_tree_mirrored(tmp_path: Path) -> None:
    music = tmp_path / "music"
    deep = music / "Artist" / "Album" / "01 intro.flac"
    top = music / "single.ogg"
    touch(deep, top, music / ".hidden" / "x.mp3", music / "Artist" / ".x.mp3", music / "Artist" / "cover.jpg")
    result = plan([music], tmp_path / "out", Settings())
    assert dict(result.pairs) == {
        deep: tmp_path / "out" / "Artist" / "Album" / "01 intro_8d.mp3",
        top: tmp_path / "out" / "single_8d.mp3",
    }
    assert result.skipped == [(music / "Artist" / "cover.jpg", NOT_AUDIO)]


def test_inputs_sharing_a_stem_keep_their_extension_in_the_output_name(tmp_path: Path) -> None:
    wav, flac, other = tmp_path / "in" / "song.wav", tmp_path / "in" / "song.flac", tmp_path / "in" / "other.mp3"
    touch(wav, flac, other)
    out = tmp_path / "out"
    assert pairs([tmp_path / "in"], out, Settings()) == {
        flac: out / "song.flac_8d.mp3",
        wav: out / "song.wav_8d.mp3",
        other: out / "other_8d.mp3",
    }


def test_two_named_files_with_one_output_name_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "song.mp3", tmp_path / "b" / "song.mp3"
    touch(a, b)
    with pytest.raises(UsageError, match="would both be written to"):
        plan([a, b], tmp_path / "out", Settings())


def test_a_file_named_twice_is_converted_once(tmp_path: Path) -> None:
    song = tmp_path / "song.mp3"
    touch(song)
    assert plan([song, tmp_path / "." / "song.mp3"], tmp_path / "out", Settings()).pairs == [
        (song, tmp_path / "out" / "song_8d.mp3")
    ]


@pytest.mark.parametrize("name", ["flac", "wav", "ogg", "opus", "mp3"])
def test_the_format_names_every_output(tmp_path: Path, name: str) -> None:
    song = tmp_path / "in" / "a" / "song.mp3"
    touch(song)
    assert pairs([tmp_path / "in"], tmp_path / "out", Settings(output_format=name)) == {
        song: tmp_path / "out" / "a" / f"song_8d.{name}"
    }


def test_o_file_picks_its_format_by_extension_and_takes_one_input(tmp_path: Path) -> None:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    touch(a, b)
    assert pairs([a], tmp_path / "x.flac", Settings(output_format="opus")) == {a: tmp_path / "x.flac"}
    with pytest.raises(UsageError, match="names one file"):
        plan([a, b], tmp_path / "x.flac", Settings())
    with pytest.raises(UsageError, match="names one file"):
        plan([tmp_path], tmp_path / "x.flac", Settings())
    with pytest.raises(UsageError, match=r"cannot write \.m4a"):
        plan([a], tmp_path / "x.m4a", Settings())


def test_the_output_folder_inside_the_input_folder_is_left_out(tmp_path: Path) -> None:
    song = tmp_path / "in" / "song.mp3"
    touch(song, tmp_path / "in" / "out" / "song_8d.mp3")
    assert pairs([tmp_path / "in"], tmp_path / "in" / "out", Settings()) == {
        song: tmp_path / "in" / "out" / "song_8d.mp3"
    }
    with pytest.raises(UsageError, match="is the input folder itself"):
        plan([tmp_path / "in"], tmp_path / "in", Settings())


def test_missing_inputs_and_empty_folders_are_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        plan([tmp_path / "nope.mp3"], None, Settings())
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no audio files in"):
        plan([tmp_path / "empty"], None, Settings())
    with pytest.raises(UsageError, match="no input folder"):
        plan([], None, Settings(input_dir=tmp_path / "missing"))


def test_the_totals_name_a_few_files_left_alone_then_count_the_rest() -> None:
    from surroundyou.run.batch import a_few, left_alone_groups
    from surroundyou.run.plan import NOT_AUDIO, OURS

    left = [(Path(f"f{i}.txt"), NOT_AUDIO) for i in range(5)] + [(Path("a_8d.mp3"), OURS)]
    groups = left_alone_groups(left)
    assert {why: a_few(names) for why, names in groups.items()} == {
        "not audio": "f0.txt, f1.txt, f2.txt and 2 more",
        "SurroundYou outputs, left alone": "a_8d.mp3",
    }


def test_an_output_that_would_overwrite_an_input_is_refused_before_anything_converts(tmp_path: Path) -> None:
    song = tmp_path / "song.mp3"
    touch(song)
    with pytest.raises(UsageError, match="the output would overwrite an input"):
        plan([song], song, Settings())
    made = tmp_path / "out" / "a_8d.mp3"  # an earlier output, named again as an input beside its song
    touch(tmp_path / "out" / "a.mp3", made)
    with pytest.raises(UsageError, match="the output would overwrite an input"):
        plan([tmp_path / "out" / "a.mp3", made], tmp_path / "out", Settings())
