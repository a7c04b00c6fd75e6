"""What one conversion did, in words for a musician and in fields for the JSON log; both modes use these.

The words add up: the input's loudness, the net change, the output's loudness
(all BS.1770 integrated loudness); how far the limiter pulled the loudest peaks
down; and the motion as the listener gets it, measured on the output above
200 Hz: how far the level swings from ear to ear (95th to 5th percentile of
left minus right in 100 ms frames) and how much sooner the nearer ear hears
it (the 90th percentile of the measured interaural delay).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from surroundyou.convert.engine import LOUDNESS_TOLERANCE_LU, Report, misses_target
from surroundyou.formats import Format
from surroundyou.logs import event
from surroundyou.settings import Settings

FULL_SWING_DB = 40.0  # beyond this one ear is practically silent at the sides
CLEAR_SWING_DB = 10.0  # over headphones, a level difference this large is heard well towards one ear
# ... and so is a smaller one when the timing cue comes near the head's full 0.66 ms: where there is
# sound below 1.5 kHz the timing cue dominates where a sound is heard (Macpherson & Middlebrooks 2002).
CLEAR_WITH_DELAY_DB, CLEAR_DELAY_MS = 6.0, 0.5
FAINT_SWING_DB = 2.0  # below this (and no delay) the circle is barely audible: the engine warns
NO_LIMITING_DB = 0.05
NO_DELAY_MS = 0.05
# Limiting beyond the format's codec margin (formats.py: the ceiling is lowered by it, so every peak
# limiting takes that much more) over this gets a warning. The bench's four real songs need 2.1 to 7.5 dB
# beyond the margin at the default target (MP3 2.2-5.5, FLAC 2.1-5.1, Opus 2.7-7.5; 2026-12-05), so the
# warning is for what goes past mastered music: a dynamic recording (live drums, classical), whose
# attacks come out audibly softened.
HEAVY_LIMITING_DB = 10.0


def _lufs(value: float) -> str:
    return f"{value:.1f} LUFS" if math.isfinite(value) else "silent"


def loudness_change(r: Report) -> float:
    """Output minus input loudness, in dB: what the line says and the JSON's ``loudness_change_db``."""
    return r.output_lufs - r.input_lufs


def loudness_phrase(r: Report) -> str:
    """In a few plain words: ``3.0 dB louder, now -13.7 LUFS``."""
    change = loudness_change(r)
    if not math.isfinite(r.output_lufs):
        return "silent"
    if not math.isfinite(change) or abs(change) < LOUDNESS_TOLERANCE_LU:  # within the target's own tolerance: "kept"
        return f"loudness kept at {_lufs(r.output_lufs)}"
    return f"{abs(change):.1f} dB {'louder' if change > 0 else 'quieter'}, now {_lufs(r.output_lufs)}"


def motion_phrase(r: Report) -> str:
    """In a few plain words: ``moves clearly from ear to ear``."""
    m = r.motion
    if m.frames == 0:
        return "no audible motion to measure"
    if m.ild_swing_db >= FULL_SWING_DB:
        return "moves fully from ear to ear"
    if m.ild_swing_db >= CLEAR_SWING_DB or (m.ild_swing_db >= CLEAR_WITH_DELAY_DB and m.itd_ms >= CLEAR_DELAY_MS):
        return "moves clearly from ear to ear"
    if m.ild_swing_db >= FAINT_SWING_DB or m.itd_ms >= NO_DELAY_MS:
        return "moves faintly between the ears"
    return "barely moves"


def headline(r: Report) -> str:
    """The default line's words: ``3.0 dB louder, now -13.7 LUFS; moves clearly from ear to ear``."""
    return f"{loudness_phrase(r)}; {motion_phrase(r)}"


def loudness_words(r: Report) -> str:
    change = loudness_change(r)
    net = f" ({change:+.1f} dB)" if math.isfinite(change) else ""
    limiting = f"peaks limited by up to {r.limited_db:.1f} dB" if r.limited_db >= NO_LIMITING_DB else "no peak limiting"
    return f"{_lufs(r.input_lufs)} in, {_lufs(r.output_lufs)} out{net}, {limiting}"


