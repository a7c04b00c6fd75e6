"""Test stimuli generated in code, and measurements of audio (never byte comparisons)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
from pedalboard.io import AudioFile
from scipy.signal import butter, correlate, correlation_lags, resample_poly, sosfilt


def pink_noise(seconds: float, rate: int = 44100, channels: int = 2, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """(channels, n) float32 pink noise (1/f power), RMS ``level``."""
    n = int(seconds * rate)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal((channels, n)), axis=1)
    f = np.fft.rfftfreq(n, 1 / rate)
    spectrum[:, 1:] /= np.sqrt(f[1:])
    spectrum[:, 0] = 0
    x = np.fft.irfft(spectrum, n, axis=1)
    return (x / x.std() * level).astype(np.float32)


def lowpass(x: np.ndarray, rate: int, hz: float) -> np.ndarray:
    return sosfilt(butter(8, hz, fs=rate, output="sos"), x, axis=-1).astype(np.float32)


def highpass(x: np.ndarray, rate: int, hz: float) -> np.ndarray:
    return sosfilt(butter(4, hz, "high", fs=rate, output="sos"), x, axis=-1)


def drum_mix(
    seconds: float,
    rate: int = 44100,
    seed: int = 0,
    level: float = 0.2,
    hits_per_s: int = 2,
    hit: float = 8.0,
    hit_hz: float = 3000.0,
    top_hz: float = 18000.0,
) -> np.ndarray:
    """Loud, band-limited, transient-rich stereo (pink noise + low-passed clicks): needs limiting."""
    x = pink_noise(seconds, rate, seed=seed, level=level)
    hits = np.zeros_like(x)
    hits[:, :: rate // hits_per_s] = hit
    return lowpass(x + lowpass(hits, rate, hit_hz), rate, top_hz)


def sine(freq: float, seconds: float, rate: int = 44100, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, :]


def write(path: Path, x: np.ndarray, rate: int = 44100, **kwargs: object) -> Path:
    with AudioFile(str(path), "w", rate, x.shape[0], **kwargs) as f:
        f.write(x)
    return path


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode with ffmpeg (an independent decoder that trims MP3 encoder delay): (channels, n), rate."""
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=sample_rate,channels",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rate, channels = (int(v) for v in probe.stdout.strip().split(",")[:2])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-"], capture_output=True, check=True
    ).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels).T.copy(), rate


def true_peak_dbtp(x: np.ndarray) -> float:
    """True peak by 8x oversampling (stricter than BS.1770's 4x)."""
    return float(20 * np.log10(np.abs(resample_poly(x, 8, 1, axis=-1)).max()))


def loudness_lufs(x: np.ndarray, rate: int) -> float:
    """BS.1770-4 integrated loudness from pyloudnorm: the oracle."""
    return float(pyloudnorm.Meter(rate).integrated_loudness(x.T.astype(np.float64)))


def frame_energy(x: np.ndarray, rate: int, frame_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel energy in consecutive frames: (channels, frames), and frame centre times (s)."""
    size = int(frame_s * rate)
    frames = x.shape[-1] // size
    e = (x[..., : frames * size].astype(np.float64) ** 2).reshape(x.shape[0], frames, size).sum(axis=-1)
    return e, (np.arange(frames) + 0.5) * size / rate


def balance(x: np.ndarray, rate: int, frame_s: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(E_R - E_L) / (E_R + E_L) per frame, and the frame times."""
    e, t = frame_energy(x, rate, frame_s)
    return (e[1] - e[0]) / np.maximum(e[1] + e[0], 1e-20), t


def ild_swing_db(x: np.ndarray, rate: int, frame_s: float = 0.1) -> float:
    """How far the level moves between the ears (the measure behind the result line's swing,
    dsp/motion_meter.py): left minus right level above 200 Hz in 100 ms frames, 95th minus 5th
    percentile, over frames within 50 dB of the loudest."""
    e, _ = frame_energy(highpass(x, rate, 200), rate, frame_s)
    db = 10 * np.log10(e + 1e-20)
    audible = db.max(axis=0) > db.max() - 50
    ild = db[0, audible] - db[1, audible]
    return float(np.percentile(ild, 95) - np.percentile(ild, 5))


def kick_drums(seconds: float, rate: int = 44100, seed: int = 0, noise_level: float = 0.5) -> np.ndarray:
    """Decaying 60 Hz kicks twice a second over low-passed noise: a high crest factor."""
    n = int(seconds * rate)
    noise = lowpass(np.random.default_rng(seed).standard_normal((2, n)), rate, 800) * noise_level
    t = np.arange(n) % (rate // 2)
    kicks = 0.6 * np.exp(-t / 2000.0) * np.sin(2 * np.pi * 60 * t / rate)
    return (noise + kicks).astype(np.float32)


def render(renderer, x: np.ndarray, block: int = 65536) -> np.ndarray:
    """A streaming renderer (process + flush) run over ``x`` in blocks of ``block`` frames."""
    out = [renderer.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
    return np.concatenate([*out, renderer.flush()], axis=1)


def mono_noise(seconds: float, seed: int = 0, rate: int = 44100) -> np.ndarray:
    """Pink noise, the same in both channels."""
    return pink_noise(seconds, rate, channels=1, seed=seed).repeat(2, axis=0)


def interaural_lags_ms(y: np.ndarray, frame_s: float = 0.1, rate: int = 44100) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the lag (ms) of the left ear behind the right (positive: sound from the right), within
    ±1 ms; and the frames' centre times (s)."""
    size = int(frame_s * rate)
    max_lag = round(0.001 * rate)
    lags, times = [], []
    for start in range(0, y.shape[1] - size, size):
        left, right = y[0, start : start + size], y[1, start : start + size]
        corr = correlate(left, right, mode="full")
        lag_axis = correlation_lags(size, size)
        window = np.abs(lag_axis) <= max_lag
        lags.append(lag_axis[window][np.argmax(corr[window])] / rate * 1000)
        times.append((start + size / 2) / rate)
    return np.array(lags), np.array(times)


def run_blocks(process, x: np.ndarray, block: int) -> np.ndarray:
    """``process`` (a stateful stage's block method) over ``x`` in blocks of ``block`` frames, joined."""
    return np.concatenate([process(x[:, i : i + block]) for i in range(0, x.shape[1], block)], axis=1)


def noise(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """(channels, frames) float32 white noise, unit variance."""
    return np.random.default_rng(seed).standard_normal((channels, frames)).astype(np.float32)
