"""One frozen Settings object, built once from flags, environment and defaults.

Each setting is declared once, in ``OPTIONS``: its field, flag, environment
variable, type, range with unit, help text and whether it changes the sound.
The command line's flags (cli.py), the resolver (flag > environment variable >
default, ``build_settings``), the range checks, the fingerprint and the tests'
environment scrub all follow from that table. Validation raises ``UsageError``
with units, never ``assert``: one style, "NAME must be ALLOWED (got VALUE)", where
NAME is what the user typed (the flag, or the variable). Adding a setting: a
field of ``Settings`` and a row of ``OPTIONS``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from surroundyou import __version__
from surroundyou.errors import UsageError
from surroundyou.formats import DEFAULT as DEFAULT_FORMAT
from surroundyou.formats import FORMATS

# Environment variable names that other code names too (OPTIONS declares every variable).
ENV_BUCKET = "S3_BUCKET"
ENV_KEY = "S3_KEY"
ENV_QUEUE = "QUEUE_URL"
ENV_INPUT_DIR = "INPUT_DIR"
ENV_S3_READ_TIMEOUT = "S3_READ_TIMEOUT_SECONDS"  # read by aws.make_client

PERIOD_RANGE = (2.0, 120.0)  # seconds per full circle
RENDERERS = ("binaural", "pan")
WIDTH_RANGE = (0.0, 90.0)  # degrees either side of the path
DEPTH_RANGE = (0.0, 30.0)  # dB of extra level difference between the ears at the sides
REVERB_RANGE = (0.0, 1.0)  # wet level of the room send
TARGET_RANGE = (-40.0, -6.0)  # LUFS
CEILING_RANGE = (-9.0, 0.0)  # dBTP
BLOCK_RANGE = (1, 1 << 20)  # frames
LOG_FORMATS = ("auto", "json", "text")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_QUALITY_RE = re.compile(r"^(V[0-9]|(32|40|48|56|64|80|96|112|128|160|192|224|256|320))$")
_PREFIX = (re.compile(r"(.*/)?\Z", re.DOTALL), "empty or a key prefix ending in '/'")

N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Settings:
    """Everything one run needs to know; DSP fields feed the fingerprint."""

    renderer: str = "binaural"
    hrtf: str = ""  # a SOFA file; empty: the spherical-head model
    width_deg: float = 10.0
    depth_db: float = 2.0
    period_s: float = 12.0
    reverb: float = 0.18
    target_lufs: float = -14.0
    ceiling_dbtp: float = -1.0
    quality: str = "V2"
    output_format: str = DEFAULT_FORMAT  # a name in formats.FORMATS; an -o FILE.ext picks its own
    block_frames: int = 65536
    input_dir: Path = Path("input")
    output_dir: Path = Path("output")
    bucket: str = ""
    key: str = ""
    input_prefix: str = "input/"
    output_prefix: str = "processed/"
    queue_url: str = ""
    failed_queue_url: str = ""
    idle_exit_s: float = 0.0  # queue mode: 0 runs until stopped
    visibility_s: int = 300
    stop_timeout_s: float = 120.0
    max_input_bytes: int = 2 * 1024**3
    max_duration_s: float = 3 * 3600.0
    log_format: str = "auto"
    jobs: int = 1  # local mode: files converted at once, one process each; queue mode: messages, a thread each
    force: bool = False  # folder mode: convert songs whose output is up to date too
    verbose: bool = False

    def __post_init__(self) -> None:
        for option in OPTIONS:  # each option's own range or choices
            option.check(getattr(self, option.field))
        # What involves several options (build_settings checks it first, in the names the user gave):
        problem = conflict({"hrtf": self.hrtf, "renderer": self.renderer}, _flag)
        if problem:
            raise UsageError(problem)
        if self.queue_url:
            self._check_queue_mode()
        elif bool(self.bucket) != bool(self.key):  # half of cloud mode would silently run local mode
            given, missing = (ENV_BUCKET, ENV_KEY) if self.bucket else (ENV_KEY, ENV_BUCKET)
            raise UsageError(f"{given} is set but {missing} is not: cloud mode needs both, local mode neither")
        if self.failed_queue_url and not self.queue_url:
            raise UsageError(f"FAILED_QUEUE_URL is set but {ENV_QUEUE} is not: it belongs to queue mode")
        inputs, outputs = self.input_prefix, self.output_prefix
        if inputs.startswith(outputs) or outputs.startswith(inputs):  # equal, nested, or one of them empty
            raise UsageError(
                f"INPUT_PREFIX {inputs!r} and OUTPUT_PREFIX {outputs!r} overlap (equal, or one inside the other): "
                "outputs would land among the inputs and trigger new runs"
            )

    def _check_queue_mode(self) -> None:
        """Queue mode converts the objects of one bucket, S3_BUCKET; its keys come from the messages. A bad
        bucket name fails here, at the start, rather than making every message look like bad input."""
        if self.key:
            raise UsageError(f"{ENV_QUEUE} and {ENV_KEY} are both set: queue mode or cloud mode, not both")
        if not self.bucket:
            raise UsageError(
                f"{ENV_QUEUE} is set but {ENV_BUCKET} is not: queue mode converts the objects of that one bucket"
            )
        problem = bucket_name_problem(self.bucket)
        if problem:
            raise UsageError(f"{ENV_BUCKET} must be a valid S3 bucket name: {problem} (got {self.bucket!r})")

    @property
    def cloud(self) -> bool:
        """Cloud mode: both S3 variables set and non-empty (and QUEUE_URL not)."""
        return bool(self.bucket and self.key)

    @property
    def queue(self) -> bool:
        """Queue mode: QUEUE_URL set, with S3_BUCKET (and S3_KEY not)."""
        return bool(self.queue_url)

    @property
    def json_logs(self) -> bool:
        """Log JSON lines (LOG_FORMAT json, or auto in cloud and queue mode) rather than text."""
        return self.log_format == "json" or (self.log_format == "auto" and (self.cloud or self.queue))

    def fingerprint(self, output_format: str | None = None) -> str:
        """A short hash of everything that changes the sound, plus the version; ``output_format``:
        the output's format where it is not ``self.output_format`` (an ``-o FILE.ext``)."""
        dsp = {k: v for k, v in asdict(self).items() if k in SOUND_FIELDS}
        dsp["output_format"] = output_format or self.output_format
        dsp["version"] = __version__
        return hashlib.sha256(json.dumps(dsp, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Option:
    """One setting of ``Settings``, declared once."""

    field: str
    help: str  # without the default and the variable: ``help_text`` adds them
    flag: str | None = None  # e.g. "--width"; None: environment only
    short: str | None = None  # e.g. "-v"
    env: str | None = None  # e.g. "WIDTH_DEGREES"; None: flag only
    old_flag: str | None = None  # a former name of the flag, still taken, with a warning
    old_env: str | None = None  # a former name of the variable, likewise
    parse: Callable[[str], Any] = str  # from the command line and the environment
    metavar: str | None = None
    bounds: tuple[float, float] | None = None  # inclusive range
    unit: str = ""  # of the range, in messages
    choices: tuple[str, ...] | None = None
    pattern: tuple[re.Pattern[str], str] | None = None  # a check and how to say what it wants
    positive: bool = False
    case: Callable[[str], str] | None = None  # e.g. str.lower: "BINAURAL" is "binaural"
    strip: bool = True  # surrounding spaces of the variable's value are typos (not in an S3 key)
    sound: bool = False  # changes the sound: part of the fingerprint stored with each output
    show_default: bool = True

    @property
    def name(self) -> str:
        """How messages name it: the flag if there is one, else the variable."""
        return self.flag or self.env or self.field

    def help_text(self, default: Any) -> str:
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        notes = [f"default {shown}"] if self.show_default and default not in ("", False) else []
        notes += [f"env {self.env}"] if self.env else []
        return f"{self.help} ({', '.join(notes)})" if notes else self.help

    def allowed(self) -> str:
        """What the option takes, as messages say it: "a number from 0 to 30 dB", "one of binaural, pan"."""
        if self.choices is not None:
            return f"one of {', '.join(self.choices)}"
        if self.pattern is not None:
            return self.pattern[1]
        number = "whole number" if self.parse is int else "number"
        if self.bounds is not None:
            low, high = self.bounds
            return f"a {number} from {_shown(low)} to {_shown(high)}{f' {self.unit}' if self.unit else ''}"
        return f"a positive {number}" if self.positive else f"a {number}"

    def check(self, value: Any, name: str | None = None, got: str | None = None) -> None:
        """A UsageError unless ``value`` is in the option's range or choices; ``name``: as the user
        typed it (the flag or the variable; default: the flag if there is one); ``got``: the value as typed."""
        if not self._allows(value):
            raise UsageError(f"{name or self.name} must be {self.allowed()} (got {got or _shown(value)})")

    def _allows(self, value: Any) -> bool:
        if self.choices is not None and value not in self.choices:
            return False
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:  # also rejects NaN
            return False
        if self.pattern is not None and not self.pattern[0].match(value):
            return False
        return not self.positive or value > 0  # also rejects NaN

    def read(self, name: str, value: Any) -> Any:
        """A value given as ``name`` (a flag or a variable): parsed when text, then checked under that name."""
        got = None
        if isinstance(value, str):
            got = repr(value)
            try:
                value = self.parse(value)
            except ValueError:
                raise UsageError(f"{name} must be {self.allowed()} (got {got})") from None
            got = got if isinstance(value, str) else None  # a number: shown as a number
        value = self.case(value) if self.case and isinstance(value, str) else value
        self.check(value, name, got)
        return value


OPTIONS: tuple[Option, ...] = (
    # What changes the sound (the fingerprint), in the order --help lists them.
    Option(
        "renderer",
        "binaural: a head model, for headphones; pan: equal-power panning, also for loudspeakers",
        flag="--renderer",
        env="RENDERER",
        old_flag="--mode",
        old_env="SPATIAL_MODE",
        choices=RENDERERS,
        case=str.lower,
        sound=True,
    ),
    Option(
        "hrtf",
        "binaural: render with a measured HRTF from a SOFA (AES69) file instead of the head model",
        flag="--hrtf",
        env="HRTF_SOFA",
        metavar="FILE.sofa",
        sound=True,
    ),
    Option(
        "width_deg",
        "binaural: stereo left and right circle this far either side of the path, 0 = mono",
        flag="--width",
        env="WIDTH_DEGREES",
        parse=float,
        metavar="DEGREES",
        bounds=WIDTH_RANGE,
        unit="degrees",
        sound=True,
    ),
    Option(
        "depth_db",
        "binaural: level difference added between the ears at the sides, beyond the physical head, "
        "0-30; 0 = the physical head only",
        flag="--depth",
        env="DEPTH",
        parse=float,
        metavar="DB",
        bounds=DEPTH_RANGE,
        unit="dB",
        sound=True,
    ),
    Option(
        "period_s",
        "seconds per circle around the head",
        flag="--period",
        env="PERIOD_SECONDS",
        parse=float,
        metavar="SECONDS",
        bounds=PERIOD_RANGE,
        unit="s",
        sound=True,
    ),
    Option(
        "reverb",
        "room reverb wet level 0-1, 0 disables it",
        flag="--reverb",
        env="REVERB_AMOUNT",
        parse=float,
        metavar="AMOUNT",
        bounds=REVERB_RANGE,
        sound=True,
    ),
    Option(
        "target_lufs",
        "integrated loudness target",
        flag="--target-lufs",
        env="TARGET_LUFS",
        parse=float,
        metavar="LUFS",
        bounds=TARGET_RANGE,
        unit="LUFS",
        sound=True,
    ),
    Option(
        "ceiling_dbtp",
        "true-peak ceiling of the decoded output",
        flag="--ceiling",
        env="CEILING_DBTP",
        parse=float,
        metavar="DBTP",
        bounds=CEILING_RANGE,
        unit="dBTP",
        sound=True,
    ),
    Option(
        "output_format",
        "output format in every mode; an -o FILE.ext picks its own",
        flag="--format",
        env="OUTPUT_FORMAT",
        choices=tuple(FORMATS),
        case=str.lower,
        sound=True,
    ),
    Option(
        "quality",
        "MP3 only: V0..V9 (VBR) or a CBR bitrate in kbps",
        flag="--quality",
        env="MP3_QUALITY",
        metavar="Q",
        pattern=(_QUALITY_RE, "V0..V9 (VBR) or a CBR bitrate in kbps such as 192 or 320"),
        case=str.upper,
        sound=True,
    ),
    # How the run goes.
    Option(
        "jobs",
        "local mode: convert N files at once, one process each; queue mode: N messages, a thread each",
        flag="--jobs",
        env="JOBS",
        parse=int,
        metavar="N",
        bounds=(1, 64),
        unit="processes",
    ),
    Option("force", "local mode: convert every song, also those whose output is up to date", flag="--force"),
    Option(
        "block_frames",
        "frames per processing block",
        flag="--block-frames",
        parse=int,
        metavar="N",
        bounds=BLOCK_RANGE,
        unit="frames",
    ),
    Option(
        "log_format",
        "auto: JSON lines in cloud and queue mode, text otherwise",
        flag="--log-format",
        env="LOG_FORMAT",
        choices=LOG_FORMATS,
        case=str.lower,
        show_default=False,
    ),
    Option("verbose", "debug logs, and tracebacks on errors", flag="--verbose", short="-v"),
    # Where the songs come from and go to.
    Option("input_dir", "local mode: the folder of songs when no FILE is named", env=ENV_INPUT_DIR, parse=Path),
    Option("output_dir", "local mode: where the outputs go", env="OUTPUT_DIR", parse=Path),
    Option(
        "bucket", "cloud mode: the object's bucket; queue mode: the one bucket converted (required)", env=ENV_BUCKET
    ),
    Option("key", "cloud mode: the object's key", env=ENV_KEY, strip=False),  # spaces are legal in keys
    Option("input_prefix", "cloud and queue mode: where inputs are", env="INPUT_PREFIX", pattern=_PREFIX),
    Option("output_prefix", "cloud and queue mode: where outputs go", env="OUTPUT_PREFIX", pattern=_PREFIX),
    Option(
        "queue_url",
        "queue mode: the SQS queue of S3 upload events to convert (objects of S3_BUCKET only)",
        env=ENV_QUEUE,
    ),
    Option("failed_queue_url", "queue mode: where the key and reason of each bad input go", env="FAILED_QUEUE_URL"),
    Option(
        "idle_exit_s",
        "queue mode: exit 0 after this long without a message (0: run until stopped)",
        env="IDLE_EXIT_SECONDS",
        parse=float,
        bounds=(0, 7 * 86400),
        unit="s",
    ),
    Option(
        "visibility_s",
        "queue mode: how long a message is hidden from other workers; renewed while its song converts",
        env="VISIBILITY_SECONDS",
        parse=int,
        bounds=(3, 43200),
        unit="s",
    ),
    Option(
        "stop_timeout_s",
        "queue mode: the time SIGTERM leaves before SIGKILL (the task's stopTimeout); a song that "
        "cannot finish within it goes back to the queue",
        env="STOP_TIMEOUT_SECONDS",
        parse=float,
        bounds=(0, 3600),
        unit="s",
    ),
    Option("max_input_bytes", "largest input accepted", env="MAX_INPUT_BYTES", parse=int, positive=True),
    Option("max_duration_s", "longest input accepted", env="MAX_DURATION_SECONDS", parse=float, positive=True),
)
# The fields that change the sound: they make the fingerprint stored with each output.
SOUND_FIELDS = frozenset(option.field for option in OPTIONS if option.sound)
# Every variable the worker reads: the options' (and their former names) and the AWS client's (aws/clients.py).
VARIABLES = (
    *(option.env for option in OPTIONS if option.env),
    *(option.old_env for option in OPTIONS if option.old_env),
    ENV_S3_READ_TIMEOUT,
)


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` breaks S3's naming rules for general purpose buckets, or None if it keeps them.

    S3's rules: 3-63 characters of lowercase letters, digits, dots and hyphens, a letter or digit at
    each end, no two dots in a row, not an IPv4 address, none of the reserved prefixes and suffixes.
    (Buckets made in us-east-1 before March 2018 could have capitals and underscores; S3 sends such
    legacy names no events that this worker could be started by.)"""
    if not _BUCKET_RE.fullmatch(name):
        return "3-63 lowercase letters, digits, dots and hyphens, a letter or digit at each end"
    if ".." in name:
        return "no two dots in a row"
    if _IPV4_RE.fullmatch(name):
        return "not an IP address"
    if name.startswith(BUCKET_RESERVED_PREFIXES) or name.endswith(BUCKET_RESERVED_SUFFIXES):
        return f"none of S3's reserved prefixes {', '.join(BUCKET_RESERVED_PREFIXES)} or suffixes " + ", ".join(
            BUCKET_RESERVED_SUFFIXES
        )
    return None


def _shown(value: Any) -> str:
    """A value in a message: text quoted, numbers as written ("1048576", "0.5", "-6"; never "1e+06")."""
    if isinstance(value, str):
        return repr(value)
    return f"{value:g}" if isinstance(value, float) and not value.is_integer() else str(value).removesuffix(".0")


def _given(option: Option, flags: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, Any] | None:
    """The value given for ``option`` and the name it was given as (flag > variable), or None."""
    for flag, field in ((option.flag, option.field), (option.old_flag, f"old_{option.field}")):
        if flag and flags.get(field) is not None:
            return flag, flags[field]
    for name in (name for name in (option.env, option.old_env) if name):  # the former only if the new is unset
        raw = env.get(name, "")
        raw = raw.strip() if option.strip else raw
        if raw:
            return name, raw
    return None


def positive_from_env(name: str, default: N, parse: Callable[[str], N], env: Mapping[str, str] | None = None) -> N:
    """A positive number from the environment (``default`` when unset): a typo is a usage error."""
    option = Option(name, "", env=name, parse=parse, positive=True)
    given = _given(option, {}, os.environ if env is None else env)
    value: N = default if given is None else option.read(*given)
    return value


def deprecated_names(flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each former flag or variable name given (they still work)."""
    env = os.environ if env is None else env
    notes = []
    for option in OPTIONS:
        if option.old_flag and flags.get(f"old_{option.field}") is not None:
            notes.append(f"{option.old_flag} is now {option.flag} (the old name still works, for now)")
        if option.old_env and env.get(option.old_env, "").strip():
            notes.append(f"{option.old_env} is now {option.env} (the old name still works, for now)")
    return notes


def conflict(values: Mapping[str, Any], name: Callable[[str], str], given: Collection[str] = ()) -> str | None:
    """What two options contradict, in one line naming each as ``name(field)`` says; ``given``: the fields
    the user set (a binaural-only option left at its default does not contradict pan)."""
    if values["hrtf"] and values["renderer"] != "binaural":
        return f"{name('hrtf')} renders binaurally: it cannot be combined with {name('renderer')} {values['renderer']}"
    pan = f"{name('renderer')} pan"
    if "depth_db" in given and values["renderer"] == "pan":
        return f"{name('depth_db')} shapes the binaural rendering: {pan} already moves the level from ear to ear"
    if "width_deg" in given and values["renderer"] == "pan":
        return f"{name('width_deg')} places the binaural sources: {pan} moves one mid signal"
    return None


def _flag(field: str) -> str:
    return next(option.flag or option.field for option in OPTIONS if option.field == field)


def build_settings(flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from parsed CLI flags (keyed by field; None or absent = not given) and the environment."""
    env = os.environ if env is None else env
    defaults = Settings()
    values: dict[str, Any] = {}
    names: dict[str, str] = {}  # field: the flag or variable it was given as
    for option in OPTIONS:  # each value checked under the name it was given as; Settings checks again
        given = _given(option, flags, env)
        values[option.field] = getattr(defaults, option.field) if given is None else option.read(*given)
        if given is not None:
            names[option.field] = given[0]
    problem = conflict(values, lambda field: names.get(field) or _flag(field), names)
    if problem:
        raise UsageError(problem)
    return Settings(**values)
