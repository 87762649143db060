"""Fit the serving performance model's efficiency constants on the calibration cases only.

Coordinate descent on multiplicative steps, minimising the mean absolute log error (|ln(predicted /
measured)|, so 2x too fast and 2x too slow weigh the same) over every measured metric of every case whose
``split`` is ``calibration`` in ``benchmarks/data/serving_performance_cases.json``. It prints the fitted
values; they are copied by hand into ``planner/performance/efficiency.py`` (and ``topology.py`` for link
constants), where each constant says what it was fitted on. Validation cases are never read here.

    python3 -m benchmarks.calibrate_performance
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from benchmarks.accuracy_performance import case_rows, load_cases
from planner.candidates import capacity
from planner.performance import efficiency, serving, serving_steps, topology

Parameter = tuple[str, Callable[[], float], Callable[[float], None], float, float]


def _family(name: str, field: str) -> Parameter:
    def get() -> float:
        return getattr(efficiency.FAMILY_EFFICIENCY[name], field)

    def put(value: float) -> None:
        efficiency.FAMILY_EFFICIENCY[name] = replace(efficiency.FAMILY_EFFICIENCY[name], **{field: value})
    return (f"{name}.{field}", get, put, 0.2, 0.95)


def _engine(name: str, field: str, low: float, high: float) -> Parameter:
    def get() -> float:
        return getattr(efficiency.ENGINE_PROFILES[name], field)

    def put(value: float) -> None:
        efficiency.ENGINE_PROFILES[name] = replace(efficiency.ENGINE_PROFILES[name], **{field: value})
    return (f"{name}.{field}", get, put, low, high)


def _overlap() -> Parameter:
    def get() -> float:
        return efficiency.ENGINE_PROFILES["vllm"].overlap

    def put(value: float) -> None:
        for name, profile in efficiency.ENGINE_PROFILES.items():
            efficiency.ENGINE_PROFILES[name] = replace(profile, overlap=value)
    return ("overlap (all engines)", get, put, 0.0, 1.0)


def _module_constant(module, name: str, low: float, high: float) -> Parameter:
    return (name, lambda: getattr(module, name), lambda value: setattr(module, name, value), low, high)


def _link(kind: str, table: str, low: float, high: float) -> Parameter:
    def get() -> float:
        return getattr(topology, table)[kind]

    def put(value: float) -> None:
        getattr(topology, table)[kind] = value
    return (f"{table}[{kind}]", get, put, low, high)


PARAMETERS: list[Parameter] = [
    _family("ampere", "compute"), _family("ampere", "bandwidth"),
    _family("ada", "fp8_compute"), _family("ada", "bandwidth"),
    _family("hopper", "compute"), _family("hopper", "fp8_compute"), _family("hopper", "bandwidth"),
    _engine("trtllm", "step_overhead_s", 1e-5, 0.02), _engine("trtllm", "per_layer_overhead_s", 0.0, 2e-4),
    _engine("trtllm", "per_sequence_overhead_s", 0.0, 1e-4),
    _engine("vllm", "step_overhead_s", 1e-5, 0.02), _engine("vllm", "per_sequence_overhead_s", 0.0, 1e-4),
    _engine("sglang", "step_overhead_s", 1e-5, 0.02), _engine("sglang", "per_sequence_overhead_s", 0.0, 1e-4),
    _overlap(), _module_constant(efficiency, "MOE_GEMM_EFFICIENCY", 0.2, 1.0), _link("pcie", "LINK_EFFICIENCY", 0.2, 0.95),
    _link("xgmi", "LINK_LATENCY_S", 1e-7, 5e-6),
]
"""NVLink/NVSwitch latencies stay at their nccl-tests values (``topology.LINK_LATENCY_S``): the NVIDIA calibration
cases cannot tell a slow small all-reduce from other per-layer costs, and the constants are shared with the
training model. xGMI's is fitted on the two MI300X TP 8 batch-1/2 latency cases, the only calibration cases
whose step time it decides."""


def _clear_caches() -> None:
    serving_steps.step_model.cache_clear()
    serving._replica.cache_clear()
    capacity._static_tpot_us.cache_clear()


def loss(cases: list[dict]) -> float:
    _clear_caches()
    rows = case_rows(cases)
    return sum(abs(math.log(r["predicted"] / r["measured"])) for r in rows) / len(rows)


def fit(rounds: int = 4) -> dict[str, float]:
    cases = [c for c in load_cases() if c["split"] == "calibration"]
    best = loss(cases)
    print(f"start: mean |log error| {best:.4f} over the calibration cases ({len(cases)} cases)")
    for step in (0.3, 0.15, 0.07, 0.03)[:rounds]:
        improved = True
        while improved:
            improved = False
            for _name, get, put, low, high in PARAMETERS:
                current = get()
                for factor in (1 + step, 1 / (1 + step)):
                    candidate = min(high, max(low, current * factor if current else step * (high - low)))
                    put(candidate)
                    value = loss(cases)
                    if value < best - 1e-6:
                        best, current, improved = value, candidate, True
                    else:
                        put(current)
        print(f"step {step:g}: mean |log error| {best:.4f}")
    return {name: get() for name, get, *_ in PARAMETERS}


def main() -> None:
    for name, value in fit().items():
        print(f"{name:40s} {value:.4g}")


if __name__ == "__main__":
    main()
