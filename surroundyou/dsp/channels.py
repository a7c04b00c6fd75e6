"""Channel layout: any input becomes stereo before rendering.

Mono is duplicated; multichannel is folded down with ITU-R BS.775 coefficients
(centre and surrounds at -3 dB, LFE dropped), assuming the WAVE default channel
order, which is also what pedalboard reports.
"""

from __future__ import annotations

import numpy as np

_C = float(np.sqrt(0.5))
# Per input channel count: the (left, right) weight of each channel.
# WAVE order: FL FR FC LFE BL BR (SL SR); 3 = FL FR FC; 4 = FL FR BL BR; 5 = FL FR FC BL BR.
_DOWNMIX: dict[int, tuple[tuple[float, float], ...]] = {
    3: ((1, 0), (0, 1), (_C, _C)),
    4: ((1, 0), (0, 1), (_C, 0), (0, _C)),
    5: ((1, 0), (0, 1), (_C, _C), (_C, 0), (0, _C)),
    6: ((1, 0), (0, 1), (_C, _C), (0, 0), (_C, 0), (0, _C)),
    7: ((1, 0), (0, 1), (_C, _C), (0, 0), (0.5, 0.5), (_C, 0), (0, _C)),
    8: ((1, 0), (0, 1), (_C, _C), (0, 0), (_C, 0), (0, _C), (_C, 0), (0, _C)),
}


def downmix_matrix(channels: int) -> np.ndarray:
    """(2, channels) matrix taking ``channels`` inputs to stereo."""
    if channels == 1:
        return np.ones((2, 1), dtype=np.float32)
    if channels == 2:
        return np.eye(2, dtype=np.float32)
    if channels in _DOWNMIX:
        return np.asarray(_DOWNMIX[channels], dtype=np.float32).T
    # Unknown layouts: alternate channels left/right, power-normalised.
    m = np.zeros((2, channels), dtype=np.float32)
    m[0, 0::2] = 1.0
    m[1, 1::2] = 1.0
    return m / np.sqrt(np.ceil(channels / 2))


def to_stereo(block: np.ndarray) -> np.ndarray:
    """(c, n) float32 -> (2, n) float32; stereo passes through unchanged."""
    channels = block.shape[0]
    if channels == 2:
        return block
    if channels == 1:
        return np.repeat(block, 2, axis=0)
    return downmix_matrix(channels) @ block
