"""Peak resident memory of a process that solves the largest benchmark (and of one that only imports).

Each measurement runs in a fresh process and reads ``ru_maxrss`` (KiB on Linux) at its end, so it covers
the catalog, the candidate enumeration, the CP-SAT model and the solve.

    python3 -m benchmarks.peak_rss
    python3 -m benchmarks.peak_rss --save    # also benchmarks/results/peak_rss.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = r"""
import resource, sys
import planner.solver.cpsat
from benchmarks.generate import case_by_name
mode = sys.argv[1]
if mode != "imports":
    from planner.pipeline.serving import prepare, solve_prepared
    case = case_by_name(sys.argv[2])
    prepared = prepare(case.scenario, case.catalog, prune=mode != "unpruned")
    outcome, plan = solve_prepared(prepared)
    result = {"shapes": len(prepared.enumeration.candidates), "shapes_solved": len(prepared.candidates), "status": outcome.status}
else:
    result = {}
import json
print(json.dumps({**result, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def measure(mode: str, case: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROGRAM, mode, case], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout)


def _text(m: dict) -> str:
    solved = f"{m['shapes']} shapes -> {m['shapes_solved']}, {m['status']}, " if "shapes" in m else ""
    return f"{solved}peak RSS {m['peak_rss_mib']} MiB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true", help="Also write benchmarks/results/peak_rss.json.")
    args = parser.parse_args(argv)
    case = "largest-60-inventory"
    result = {"case": case, "imports": measure("imports", case), "pruned": measure("pruned", case),
              "unpruned": measure("unpruned", case)}
    print(f"imports only (planner + OR-Tools):   {_text(result['imports'])}")
    print(f"{case}, pruned (default): {_text(result['pruned'])}")
    print(f"{case}, unpruned:         {_text(result['unpruned'])}")
    if args.save:
        from .docs import save_results

        save_results("peak_rss", result, "python3 -m benchmarks.peak_rss " + " ".join(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
