"""The room: a reverb send fed from the unspatialised signal.

Freeverb (pedalboard's Reverb) sums its input to mono; placed after the panner
its wet level would pump as the source circles. As a send from the dry input
(high-pass 200 Hz -> 20 ms pre-delay -> Reverb with no dry path) the room
stays still while the source moves. Stateful across blocks (``reset=False``);
``tail`` flushes the decay until it falls below a noise floor.

With ``period_s`` (the binaural renderers) the room's output then leans towards the source's
side (``follow_gains``, on the circle's absolute grid: the far ear's room FOLLOW_FAR_DB below
the near one's at the sides, the power the same everywhere): a still room in both ears fills
the far ear and pulls the image back towards the middle (on pink noise it cut the level cue's
reach from 68° to 32°). Pass 1 renders the room on a thread of its own, beside the decoder.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pedalboard import Pedalboard, Reverb

from surroundyou.dsp.delay import FixedDelay
from surroundyou.dsp.filters import Chain, highpass
from surroundyou.dsp.motion import depth_gains, on_grid

ROOM_SIZE = 0.7  # about 1.6 s decay
DAMPING = 0.5
HIGHPASS_HZ = 200.0
PREDELAY_S = 0.02
TAIL_FLOOR_DBFS = -70.0  # stop flushing the tail below this peak level
MAX_TAIL_S = 4.0
TAIL_BLOCK = 8192
FOLLOW_FAR_DB = 20.0  # the far ear's room below the near ear's, with the source at the side


def follow_gains(theta: np.ndarray) -> np.ndarray:
    """(2, n) gains on the room's left and right for the source at azimuth ``theta``: FOLLOW_FAR_DB ·
    sin(theta) dB of difference, the sum of their squares 2 (the room's power the same everywhere)."""
    left, right = depth_gains(theta, FOLLOW_FAR_DB)
    power = np.sqrt(2.0 / (left**2 + right**2))
    return np.stack((left * power, right * power))


class RoomSend:
    """Reverb of the dry stereo input, to be added to the rendered signal."""

    def __init__(self, rate: float, amount: float, max_block: int = 65536, period_s: float | None = None) -> None:
        """``period_s``: lean towards the source circling in that many seconds; None: a still room."""
        self.rate = rate
        self.period_s = period_s
        self.position = 0  # the absolute index of the next output frame: where the source is
        self._highpass = Chain(rate, highpass(HIGHPASS_HZ), 1)
        self._reverb = Pedalboard(
            [Reverb(room_size=ROOM_SIZE, damping=DAMPING, wet_level=amount, dry_level=0.0, width=1.0)]
        )
        # The pre-delay as a whole-frame delay line in front (the chain is linear, so the order is
        # free): pedalboard's Delay plugin took 1 ms a block, 40 % of the reverb's own time (measured
        # on a 2-core machine when the delay line replaced it).
        self._predelay = FixedDelay(1, round(PREDELAY_S * rate))
        self._silent = np.zeros((1, max_block), np.float32)
        # pedalboard re-prepares (and so clears) its plugins when a block larger than any
        # before arrives: prime it once with the largest block it will see. Zeros leave
        # every filter, delay line and comb at rest.
        self._reverb.process(np.zeros((2, max(max_block, TAIL_BLOCK)), np.float32), rate, reset=True)

    def process(self, block: np.ndarray) -> np.ndarray:
        # Freeverb feeds both of its comb banks (L+R)·gain: the high-pass and the pre-delay may run
        # once on the sum, given to it as the left channel beside a silent right (bit for bit the
        # same input; half the filtering and copying).
        n = block.shape[1]
        if self._silent.shape[1] < n:
            self._silent = np.zeros((1, n), np.float32)
        send = self._predelay(self._highpass(block[0:1] + block[1:2]))
        wet = self._reverb.process(np.concatenate((send, self._silent[:, :n])), self.rate, reset=False)
        if self.period_s is not None and n:
            wet *= on_grid(self.position, n, self.rate, self.period_s, follow_gains)
        self.position += n
        return wet

    def tail(self) -> Iterator[np.ndarray]:
        """Blocks of the decay after the input ended, until below the floor (at most 4 s)."""
        floor = 10.0 ** (TAIL_FLOOR_DBFS / 20.0)
        silence = np.zeros((2, TAIL_BLOCK), dtype=np.float32)
        for _ in range(int(np.ceil(MAX_TAIL_S * self.rate / TAIL_BLOCK))):
            out = self.process(silence)
            yield out
            if float(np.abs(out).max()) < floor:
                return
