"""A built-in demo song, synthesised with numpy: ``SECONDS`` of chords, bass, melody and hi-hats.

Used by ``--demo`` so a fresh machine can run the whole job with no audio at hand. numpy and
pedalboard are imported when the song is made, so that the command line can read ``SECONDS``
for its help without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

RATE = 44100
SECONDS = 24.0  # the demo song's length
BPM = 96.0
# A-minor loop: Am F C G, two bars each... one bar each, repeated.
_CHORDS = [(57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)]
_MELODY = [76, 74, 72, 74, 76, 76, 76, None, 74, 74, 74, None, 76, 79, 79, None]


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _note(freq: float, seconds: float, harmonics: int, decay: float) -> np.ndarray:
    import numpy as np

    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, harmonics + 1))
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / decay)
    return (wave * envelope).astype(np.float32)


def synthesize(seconds: float = SECONDS) -> np.ndarray:
    """(2, n) float32 stereo: pad chords, plucked bass, lead melody, hi-hats."""
    import numpy as np

    n = int(seconds * RATE)
    out = np.zeros((2, n + RATE), dtype=np.float32)
    beat = 60.0 / BPM
    rng = np.random.default_rng(8)
    bar = 0
    while bar * 4 * beat < seconds:
        start = int(bar * 4 * beat * RATE)
        for midi in _CHORDS[bar % 4]:
            tone = 0.10 * _note(_hz(midi), 4 * beat, 4, 1.5)
            out[:, start : start + tone.size] += tone
        for b in range(4):
            bass = 0.30 * _note(_hz(_CHORDS[bar % 4][0] - 12), beat, 6, 0.25)
            s = start + int(b * beat * RATE)
            out[:, s : s + bass.size] += bass
            hat = (
                0.05
                * rng.standard_normal(int(0.05 * RATE)).astype(np.float32)
                * np.exp(-np.arange(int(0.05 * RATE)) / 300)
            )
            for half in (0, 1):
                h = s + int(half * beat / 2 * RATE)
                out[half, h : h + hat.size] += hat  # hats alternate left/right: stereo width
        for i in range(4):
            melody_note = _MELODY[(bar * 4 + i) % len(_MELODY)]
            if melody_note is not None:
                lead = 0.12 * _note(_hz(melody_note), beat, 3, 0.4)
                s = start + int(i * beat * RATE)
                out[:, s : s + lead.size] += lead
        bar += 1
    fade = np.minimum(1.0, (n - np.arange(n)) / (1.5 * RATE)).astype(np.float32)
    return out[:, :n] * fade


def write_demo(path: Path, seconds: float = SECONDS) -> Path:
    from pedalboard.io import AudioFile

    with AudioFile(str(path), "w", RATE, 2) as f:
        f.write(synthesize(seconds))
    return path
