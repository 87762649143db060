"""The one place OR-Tools is imported: a CP-SAT model builder and solver that start in 0.05 s.

Why: ``ortools.sat.python.cp_model`` imports pandas at module level, and its C++ model class imports numpy
when the first model is built: 0.3-0.45 s of the CLI's start-up on a 2-core machine, more than the whole
solve (benchmarks/cli_latency.py). The solver itself only needs the protocol buffer ``CpModelProto`` and the
``SolveWrapper`` of the extension ``cp_model_helper`` (no numpy). So this module writes the proto directly,
with a small linear-expression layer under the names and semantics of ``cp_model`` (``new_int_var``,
``add(expr <= k).only_enforce_if(lit)``, ``add_element``, ``~literal``, ``minimize``, ``add_hint``, ``add_assumptions``;
``CpSolver.solve/value/objective_value/best_objective_bound/stop_search``); the rest of the planner reads like
ordinary CP-SAT code. Where the extension lacks these classes, the names fall back to ``cp_model``'s own.

Linear expressions are kept as trees and flattened once, when a constraint or objective is posted, so
``sum(...)`` over thousands of terms stays linear in time.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from typing import Any

from ortools.sat.python import cp_model_helper as _cmh


def ortools_version() -> str:
    from importlib.metadata import version

    return version("ortools")


CpSolverStatus = _cmh.CpSolverStatus
OPTIMAL = _cmh.CpSolverStatus.OPTIMAL
FEASIBLE = _cmh.CpSolverStatus.FEASIBLE
INFEASIBLE = _cmh.CpSolverStatus.INFEASIBLE
UNKNOWN = _cmh.CpSolverStatus.UNKNOWN
MODEL_INVALID = _cmh.CpSolverStatus.MODEL_INVALID
SatParameters = _cmh.SatParameters
SolutionCallback = _cmh.SolutionCallback  # subclass and override OnSolutionCallback(self)

INT_MIN, INT_MAX = -(2**63), 2**63 - 1

_INTERRUPTED = threading.Event()


def glop_solver() -> tuple[Any, Any]:
    """A GLOP linear-programming solver and its module (``pywraplp``: ``infinity``, ``Solver.OPTIMAL``), imported on
    first use (0.15 s): only procurement horizons solve an LP (``planner.solver.procurement_hint``)."""
    from ortools.linear_solver import pywraplp  # type: ignore[import-untyped]

    return pywraplp.Solver.CreateSolver("GLOP"), pywraplp


def interrupted() -> bool:
    """Whether Ctrl-C stopped a solve of this run (its best solution was returned; nothing more should start)."""
    return _INTERRUPTED.is_set()


def clear_interrupt() -> None:
    """Forget an earlier Ctrl-C (the command line does this when a command starts)."""
    _INTERRUPTED.clear()


class LinearExpr:
    """An integer linear expression: a tree of sums and scalings over variables, flattened on demand."""

    __slots__ = ()

    def flatten(self) -> tuple[dict[int, int], int]:
        """({variable index: coefficient}, constant), iteratively (sum() builds trees thousands deep)."""
        coefficients: dict[int, int] = {}
        constant = 0
        stack: list[tuple[object, int]] = [(self, 1)]
        while stack:
            node, factor = stack.pop()
            if isinstance(node, int):
                constant += factor * node
            elif isinstance(node, IntVar):
                coefficients[node.index] = coefficients.get(node.index, 0) + factor
            elif isinstance(node, _Sum):
                stack.append((node.left, factor))
                stack.append((node.right, factor))
            elif isinstance(node, _Scaled):
                stack.append((node.expression, factor * node.factor))
            elif isinstance(node, _Not):
                coefficients[node.variable.index] = coefficients.get(node.variable.index, 0) - factor
                constant += factor
            else:
                raise TypeError(f"not an integer linear expression: {node!r}")
        return coefficients, constant

    def __add__(self, other: ExprLike) -> LinearExpr:
        return self if isinstance(other, int) and other == 0 else _Sum(self, _checked(other))

    def __radd__(self, other: ExprLike) -> LinearExpr:
        return self if isinstance(other, int) and other == 0 else _Sum(_checked(other), self)

    def __sub__(self, other: ExprLike) -> LinearExpr:
        return _Sum(self, _Scaled(_checked(other), -1))

    def __rsub__(self, other: ExprLike) -> LinearExpr:
        return _Sum(_checked(other), _Scaled(self, -1))

    def __mul__(self, factor: int) -> LinearExpr:
        if not isinstance(factor, int) or isinstance(factor, bool):
            raise TypeError(f"coefficients must be integers, got {factor!r}")
        return _Scaled(self, factor)

    __rmul__ = __mul__

    def __neg__(self) -> LinearExpr:
        return _Scaled(self, -1)

    def __le__(self, other: ExprLike) -> BoundedLinearExpression:
        return BoundedLinearExpression(self - other, INT_MIN, 0)

    def __ge__(self, other: ExprLike) -> BoundedLinearExpression:
        return BoundedLinearExpression(self - other, 0, INT_MAX)

    def __eq__(self, other: object) -> BoundedLinearExpression:  # type: ignore[override]
        return BoundedLinearExpression(self - other, 0, 0)  # type: ignore[operator]

    def __hash__(self) -> int:
        return id(self)


ExprLike = LinearExpr | int


def total(terms: Iterable[ExprLike]) -> LinearExpr:
    """The sum of ``terms`` as an expression, also when there are none: the built-in ``sum`` of nothing is the
    integer 0, whose comparison is a bool rather than a constraint."""
    return _Sum(0, sum(terms))


def _checked(value: object) -> LinearExpr | int:
    if isinstance(value, bool) or not isinstance(value, (int, LinearExpr)):
        raise TypeError(f"not an integer linear expression: {value!r}")
    return value


class _Sum(LinearExpr):
    __slots__ = ("left", "right")

    def __init__(self, left: LinearExpr | int, right: LinearExpr | int):
        self.left, self.right = left, right


class _Scaled(LinearExpr):
    __slots__ = ("expression", "factor")

    def __init__(self, expression: LinearExpr | int, factor: int):
        self.expression, self.factor = expression, factor


class IntVar(LinearExpr):
    """A model variable; ``index`` is its position in the proto (and its literal when Boolean)."""

    __slots__ = ("index", "name")

    def __init__(self, index: int, name: str):
        self.index, self.name = index, name

    def __invert__(self) -> _Not:
        return _Not(self)

    def __hash__(self) -> int:
        return hash(("var", self.index))

    def __repr__(self) -> str:
        return self.name or f"x{self.index}"


class _Not(LinearExpr):
    """The negation ``1 - b`` of a Boolean variable; as a literal, index ``-b - 1`` (the proto's convention)."""

    __slots__ = ("variable",)

    def __init__(self, variable: IntVar):
        self.variable = variable

    @property
    def index(self) -> int:
        return -self.variable.index - 1

    def __invert__(self) -> IntVar:
        return self.variable


class BoundedLinearExpression:
    """``lb <= expression <= ub``, what comparisons of expressions produce and ``CpModel.add`` posts."""

    __slots__ = ("expression", "lb", "ub")

    def __init__(self, expression: LinearExpr | int, lb: int, ub: int):
        self.expression, self.lb, self.ub = expression, lb, ub

    def __bool__(self) -> bool:
        raise TypeError("a linear constraint has no truth value; post it with model.add(...)")


class Constraint:
    """A posted constraint; ``only_enforce_if`` makes it hold only when all the given literals are true."""

    __slots__ = ("proto",)

    def __init__(self, proto: object):
        self.proto = proto

    def only_enforce_if(self, *literals: object) -> Constraint:
        for literal in _literals(literals):
            self.proto.enforcement_literal.append(literal.index)  # type: ignore[attr-defined]
        return self


def _literals(items: Iterable[object]) -> list[IntVar | _Not]:
    flat: list[IntVar | _Not] = []
    for item in items:
        if isinstance(item, (list, tuple)) or (not isinstance(item, LinearExpr) and hasattr(item, "__iter__")):
            flat.extend(_literals(item))
        elif isinstance(item, (IntVar, _Not)):
            flat.append(item)
        else:
            raise TypeError(f"not a Boolean literal: {item!r}")
    return flat


if hasattr(_cmh, "CpModelProto") and hasattr(_cmh, "SolveWrapper"):
    CpModelProto = _cmh.CpModelProto

    class CpModel:
        """A CP-SAT model written straight into ``CpModelProto`` (see the module docstring)."""

        def __init__(self) -> None:
            self.model_proto = _cmh.CpModelProto()

        def new_int_var(self, lb: int, ub: int, name: str) -> IntVar:
            variable = self.model_proto.variables.add()
            variable.domain.extend([int(lb), int(ub)])
            variable.name = name
            return IntVar(len(self.model_proto.variables) - 1, name)

        def new_bool_var(self, name: str) -> IntVar:
            return self.new_int_var(0, 1, name)

        def new_int_var_from_values(self, values: Iterable[int], name: str) -> IntVar:
            """A variable whose domain is exactly ``values`` (a sorted set of integers, as disjoint intervals)."""
            intervals: list[int] = []
            for value in sorted({int(v) for v in values}):
                if intervals and value == intervals[-1] + 1:
                    intervals[-1] = value
                else:
                    intervals += [value, value]
            variable = self.model_proto.variables.add()
            variable.domain.extend(intervals)
            variable.name = name
            return IntVar(len(self.model_proto.variables) - 1, name)

        def add(self, constraint: BoundedLinearExpression) -> Constraint:
            if not isinstance(constraint, BoundedLinearExpression):
                raise TypeError(f"not a linear constraint: {constraint!r}")
            coefficients, constant = _flatten(constraint.expression)
            proto = self.model_proto.constraints.add()
            proto.linear.vars.extend(coefficients.keys())
            proto.linear.coeffs.extend(coefficients.values())
            lb = constraint.lb if constraint.lb == INT_MIN else constraint.lb - constant
            ub = constraint.ub if constraint.ub == INT_MAX else constraint.ub - constant
            proto.linear.domain.extend([lb, ub])
            return Constraint(proto)

        def _bool_argument(self, field: str, literals: Iterable[object]) -> Constraint:
            proto = self.model_proto.constraints.add()
            getattr(proto, field).literals.extend(literal.index for literal in _literals([literals]))
            return Constraint(proto)

        def add_at_most_one(self, literals: Iterable[object]) -> Constraint:
            return self._bool_argument("at_most_one", literals)

        def add_exactly_one(self, literals: Iterable[object]) -> Constraint:
            return self._bool_argument("exactly_one", literals)

        def add_bool_or(self, literals: Iterable[object]) -> Constraint:
            return self._bool_argument("bool_or", literals)

        def add_element(self, index: IntVar, values: Iterable[int], target: IntVar) -> Constraint:
            """``target == values[index]`` for a table of integer constants."""
            proto = self.model_proto.constraints.add()
            element = proto.element
            element.linear_index.vars.append(index.index)
            element.linear_index.coeffs.append(1)
            element.linear_target.vars.append(target.index)
            element.linear_target.coeffs.append(1)
            for value in values:
                element.exprs.add().offset = int(value)
            return Constraint(proto)

        def _set_objective(self, expression: ExprLike, sign: int) -> None:
            self.model_proto.clear_objective()
            coefficients, constant = _flatten(expression)
            objective = self.model_proto.objective
            objective.vars.extend(coefficients.keys())
            objective.coeffs.extend(sign * c for c in coefficients.values())
            objective.offset = float(sign * constant)
            objective.scaling_factor = float(sign)

        def minimize(self, expression: ExprLike) -> None:
            self._set_objective(expression, 1)

        def maximize(self, expression: ExprLike) -> None:
            self._set_objective(expression, -1)

        def add_hint(self, variable: IntVar | _Not, value: int) -> None:
            hint = self.model_proto.solution_hint
            if isinstance(variable, _Not):
                variable, value = variable.variable, 1 - int(value)
            hint.vars.append(variable.index)
            hint.values.append(int(value))

        def clear_hints(self) -> None:
            self.model_proto.clear_solution_hint()

        def add_assumptions(self, literals: Iterable[object]) -> None:
            self.model_proto.assumptions.extend(literal.index for literal in _literals([literals]))

        def clear_assumptions(self) -> None:
            self.model_proto.assumptions.clear()

        def validate(self) -> str:
            return _cmh.CpSatHelper.validate_model(self.model_proto)

        def export_to_file(self, path: str) -> bool:
            """Write the model (text format if the name ends in 'txt'), for debugging with CP-SAT's tools."""
            return _cmh.CpSatHelper.write_model_to_file(self.model_proto, path)

    def _flatten(expression: ExprLike) -> tuple[dict[int, int], int]:
        checked = _checked(expression)
        if isinstance(checked, LinearExpr):
            coefficients, constant = checked.flatten()
            return {i: c for i, c in coefficients.items() if c}, constant
        return {}, checked

    class CpSolver:
        """Solves a ``CpModel``; the subset of ``cp_model.CpSolver`` the planner uses.

        In the main thread a solve runs in a helper thread (the extension releases the GIL) while the main thread
        waits for it, so Ctrl-C reaches Python: it stops the search at once, the solve returns its best solution
        so far, ``interrupted()`` becomes true and ``self.interrupted`` says so, and the next solve anywhere raises
        ``KeyboardInterrupt`` instead of starting (once; see ``clear_interrupt``). CP-SAT's own
        ``catch_sigint_signal`` is not used: it swallows the signal, so later work would not know of it, and it
        leaves the default handler behind.
        """

        def __init__(self) -> None:
            self.parameters = SatParameters()
            self._response: _cmh.CpSolverResponse | None = None
            self._solution: list[int] = []
            self._wrapper: _cmh.SolveWrapper | None = None
            self._lock = threading.Lock()
            self.interrupted = False

        def solve(self, model: CpModel, solution_callback: _cmh.SolutionCallback | None = None) -> _cmh.CpSolverStatus:
            if _INTERRUPTED.is_set():
                _INTERRUPTED.clear()
                raise KeyboardInterrupt
            self.parameters.catch_sigint_signal = False
            if threading.current_thread() is threading.main_thread():
                self._response = self._solve_interruptibly(model, solution_callback)
            else:
                self._response = self._solve(model, solution_callback)
            self._solution = list(self._response.solution)
            status: _cmh.CpSolverStatus = self._response.status
            return status

        def _solve_interruptibly(self, model: CpModel, solution_callback: _cmh.SolutionCallback | None) -> _cmh.CpSolverResponse:
            outcome: dict[str, object] = {}

            def run() -> None:
                try:
                    outcome["response"] = self._solve(model, solution_callback)
                except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                    outcome["error"] = exc

            def on_sigint(signum: int, frame: object) -> None:
                _INTERRUPTED.set()
                self.interrupted = True

            worker = threading.Thread(target=run, name="cp-sat", daemon=True)
            previous = signal.signal(signal.SIGINT, on_sigint)
            try:
                worker.start()
                while worker.is_alive():
                    worker.join(0.05)
                    if self.interrupted:
                        self.stop_search()  # again each tick: the search may not have started at the first
            finally:
                signal.signal(signal.SIGINT, previous)
            if "error" in outcome:
                raise outcome["error"]  # type: ignore[misc]
            return outcome["response"]  # type: ignore[return-value]

        def _solve(self, model: CpModel, solution_callback: _cmh.SolutionCallback | None) -> _cmh.CpSolverResponse:
            wrapper = _cmh.SolveWrapper()
            with self._lock:
                self._wrapper = wrapper
            wrapper.set_parameters(self.parameters)
            if solution_callback is not None:
                wrapper.add_solution_callback(solution_callback)
            try:
                response: _cmh.CpSolverResponse = wrapper.solve(model.model_proto)  # type: ignore[no-untyped-call]  # untyped in OR-Tools' stub
                return response
            finally:
                if solution_callback is not None:
                    wrapper.clear_solution_callback(solution_callback)
                with self._lock:
                    self._wrapper = None

        def stop_search(self) -> None:
            """Ask a running solve to stop; it returns its best solution so far (thread-safe)."""
            with self._lock:
                if self._wrapper is not None:
                    self._wrapper.stop_search()

        @property
        def response(self) -> _cmh.CpSolverResponse:
            if self._response is None:
                raise RuntimeError("solve() has not been called")
            return self._response

        def value(self, expression: ExprLike) -> int:
            if not self._solution:
                raise RuntimeError("no solution to read a value from")
            coefficients, constant = _flatten(expression)
            return constant + sum(c * self._solution[i] for i, c in coefficients.items())

        def boolean_value(self, literal: IntVar | _Not) -> bool:
            return bool(self.value(literal))

        def sufficient_assumptions_for_infeasibility(self) -> list[int]:
            return list(self.response.sufficient_assumptions_for_infeasibility)

        @property
        def objective_value(self) -> float:
            return self.response.objective_value

        @property
        def best_objective_bound(self) -> float:
            return self.response.best_objective_bound

        @property
        def wall_time(self) -> float:
            return self.response.wall_time

        @property
        def deterministic_time(self) -> float:
            return self.response.deterministic_time

        @property
        def num_conflicts(self) -> int:
            return self.response.num_conflicts

        def status_name(self, status: _cmh.CpSolverStatus | None = None) -> str:
            return (self.response.status if status is None else status).name

else:  # pragma: no cover - an OR-Tools without these extension classes: same names, slower import
    from ortools.sat.python import cp_model as _cp

    CpSolver = _cp.CpSolver  # type: ignore[assignment, misc]

    class CpModel(_cp.CpModel):  # type: ignore[no-redef]
        def new_int_var_from_values(self, values: Iterable[int], name: str):  # type: ignore[no-untyped-def]
            return self.new_int_var_from_domain(_cp.Domain.FromValues(sorted(set(values))), name)

    def total(terms: Iterable[ExprLike]) -> LinearExpr:
        return _cp.LinearExpr.sum(list(terms))  # type: ignore[return-value]  # OR-Tools' own expression type
