"""The motion meter: what it reports for a circling source, a still one and silence."""

from __future__ import annotations

import numpy as np

from surroundyou.dsp.binaural import BinauralRenderer
from surroundyou.dsp.motion_meter import MotionMeter
from tests.support.audio import mono_noise, render

RATE = 44100
PERIOD = 6.0


def test_motion_meter_reports_the_binaural_circle() -> None:

    y = render(BinauralRenderer(RATE, PERIOD, mono=True), mono_noise(3 * PERIOD, seed=8))
    meter = MotionMeter(RATE)
    for i in range(0, y.shape[1], 10000):
        meter.add(y[:, i : i + 10000])  # the levels (here no room: the output is the render)
        meter.add_dry(y[:, i : i + 10000])  # the delay
    motion = meter.summary()
    assert motion.ild_swing_db > 6.0
    assert 0.5 <= motion.itd_ms <= 0.75  # Woodworth's 0.66 ms, and the far ear's shadow's phase lag
    assert not motion.weak


def test_motion_meter_flags_a_still_source_and_ignores_silence() -> None:

    still = MotionMeter(RATE)
    still.add(mono_noise(3.0, seed=9))  # identical ears: nothing moves
    still.add_dry(mono_noise(3.0, seed=9))
    assert still.summary().weak
    silent = MotionMeter(RATE)
    silent.add(np.zeros((2, RATE * 2), np.float32))
    assert silent.summary().frames == 0 and not silent.summary().weak
