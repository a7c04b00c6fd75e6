"""One frozen Settings object, built once from flags, environment and defaults.

Every field resolves flag > environment variable > default through ``_pick``;
the environment names live here and nowhere else. Validation raises
``UsageError`` with units, never ``assert``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import __version__
from .errors import UsageError

# Environment variable names, in one place.
ENV_BUCKET = "S3_BUCKET"
ENV_KEY = "S3_KEY"
ENV_INPUT_PREFIX = "INPUT_PREFIX"
ENV_OUTPUT_PREFIX = "OUTPUT_PREFIX"
ENV_INPUT_DIR = "INPUT_DIR"
ENV_OUTPUT_DIR = "OUTPUT_DIR"
ENV_PERIOD = "PERIOD_SECONDS"
ENV_MODE = "SPATIAL_MODE"
ENV_HRTF = "HRTF_SOFA"
ENV_WIDTH = "WIDTH_DEGREES"
ENV_DEPTH = "DEPTH"
ENV_REVERB = "REVERB_AMOUNT"
ENV_TARGET_LUFS = "TARGET_LUFS"
ENV_CEILING = "CEILING_DBTP"
ENV_QUALITY = "MP3_QUALITY"
ENV_MAX_INPUT_BYTES = "MAX_INPUT_BYTES"
ENV_MAX_DURATION = "MAX_DURATION_SECONDS"
ENV_LOG_FORMAT = "LOG_FORMAT"
ENV_JOBS = "JOBS"
ENV_S3_READ_TIMEOUT = "S3_READ_TIMEOUT_SECONDS"  # read by aws.make_client

PERIOD_RANGE = (2.0, 120.0)  # seconds per full circle
MODES = ("binaural", "pan")
WIDTH_RANGE = (0.0, 90.0)  # degrees either side of the path
DEPTH_RANGE = (0.0, 30.0)  # dB of extra level difference between the ears at the sides
REVERB_RANGE = (0.0, 1.0)  # wet level of the room send
TARGET_RANGE = (-40.0, -6.0)  # LUFS
CEILING_RANGE = (-9.0, 0.0)  # dBTP
BLOCK_RANGE = (1, 1 << 20)  # frames
LOG_FORMATS = ("auto", "json", "text")
_QUALITY_RE = re.compile(r"^(V[0-9]|(32|40|48|56|64|80|96|112|128|160|192|224|256|320))$")

# The fields that change the sound: they make the fingerprint stored with each output.
DSP_FIELDS = ("mode", "hrtf", "width_deg", "depth_db", "period_s", "reverb", "target_lufs", "ceiling_dbtp", "quality")

T = TypeVar("T")
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Settings:
    """Everything one run needs to know; DSP fields feed the fingerprint."""

    mode: str = "binaural"
    hrtf: str = ""  # a SOFA file; empty: the spherical-head model
    width_deg: float = 30.0
    depth_db: float = 10.0
    period_s: float = 12.0
    reverb: float = 0.18
    target_lufs: float = -14.0
    ceiling_dbtp: float = -1.0
    quality: str = "V2"
    block_frames: int = 65536
    input_dir: Path = Path("input")
    output_dir: Path = Path("output")
    bucket: str = ""
    key: str = ""
    input_prefix: str = "input/"
    output_prefix: str = "processed/"
    max_input_bytes: int = 2 * 1024**3
    max_duration_s: float = 3 * 3600.0
    log_format: str = "auto"
    jobs: int = 1  # local mode: files converted at once, one process each
    force: bool = False  # folder mode: convert songs whose output is up to date too
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.hrtf and self.mode != "binaural":
            raise UsageError("--hrtf renders binaurally: it cannot be combined with --mode pan")
        _check_range("--width", self.width_deg, WIDTH_RANGE, "degrees")
        _check_range("--depth", self.depth_db, DEPTH_RANGE, "dB")
        _check_range("--period", self.period_s, PERIOD_RANGE, "s")
        _check_range("--reverb", self.reverb, REVERB_RANGE, "")
        _check_range("--target-lufs", self.target_lufs, TARGET_RANGE, "LUFS")
        _check_range("--ceiling", self.ceiling_dbtp, CEILING_RANGE, "dBTP")
        _check_range("--block-frames", self.block_frames, BLOCK_RANGE, "frames")
        if not _QUALITY_RE.match(self.quality):
            raise UsageError(
                f"--quality must be V0..V9 (VBR) or a CBR bitrate in kbps such as 192 or 320, got {self.quality!r}"
            )
        _check_range("--jobs", self.jobs, (1, 64), "processes")
        if self.log_format not in LOG_FORMATS:
            raise UsageError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}")
        if self.max_input_bytes <= 0:
            raise UsageError(f"MAX_INPUT_BYTES must be positive, got {self.max_input_bytes}")
        if not self.max_duration_s > 0:
            raise UsageError(f"MAX_DURATION_SECONDS must be positive, got {self.max_duration_s:g}")
        for name in ("input_prefix", "output_prefix"):
            prefix = getattr(self, name)
            if prefix and not prefix.endswith("/"):
                raise UsageError(f"{name.upper()} must end with '/', got {prefix!r}")
        if bool(self.bucket) != bool(self.key):  # half of cloud mode would silently run local mode
            given, missing = (ENV_BUCKET, ENV_KEY) if self.bucket else (ENV_KEY, ENV_BUCKET)
            raise UsageError(f"{given} is set but {missing} is not: cloud mode needs both, local mode neither")
        if self.input_prefix == self.output_prefix:
            raise UsageError("INPUT_PREFIX and OUTPUT_PREFIX must differ, or outputs would trigger new runs")

    @property
    def cloud(self) -> bool:
        """Cloud mode: both S3 variables set and non-empty."""
        return bool(self.bucket and self.key)

    @property
    def json_logs(self) -> bool:
        """Log JSON lines (LOG_FORMAT json, or auto in cloud mode) rather than text."""
        return self.log_format == "json" or (self.log_format == "auto" and self.cloud)

    @property
    def mp3_quality(self) -> str | int:
        """The value pedalboard's MP3 writer takes: "V2" or a bitrate in kbps."""
        return self.quality if self.quality.startswith("V") else int(self.quality)

    def fingerprint(self) -> str:
        """A short hash of everything that changes the sound, plus the version."""
        dsp = {k: v for k, v in asdict(self).items() if k in DSP_FIELDS}
        dsp["version"] = __version__
        return hashlib.sha256(json.dumps(dsp, sort_keys=True).encode()).hexdigest()[:16]


