"""``--plot``: a picture of the path around the head and of what each ear received.

matplotlib is an optional extra (``pip install matplotlib``); it is not in the
container image. Left: the path seen from above (front up, right to the right),
with the two sources of a stereo input. Right: each ear's level (above 200 Hz,
as measured, averaged over half a second) over four circles from the middle of
the song, and the level difference and interaural delay over the whole song.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from surroundyou.convert.engine import Report
from surroundyou.dsp.motion import azimuth
from surroundyou.dsp.motion_meter import SILENT_DB
from surroundyou.errors import UsageError
from surroundyou.settings import Settings

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
SMOOTH_S = 0.5  # the ear levels are averaged over this long
CIRCLES_SHOWN = 4  # the ear-level panel shows this many circles from the middle of the song


def smoothed_db(levels_db: np.ndarray, frames: int) -> np.ndarray:
    """Levels (frames, ears) in dB, averaged as energy over ``frames`` centred frames."""
    energy = 10.0 ** (levels_db.astype(np.float64) / 10.0)
    kernel = np.ones(frames) / frames
    smooth = np.stack([np.convolve(energy[:, ear], kernel, mode="same") for ear in range(energy.shape[1])], axis=1)
    return 10.0 * np.log10(np.maximum(smooth, 1e-12))


def body_window(times: np.ndarray, levels: np.ndarray, span_s: float) -> np.ndarray:
    """A mask of ``span_s`` seconds around the middle of the song (all of it when shorter)."""
    if times.size == 0 or times[-1] <= span_s:
        return np.ones(times.size, dtype=bool)
    middle = times[-1] / 2
    return (times >= middle - span_s / 2) & (times <= middle + span_s / 2)


def check_plot_path(path: Path) -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot {path.name}: use one of {', '.join(PLOT_SUFFIXES)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib, an optional extra: pip install matplotlib") from None


def plot_motion(report: Report, settings: Settings, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.projections.polar import PolarAxes

    trace = report.trace
    fig = plt.figure(figsize=(12, 6), constrained_layout=True)
    fig.suptitle(f"{title}: {settings.renderer}, one circle every {settings.period_s:g} s")
    grid = fig.add_gridspec(2, 3)

    top = fig.add_subplot(grid[:, 0], projection="polar")
    assert isinstance(top, PolarAxes)  # for the type checker
    top.set_theta_zero_location("N")
    top.set_theta_direction(-1)  # clockwise seen from above: right is +90°
    # The first circle as a spiral: the distance from the head grows with time.
    seconds = min(report.input_seconds, settings.period_s)
    t = np.linspace(0.0, seconds, 400)
    theta = azimuth(t, 1.0, settings.period_s)  # t in seconds: a "rate" of 1
    radius = 0.35 + 0.65 * t / settings.period_s
    sources = [(0.0, "source")]
    if settings.renderer == "binaural" and settings.width_deg > 0 and report.source_channels > 1:
        w = np.radians(settings.width_deg)
        sources = [(-w, "left input"), (w, "right input")]
    for offset, label in sources:
        (line,) = top.plot(theta + offset, radius, lw=2, label=label)
        top.plot([offset], [radius[0]], "o", color=line.get_color())  # where it starts
    top.plot([0], [0], "ko", ms=14)  # the head
    top.set_rticks([])
    top.set_ylim(0, 1.05)
    top.set_xticks(np.radians([0, 90, 180, 270]), ["front", "right", "behind", "left"])
    top.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=8)
    top.set_title(
        f"path seen from above, the first circle:\ndistance from the head = time, 0 (dot) to {seconds:g} s",
        fontsize=10,
    )

    # Right: what each ear received, smoothed over half a second (single 100 ms frames of music
    # jump by several dB and hide the motion).
    levels = smoothed_db(trace.levels_db, max(1, round(SMOOTH_S / trace.frame_s)))
    times = (np.arange(levels.shape[0]) + 0.5) * trace.frame_s
    window = body_window(times, levels, CIRCLES_SHOWN * settings.period_s)
    ears = fig.add_subplot(grid[0, 1:])
    ears.plot(times[window], levels[window, 0], label="left ear", color="tab:blue", lw=1.8)
    ears.plot(times[window], levels[window, 1], label="right ear", color="tab:red", lw=1.8)
    shown = levels[window][levels[window].max(axis=1) > SILENT_DB]
    if shown.size:  # fades and silences would stretch the axis and flatten the swing
        ears.set_ylim(float(np.percentile(shown, 2)) - 3, float(shown.max()) + 3)
    ears.set_ylabel("level above 200 Hz (dBFS)")
    ears.set_xlabel("time (s)")
    ears.set_title(
        f"each ear, {CIRCLES_SHOWN} circles from the middle of the song ({SMOOTH_S:g} s average): "
        f"the level swings {report.motion.ild_swing_db:.0f} dB from ear to ear",
        fontsize=10,
    )
    ears.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)

    diff = fig.add_subplot(grid[1, 1:])
    diff.plot(times, levels[:, 1] - levels[:, 0], color="tab:purple", lw=1.2, label="right − left level")
    diff.axhline(0, color="grey", lw=0.5)
    diff.set_ylabel("right − left (dB)")
    diff.set_xlabel("time (s), the whole song")
    delay = diff.twinx()
    delay.plot(trace.itd_times_s, trace.itd_ms, "o", color="black", ms=3, label="interaural delay (right axis)")
    delay.set_ylabel("delay (ms, + = right ear first)")
    delay.set_ylim(-1.0, 1.0)
    diff.set_title(
        f"the nearer ear hears it up to {report.motion.itd_ms:.2f} ms sooner",
        fontsize=10,
    )
    lines, labels = diff.get_legend_handles_labels()
    more_lines, more_labels = delay.get_legend_handles_labels()
    diff.legend(
        lines + more_lines, labels + more_labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
