"""``python -m planner`` and the installed ``planner`` command: load the command line, then run it."""

import gc
import signal
import sys
from types import FrameType
from typing import NoReturn

SEEN: list[int] = []


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    """Python's Ctrl-C, remembered: a C extension interrupted while it loads reports ImportError, not Ctrl-C."""
    SEEN.append(signum)
    raise KeyboardInterrupt


GC_YOUNG_THRESHOLD = 10_000
"""Allocations between collections of the youngest generation (Python's default is 700). A command allocates
hundreds of thousands of objects that live until it ends (modules, schemas, catalogs, candidates), which the
default makes the collector scan over and over: about 6 % of a solve's CPU time (measured on the full-catalog
benchmarks). Cyclic garbage is still collected, every 10,000 allocations.

The collector is also paused while the modules load (imports make little cyclic garbage) and the loaded modules'
objects are then frozen (``gc.freeze``: moved to a generation the collector never scans), so the collections a
command triggers walk only the objects it made: 34 ms of collection in a full-catalog solve became 16 ms."""


def run() -> None:
    """Ctrl-C while the modules load is answered as inside a command (exit 130)."""
    signal.signal(signal.SIGINT, _interrupt)
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    gc.disable()
    try:
        from .cli import main
    except BaseException:  # Ctrl-C while the command line loads: the same answer as inside a command
        if not SEEN:
            raise
        print("interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(130)
    gc.freeze()
    gc.enable()
    main(lambda: bool(SEEN))


if __name__ == "__main__":
    run()
