"""How a command ends: its exit code and the one line it leaves on stderr, for every way it can stop.

Exit codes: 0 plan found, 1 infeasible (with the reason), 2 bad input, 3 internal error, 130 interrupted (Ctrl-C:
what finished is reported first), 141 output closed (``planner ... | head``: the reader stopped reading; nothing
more is printed, as a Unix tool killed by SIGPIPE). No tracebacks: text quoted from the input is shown with control
characters escaped.
"""

from __future__ import annotations

import os
import sys

from .errors import PlannerError

INTERNAL_ERROR_EXIT_CODE = 3
INTERRUPTED_EXIT_CODE = 130
"""What shells report for a process stopped by Ctrl-C (128 + SIGINT)."""

BROKEN_PIPE_EXIT_CODE = 141
"""What shells report for a process stopped by writing to a closed pipe (128 + SIGPIPE), e.g. ``| head``."""

LABELS = {1: "infeasible", 2: "error", INTERNAL_ERROR_EXIT_CODE: "internal error", INTERRUPTED_EXIT_CODE: "interrupted"}

STOPPED = "interrupted (Ctrl-C): stopped before a result was complete; nothing was written"
"""Ctrl-C inside a command."""

INTERRUPTED = "interrupted (Ctrl-C)"
"""Ctrl-C before a command started (while the command line loaded or parsed)."""


def ending(exc: BaseException, interrupted: bool, in_command: bool = True) -> tuple[str | None, int]:
    """The line for stderr (None: nothing to say) and the exit code of a command stopped by ``exc``.

    ``interrupted``: Ctrl-C was seen (an extension module interrupted while it loads raises ImportError instead).
    ``in_command``: raised inside a command, where ``--debug`` shows the traceback of an internal error.
    """
    from .display import plain  # loaded only when a command fails

    if isinstance(exc, BrokenPipeError):
        return None, BROKEN_PIPE_EXIT_CODE
    if isinstance(exc, PlannerError):
        label = "incomplete" if exc.exit_code == INTERNAL_ERROR_EXIT_CODE and getattr(exc, "partial", None) is not None \
            else LABELS.get(exc.exit_code, "error")
        return plain(f"{label}: {exc.render()}"), exc.exit_code
    if isinstance(exc, KeyboardInterrupt) or interrupted:
        return STOPPED if in_command else INTERRUPTED, INTERRUPTED_EXIT_CODE
    hint = "run with --debug for the traceback; " if in_command else ""
    return plain(f"internal error: {type(exc).__name__}: {exc} ({hint}this is a bug in planner)"), INTERNAL_ERROR_EXIT_CODE


def close_stdout() -> None:
    """After a broken pipe: stdout now writes to the null device, so Python's final flush of what was still
    buffered has nowhere to fail (it would print 'Exception ignored ... BrokenPipeError' and exit 120)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # stdout replaced by an object without a file (tests)
        pass
