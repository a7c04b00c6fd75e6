"""The mix after the spatialiser, defined once: its steps, then the gain, then the true-peak limiter.

Pass 2 (engine.py) runs the whole chain on the song; the loudness sample (sample.py)
runs the same steps on its segments, so that the loudness and the peaks it measures,
and from them the gain, are those of the mix pass 2 makes. In order:

1. ``STEPS``, at unity gain, on the dry render: today the room (rendered from the
   input in pass 1 and stored; added here frame for frame, its decay after the song).
   The sample runs them as they are.
2. ``Output``: the gain (normalisation plus the limiter's make-up), then the limiter,
   last, so that nothing can take the output over its ceiling. The sample does not run
   these: it models them from its peaks and K-weighted energies
   (``sample.LimitedLoudness``), so that each trial gain costs a fraction of a render;
   tests/convert/test_sample.py holds the model to ``Output`` itself.

A new step is a ``Step`` and one entry in ``STEPS``, nothing else: pass 2, the sample and
the tests run it from there. It goes before the gain, where the sample measures it at the
level pass 2 feeds it. Its state carries from one of the sample's segments (0.5 s) to the
next, as the spatialiser's does, so memory much shorter than a segment is measured
faithfully. Memory: a step's own, plus its output block.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from surroundyou.convert.scratch import ScratchFile
from surroundyou.dsp.limiter import TruePeakLimiter
from surroundyou.settings import Settings


class Step(ABC):
    """A stage of the mix before the gain: stereo float32 blocks in, as many frames out. One instance
    per stream of blocks (pass 2's, each part of the sample), fed in order; the sample's blocks are
    segments of the song, not consecutive, and ``start`` says where each lies."""

    @abstractmethod
    def __call__(self, mix: np.ndarray, start: int) -> np.ndarray:
        """``mix`` (2, n), the song's frames from ``start``, after this step: (2, n), a new array
        (``mix`` may be the renderer's input, which is not ours to change)."""

    def tail(self, mix: np.ndarray, start: int) -> np.ndarray:
        """After the song: ``mix`` is what the steps before left from frame ``start`` on (often no
        frames); returns it after this step, longer by whatever the step adds after the song."""
        return self(mix, start)


class Room(Step):
    """The room send that pass 1 stored: a frame for each of the song's, then its decay."""

    def __init__(self, room: ScratchFile) -> None:
        self.room = room

    def __call__(self, mix: np.ndarray, start: int) -> np.ndarray:
        return mix + self.room.read(start, mix.shape[1])

    def tail(self, mix: np.ndarray, start: int) -> np.ndarray:
        decay = self.room.read(start, self.room.frames - start)
        if decay.shape[1] < mix.shape[1]:
            decay = np.concatenate((decay, np.zeros((2, mix.shape[1] - decay.shape[1]), np.float32)), axis=1)
        decay[:, : mix.shape[1]] += mix
        return decay


def _room(chain: MixChain) -> Step | None:
    return Room(chain.room) if chain.room is not None else None


# The steps between the spatialiser and the gain, in order: each entry makes its step for a chain
# (a fresh one for each stream), or None where the settings leave it out.
STEPS: tuple[Callable[[MixChain], Step | None], ...] = (_room,)


class Steps:
    """One stream's run of ``STEPS`` (each with its own state)."""

    def __init__(self, steps: list[Step]) -> None:
        self._steps = steps

    def __call__(self, dry: np.ndarray, start: int) -> np.ndarray:
        """The dry render's frames from ``start``, through every step; ``dry`` itself if there are none."""
        for step in self._steps:
            dry = step(dry, start)
        return dry

    def tail(self, start: int) -> np.ndarray:
        """What the steps add after the song, whose last frame is ``start - 1``: (2, n), n >= 0."""
        mix = np.zeros((2, 0), np.float32)
        for step in self._steps:
            mix = step.tail(mix, start)
        return mix


class Output:
    """The end of the chain: the gain (dB), then the true-peak limiter. Over a whole stream,
    calls + ``flush`` return as many frames as went in."""

    def __init__(self, gain_db: float, limiter: TruePeakLimiter) -> None:
        self.gain = np.float32(10.0 ** (gain_db / 20.0))
        self.limiter = limiter

    def __call__(self, mix: np.ndarray) -> np.ndarray:
        return self.limiter.process(mix * self.gain)

    def flush(self) -> np.ndarray:
        return self.limiter.flush()


@dataclass(frozen=True)
class MixChain:
    """The chain for one conversion: what its steps and its limiter are made from."""

    rate: int
    settings: Settings
    ceiling_dbtp: float  # the limiter's: the settings' ceiling less the output codec's margin
    room: ScratchFile | None = None  # the room send pass 1 stores; None: no room

    def steps(self) -> Steps:
        """A fresh run of the steps before the gain, for one stream of blocks."""
        return Steps([step for make in STEPS if (step := make(self)) is not None])

    def limiter(self) -> TruePeakLimiter:
        return TruePeakLimiter(self.rate, self.ceiling_dbtp)

    def output(self, gain_db: float) -> Output:
        """A fresh end of the chain (its own limiter) at ``gain_db``."""
        return Output(gain_db, self.limiter())
