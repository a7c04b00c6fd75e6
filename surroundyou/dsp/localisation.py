"""Where a listener hears the source: a template-matching binaural localisation model.

Reads a headphone signal back as a direction, per 100 ms frame, against templates made from a
head's responses (``Hrtf``): MIT KEMAR (Gardner & Martin 1995, as Debian's libmysofa1 ships it in
SOFA form) when it is installed, else the renderer's own spherical head (``sphere_hrtf``):

  bands      4th-order gammatone filters, one per ERB (Glasberg & Moore 1990) from 200 Hz to 16 kHz,
             as the closed form of their power response, |H(f)|^2 = (1 + ((f - fc) / b)^2)^-4 with
             b = 1.019 ERB(fc) (Patterson et al. 1992; Holdsworth et al. 1988's base-band form), applied
             as power weights on the spectrum of each 100 ms frame (a 200 ms Hann window, hop 100 ms);
             scipy's IIR design (Slaney 1993), used before, is narrower below 350 Hz;
  timing     per band below 1.4 kHz the normalised interaural cross-correlation, read at the lag
             the template gives for each lateral angle and averaged over the audible bands
             (Dietz, Ewert & Hohmann 2011: ITD in auditory bands mapped to a lateral angle through a
             measured head; the lateral angle is the best-matching template, the correlation there
             is the coherence, Faller & Merimaa 2004);
  level      per band above 1.5 kHz the level difference (ILD spectrum), matched to the templates'
             by least squares (duplex theory);
  weighting  the lateral angle is the weighted mean of the two cues' angles, timing twice the
             level for broadband sound and scaled by its coherence (Macpherson & Middlebrooks 2002:
             the perceived lateral angle is a weighted sum of the cues' displacements, dominated by
             the ITD whenever low frequencies are present);
  front/back the directional spectral profile of each ear (band levels less a reference: the
             source's spectrum and the head's common transfer function) as positive spectral
             gradients, compared with the two directional transfer functions (DTFs) on the cone of
             confusion at the estimated lateral angle, front and back; distance to similarity by
             Baumgartner, Majdak & Laback 2014's sigmoid, ears weighted by laterality (their
             binaural weighting, 13°), reduced here to the horizontal plane;
  compact    one direction is clearly best: the ears correlate (coherence >= 0.6) and the two cues
             point within 20° of each other (a room that fills the far ear, or two halves of a stereo
             song, pull them apart).

When the source spectrum is unknown (music), the reference is the signal's long-term spectrum per
ear, which equals the source's long-term spectrum times the head's common transfer function only
when the source visits the directions evenly: a whole number of circles. The templates are
interaural differences and DTFs, so a per-ear (diffuse-field) equalisation of the rendering does not
change what the model reads.

Pure numpy (the worker has no scipy). Memory: the signal plus 64 frames' spectra at a time.
bench/localise.py validates the model and measures songs with it; ``--plot`` draws its track.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from surroundyou.dsp.hrtf import Hrtf, load_sofa

KEMAR_SOFA = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")
KEMAR_PACKAGE = "libmysofa1"  # Debian/Ubuntu: apt-get install libmysofa1

FRAME_S = 0.1  # binaural sluggishness: about 100-200 ms (Grantham & Wightman 1978)
LOW_HZ, HIGH_HZ = 200.0, 16000.0  # the filterbank's range
GAMMATONE_ORDER = 4
ERB_FACTOR = 1.019  # a 4th-order gammatone's bandwidth parameter b, in ERBs (Patterson et al. 1992)
ITD_TOP_HZ = 1400.0  # bands up to here carry the timing cue (Dietz et al. 2011)
ILD_BOTTOM_HZ = 1500.0  # bands from here carry the level cue
SPECTRAL_BOTTOM_HZ = 700.0  # bands from here carry the spectral cue (Baumgartner et al. 2014)
MAX_ITD_S = 0.001
LATERAL_DEG = np.arange(-90.0, 90.5, 1.0)  # the lateral angles the templates are read at
ITD_WEIGHT, ILD_WEIGHT = 2.0, 1.0  # broadband: timing dominates (Macpherson & Middlebrooks 2002)
BAND_RANGE_DB = 40.0  # bands this far below the frame's loudest band are ignored
FLOOR_DB = -100.0  # band power (dBFS) below which a band is silent
SILENT_RANGE_DB = 40.0  # frames this far below the loud ones (95th percentile) are silent
COMPACT_COHERENCE = 0.6
COMPACT_SPLIT_DEG = 20.0
BINAURAL_WEIGHT_DEG = 13.0  # Baumgartner et al. 2014: the ipsilateral ear's weight
SIGMOID_SLOPE = 6.0  # 1/dB, Baumgartner et al. 2014's Gamma
SENSITIVITY = 0.5  # dB, their S (listener-specific, 0.5 a typical value)
SIDE_DEG = 60.0  # frames within this of straight ahead or behind score front/back
MIN_PERIOD_S = 2.0
SPHERE = "spherical head"  # the name listener_templates gives the renderer's own head
SPHERE_STEP_DEG = 5.0  # the spherical head's templates: impulses through the renderer this far apart
SPHERE_IR_FRAMES = 512  # long enough for the head's filters to die away (the bass pole's time constant: 0.9 ms)


@dataclass(frozen=True)
class Bank:
    """ERB-spaced gammatone bands as power weights on the rfft bins of ``n_fft`` samples at ``rate``."""

    centres: np.ndarray  # (B,) Hz
    weights: np.ndarray  # (B, F) each row sums to 1


@dataclass(frozen=True)
class Templates:
    """What a head gives, at one sample rate: per band and lateral angle the ITD and ILD,
    per ear, band and azimuth the DTF."""

    rate: int
    n_fft: int
    bank: Bank
    itd: np.ndarray  # (bands below ITD_TOP_HZ, lateral angles) seconds, positive: the right ear leads
    ild: np.ndarray  # (bands from ILD_BOTTOM_HZ, lateral angles) dB, right over left
    azimuth_deg: np.ndarray  # (K,) clockwise from the front
    dtf: np.ndarray  # (2, spectral bands, K) dB: each ear's band level less its mean over azimuth
    ctf: np.ndarray  # (2, spectral bands) dB: that mean, the common transfer function

    @property
    def itd_bands(self) -> slice:
        return slice(0, int(np.sum(self.bank.centres <= ITD_TOP_HZ)))

    @property
    def ild_bands(self) -> slice:
        return slice(int(np.sum(self.bank.centres < ILD_BOTTOM_HZ)), self.bank.centres.size)

    @property
    def spectral_bands(self) -> slice:
        return slice(int(np.sum(self.bank.centres < SPECTRAL_BOTTOM_HZ)), self.bank.centres.size)


@dataclass(frozen=True)
class Track:
    """The model's reading, per 100 ms frame (frame i is centred on start_s + (i + 0.5) * frame_s seconds)."""

    frame_s: float
    audible: np.ndarray  # bool
    lateral: np.ndarray  # degrees, positive right; NaN where silent
    itd_lateral: np.ndarray  # the timing cue's angle alone
    ild_lateral: np.ndarray  # the level cue's angle alone
    coherence: np.ndarray  # the ears' band correlation at the best template lag
    compact: np.ndarray  # bool: one direction clearly best
    p_front: np.ndarray  # probability of front (0.5: no cue)
    start_s: float = 0.0  # where the analysed signal starts in the song (the circle starts at 0 s)

    @property
    def times(self) -> np.ndarray:
        """Each frame's centre, seconds into the song."""
        return self.start_s + (np.arange(self.lateral.size) + 0.5) * self.frame_s


