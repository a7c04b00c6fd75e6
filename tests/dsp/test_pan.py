"""Pan mode: the equal-power panner on the circle (levels follow sin(azimuth), no delay between the ears)."""

from __future__ import annotations

import numpy as np
import pytest

from surroundyou.dsp.motion import CircularPanner, azimuth
from surroundyou.dsp.motion_meter import MotionMeter
from tests.support.audio import balance, frame_energy, interaural_lags_ms, mono_noise, pink_noise, render, run_blocks

RATE = 44100
PERIOD = 6.0


def test_azimuth_starts_in_front_and_turns_right_first() -> None:
    period = 12.0
    quarter = np.array([0, 3, 6, 9]) * RATE
    np.testing.assert_allclose(np.degrees(azimuth(quarter, RATE, period)), [0, 90, 180, 270], atol=1e-9)


def test_pan_follows_sin_azimuth_on_noise() -> None:
    period = 6.0
    x = pink_noise(2 * period, RATE, channels=1).repeat(2, axis=0)
    y = run_blocks(CircularPanner(RATE, period).process, x, 65536)
    bal, t = balance(y, RATE)
    expected = np.sin(azimuth(t * RATE, RATE, period))
    assert np.corrcoef(bal, expected)[0, 1] > 0.95
    # right ear louder in the first half-turn, left in the second
    assert bal[(t > 0.2 * period) & (t < 0.3 * period)].mean() > 0.5
    assert bal[(t > 0.7 * period) & (t < 0.8 * period)].mean() < -0.5


def test_pan_is_equal_power_around_the_circle() -> None:
    period = 8.0
    x = pink_noise(period, RATE, channels=1).repeat(2, axis=0)
    y = CircularPanner(RATE, period).process(x)
    e_out, _ = frame_energy(y, RATE, 0.5)
    e_in, _ = frame_energy(x, RATE, 0.5)
    level = 10 * np.log10(e_out.sum(axis=0) / e_in.sum(axis=0))
    assert level.max() - level.min() <= 0.5
    assert abs(level.mean()) < 0.2  # a centred mono source keeps its power


@pytest.mark.parametrize("block", [1, 7, 1024, 4097])
def test_panner_does_not_depend_on_block_size(block: int) -> None:
    x = pink_noise(0.5, RATE, seed=3)
    ref = run_blocks(CircularPanner(RATE, 2.0).process, x, 65536)
    out = run_blocks(CircularPanner(RATE, 2.0).process, x, block)
    assert np.abs(out - ref).max() <= 1e-5


def test_pan_mode_has_no_interaural_delay() -> None:
    y = render(CircularPanner(RATE, PERIOD), mono_noise(PERIOD, seed=1))
    lags, _ = interaural_lags_ms(y)
    assert np.all(lags == 0)


def test_pan_motion_has_level_swing_but_no_delay() -> None:

    y = render(CircularPanner(RATE, PERIOD), mono_noise(PERIOD, seed=8))
    meter = MotionMeter(RATE)
    meter.add(y)
    meter.add_dry(y)
    motion = meter.summary()
    assert motion.ild_swing_db > 20.0 and motion.itd_ms == 0.0
