"""The exception hierarchy and the exit codes the CLI maps it to.

Each class carries one documented exit code; ``cli.main`` turns any of them
into one line on stderr. The README's exit-code table is this file.
"""

from __future__ import annotations

import errno

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


# What ran out or forbade a write, for the errors a user can act on: one phrase each.
_STORAGE_CAUSES = {
    errno.ENOSPC: "no space left on the disk (ENOSPC)",
    errno.EDQUOT: "the disk quota is used up (EDQUOT)",
    errno.EACCES: "permission denied (EACCES)",
    errno.EPERM: "permission denied (EPERM)",
    errno.EROFS: "the filesystem is read-only (EROFS)",
}
OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def temp_fix(error: OSError) -> str:
    """How to move the temporary folder a failed write met: ``set TMPDIR=<a folder with more space>``."""
    return f"set TMPDIR=<a folder with {'more space' if error.errno in OUT_OF_SPACE else 'write access'}>"


def storage_cause(error: OSError) -> str:
    """What a failed write met, in a few words: no space, quota, permission, read-only, or the system's text."""
    return _STORAGE_CAUSES.get(error.errno or 0) or error.strerror or str(error)


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

    @property
    def how(self) -> str:
        """In words: Ctrl-C (SIGINT) interrupts, SIGTERM stops."""
        return "interrupted" if self.signum == 2 else "stopped"

    @property
    def said(self) -> str:
        """What a message says: "interrupted (Ctrl-C)" or "stopped (SIGTERM)"."""
        return f"{self.how} ({'Ctrl-C' if self.signum == 2 else 'SIGTERM'})"