@dataclass(frozen=True)
class Measures:
    """A track against the intended circle."""

    corr: float  # Pearson correlation of the lateral track with the circle's lateral angle
    compact_pct: float  # audible frames with one compact image
    coherent_pct: float  # audible frames whose ears correlate (coherence >= COMPACT_COHERENCE)
    agree_pct: float  # audible frames whose two cues point within COMPACT_SPLIT_DEG of each other
    reach_left: float  # degrees: -(5th percentile of the lateral angle)
    reach_right: float  # degrees: 95th percentile
    auc: float  # front/back discrimination of p_front between frames in front and behind
    period_s: float  # from the lateral track's autocorrelation
    itd_reach: float  # the same reach (mean of both sides) from the timing cue alone
    ild_reach: float  # and from the level cue alone


# ---- the band bank --------------------------------------------------------------------------------


def erb_hz(centre_hz: float | np.ndarray) -> np.ndarray:
    """The equivalent rectangular bandwidth (Hz) at ``centre_hz`` (Glasberg & Moore 1990)."""
    return 24.7 * (4.37e-3 * np.asarray(centre_hz, dtype=np.float64) + 1.0)


def erb_number(hz: float | np.ndarray) -> np.ndarray:
    """How many ERBs (Glasberg & Moore 1990) lie below ``hz``: the auditory frequency scale."""
    return 21.4 * np.log10(1 + 0.00437 * np.asarray(hz, dtype=np.float64))


