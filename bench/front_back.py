#!/usr/bin/env python3
"""The binaural renderer's front/back bands (surroundyou/dsp/binaural.py, FRONT_BACK_BANDS), made again
from the measured head they come from.

D(f): MIT KEMAR's level behind less its level in front at the same lateral angle (azimuths 180 - a and
a, a from -60 to 60 in 5° steps), averaged over those angles and both ears, smoothed to 1/6 octave, zero
below 500 Hz and rising to full by 700 Hz. Six band-pass sections (bandpass_section: x + g·BP(x) is a
peak or dip of 1 + g at the centre), shared by front and back, with a weight each for front and back,
are fitted by least squares to -D/2 (front) and +D/2 (back) in dB at 200 ERB-spaced frequencies from
700 Hz to 18 kHz; centres within ±0.3 in natural log of their starting values, bandwidths 0.1-2 octaves.

Usage: bench/front_back.py [OCTAVES]   prints the table and the fit's error (scipy, from requirements-dev.txt);
       OCTAVES: D's smoothing (default 1/6).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from surroundyou.dsp.filters import bandpass_section, sections_response  # noqa: E402
from surroundyou.dsp.hrtf import load_sofa, smooth_octaves  # noqa: E402
from surroundyou.dsp.localisation import KEMAR_SOFA, erb_number, erb_number_hz  # noqa: E402

RATE = 44100
STARTS = (1200.0, 2000.0, 4200.0, 8000.0, 9800.0, 15500.0)  # Hz: D's main peaks and dips


def back_less_front(octaves: float = 1 / 6) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, D in dB, smoothed over ``octaves``) on a 1024-point FFT's bins."""
    head = load_sofa(KEMAR_SOFA, RATE)
    azimuths = np.degrees(head.azimuths)
    level = 20 * np.log10(np.abs(np.fft.rfft(head.irs.astype(np.float64), 1024, axis=-1)) + 1e-9)  # (K, 2, F)
    f = np.fft.rfftfreq(1024, 1 / RATE)

    def nearest(azimuth: float) -> int:
        return int(np.argmin(np.abs(np.mod(azimuths - azimuth + 180, 360) - 180)))

    d = np.mean([level[nearest(180 - a)] - level[nearest(a)] for a in range(-60, 61, 5)], axis=(0, 1))
    d = smooth_octaves(d, f, octaves)
    return f, d * np.clip((f - 500) / 200, 0.0, 1.0)


def response_db(weights: np.ndarray, centres: np.ndarray, octaves: np.ndarray, f: np.ndarray) -> np.ndarray:
    """x + sum of weight·BP(x) over the bands, in dB at ``f``."""
    bands = sections_response(
        [bandpass_section(hz, width, RATE) for hz, width in zip(centres, octaves, strict=True)], f, RATE
    )
    return 20 * np.log10(np.abs(1 + np.asarray(weights) @ bands) + 1e-12)


def fit(octaves: float = 1 / 6) -> tuple[list[tuple[float, float, float, float]], np.ndarray]:
    """The table's rows (centre, bandwidth, front weight, back weight) and the fit's residuals (dB)."""
    from scipy.optimize import least_squares

    f, d = back_less_front(octaves)
    points = erb_number_hz(np.linspace(erb_number(700.0), erb_number(18000.0), 200))
    target = np.interp(points, f, d)
    n = len(STARTS)

    def residual(p: np.ndarray) -> np.ndarray:
        front, back, octaves, centres = p[:n], p[n : 2 * n], p[2 * n : 3 * n], np.exp(p[3 * n :])
        return np.r_[
            response_db(front, centres, octaves, points) + target / 2,
            response_db(back, centres, octaves, points) - target / 2,
        ]

    start = np.log(STARTS)
    low = np.r_[np.full(2 * n, -0.9), np.full(n, 0.1), start - 0.3]
    high = np.r_[np.full(2 * n, 3.0), np.full(n, 2.0), np.minimum(start + 0.3, math.log(19000.0))]
    result = least_squares(residual, np.r_[np.zeros(2 * n), np.full(n, 0.5), start], bounds=(low, high))
    p = result.x
    rows = [(float(round(math.exp(p[3 * n + i]))), float(p[2 * n + i]), float(p[i]), float(p[n + i])) for i in range(n)]
    return rows, result.fun


def main() -> None:
    rows, residuals = fit(float(sys.argv[1]) if len(sys.argv) > 1 else 1 / 6)
    print(f"rms error {np.sqrt(np.mean(residuals**2)):.2f} dB, largest {np.abs(residuals).max():.1f} dB")
    print("(centre Hz, bandwidth in octaves, weight in front, weight behind):")
    for hz, octaves, front, back in rows:
        print(f"    ({hz:.0f}.0, {octaves:.2f}, {front:.3f}, {back:.3f}),")


if __name__ == "__main__":
    main()
