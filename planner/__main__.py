import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line loads: the same answer as inside a command
    print("interrupted (Ctrl-C)", file=sys.stderr)
    sys.exit(130)

main()