def erb_number_hz(number: float | np.ndarray) -> np.ndarray:
    """The frequency (Hz) ``number`` ERBs up: the inverse of ``erb_number``."""
    return (10 ** (np.asarray(number, dtype=np.float64) / 21.4) - 1) / 0.00437


def erb_centres(low: float, high: float) -> np.ndarray:
    """Centre frequencies one ERB apart (Glasberg & Moore 1990) from ``low`` to at most ``high`` Hz."""
    return erb_number_hz(np.arange(float(erb_number(low)), float(erb_number(high)) + 1e-9))


def gammatone_power(freqs: np.ndarray, centre_hz: float) -> np.ndarray:
    """A 4th-order gammatone filter's power response at ``freqs`` (Hz), 1 at its centre: the closed form
    (1 + ((f - fc) / b)^2)^-4, b = 1.019 ERB(fc) (Holdsworth et al. 1988's base-band approximation)."""
    b = ERB_FACTOR * erb_hz(centre_hz)
    return (1.0 + ((freqs - centre_hz) / b) ** 2) ** -float(GAMMATONE_ORDER)


def gammatone_bank(rate: int, n_fft: int) -> Bank:
    """The gammatone filters' power responses on the rfft bins, each normalised to sum 1."""
    centres = erb_centres(LOW_HZ, min(HIGH_HZ, 0.45 * rate))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    power = np.stack([gammatone_power(freqs, fc) for fc in centres])
    power[power < 1e-6 * power.max(axis=1, keepdims=True)] = 0.0  # far tails (60 dB down): sparse in effect
    return Bank(centres, power / power.sum(axis=1, keepdims=True))


def frame_fft_size(rate: int) -> int:
    hop = round(FRAME_S * rate)
    return 1 << (2 * hop + 2 * math.ceil(MAX_ITD_S * rate) - 1).bit_length()


# ---- the templates --------------------------------------------------------------------------------


