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
    chain = MixChain(8000, Settings(), -1.0, room)
    dry = noise(SONG, seed=2)
    np.testing.assert_array_equal(stream(chain, dry, blocks), padded(dry, SONG + 4) + wet)
    # A step before the room whose tail outlasts the room's decay: the room's is added to its start.
    monkeypatch.setattr(mix, "STEPS", (Echo, *mix.STEPS))
    echoed = np.roll(padded(dry, SONG + ECHO), ECHO, axis=1)
    np.testing.assert_array_equal(stream(chain, dry, blocks), echoed + padded(wet, SONG + ECHO))
    room.close()


def test_without_a_room_the_steps_hand_the_dry_render_on_as_it_is() -> None:
    chain = MixChain(8000, Settings(), -1.0)  # no room
    dry = noise(SONG)
    steps = chain.steps()
    assert steps(dry, 0) is dry  # no copy on pass 2's finishing thread
    assert steps.tail(SONG).shape == (2, 0)
