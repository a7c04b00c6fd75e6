"""``--plot``: a picture of the path around the head, of what each ear received and of where it is heard.

matplotlib is an optional extra (installed into the worker's Python); it is not in the
container image. Left: the path seen from above (front up, right to the right),
with the two sources of a stereo input. Right: each ear's level (above 200 Hz,
as measured, averaged over half a second) over four circles from the middle of
the song; below it, over the same circles, where a binaural localisation model
(``surroundyou.dsp.localisation``) hears the output file, against the circle's
lateral angle; at the bottom the level difference and interaural delay over the
whole song. The model reads only the circles shown: the output is decoded in
blocks up to their end, and the window (about 50 s of audio) is held.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from surroundyou.audio.decode import read_span
from surroundyou.convert.engine import Report
from surroundyou.dsp.localisation import (
    KEMAR_SOFA,
    SPHERE,
    Measures,
    Track,
    analyse,
    intended_lateral,
    listener_templates,
    measure,
)
from surroundyou.dsp.motion import azimuth
from surroundyou.dsp.motion_meter import SILENT_DB
from surroundyou.errors import UsageError
from surroundyou.settings import Settings

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
SMOOTH_S = 0.5  # the ear levels are averaged over this long
CIRCLES_SHOWN = 4  # the ear-level and heard panels show this many circles from the middle of the song


@dataclass(frozen=True)
class Heard:
    """The localisation model's reading of the output over the circles shown."""

    track: Track
    measures: Measures
    head: str  # the templates' head
    in_sample: bool  # the templates' head is the one that rendered the output
    front_back: bool  # front/back is read (a measured head's spectral cues; a sphere has none worth reading)


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


def hear(output: Path, settings: Settings, start_s: float, seconds: float) -> Heard:
    """The model's reading of ``seconds`` of the converted ``output`` from ``start_s``, against the
    circle of ``settings``."""
    x, rate, start_s = read_span(output, settings.max_input_bytes, start_s, seconds)
    tpl, head = listener_templates(rate)
    track = analyse(x, rate, tpl, start_s=start_s)
    measured = head != SPHERE
    if measured:
        in_sample = bool(settings.hrtf) and Path(settings.hrtf).resolve() == KEMAR_SOFA.resolve()
    else:
        in_sample = settings.renderer == "binaural" and not settings.hrtf
    return Heard(track, measure(track, settings.period_s), head, in_sample, front_back=measured)


def heard_title(heard: Heard) -> str:
    """The heard panel's title: whose head the templates are, and the model's figures."""
    m = heard.measures
    same = ", in-sample: the head that rendered it" if heard.in_sample else ""
    if heard.front_back:
        where = f"{heard.head} templates{same}"
        figures = f", front/back AUC {m.auc:.2f}"
    else:  # MIT KEMAR is not installed: the binaural renderer's own head, whose spectra hold no pinna cues
        where = f"the renderer's own {heard.head}{same}; front/back not shown"
        figures = ""
    return (
        f"where it is heard (a binaural model, {where}):\nfollows the circle {m.corr:.2f} (corr), "
        f"one compact image in {m.compact_pct:.0f} % of frames, reach {m.reach_left:.0f}° left / "
        f"{m.reach_right:.0f}° right{figures}"
    )


def draw_heard(axes: Axes, heard: Heard, period_s: float) -> None:
    """The heard panel: the model's lateral angle per frame against the circle's."""
    track = heard.track
    t = track.times
    theta, wanted = intended_lateral(track, period_s)
    behind = (theta > 90.0) & (theta < 270.0)
    axes.fill_between(t, -95, 95, where=behind, color="0.92", lw=0, label="intended: behind")
    axes.plot(t, wanted, color="grey", ls="--", lw=1.5, label="intended (the circle)")
    in_front = track.p_front >= 0.5 if heard.front_back else np.ones(track.audible.size, dtype=bool)
    heard_front = track.audible & in_front
    label = "heard in front" if heard.front_back else "heard"
    axes.plot(t[heard_front], track.lateral[heard_front], ".", color="tab:green", ms=4, label=label)
    if heard.front_back:
        heard_behind = track.audible & (track.p_front < 0.5)
        axes.plot(t[heard_behind], track.lateral[heard_behind], "x", color="tab:orange", ms=4, label="heard behind")
    axes.set_ylim(-95, 95)
    axes.set_yticks([-90, -45, 0, 45, 90])
    axes.set_ylabel("lateral angle (°, + = right)")
    axes.set_xlabel("time (s)")
    axes.set_title(heard_title(heard), fontsize=10)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)


def check_plot_path(path: Path) -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot {path.name}: use one of {', '.join(PLOT_SUFFIXES)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        # The worker runs in the project's .venv (bootstrap.py hands over to it): install it there.
        python = Path(sys.executable)
        raise UsageError(f"--plot needs matplotlib, an optional extra: {python} -m pip install matplotlib") from None


def plot_motion(report: Report, settings: Settings, path: Path, title: str, output: Path) -> None:
    """Draw the plot of one conversion whose file is ``output`` into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.projections.polar import PolarAxes

    trace = report.trace
    fig = plt.figure(figsize=(12, 9), constrained_layout=True)
    fig.suptitle(f"{title}: {settings.renderer}, one circle every {settings.period_s:g} s")
    grid = fig.add_gridspec(3, 3)

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

    shown_times = times[window]
    if shown_times.size:
        start = float(shown_times[0] - trace.frame_s / 2)
        heard = hear(output, settings, start, float(shown_times[-1] + trace.frame_s / 2) - start)
        heard_axes = fig.add_subplot(grid[1, 1:], sharex=ears)
        draw_heard(heard_axes, heard, settings.period_s)

    diff = fig.add_subplot(grid[2, 1:])
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
