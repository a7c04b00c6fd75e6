"""Logging: JSON lines in the cloud, readable lines in a terminal.

JSON records carry stable keys (event, bucket, key, input_seconds,
processing_seconds, realtime_factor, output_key, status, ...) so CloudWatch
Logs Insights can query them as fields; they all go to stderr. Readable lines
are split like a Unix tool's: the results (a line per converted or skipped
file, the total, a plot written) on stdout, so ``process_audio.py > results.txt``
keeps them, and diagnostics (warnings, errors, progress) on stderr.

A JSON record is one line whatever it holds: besides the control characters JSON
escapes, the characters Python's ``str.splitlines`` (and other Unicode-aware
readers) break lines at are escaped too (U+0085, U+2028, U+2029), and its
message and fields are bounded in characters (``short``), so a 200 KB object key
cannot make a 200 KB line (JSON escapes a control character in 6 bytes: a line
of them is at most 6 times as long). Python warnings (numpy's RuntimeWarning and
the like) become records of the same stream instead of the two raw lines Python
prints.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from typing import Any, TextIO

LOGGER_NAME = "surroundyou"
log = logging.getLogger(LOGGER_NAME)

KEY_CHARS = 100  # a key (or path) longer than this is shortened in a message: short(key)
MAX_FIELD_CHARS = 1024  # a JSON field's text: an S3 key is at most 1024 bytes, so a real one is never cut
MAX_MESSAGE_CHARS = 1000  # a message: its start and its end are kept (name long keys with short())
MESSAGE_TAIL_CHARS = 300  # of a message cut, the end kept (the reason usually comes last)
MAX_TRACEBACK_CHARS = 16000  # --verbose's tracebacks: their start and their end
# What str.splitlines breaks at that json.dumps leaves raw (it escapes all below U+0020).
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def short(text: str, limit: int = KEY_CHARS, tail: int = 0) -> str:
    """``text`` if it has at most ``limit`` characters; else its first ``limit - tail`` and last
    ``tail`` characters around a marker with its length: "input/aaaa…[204800 chars]"."""
    if len(text) <= limit:
        return text
    end = text[len(text) - tail :] if tail else ""
    return f"{text[: limit - tail]}…[{len(text)} chars]{'…' if end else ''}{end}"


def _bounded(value: Any) -> Any:
    return short(value, MAX_FIELD_CHARS) if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": short(record.getMessage(), MAX_MESSAGE_CHARS, MESSAGE_TAIL_CHARS),
        }
        entry.update({name: _bounded(value) for name, value in getattr(record, "fields", {}).items()})
        if record.exc_info:
            entry["traceback"] = short(
                self.formatException(record.exc_info), MAX_TRACEBACK_CHARS, MAX_TRACEBACK_CHARS // 2
            )
        return json.dumps(entry, ensure_ascii=False, default=str).translate(_LINE_BREAKS)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        text = prefix + record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


RESULTS = frozenset({"converted", "skipped", "summary", "plotted"})  # events that are results, not diagnostics


def _is_result(record: logging.LogRecord) -> bool:
    return record.levelno == logging.INFO and getattr(record, "fields", {}).get("event") in RESULTS


def setup(json_lines: bool, verbose: bool) -> None:
    if json_lines:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        log.handlers[:] = [handler]
    else:
        results = logging.StreamHandler(sys.stdout)
        results.addFilter(_is_result)
        diagnostics = logging.StreamHandler(sys.stderr)
        diagnostics.addFilter(lambda record: not _is_result(record))
        for handler in (results, diagnostics):
            handler.setFormatter(TextFormatter())
        log.handlers[:] = [results, diagnostics]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    warnings.showwarning = _show_warning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Python's warnings (numpy's RuntimeWarning on odd samples, a library's DeprecationWarning) as
    records of our stream, one line each, rather than the two raw lines Python prints."""
    event("library_warning", f"{category.__name__}: {message}", logging.WARNING, source=f"{filename}:{lineno}")


def event(name: str, message: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    """Log ``message`` with a stable ``event`` key and structured fields."""
    log.log(level, message, exc_info=exc_info, extra={"fields": {"event": name, **fields}})
