"""The room: a reverb send whose output does not depend on the block size, tail included; still, or leaning
towards the circling source's side."""

from __future__ import annotations

import numpy as np

from surroundyou.dsp.room import FOLLOW_FAR_DB, RoomSend
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


def test_a_room_that_follows_the_source_leans_towards_its_side_whatever_the_blocks() -> None:
    # A 2 s circle: against the still room the same input makes, the right less the left is
    # FOLLOW_FAR_DB · sin(azimuth) dB (20 dB at the sides, 0 in front and behind) and the power is the
    # same, for blocks of any size; the tail goes on round the circle.
    x = pink_noise(2.0, RATE, seed=3)
    still = RoomSend(RATE, 0.2)
    leaning = RoomSend(RATE, 0.2, period_s=2.0)
    ref = run_blocks(still.process, x, 65536)
    out = run_blocks(leaning.process, x, 1001)
    assert np.abs(run_blocks(RoomSend(RATE, 0.2, period_s=2.0).process, x, 65536) - out).max() <= 1e-5
    tail_ref = np.concatenate(list(still.tail()), axis=1)
    tail_out = np.concatenate(list(leaning.tail()), axis=1)
    ref, out = np.concatenate((ref, tail_ref), axis=1), np.concatenate((out, tail_out[:, : tail_ref.shape[1]]), axis=1)
    audible = np.abs(ref).min(axis=0) > 1e-4
    gains = out[:, audible] / ref[:, audible]
    theta = 2 * np.pi * np.flatnonzero(audible) / (2.0 * RATE)
    np.testing.assert_allclose(20 * np.log10(gains[1] / gains[0]), FOLLOW_FAR_DB * np.sin(theta), atol=0.01)
    np.testing.assert_allclose((gains**2).sum(axis=0), 2.0, rtol=1e-3)
