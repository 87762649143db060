"""Speed of ``max_request_rate_within_slo`` over every shape a full-catalog traffic solve could consider.

Shapes: Llama 3.1 70B on every catalog GPU x TP 1-8 x PP 1-4 x three weight formats x two KV dtypes (2,016
shapes), one request mix and three SLOs. Cold = the step constants are built for every shape (first solve
in a process); warm = they are cached and only the search runs (later solves, what-if sweeps). Prints the
min and median of ``--runs`` repetitions in microseconds per shape; timings depend on the machine and on what
else runs on it.

    python3 -m benchmarks.performance_speed --runs 5
    python3 -m benchmarks.performance_speed --runs 5 --save    # also benchmarks/results/performance_speed.json
"""

from __future__ import annotations

import argparse
import statistics
import time

from planner.catalog import default_catalog
from planner.memory.serving import EngineSettings, ServingLayout
from planner.model.formats import kv_cache_dtype, weight_format
from planner.performance import serving, serving_steps
from planner.performance.serving import RequestMix, ServingShape, Slo, max_request_rate_within_slo

SLOS = {"TTFT 2 s + TPOT 50 ms at p99": Slo(ttft_ms=2000, tpot_ms=50, percentile="p99"),
        "TTFT 300 ms at p90": Slo(ttft_ms=300, percentile="p90"),
        "TPOT 100 ms at p50": Slo(tpot_ms=100, percentile="p50")}


def shapes() -> list[ServingShape]:
    catalog = default_catalog()
    arch = catalog.architecture("llama-3.1-70b")
    engine = EngineSettings(max_num_batched_tokens=8192, max_num_seqs=256)
    return [ServingShape(arch, gpu, ServingLayout(tp, pp, 1, weight_format(fmt), kv_cache_dtype(kv)), engine)
            for gpu in catalog.gpus for tp in (1, 2, 4, 8) for pp in (1, 2, 4)
            for fmt in ("bf16", "fp8", "int4-awq") for kv in ("fp16", "fp8")]


def _clear(steps_too: bool) -> None:
    serving._replica.cache_clear()
    if steps_too:
        serving_steps.step_model.cache_clear()
        serving_steps._stage_sums.cache_clear()
        serving_steps._layer_sums.cache_clear()
        serving_steps._layout_terms.cache_clear()


def measure(runs: int) -> dict:
    """Microseconds per shape, min and median over ``runs``, per SLO, cold and warm."""
    candidates = shapes()
    mix = RequestMix.single(2000, 300)
    rows = []
    for name, slo in SLOS.items():
        for label, cold in (("cold", True), ("warm", False)):
            times = []
            for _ in range(runs):
                _clear(cold)
                start = time.perf_counter()
                for shape in candidates:
                    max_request_rate_within_slo(shape, mix, slo, 200)
                times.append((time.perf_counter() - start) / len(candidates) * 1e6)
            rows.append({"slo": name, "cache": label, "min_us": round(min(times), 1), "median_us": round(statistics.median(times), 1)})
    return {"shapes": len(candidates), "runs": runs, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--save", action="store_true", help="Also write benchmarks/results/performance_speed.json.")
    args = parser.parse_args(argv)
    result = measure(args.runs)
    for r in result["rows"]:
        print(f"{r['slo']:32s} {r['cache']}: {result['shapes']} shapes, min {r['min_us']:6.0f} us, "
              f"median {r['median_us']:6.0f} us per shape")
    if args.save:
        import sys

        from .docs import save_results

        save_results("performance_speed", result,
                     "python3 -m benchmarks.performance_speed " + " ".join(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
