"""CP-SAT configurations compared on the generated scenarios: the evidence behind the defaults in cpsat.py.

For every case and configuration: replica shapes (structural, fitting, after pruning), status, time to the first
solution, time to proof, gap and objective. Configurations vary workers (1/2/8), ``linearization_level``
(0/1/2), the greedy hint, dominance pruning and ``interleave_search``. Each solve gets the same time limit;
times are CP-SAT's own wall clock (model building excluded, shown once per case as "prepare").

    python3 -m benchmarks.solver_params                # all cases, all configurations
    python3 -m benchmarks.solver_params --case largest-60-inventory --time-limit 30 --markdown
    python3 -m benchmarks.solver_params --save              # also benchmarks/results/solver_params.json
    python3 -m benchmarks.solver_params --stress 6 --save   # also benchmarks/results/solver_params_stress.json
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from planner.pipeline.serving import prepare
from planner.solver import sat_api
from planner.solver.cpsat import ServingModel, solve_cpsat
from planner.solver.phases import STATUS_NAMES
from planner.solver.problem import Assignment, Problem, spread_sequences

from .docs import save_results
from .generate import Case, serving_cases, tight_inventory_problems


@dataclass(frozen=True)
class Config:
    name: str
    parameters: dict[str, object] = field(default_factory=dict)
    hint: bool = True
    prune: bool = True
    formulation: str = "default"  # "projected": replicas only; "no-cut": sequences without the cover rows (first model)


CONFIGS = [
    Config("w1 lin2 (default)", {"num_workers": 1, "linearization_level": 2}),
    Config("w1 lin0", {"num_workers": 1, "linearization_level": 0}),
    Config("w1 lin1", {"num_workers": 1, "linearization_level": 1}),
    Config("w1 lin2 no-hint", {"num_workers": 1, "linearization_level": 2}, hint=False),
    Config("w2", {"num_workers": 2}),
    Config("w2 interleave", {"num_workers": 2, "interleave_search": True}),
    Config("w8", {"num_workers": 8}),
    Config("w1 lin2 no-prune", {"num_workers": 1, "linearization_level": 2}, prune=False),
    Config("w1 lin1 no-prune", {"num_workers": 1, "linearization_level": 1}, prune=False),
    Config("w2 no-prune", {"num_workers": 2}, prune=False),
    Config("w8 no-prune", {"num_workers": 8}, prune=False),
    Config("w1 lin2 projected", {"num_workers": 1, "linearization_level": 2}, formulation="projected"),
    Config("w1 lin2 projected no-prune", {"num_workers": 1, "linearization_level": 2}, prune=False, formulation="projected"),
    Config("w1 lin2 no-cut", {"num_workers": 1, "linearization_level": 2}, formulation="no-cut"),
    Config("w1 lin2 no-cut no-prune", {"num_workers": 1, "linearization_level": 2}, prune=False,
           formulation="with-sequences"),
]


@dataclass(frozen=True)
class Result:
    case: str
    config: str
    shapes_fit: int
    shapes_solved: int
    status: str
    first_solution_s: float | None
    proof_s: float | None
    wall_s: float
    gap: float | None
    objective_usd_per_hour: float | None


class _FirstSolution(sat_api.SolutionCallback):
    """Records CP-SAT's wall time at its first solution."""

    def __init__(self) -> None:
        super().__init__()
        self.first_s: float | None = None

    def OnSolutionCallback(self) -> None:
        if self.first_s is None:
            self.first_s = self.WallTime()


class NoCutModel(ServingModel):
    """The first formulation, for comparison only: sequences ``s[c]`` and a used-literal ``u[c]`` per shape,
    without the implied cover rows.

    n[c] <= s[c]; fixed_c n[c] + kv_c s[c] <= (fixed_c + kv_c maxseq_c) n[c]; n[c] >= 1 <=> u[c]; sum s = D.
    """

    def __init__(self, problem: Problem):
        self.problem = problem
        self.model = model = sat_api.CpModel()
        self.replicas, self.sequences, self.used = {}, {}, {}
        self.load, self.instances, self._in_plan = {}, {}, {}  # concurrency only: no traffic rows, no whole instances
        demand = problem.demand_sequences
        for row in problem.rows:
            ub = problem.replica_upper_bound(row)
            n = model.new_int_var(0, ub, f"replicas[{row.key}]")
            s = model.new_int_var(0, min(demand, ub * row.max_sequences), f"sequences[{row.key}]")
            u = model.new_bool_var(f"used[{row.key}]")
            whole_mib = row.fixed_mib + row.kv_mib_per_sequence * row.max_sequences
            model.add(row.fixed_mib * n + row.kv_mib_per_sequence * s <= whole_mib * n)
            model.add(n <= s)
            model.add(n >= 1).only_enforce_if(u)
            model.add(n == 0).only_enforce_if(~u)
            self.replicas[row.key], self.sequences[row.key], self.used[row.key] = n, s, u
        model.add(sum(self.sequences.values()) == demand)
        _post_limits(self, problem)
        if not problem.mixed_fleet:
            model.add_at_most_one(self.used.values())


