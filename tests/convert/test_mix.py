"""The mix chain's steps on tiny literal streams: blocks of any size, and what they add after the song."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from surroundyou.convert import mix
from surroundyou.convert.mix import MixChain, Step
from surroundyou.convert.scratch import ScratchFile
from surroundyou.dsp.delay import FixedDelay
from surroundyou.settings import Settings
from tests.support.audio import noise

SONG = 6  # frames
ECHO = 8  # frames: longer than the room's decay


class Echo(Step):
    """The mix ECHO frames later: a step whose own tail outlasts the room's."""

    def __init__(self, _chain: MixChain) -> None:
        self.delay = FixedDelay(2, ECHO)

    def __call__(self, mix: np.ndarray, start: int) -> np.ndarray:
        return self.delay(mix)

    def tail(self, mix: np.ndarray, start: int) -> np.ndarray:
        return self(np.concatenate((mix, np.zeros((2, ECHO), np.float32)), axis=1), start)


def stream(chain: MixChain, dry: np.ndarray, blocks: list[int]) -> np.ndarray:
    """``dry`` through one run of the chain's steps in blocks of the sizes given, then their tail."""
    steps, out, start = chain.steps(), [], 0
    for size in blocks:
        out.append(steps(dry[:, start : start + size], start))
        start += size
    return np.concatenate([*out, steps.tail(start)], axis=1)


def padded(x: np.ndarray, frames: int) -> np.ndarray:
    return np.concatenate((x, np.zeros((2, frames - x.shape[1]), np.float32)), axis=1)


@pytest.mark.parametrize("blocks", [[6], [1, 5], [1, 1, 1, 1, 1, 1], [4, 2]])
def test_the_room_is_added_frame_for_frame_and_its_decay_follows_the_song(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocks: list[int]
) -> None:
    room = ScratchFile(tmp_path / "room.f32")
    wet = noise(SONG + 4, seed=1)  # the song's frames and 4 of decay, stored in two blocks as pass 1 does
    room.append(wet[:, :3])
    room.append(wet[:, 3:])
    chain = MixChain(8000, Settings(renderer="pan"), -1.0, room)  # pan: a still room, added as it is
    dry = noise(SONG, seed=2)
    np.testing.assert_array_equal(stream(chain, dry, blocks), padded(dry, SONG + 4) + wet)
    # A step before the room whose tail outlasts the room's decay: the room's is added to its start.
    monkeypatch.setattr(mix, "STEPS", (Echo, *mix.STEPS))
    echoed = np.roll(padded(dry, SONG + ECHO), ECHO, axis=1)
    np.testing.assert_array_equal(stream(chain, dry, blocks), echoed + padded(wet, SONG + ECHO))
    room.close()


@pytest.mark.parametrize("blocks", [[16000], [1, 2999, 13000], [4096, 11904]])
def test_with_the_binaural_renderer_the_room_leans_towards_the_source(tmp_path: Path, blocks: list[int]) -> None:
    # A 2 s circle at 8 kHz: the room's far ear 20 dB below its near one at the sides, equal in front
    # and behind, its power the same all round, whatever the blocks; its decay goes on round the circle.
    rate, song, decay = 8000, 16000, 2000
    room = ScratchFile(tmp_path / "room.f32")
    room.append(np.ones((2, song + decay), np.float32))
    chain = MixChain(rate, Settings(period_s=2.0), -1.0, room)
    gains = stream(chain, np.zeros((2, song), np.float32), blocks)
    assert gains.shape == (2, song + decay)
    theta = 2 * np.pi * np.arange(song + decay) / (2.0 * rate)
    difference = 20 * np.log10(gains[1] / gains[0])
    np.testing.assert_allclose(difference, 20.0 * np.sin(theta), atol=0.01)  # right over left, dB
    np.testing.assert_allclose((gains**2).sum(axis=0), 2.0, rtol=1e-3)
    assert difference[4000] == pytest.approx(20.0, abs=0.01) and difference[12000] == pytest.approx(-20.0, abs=0.01)
    room.close()


def test_without_a_room_the_steps_hand_the_dry_render_on_as_it_is() -> None:
    chain = MixChain(8000, Settings(), -1.0)  # no room
    dry = noise(SONG)
    steps = chain.steps()
    assert steps(dry, 0) is dry  # no copy on pass 2's finishing thread
    assert steps.tail(SONG).shape == (2, 0)
