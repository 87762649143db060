import signal
import sys

SEEN: list[int] = []


def _interrupt(signum, frame):
    """Python's Ctrl-C, remembered: a C extension interrupted while it loads reports ImportError, not Ctrl-C."""
    SEEN.append(signum)
    raise KeyboardInterrupt


signal.signal(signal.SIGINT, _interrupt)
try:
    from .cli import main
except BaseException:  # noqa: BLE001 - Ctrl-C while the command line loads: the same answer as inside a command
    if not SEEN:
        raise
    print("interrupted (Ctrl-C)", file=sys.stderr)
    sys.exit(130)

main(lambda: bool(SEEN))
