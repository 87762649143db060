"""Speed of ``max_request_rate_within_slo`` over every shape a full-catalog traffic solve could consider.

Shapes: Llama 3.1 70B on every catalog GPU x TP 1-8 x PP 1-4 x three weight formats x two KV dtypes (2,016
shapes), one request mix and three SLOs. Cold = the step constants are built for every shape (first solve
in a process); warm = they are cached and only the search runs (later solves, what-if sweeps). Prints the
min and median of ``--runs`` repetitions in microseconds per shape; timings depend on the machine and on what
else runs on it.

    python3 -m benchmarks.performance_speed --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time

from planner.catalog import default_catalog
from planner.formats import kv_cache_dtype, weight_format
from planner.memory.serving import EngineSettings, ServingLayout
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


def measure(runs: int) -> None:
    candidates = shapes()
    mix = RequestMix.single(2000, 300)
    for name, slo in SLOS.items():
        for label, cold in (("cold", True), ("warm", False)):
            times = []
            for _ in range(runs):
                _clear(cold)
                start = time.perf_counter()
                for shape in candidates:
                    max_request_rate_within_slo(shape, mix, slo, 200)
                times.append((time.perf_counter() - start) / len(candidates) * 1e6)
            print(f"{name:32s} {label}: {len(candidates)} shapes, min {min(times):6.0f} us, median {statistics.median(times):6.0f} us per shape")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    measure(parser.parse_args().runs)


if __name__ == "__main__":
    main()
