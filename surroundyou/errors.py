"""The exception hierarchy and the exit codes the CLI maps it to.

Each class carries one documented exit code; ``cli.main`` turns any of them
into one line on stderr. The README's exit-code table is this file.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_STORAGE = 4
EXIT_INTERRUPTED = 130  # SIGINT, 128 + 2
EXIT_TERMINATED = 143  # SIGTERM, 128 + 15


class SurroundError(Exception):
    """Base of every error the user is meant to see as one line."""

    exit_code = EXIT_INTERNAL


class UsageError(SurroundError):
    """A flag or environment variable is invalid, or there is nothing to do."""

    exit_code = EXIT_USAGE


class InputError(SurroundError):
    """The audio, its object or its key cannot be converted, and retrying cannot change that: empty,
    corrupt, unsupported, over a limit, missing, or an output key that belongs to another input."""

    exit_code = EXIT_BAD_INPUT


class StorageError(SurroundError):
    """S3 or the local file system failed in a way that retrying may cure: 5xx, throttling, network,
    a full disk."""

    exit_code = EXIT_STORAGE


class Stopped(BaseException):
    """Raised in the main thread by a SIGTERM/SIGINT handler.

    A BaseException so that no ``except Exception`` on the way swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED if self.signum == 2 else EXIT_TERMINATED