class ProjectedModel(ServingModel):
    """Replicas only (sequences projected out): the two cover rows carry the memory bill through maxseq."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.model = model = sat_api.CpModel()
        self.replicas, self.sequences, self.used = {}, {}, {}
        self.load, self.instances, self._in_plan = {}, {}, {}  # concurrency only: no traffic rows, no whole instances
        demand = problem.demand_sequences
        for row in problem.rows:
            self.replicas[row.key] = model.new_int_var(0, problem.replica_upper_bound(row), f"replicas[{row.key}]")
        model.add(sum(min(row.max_sequences, demand) * self.replicas[row.key] for row in problem.rows) >= demand)
        model.add(sum(self.replicas.values()) <= demand)
        _post_limits(self, problem)
        if not problem.mixed_fleet:
            for row in problem.rows:
                used = self.used[row.key] = model.new_bool_var(f"used[{row.key}]")
                model.add(self.replicas[row.key] == 0).only_enforce_if(~used)
            model.add_at_most_one(self.used.values())

    def hint(self, assignment) -> None:
        self.model.clear_hints()
        for key, var in self.replicas.items():
            self.model.add_hint(var, assignment.replicas.get(key, 0))

    def extract(self, solver):
        replicas = {k: int(solver.value(v)) for k, v in self.replicas.items() if solver.value(v) > 0}
        return Assignment(replicas, spread_sequences(self.problem, replicas))


def _post_limits(built: ServingModel, problem: Problem) -> None:
    """Inventory, budget and the cost / GPU expressions, shared by the comparison models."""
    model = built.model
    by_type: dict[str, list] = {}
    for row in problem.rows:
        by_type.setdefault(row.gpu_type, []).append(row.gpus_per_replica * built.replicas[row.key])
    for gpu_type, terms in sorted(by_type.items()):
        if gpu_type in problem.inventory_by_gpu:
            model.add(sum(terms) <= problem.inventory_by_gpu[gpu_type])
    built.cost = sum(row.price_micro_usd_per_hour * built.replicas[row.key] for row in problem.rows)
    built.gpus = sum(row.gpus_per_replica * built.replicas[row.key] for row in problem.rows)
    if problem.budget_micro_usd_per_hour is not None:
        model.add(built.cost <= problem.budget_micro_usd_per_hour)


PhaseOne = tuple[str, float | None, float, float | None, float | None]


def solve_phase_one(problem: Problem, config: Config, time_limit_s: float, seed: int = 0) -> PhaseOne:
    """Minimise cost once under ``config``: (status, first solution s, wall s, gap, objective micro-USD)."""
    built = {"projected": ProjectedModel, "no-cut": NoCutModel}.get(config.formulation, ServingModel)(problem)
    if config.hint:
        built.hint_greedy()
    built.model.minimize(built.cost)
    solver = sat_api.CpSolver()
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = time_limit_s
    for name, value in config.parameters.items():
        setattr(solver.parameters, name, value)
    timer = _FirstSolution()
    status = STATUS_NAMES[solver.solve(built.model, timer)]
    if status not in ("optimal", "feasible"):
        return status, timer.first_s, solver.wall_time, None, None
    objective, bound = solver.objective_value, solver.best_objective_bound
    gap = max(0.0, (objective - bound) / objective) if objective else 0.0
    return status, timer.first_s, solver.wall_time, gap, objective


def run_case(case: Case, configs: list[Config], time_limit_s: float) -> tuple[list[Result], dict[str, float | int]]:
    start = time.perf_counter()
    pruned = prepare(case.scenario, case.catalog, prune=True)
    prepare_s = time.perf_counter() - start
    unpruned = prepare(case.scenario, case.catalog, prune=False)
    enumeration = pruned.enumeration
    info: dict[str, float | int] = {
        "gpu_types": case.gpu_types,
        "shapes_structural": len(enumeration.candidates) + len(enumeration.rejections),
        "shapes_fit": len(enumeration.candidates),
        "shapes_pruned": len(pruned.candidates),
        "prepare_s": prepare_s,
    }
    results = []
    for config in configs:
        problem = (pruned if config.prune else unpruned).problem()
        status, first_s, wall_s, gap, objective = solve_phase_one(problem, config, time_limit_s)
        results.append(Result(case.name, config.name, len(enumeration.candidates), len(problem.rows), status, first_s,
                              wall_s if status in ("optimal", "infeasible") else None, wall_s, gap,
                              objective / 10**6 if objective is not None else None))
    outcome = solve_cpsat(pruned.problem(), time_limit_s)
    results.append(Result(case.name, "solve_cpsat (2 phases)", len(enumeration.candidates), len(pruned.candidates),
                          outcome.status, None, outcome.wall_time_s if outcome.status == "optimal" else None,
                          outcome.wall_time_s, outcome.gap,
                          outcome.objective_micro_usd / 10**6 if outcome.objective_micro_usd is not None else None))
    return results, info


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(all_results: list[tuple[list[Result], dict[str, float | int]]], markdown: bool) -> str:
    header = ["case", "config", "shapes", "status", "first sol. s", "proof s", "gap", "USD/h"]
    rows = []
    for results, info in all_results:
        for r in results:
            shapes = f"{info['shapes_structural']}/{r.shapes_fit}/{r.shapes_solved}"
            rows.append([r.case, r.config, shapes, r.status, _fmt(r.first_solution_s), _fmt(r.proof_s),
                         _fmt(r.gap, 4), _fmt(r.objective_usd_per_hour, 3)])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
        lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [header, *rows]]
    notes = [f"{results[0].case}: {info['gpu_types']} GPU types, prepare {info['prepare_s']:.3f} s"
             for results, info in all_results]
    return "\n".join(lines + ["", "shapes = structural / fit one sequence / given to the solver", *notes])


def stress(configs: list[Config], time_limit_s: float, seeds: int) -> dict:
    """Every configuration on the tight-inventory suite: proven count, median / 90th percentile / max seconds."""
    problems = tight_inventory_problems(range(seeds))
    rows = []
    for config in configs:
        if not config.prune:
            continue
        times, proven = [], 0
        for _, problem in problems:
            status, _, wall_s, _, _ = solve_phase_one(problem, config, time_limit_s)
            proven += status in ("optimal", "infeasible")
            times.append(wall_s)
        times.sort()
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        rows.append({"config": config.name, "proven": proven, "problems": len(problems), "median_s": round(times[len(times) // 2], 4),
                     "p90_s": round(p90, 4), "max_s": round(times[-1], 4)})
    return {"problems": len(problems), "seeds": seeds, "time_limit_s": time_limit_s, "configs": rows}


def render_stress(result: dict) -> str:
    lines = [f"stress: {result['problems']} tight-inventory problems (largest-60-inventory, {result['seeds']} seeds x 5 demand "
             f"levels), limit {result['time_limit_s']:g} s", "config                 proven  median s  p90 s   max s"]
    lines += [f"{r['config']:22} {r['proven']:3}/{r['problems']:<3} {r['median_s']:8.3f} {r['p90_s']:6.3f} {r['max_s']:7.3f}"
              for r in result["configs"]]
    return "\n".join(lines)


def as_json(all_results: list[tuple[list[Result], dict[str, float | int]]], time_limit_s: float) -> dict:
    from dataclasses import asdict

    return {"time_limit_s": time_limit_s,
            "cases": [{"name": results[0].case, **info, "results": [asdict(r) for r in results]} for results, info in all_results]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="Case name (repeatable); default: all.")
    parser.add_argument("--config", action="append", help="Configuration name (repeatable); default: all.")
    parser.add_argument("--time-limit", type=float, default=10.0, help="Seconds per solve.")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--stress", type=int, metavar="SEEDS", help="Run the tight-inventory stress suite instead.")
    parser.add_argument("--save", action="store_true", help="Also write the results under benchmarks/results/.")
    args = parser.parse_args(argv)
    command = "python3 -m benchmarks.solver_params " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.stress:
        result = stress([c for c in CONFIGS if not args.config or c.name in args.config], args.time_limit, args.stress)
        print(render_stress(result))
        if args.save:
            save_results("solver_params_stress", result, command)
        return
    cases = [c for c in serving_cases() if not args.case or c.name in args.case]
    configs = [c for c in CONFIGS if not args.config or c.name in args.config]
    all_results = [run_case(case, configs, args.time_limit) for case in cases]
    print(render(all_results, args.markdown))
    if args.save:
        save_results("solver_params", as_json(all_results, args.time_limit), command)


if __name__ == "__main__":
    main()