def band_xcorr(cross: np.ndarray, weights: np.ndarray, freqs: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Band-limited cross-correlation sum_f w_b(f) Re(X_L X_R* e^{j 2 pi f tau}) at ``lags`` (s):
    (..., bands, lags) for ``cross`` (..., F). Positive lags: the left ear lags (source on the right)."""
    phase = np.exp(2j * np.pi * freqs[:, None] * lags[None, :])  # (F, T)
    return np.real((cross[..., None, :] * weights) @ phase)


def circular_interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """np.interp over azimuths in degrees that wrap at 360."""
    return np.interp(np.mod(x, 360.0), np.concatenate((xp, [xp[0] + 360.0])), np.concatenate((fp, [fp[0]])))


def templates(hrtf: Hrtf, stretch: float = 1.0) -> Templates:
    """The templates of ``hrtf``'s horizontal plane at its rate.

    ``stretch``: the level spectra (the level cue's and the DTFs) moved up in frequency by this factor,
    as another listener's: Middlebrooks (1999) aligned the DTFs of pairs of 45 listeners by scaling in
    frequency, with optimal factors of median 1.061 and at most 1.38. The timing templates stay the head's."""
    rate = hrtf.rate
    n_fft = frame_fft_size(rate)
    bank = gammatone_bank(rate, n_fft)
    spectra = np.fft.rfft(hrtf.irs.astype(np.float64), n_fft, axis=-1)  # (K, 2, F)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    magnitude = np.abs(spectra) ** 2
    if stretch != 1.0:
        rows = magnitude.reshape(-1, freqs.size)
        magnitude = np.stack([np.interp(freqs / stretch, freqs, r) for r in rows]).reshape(magnitude.shape)
    power = np.einsum("kef,bf->keb", magnitude, bank.weights)
    level = 10 * np.log10(power + 1e-30)  # (K, 2, B)
    tpl = Templates(rate, n_fft, bank, np.empty(0), np.empty(0), np.empty(0), np.empty(0), np.empty(0))
    itd_b = tpl.itd_bands
    low = freqs <= 2 * ITD_TOP_HZ
    lags = np.linspace(-MAX_ITD_S, MAX_ITD_S, 401)  # 5 µs apart
    cross = spectra[:, 0, low] * np.conj(spectra[:, 1, low])
    itd_k = lags[np.argmax(band_xcorr(cross, bank.weights[itd_b][:, low], freqs[low], lags), axis=-1)]  # (K, B)
    ild_k = level[:, 1, :] - level[:, 0, :]
    az = np.degrees(hrtf.azimuths)
    front, back = np.mod(LATERAL_DEG, 360.0), np.mod(180.0 - LATERAL_DEG, 360.0)

    def on_lateral(values: np.ndarray) -> np.ndarray:  # (K, B) -> (B, lateral): front and back averaged
        return np.stack([0.5 * (circular_interp(front, az, v) + circular_interp(back, az, v)) for v in values.T])

    spectral = level[:, :, tpl.spectral_bands].transpose(1, 2, 0)  # (2, Bs, K)
    ctf = spectral.mean(axis=-1)
    return Templates(
        rate, n_fft, bank, on_lateral(itd_k), on_lateral(ild_k[:, tpl.ild_bands]), az, spectral - ctf[..., None], ctf
    )


@functools.cache
def kemar_templates(rate: int, stretch: float = 1.0) -> Templates:
    """MIT KEMAR's templates at ``rate`` (resampled as the worker's --hrtf does); needs KEMAR_SOFA."""
    return templates(load_sofa(KEMAR_SOFA, rate), stretch)


def through_head(x: np.ndarray, rate: int, azimuth_deg: float) -> np.ndarray:
    """Mono ``x`` through the worker's spherical head (depth 0, no room) held at ``azimuth_deg``
    (clockwise from the front): (2, n + the renderer's tail)."""
    from surroundyou.dsp.binaural import BinauralRenderer

    period = 1e6  # s: the source moves 0.0007° in a second
    renderer = BinauralRenderer(rate, period, mono=True)
    renderer.position = round(azimuth_deg / 360.0 * period * rate)
    stereo = np.stack((x, x)).astype(np.float32)
    parts = [renderer.process(stereo[:, i : i + 65536]) for i in range(0, stereo.shape[1], 65536)]
    return np.concatenate([*parts, renderer.flush()], axis=1)


def sphere_hrtf(rate: int) -> Hrtf:
    """The worker's spherical head as an Hrtf: its responses to an impulse every SPHERE_STEP_DEG."""
    impulse = np.zeros(SPHERE_IR_FRAMES, np.float32)
    impulse[0] = 1.0
    az = np.arange(0.0, 360.0, SPHERE_STEP_DEG)
    irs = np.stack([through_head(impulse, rate, float(a))[:, :SPHERE_IR_FRAMES] for a in az])
    return Hrtf(np.radians(az), irs.astype(np.float32), rate, 0)


@functools.cache
def sphere_templates(rate: int) -> Templates:
    return templates(sphere_hrtf(rate))


def listener_templates(rate: int) -> tuple[Templates, str]:
    """The templates a reading uses at ``rate`` and the head's name: MIT KEMAR when KEMAR_SOFA is
    installed, else the renderer's own spherical head (its lateral figures are then in-sample)."""
    if KEMAR_SOFA.exists():
        return kemar_templates(rate), "MIT KEMAR"
    return sphere_templates(rate), SPHERE


# ---- reading a signal -----------------------------------------------------------------------------


def frames(x: np.ndarray, rate: int, chunk: int = 64) -> Iterator[tuple[int, np.ndarray]]:
    """Hann-windowed 200 ms frames at a 100 ms hop, ``chunk`` at a time: (first frame, (2, n, F) spectra)."""
    hop = round(FRAME_S * rate)
    count = -(-x.shape[1] // hop)
    padded = np.zeros((2, (count + 1) * hop), dtype=np.float32)
    padded[:, hop // 2 : hop // 2 + x.shape[1]] = x
    window = np.hanning(2 * hop + 2)[1:-1].astype(np.float32)
    n_fft = frame_fft_size(rate)
    for first in range(0, count, chunk):
        idx = np.arange(first, min(count, first + chunk))[:, None] * hop + np.arange(2 * hop)
        segment = np.zeros((2, idx.shape[0], 2 * hop), dtype=np.float32)
        inside = idx < padded.shape[1]
        segment[:, inside] = padded[:, idx[inside]]
        yield first, np.fft.rfft(segment * window, n_fft, axis=-1)


def band_levels(x: np.ndarray, rate: int, tpl: Templates) -> np.ndarray:
    """(channels, frames, bands) band power in dB of a (channels, n) signal (used for a known source)."""
    out = []
    for channel in np.atleast_2d(x):
        levels = [
            10 * np.log10(np.abs(spec[0]) ** 2 @ tpl.bank.weights.T + 1e-30)
            for _, spec in frames(np.stack((channel, channel)), rate)
        ]
        out.append(np.concatenate(levels))
    return np.array(out)


def source_reference(source: np.ndarray, rate: int, tpl: Templates) -> np.ndarray:
    """(2, spectral bands) dB: the reference for a known mono source, its long-term band levels plus
    the head's common transfer function."""
    levels = band_levels(source, rate, tpl)[0][:, tpl.spectral_bands]
    return np.mean(levels, axis=0)[None, :] + tpl.ctf


def analyse(
    x: np.ndarray, rate: int, tpl: Templates, reference: np.ndarray | None = None, start_s: float = 0.0
) -> Track:
    """The model's track of a (2, n) headphone signal at ``rate`` (that of ``tpl``), which starts
    ``start_s`` seconds into the song.

    ``reference``: (2, spectral bands) dB, what a frame's band levels are compared with for the
    spectral cue (``source_reference`` for a known source); by default the signal's own long-term
    band levels per ear, right only for a source that visits the directions evenly."""
    if tpl.rate != rate:
        raise ValueError(f"templates are for {tpl.rate} Hz, the signal is at {rate} Hz")
    freqs = np.fft.rfftfreq(tpl.n_fft, 1.0 / rate)
    itd_w = tpl.bank.weights[tpl.itd_bands]
    low = slice(0, int(np.flatnonzero(itd_w.max(axis=0) > 0).max()) + 1)  # the bins the ITD bands reach
    # The correlation of each ITD band at each lateral angle's template lag: one matrix (F, B x L).
    kernel = itd_w[:, None, low] * np.exp(2j * np.pi * freqs[None, None, low] * tpl.itd[:, :, None])
    kernel = kernel.reshape(-1, kernel.shape[-1]).T.astype(np.complex64)
    n_itd = itd_w.shape[0]
    levels, timing, coherence, ild_angle = [], [], [], []
    for _, spec in frames(x, rate):
        power = np.abs(spec) ** 2 @ tpl.bank.weights.T  # (2, n, B)
        db = 10 * np.log10(power + 1e-30)
        levels.append(db)
        cross = (spec[0, :, low] * np.conj(spec[1, :, low])).astype(np.complex64)
        corr = np.real(cross @ kernel).reshape(cross.shape[0], n_itd, -1)  # (n, B, L)
        norm = np.sqrt(power[0, :, tpl.itd_bands] * power[1, :, tpl.itd_bands]) + 1e-30
        rho = corr / norm[:, :, None]
        use = audible_bands(db[:, :, tpl.itd_bands])
        summary = np.einsum("nbl,nb->nl", rho, use) / np.maximum(use.sum(axis=1), 1)[:, None]
        best = np.argmax(summary, axis=1)
        timing.append(np.where(use.any(axis=1), LATERAL_DEG[best], np.nan))
        coherence.append(np.where(use.any(axis=1), summary[np.arange(best.size), best], 0.0))
        ild_angle.append(ild_lateral(db[:, :, tpl.ild_bands], tpl))
    db = np.concatenate(levels, axis=1)
    phi_t, phi_l, coh = np.concatenate(timing), np.concatenate(ild_angle), np.concatenate(coherence)
    audible = audible_frames(db)
    w_t = ITD_WEIGHT * np.clip(coh, 0.0, 1.0) * np.isfinite(phi_t)
    w_l = ILD_WEIGHT * np.isfinite(phi_l)
    with np.errstate(invalid="ignore"):
        lateral = (w_t * np.nan_to_num(phi_t) + w_l * np.nan_to_num(phi_l)) / (w_t + w_l)
    lateral = np.where(audible, lateral, np.nan)
    compact = audible & (coh >= COMPACT_COHERENCE) & (cue_split(phi_t, phi_l) <= COMPACT_SPLIT_DEG)
    p_front = front_probability(db[:, :, tpl.spectral_bands], audible, lateral, tpl, reference)
    frame_s = round(FRAME_S * rate) / rate
    return Track(frame_s, audible, lateral, phi_t, phi_l, coh, compact, p_front, start_s)


def cue_split(itd_lateral: np.ndarray, ild_lateral: np.ndarray) -> np.ndarray:
    """How far apart (degrees) the two cues point, per frame; 0 where either is missing."""
    return np.abs(np.nan_to_num(itd_lateral - ild_lateral, nan=0.0))


def audible_bands(db: np.ndarray) -> np.ndarray:
    """(n, B) 0/1: bands of both ears above the floor and within BAND_RANGE_DB of the frame's loudest."""
    quiet = db.min(axis=0)
    loudest = quiet.max(axis=-1, keepdims=True)
    return ((quiet >= FLOOR_DB) & (quiet >= loudest - BAND_RANGE_DB)).astype(np.float64)


def audible_frames(db: np.ndarray) -> np.ndarray:
    """Frames whose total power (both ears) is within SILENT_RANGE_DB of the loud ones."""
    total = 10 * np.log10(np.sum(10 ** (db / 10), axis=(0, 2)) + 1e-30)
    if total.size == 0:
        return np.zeros(0, dtype=bool)
    return total >= max(np.percentile(total, 95) - SILENT_RANGE_DB, FLOOR_DB)


def ild_lateral(db: np.ndarray, tpl: Templates) -> np.ndarray:
    """Per frame, the lateral angle whose ILD spectrum fits the frame's best (least squares over the
    audible bands); NaN with fewer than three audible bands."""
    use = audible_bands(db)
    ild = db[1] - db[0]  # (n, B)
    err = np.einsum("nb,nbl->nl", use, (ild[:, :, None] - tpl.ild[None, :, :]) ** 2)
    angle = LATERAL_DEG[np.argmin(err, axis=1)]
    return np.where(use.sum(axis=1) >= 3, angle, np.nan)


def front_probability(
    db: np.ndarray, audible: np.ndarray, lateral: np.ndarray, tpl: Templates, reference: np.ndarray | None
) -> np.ndarray:
    """P(front) per frame from the spectral profiles' positive gradients against the DTFs at the lateral
    angle's front and back azimuths (Baumgartner et al. 2014, horizontal plane). db: (2, n, spectral B)."""
    use = db >= np.maximum(FLOOR_DB, db.max(axis=-1, keepdims=True) - 2 * BAND_RANGE_DB)  # (2, n, B)
    if reference is None:
        held = np.where(use & audible[None, :, None], db, np.nan)
        with np.errstate(all="ignore"):
            reference = np.nanmean(held, axis=1)  # (2, B)
    profile = db - reference[:, None, :]
    phi = np.nan_to_num(lateral)
    distances = []
    for azimuth in (np.mod(phi, 360.0), np.mod(180.0 - phi, 360.0)):
        dtf = np.stack([[circular_interp(azimuth, tpl.azimuth_deg, row) for row in ear] for ear in tpl.dtf])
        dtf = dtf.transpose(0, 2, 1)  # (2, n, B)
        pair = use[..., 1:] & use[..., :-1]
        gap = np.abs(positive_gradient(profile) - positive_gradient(dtf))
        distances.append(np.sum(gap * pair, axis=-1) / np.maximum(pair.sum(axis=-1), 1))  # (2, n) dB
    right = 1.0 / (1.0 + np.exp(-phi / BINAURAL_WEIGHT_DEG))
    weights = np.stack((1.0 - right, right))
    # Similarity 1 - 1/(1 + e^{-G(d - S)}) = 1/(1 + e^{G(d - S)}); P(front) = s_f / (s_f + s_b), in logs
    # so that large distances keep their order.
    log_sim = [-np.logaddexp(0.0, SIGMOID_SLOPE * ((weights * d).sum(axis=0) - SENSITIVITY)) for d in distances]
    p_front = 1.0 / (1.0 + np.exp(np.clip(log_sim[1] - log_sim[0], -700.0, 700.0)))
    return np.where(audible, p_front, 0.5)


def positive_gradient(levels: np.ndarray) -> np.ndarray:
    """The rising parts of a spectral profile from band to band (Baumgartner et al. 2014's DCN stage)."""
    return np.maximum(0.0, np.diff(levels, axis=-1))


# ---- against the intended circle ------------------------------------------------------------------


def intended_lateral(track: Track, period_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The circle's azimuth (degrees, clockwise from the front) and lateral angle at each frame's centre."""
    theta = np.mod(360.0 * track.times / period_s, 360.0)
    return theta, np.degrees(np.arcsin(np.sin(np.radians(theta))))


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their mean rank (as scipy.stats.rankdata's default)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the rank of each distinct value's last copy
    return (ends - 0.5 * (counts - 1))[inverse.reshape(-1)]


def auc(scores_pos: np.ndarray, scores_neg: np.ndarray) -> float:
    """The probability that a positive scores above a negative (ties count half): Mann-Whitney."""
    if scores_pos.size == 0 or scores_neg.size == 0:
        return float("nan")
    rank = ranks(np.concatenate((scores_pos, scores_neg)))
    n1, n0 = scores_pos.size, scores_neg.size
    return float((rank[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def period_of(track: Track, max_s: float = 60.0) -> float:
    """The lateral track's period (s) from its autocorrelation (the Pearson correlation of the track with
    itself shifted, at each lag): the first prominent peak of at least 0.8 times the highest between MIN_PERIOD_S
    and two thirds of the track, refined by the peak nearest its largest multiple within that range."""
    y = np.where(track.audible, track.lateral, np.nan)
    n = y.size
    top = min(int(max_s / track.frame_s), 2 * n // 3)
    lo = int(MIN_PERIOD_S / track.frame_s)
    if top <= lo + 2:
        return float("nan")
    r = np.full(top + 2, -1.0)
    for lag in range(1, top + 2):
        a, b = y[:-lag], y[lag:]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() > 10 and np.ptp(a[ok]) > 0 and np.ptp(b[ok]) > 0:  # a constant track has no period
            r[lag] = np.corrcoef(a[ok], b[ok])[0, 1]
    # Peaks that are the highest within a quarter of their lag either side: a ripple on the slope of the
    # true peak (one was read as an 11.54 s period on a 12 s circle) is not one.
    peaks = [k for k in range(lo, top) if r[k] >= r[max(1, k - k // 4) : k + k // 4 + 1].max()]
    if not peaks:
        return float("nan")
    best = max(r[k] for k in peaks)
    first = next(k for k in peaks if r[k] >= 0.8 * best)
    multiple = max(1, (top - first // 4) // first)
    near = range(max(lo, multiple * first - first // 4), min(top, multiple * first + first // 4) + 1)
    peak = max(near, key=lambda k: r[k])
    a, b, c = r[peak - 1], r[peak], r[peak + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    return float((peak + shift) * track.frame_s / multiple)


def measure(track: Track, period_s: float) -> Measures:
    """The figures of a track of a circle of ``period_s`` seconds that starts in front at 0 s."""
    theta, wanted = intended_lateral(track, period_s)
    ok = track.audible & np.isfinite(track.lateral)
    lateral = track.lateral[ok]
    corr = float(np.corrcoef(lateral, wanted[ok])[0, 1]) if ok.sum() > 2 and np.ptp(lateral) > 0 else float("nan")
    ahead = ok & ((theta <= SIDE_DEG) | (theta >= 360.0 - SIDE_DEG))
    behind = ok & (np.abs(theta - 180.0) <= SIDE_DEG)

    def reach(values: np.ndarray) -> float:
        values = values[ok & np.isfinite(values)]
        return float(0.5 * (np.percentile(values, 95) - np.percentile(values, 5))) if values.size else float("nan")

    def share(flags: np.ndarray) -> float:
        return float(100.0 * flags[track.audible].mean()) if track.audible.any() else float("nan")

    split = cue_split(track.itd_lateral, track.ild_lateral)
    return Measures(
        corr=corr,
        compact_pct=share(track.compact),
        coherent_pct=share(track.coherence >= COMPACT_COHERENCE),
        agree_pct=share(split <= COMPACT_SPLIT_DEG),
        reach_left=float(-np.percentile(lateral, 5)) if lateral.size else float("nan"),
        reach_right=float(np.percentile(lateral, 95)) if lateral.size else float("nan"),
        auc=auc(track.p_front[ahead], track.p_front[behind]),
        period_s=period_of(track),
        itd_reach=reach(track.itd_lateral),
        ild_reach=reach(track.ild_lateral),
    )
