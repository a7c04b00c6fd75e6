"""Logging: JSON lines in the cloud, readable lines in a terminal.

JSON records carry stable keys (event, bucket, key, input_seconds,
processing_seconds, realtime_factor, output_key, status, ...) so CloudWatch
Logs Insights can query them as fields; they all go to stderr. Readable lines
are split like a Unix tool's: the results (a line per converted or skipped
file, the total, a plot written) on stdout, so ``process_audio.py > results.txt``
keeps them, and diagnostics (warnings, errors, progress) on stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "surroundyou"
log = logging.getLogger(LOGGER_NAME)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


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


def event(name: str, message: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    """Log ``message`` with a stable ``event`` key and structured fields."""
    log.log(level, message, exc_info=exc_info, extra={"fields": {"event": name, **fields}})
