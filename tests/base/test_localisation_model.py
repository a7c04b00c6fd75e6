"""bench/localise.py, the binaural localisation model: it must read known directions back before its
figures on songs mean anything. Noise rendered through the measured MIT KEMAR head (the templates' own
head: in-sample) and through the worker's spherical head; the SOFA file comes with Debian's libmysofa1."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from surroundyou.dsp.binaural import BinauralRenderer
from surroundyou.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RATE = 44100


def _localise() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_localise", ROOT / "bench" / "localise.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


loc = _localise()
needs_sofa = pytest.mark.skipif(
    not loc.SOFA.exists(), reason=f"{loc.SOFA} is missing: apt-get install {loc.SOFA_PACKAGE}"
)


@needs_sofa
@pytest.mark.parametrize(
    ("azimuth", "lateral", "front"), [(60, 60, True), (120, 60, False), (240, -60, False), (330, -30, True)]
)
def test_static_kemar_noise_reads_its_side_and_front_or_back(azimuth: float, lateral: float, front: bool) -> None:
    x = loc.pink_noise(2.0, RATE)
    tpl = loc.templates(RATE)
    track = loc.analyse(loc.kemar_static(x, RATE, azimuth), RATE, tpl, loc.source_reference(x, RATE, tpl))
    inner = track.audible.copy()
    inner[:2] = inner[-2:] = False  # the frames the window shares with the silence around the signal
    assert abs(np.median(track.lateral[inner]) - lateral) <= 10.0
    read_front = np.mean(track.p_front[inner] > 0.5)
    assert (read_front if front else 1.0 - read_front) >= 0.8
    assert np.mean(track.compact[inner]) >= 0.9


@needs_sofa
def test_pink_noise_circle_from_the_default_renderer_reaches_the_ears_and_passes_behind() -> None:
    # Stereo pink noise (two independent halves) through the default renderer, no room: the circle and
    # its period, both ears reached, one compact image, and front told from back. The front/back bands
    # come from KEMAR, the templates' head: that AUC is in-sample (docs/localisation.md). Before the
    # bands, the narrower width and the gentle depth (2026-12-05): reach 65°, compact 30 %, AUC 0.46.
    s = Settings()
    x = np.stack((loc.pink_noise(30.0, RATE, seed=1), loc.pink_noise(30.0, RATE, seed=2)))
    renderer = BinauralRenderer(RATE, s.period_s, width_deg=s.width_deg, depth_db=s.depth_db)
    m = loc.measure(loc.analyse(loc.render(renderer, x), RATE, loc.templates(RATE)), s.period_s)
    assert m.corr >= 0.9
    assert abs(m.period_s - s.period_s) <= 0.01 * s.period_s
    assert min(m.reach_left, m.reach_right) >= 75.0  # both sides reached, not a swing on one side
    assert m.compact_pct >= 85.0
    assert m.auc >= 0.8


@needs_sofa
def test_independent_noise_in_each_ear_has_no_compact_image() -> None:
    diffuse = np.stack((loc.pink_noise(5.0, RATE, seed=3), loc.pink_noise(5.0, RATE, seed=4)))
    track = loc.analyse(diffuse, RATE, loc.templates(RATE))
    assert np.mean(track.compact[track.audible]) <= 0.1


def test_auc_is_one_for_separated_scores_and_a_half_for_equal_ones() -> None:
    assert loc.auc(np.array([0.6, 0.9]), np.array([0.1, 0.4])) == 1.0
    assert loc.auc(np.full(5, 0.5), np.full(7, 0.5)) == 0.5


@pytest.mark.parametrize("period", [5.0, 9.0, 20.0])
def test_period_from_the_autocorrelation_of_a_noisy_lateral_track(period: float) -> None:
    n = 1200  # 2 minutes of 100 ms frames
    t = (np.arange(n) + 0.5) * 0.1
    lateral = np.degrees(np.arcsin(np.sin(2 * np.pi * t / period))) * 0.7
    lateral += np.random.default_rng(0).normal(0.0, 15.0, n)
    track = loc.Track(0.1, np.ones(n, bool), lateral, lateral, lateral, np.ones(n), np.ones(n, bool), np.full(n, 0.5))
    assert abs(loc.period_of(track) - period) <= 0.01 * period