def _check_range(flag: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    low, high = bounds
    if not (low <= value <= high):  # also rejects NaN
        unit = f" {unit}" if unit else ""
        raise UsageError(f"{flag} must be {low:g}–{high:g}{unit}, got {value:g}")


def _pick(flag: T | None, env: Mapping[str, str], name: str, default: T, parse: Callable[[str], T]) -> T:
    """Resolve one field: flag > environment variable > default."""
    if flag is not None:
        return flag
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r} is not a valid value") from None


def positive_from_env(name: str, default: N, parse: Callable[[str], N], env: Mapping[str, str] | None = None) -> N:
    """A positive number from the environment (``default`` when unset): a typo is a usage error."""
    value = _pick(None, os.environ if env is None else env, name, default, parse)
    if not value > 0:  # also NaN
        raise UsageError(f"{name} must be positive, got {value}")
    return value


def build_settings(flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from parsed CLI flags (None = not given) and the environment."""
    env = os.environ if env is None else env
    d = Settings()
    settings = Settings(
        mode=_pick(flags.get("mode"), env, ENV_MODE, d.mode, str).lower(),
        hrtf=str(_pick(flags.get("hrtf"), env, ENV_HRTF, d.hrtf, str)),
        width_deg=_pick(flags.get("width"), env, ENV_WIDTH, d.width_deg, float),
        depth_db=_pick(flags.get("depth"), env, ENV_DEPTH, d.depth_db, float),
        period_s=_pick(flags.get("period"), env, ENV_PERIOD, d.period_s, float),
        reverb=_pick(flags.get("reverb"), env, ENV_REVERB, d.reverb, float),
        target_lufs=_pick(flags.get("target_lufs"), env, ENV_TARGET_LUFS, d.target_lufs, float),
        ceiling_dbtp=_pick(flags.get("ceiling"), env, ENV_CEILING, d.ceiling_dbtp, float),
        quality=_pick(flags.get("quality"), env, ENV_QUALITY, d.quality, str).upper(),
        block_frames=flags.get("block_frames") or d.block_frames,
        input_dir=_pick(None, env, ENV_INPUT_DIR, d.input_dir, Path),
        output_dir=_pick(None, env, ENV_OUTPUT_DIR, d.output_dir, Path),
        bucket=_pick(None, env, ENV_BUCKET, d.bucket, str),
        key=env.get(ENV_KEY, ""),  # never stripped: spaces are legal in keys
        input_prefix=_pick(None, env, ENV_INPUT_PREFIX, d.input_prefix, str),
        output_prefix=_pick(None, env, ENV_OUTPUT_PREFIX, d.output_prefix, str),
        max_input_bytes=_pick(None, env, ENV_MAX_INPUT_BYTES, d.max_input_bytes, int),
        max_duration_s=_pick(None, env, ENV_MAX_DURATION, d.max_duration_s, float),
        log_format=_pick(flags.get("log_format"), env, ENV_LOG_FORMAT, d.log_format, str).lower(),
        verbose=bool(flags.get("verbose")),
        force=bool(flags.get("force")),
        jobs=_pick(flags.get("jobs"), env, ENV_JOBS, d.jobs, int),
    )
    if flags.get("depth") is not None and settings.mode == "pan":
        raise UsageError("--depth shapes the binaural rendering: --mode pan already moves the level fully")
    return settings
