"""The room: a still reverb send whose output does not depend on the block size, tail included."""

from __future__ import annotations

import numpy as np

from surroundyou.dsp.room import RoomSend
from tests.support.audio import pink_noise, run_blocks

RATE = 44100


def test_room_is_still_and_does_not_depend_on_block_size() -> None:
    x = pink_noise(1.0, RATE, seed=2)
    ref = run_blocks(RoomSend(RATE, 0.2).process, x, 65536)
    out = run_blocks(RoomSend(RATE, 0.2).process, x, 1001)
    assert np.abs(out - ref).max() <= 1e-5
    assert np.abs(ref[:, : int(0.015 * RATE)]).max() < 1e-6  # the pre-delay: no wet before 20 ms
    room = RoomSend(RATE, 0.2)
    room.process(x)
    tail = np.concatenate(list(room.tail()), axis=1)
    assert 0.3 * RATE < tail.shape[1] <= 4.0 * RATE + 8192
    assert np.abs(tail[:, -8192:]).max() < 10 ** (-70 / 20)


def test_room_tail_continues_after_small_blocks() -> None:
    # Regression: pedalboard clears a plugin when a larger block than before arrives.
    x = pink_noise(1.0, RATE, seed=5)
    tails = []
    for block in (65536, 256):
        room = RoomSend(RATE, 0.2, max_block=block)
        run_blocks(room.process, x, block)
        tails.append(np.concatenate(list(room.tail()), axis=1))
    assert tails[0].shape == tails[1].shape
    assert np.abs(tails[0] - tails[1]).max() <= 1e-5
    assert np.abs(tails[1][:, :4410]).max() > 1e-3