def motion_words(r: Report) -> str:
    m = r.motion
    if m.frames == 0:
        return "no audible motion to measure"
    if m.ild_swing_db >= FULL_SWING_DB:
        swing = "the level swings fully from ear to ear"
    else:
        swing = f"the level swings {m.ild_swing_db:.0f} dB from ear to ear"
    if m.itd_ms < NO_DELAY_MS:
        return f"{swing}, with no delay between the ears"
    return f"{swing}, the nearer ear hears it up to {m.itd_ms:.2f} ms sooner"


def figures(r: Report) -> str:
    """The measured figures, for -v and the JSON log's message: ``-13.1 LUFS in, -14.0 LUFS out (-0.9 dB),
    peaks limited by up to 5.5 dB; the level swings 15 dB from ear to ear, the nearer ear hears it up to
    0.66 ms sooner``."""
    return f"{loudness_words(r)}; {motion_words(r)}"


def heavy_limiting(r: Report, name: str, target_lufs: float, margin_db: float) -> str | None:
    """A warning when the limiter took more than ``HEAVY_LIMITING_DB`` beyond the format's codec margin
    ``margin_db``: what it means for the listener, and the target that would keep it at that."""
    excess = r.limited_db - margin_db - HEAVY_LIMITING_DB
    if excess <= 0 or misses_target(r.output_lufs, target_lufs):
        return None  # (a missed target has its own warning, which names the limiting)
    lower = math.floor(target_lufs - excess)
    return (
        f"{name}: the limiter pulled the loudest peaks down by up to {r.limited_db:.1f} dB to reach "
        f"{target_lufs:g} LUFS; drum hits and other attacks may sound softened (--target-lufs {lower} "
        f"would limit them by about {HEAVY_LIMITING_DB + margin_db:.0f} dB)"
    )


def fields(r: Report) -> dict[str, Any]:
    """The measurements of a conversion, as the JSON log gives them in both modes."""

    def rounded(value: float, digits: int) -> float | None:
        return round(value, digits) if math.isfinite(value) else None

    return {
        "input_seconds": round(r.input_seconds, 3),
        "output_seconds": round(r.output_seconds, 3),
        "conversion_seconds": round(r.processing_seconds, 3),
        "input_lufs": rounded(r.input_lufs, 2),
        "mix_lufs": rounded(r.mix_lufs, 2),
        "gain_db": round(r.gain_db, 2),
        "output_lufs": rounded(r.output_lufs, 2),
        "loudness_change_db": rounded(loudness_change(r), 2),
        "limited_db": round(r.limited_db, 2),
        "motion_ild_swing_db": round(r.motion.ild_swing_db, 1),
        "motion_itd_ms": round(r.motion.itd_ms, 3),
        "decoder": r.decoder,
    }


def timing(r: Report, seconds: float) -> dict[str, Any]:
    """How long the job took as its user waits for it, and how many seconds of song that is per second:
    ``seconds`` is, in local mode, the conversion (which reads and writes the files itself), and in
    cloud mode the download, the conversion and the upload. ``conversion_seconds`` (``fields``) is the
    conversion alone in both."""
    return {"processing_seconds": round(seconds, 3), "realtime_factor": realtime_factor(r, seconds, 1)}


def realtime_factor(r: Report, seconds: float, digits: int) -> float | None:
    """Seconds of song converted per second of ``seconds``; None for no time at all."""
    return round(r.input_seconds / seconds, digits) if seconds > 0 else None


def log_converted(r: Report, seconds: float, message: str, **where: Any) -> None:
    """The "converted" event, alike in both modes: ``where`` names the input and the output, then
    come the timing (``seconds`` as in ``timing``) and the measurements."""
    event("converted", message, status="converted", **where, **timing(r, seconds), **fields(r))


def warn_heavy_limiting(r: Report, name: str, settings: Settings, fmt: Format, **where: Any) -> None:
    """Before a "converted" event (the last line of an object is its outcome), in both modes: a warning
    when the limiter took much (``name``: the song's; ``where``: as for ``log_converted``)."""
    warning = heavy_limiting(r, name, settings.target_lufs, fmt.margin_db(r.rate))
    if warning is not None:
        event("heavy_limiting", warning, logging.WARNING, limited_db=round(r.limited_db, 2), **where)
