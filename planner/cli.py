"""Command-line interface: parses options, calls one library function per command, renders the result.

Exit codes: 0 plan found, 1 infeasible (with the reason), 2 bad input, 3 internal error, 130 interrupted (Ctrl-C:
what finished is reported first).
"""

from __future__ import annotations

import functools
import json
import math
import sys
from typing import Any, Callable

import click

from . import __version__
from .errors import PlannerError

DEBUG = {"on": False}
SIGINT_SEEN: dict[str, Callable[[], bool]] = {"check": lambda: False}  # set by main(): Ctrl-C seen by the process


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False, width=200 if not sys.stdout.isatty() else None)


INTERRUPTED_EXIT_CODE = 130
"""What shells report for a process stopped by Ctrl-C (128 + SIGINT)."""


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses nan and inf (nan compares false with both bounds, so it passes them)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn planner errors into one clear message on stderr and their exit code; no tracebacks.

    Ctrl-C anywhere ends the command within a second with ``interrupted: ...`` and exit code 130 (what finished
    was printed before); text quoted from the input is shown with control characters escaped.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .display import plain
        from .solver import sat_api

        sat_api.clear_interrupt()
        try:
            return func(*args, **kwargs)
        except PlannerError as exc:
            if DEBUG["on"]:
                raise
            label = {1: "infeasible", 2: "error", 3: "internal error", INTERRUPTED_EXIT_CODE: "interrupted"}.get(exc.exit_code, "error")
            if exc.exit_code == 3 and getattr(exc, "partial", None) is not None:
                label = "incomplete"
            click.echo(plain(f"{label}: {exc.render()}"), err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            if DEBUG["on"]:
                raise
            click.echo("interrupted (Ctrl-C): stopped before a result was complete; nothing was written", err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback reaches users
            if DEBUG["on"]:
                raise
            if SIGINT_SEEN["check"]():  # Ctrl-C while an extension module loaded: it reports ImportError
                click.echo("interrupted (Ctrl-C): stopped before a result was complete; nothing was written", err=True)
                sys.exit(INTERRUPTED_EXIT_CODE)
            click.echo(plain(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback; "
                             "this is a bug in planner)"), err=True)
            sys.exit(3)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="planner")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
def cli(debug: bool) -> None:
    """Find the cheapest GPU fleet that serves or trains a model, with its memory bill per GPU.

    \b
    Example:
      planner solve scenarios/llama-3.1-70b-chat.yaml
      planner memory --model llama-3.1-70b --gpu h100-sxm --tp 4 --batch 32 --context 8192
      planner solve scenarios/training-llama-3.1-8b-lora-consumer-gpu.yaml
      planner whatif scenarios/llama-3.1-70b-chat.yaml --set workload.concurrency=128
    """
    DEBUG["on"] = debug


@cli.command()
@click.argument("scenario_path", metavar="SCENARIO", type=click.Path(dir_okay=False))
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--method", type=click.Choice(["cpsat", "enumerate"]), default="cpsat", show_default=True,
              help="cpsat: mixed fleets, proven optimal; enumerate: exhaustive homogeneous reference.")
@click.option("--time-limit", type=FiniteFloatRange(0.01, 3600), default=None,
              help="Solver time limit in seconds [default: the scenario's solver.time_limit_s, 10]. When it is hit, or on "
                   "Ctrl-C, the best plan found so far is printed with status 'feasible' and its proven gap.")
@click.option("--pareto", type=click.Choice(["cost,headroom", "cost,gpus", "cost,concurrency", "cost,tpot", "cost,ttft",
                                               "cost,time"]), is_flag=False,
              flag_value="cost,headroom", default=None, help="Pareto set of plans over two objectives (default pair: cost,headroom).")
@click.option("--pareto-points", type=click.IntRange(1, 1000), default=20, show_default=True, help="Most Pareto points to find.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write a plot (.png or .svg): the frontier with --pareto, else the plan's memory bill per GPU.")
@handle_errors
def solve(scenario_path: str, output_format: str, method: str, time_limit: float | None, pareto: str | None,
          pareto_points: int, plot_path: str | None) -> None:
    """Solve a scenario: the cheapest verified plan that meets its demand.

    \b
    Example:
      planner solve scenarios/llama-3.1-70b-chat.yaml --format json
      planner solve scenarios/llama-3.1-70b-chat.yaml --pareto cost,headroom --plot frontier.png
    """
    from .api import solve_scenario
    from .report.serving import render_solve_table, solve_csv, to_json
    from .api import load_scenario

    _check_plot(plot_path)
    scenario = load_scenario(scenario_path)
    if scenario.kind == "training":
        if plot_path is not None:
            from .errors import InputError, Issue

            raise InputError("--plot is for serving plans", [Issue("training plans have no plot yet; use --format json",
                                                                   field_path="--plot")])
        _solve_training(scenario, output_format, method, time_limit, pareto, pareto_points)
        return
    if pareto == "cost,time":
        from .errors import InputError, Issue

        raise InputError("--pareto cost,time is for training scenarios", [Issue("serving pairs: cost,headroom, cost,gpus, cost,concurrency",
                                                                                field_path="--pareto")])
    if scenario.demand is not None:
        _solve_procurement(scenario, output_format, method, time_limit, pareto, plot_path)
        return
    if pareto is not None:
        _solve_pareto(scenario, pareto, pareto_points, output_format, plot_path, time_limit)
        return
    report = solve_scenario(scenario, method=method, time_limit_s=time_limit)  # type: ignore[arg-type]
    from .catalog.pricing import pricing_summary

    pricing = pricing_summary(scenario, report.plans[0])
    if output_format == "json":
        click.echo(to_json({**report.to_dict(), **({"pricing": pricing} if pricing else {})}))
    elif output_format == "csv":
        click.echo(solve_csv(report), nl=False)
    else:
        render_solve_table(report, _console())
        if pricing:
            from .report.serving import pricing_line

            _console().print(pricing_line(pricing))
    if plot_path:
        from .report.plots import plan_bills, plot_memory_bill

        plot_memory_bill(plan_bills(report.plans[0]), plot_path, f"{report.scenario_name}: memory bill per GPU")
    if report.solver.get("interrupted"):
        click.echo("interrupted (Ctrl-C): the plan above is the best found before the search stopped (status feasible)",
                   err=True)


def _solve_procurement(scenario, output_format: str, method: str, time_limit: float | None, pareto: str | None,
                       plot_path: str | None) -> None:
    """``solve`` for a scenario with a demand profile: what to buy, reserve and rent in every period."""
    from .errors import InputError, Issue
    from .pipeline.procurement import solve_procurement_scenario
    from .report.procurement import procurement_csv, render_procurement
    from .report.serving import to_json

    if pareto is not None or method != "cpsat":
        raise InputError("--pareto and --method enumerate are for single-load scenarios",
                         [Issue("a demand profile is planned by one CP-SAT model over all periods", field_path="--pareto" if pareto else "--method")])
    report = solve_procurement_scenario(scenario, time_limit_s=time_limit)
    if output_format == "json":
        click.echo(to_json(report.to_dict()))
    elif output_format == "csv":
        click.echo(procurement_csv(report), nl=False)
    else:
        render_procurement(report, _console())
    if plot_path:
        from .report.plots import plot_procurement

        plot_procurement(report, plot_path)


def _check_plot(plot_path: str | None) -> None:
    """A ``--plot`` destination is checked before any work: a plan is never computed and then not written."""
    if plot_path is not None:
        from .report.plots import check_plot_path

        check_plot_path(plot_path)


def _solve_training(scenario, output_format: str, method: str, time_limit: float | None, pareto: str | None,
                    pareto_points: int = 20) -> None:
    """``solve`` for ``kind: training``: the cheapest (or fastest) verified layout and cluster, or with
    ``--pareto cost,time`` the cost-time frontier."""
    from .errors import InfeasibleError, InputError, Issue
    from .report.serving import to_json
    from .pipeline.training import solve_training
    from .report.training import render_training_pareto, render_training_table, training_csv

    if pareto is not None and pareto != "cost,time":
        raise InputError(f"--pareto {pareto} is for serving scenarios", [Issue("training scenarios take --pareto cost,time",
                                                                              field_path="--pareto")])
    if pareto == "cost,time":
        from .analysis.training_pareto import training_pareto
        from .pipeline.training import prepare_training

        prepared = prepare_training(scenario)
        front = training_pareto(prepared, pareto_points, method, time_limit)  # type: ignore[arg-type]
        if not front.points:
            raise InfeasibleError("no training plan meets the scenario, so there is no Pareto set",
                                  [Issue("run 'planner solve' without --pareto for the reason")])
        name = scenario.name or "scenario"
        if output_format == "json":
            click.echo(to_json({"scenario": name, "kind": "training", "model": prepared.model_name, **front.to_dict()}))
        elif output_format == "csv":
            click.echo(training_csv(front), nl=False)
        else:
            render_training_pareto(front, f"[bold]{name}[/bold]: {prepared.model_name}", _console())
        return
    report = solve_training(scenario, method=method, time_limit_s=time_limit)  # type: ignore[arg-type]
    if output_format == "json":
        click.echo(to_json(report.to_dict()))
    elif output_format == "csv":
        click.echo(training_csv(report), nl=False)
    else:
        render_training_table(report, _console())


def _solve_pareto(scenario, pair: str, max_points: int, output_format: str, plot_path: str | None, time_limit: float | None) -> None:
    """``solve --pareto``: the Pareto set as a table, JSON (``pareto[]`` of solve's plan objects) or CSV."""
    from .errors import InfeasibleError, Issue
    from .pipeline.serving import prepare
    from .report.serving import pareto_csv, render_pareto_table, to_json
    from .analysis.pareto import PAIRS, pareto_front

    prepared = prepare(scenario)
    front = pareto_front(prepared, PAIRS[pair], max_points, time_limit)
    if not front.points:
        raise InfeasibleError("no plan meets the scenario, so there is no Pareto set", [Issue("run 'planner solve' without --pareto for the reason")])
    name = scenario.name or "scenario"
    if output_format == "json":
        click.echo(to_json({"scenario": name, "model": prepared.model_name, "demand": scenario.workload.as_dict(), **front.to_dict()}))
    elif output_format == "csv":
        click.echo(pareto_csv(front), nl=False)
    else:
        from .display import markup

        render_pareto_table(front, f"[bold]{markup(name)}[/bold]: {markup(prepared.model_name)}, {scenario.workload.describe()}", _console())
    if plot_path:
        from .report.plots import plot_pareto

        plot_pareto(front, plot_path, f"{name}: cost vs {front.objective}")


@cli.command()
@click.argument("scenario_path", metavar="SCENARIO", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
              help="Override a scenario value (gpus.<id>.price=1.8 is the GPU's on-demand price). Without --sweep the "
                   "overrides are one variation compared with the file; with --sweep they change the baseline too.")
@click.option("--sweep", "sweep_path", type=click.Path(dir_okay=False), default=None, help="Sweep file: named variations and ranges.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: the RAY_ADDRESS cluster or a local Ray instance.")
@click.option("--workers", type=click.IntRange(1, 4096), default=None, help="Parallel solves (default: the CPU count).")
@click.option("--sensitivity", is_flag=True, help="Also find, by re-solving, how far each used GPU's price can move before the baseline plan changes.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Write cost vs the swept variable (.png or .svg).")
@handle_errors
def whatif(scenario_path: str, overrides: tuple[str, ...], sweep_path: str | None, output_format: str, executor: str,
           workers: int | None, sensitivity: bool, plot_path: str | None) -> None:
    """Re-solve a scenario under changes and compare each variation with the baseline.

    \b
    Example:
      planner whatif scenarios/llama-3.1-70b-chat.yaml --set gpus.h100-sxm.price=1.8 --set workload.concurrency=128
      planner whatif scenarios/llama-3.1-70b-chat.yaml --sweep scenarios/sweep-h100-price-drop.yaml --plot sweep.png
    """
    from .report.serving import render_rent_vs_buy, render_sensitivity, render_whatif_table, to_json, whatif_csv
    from .analysis.sweep import Variation, load_sweep
    from .analysis.whatif import WhatIf, parse_override, run_whatif

    _check_plot(plot_path)
    sweep = load_sweep(sweep_path) if sweep_path else None
    if sweep is not None:
        analysis, extra = WhatIf(scenario_path, list(overrides)), []
    else:
        analysis = WhatIf(scenario_path)
        parsed = [parse_override(text) for text in overrides]
        extra = [Variation("--set " + " ".join(overrides), tuple(parsed))] if parsed else []
    stderr = _console(stderr=True)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .errors import Incomplete

    incomplete = None
    with Progress(TextColumn("solving variations"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True, disable=not stderr.is_terminal) as bar:
        task = bar.add_task("solve", total=None)
        try:
            report = run_whatif(analysis, sweep, extra, executor, workers,  # type: ignore[arg-type]
                                lambda done, total: bar.update(task, completed=done, total=total), sensitivity)
        except Incomplete as stopped:  # Ctrl-C or a dead worker: print what finished, then the message
            incomplete, report = stopped, stopped.partial
    if output_format == "json":
        click.echo(to_json(report.to_dict()))
    elif output_format == "csv":
        click.echo(whatif_csv(report), nl=False)
    else:
        console = _console()
        render_whatif_table(report, console)
        if report.extras.get("rent_vs_buy"):
            render_rent_vs_buy(report.extras["rent_vs_buy"], console)
        if report.extras.get("sensitivity"):
            render_sensitivity(report.extras["sensitivity"], console)
    if incomplete is not None:
        raise incomplete
    if plot_path:
        from .report.plots import plot_sweep

        plot_sweep(report, plot_path)


@cli.command()
@click.argument("scenario_path", metavar="SCENARIO", type=click.Path(dir_okay=False))
@handle_errors
def validate(scenario_path: str) -> None:
    """Check a scenario (schema, catalog ids, model) without solving."""
    from .pipeline.serving import prepare
    from .api import load_scenario

    scenario = load_scenario(scenario_path)
    if scenario.kind == "training":
        from .pipeline.training import prepare_training

        trained = prepare_training(scenario)
        click.echo(f"{scenario_path}: valid — training {trained.model_name}, {len(trained.gpus)} GPU types, "
                   f"{len(trained.enumeration.candidates)} layouts fit ({len(trained.candidates)} after pruning)")
        return
    if scenario.demand is not None:
        from .pipeline.procurement import check_procurement_scenario

        grid, shapes, supply = check_procurement_scenario(scenario)
        click.echo(f"{scenario_path}: valid — procurement over {len(grid.periods)} period(s), {grid.points} demand points, peak "
                   f"{grid.display(grid.peak)}; model {shapes.model_name}, {len(shapes.enumeration.candidates)} replica shapes fit, "
                   f"{len(supply.pools)} supply pools")
        return
    prepared = prepare(scenario)
    click.echo(f"{scenario_path}: valid — model {prepared.model_name}, {len(prepared.gpus)} GPU types, "
               f"{len(prepared.enumeration.candidates)} replica shapes fit ({len(prepared.candidates)} after pruning)")


def _options(*decorators: Callable[..., Any]) -> Callable[..., Any]:
    """Apply a group of click options in the order they are listed (shared between commands and modes)."""
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


TRAINING_OPTIONS = _options(
    click.option("--zero", "zero_stage", type=click.IntRange(0, 3), default=None, help="(--training) ZeRO stage over --dp [0]."),
    click.option("--optimizer", default=None, help="(--training) adamw, adam8bit, sgd or adafactor [adamw]."),
    click.option("--micro-batch", type=click.IntRange(1, 65_536), default=None, help="(--training) sequences per micro-batch [1]."),
    click.option("--sequence-length", type=click.IntRange(1, 10_000_000), default=None, help="(--training) tokens per sequence [2048]."),
    click.option("--recompute", type=click.Choice(["none", "selective", "full"]), default=None, help="(--training) activation recomputation [none]."),
    click.option("--sequence-parallel", is_flag=True, help="(--training) Megatron sequence parallelism over --tp."),
    click.option("--method", "training_method", type=click.Choice(["full", "lora", "qlora", "frozen"]), default=None,
                 help="(--training) full, lora, qlora or frozen (backbone frozen, --trainable-layers trained) [full]."),
    click.option("--convention", type=click.Choice(["zero-paper", "megatron", "deepspeed"]), default=None,
                 help="(--training) bytes per parameter: ZeRO paper 16, Megatron-LM 18, DeepSpeed estimator [zero-paper]."),
    click.option("--lora-rank", type=click.IntRange(1, 4096), default=None, help="(--training) LoRA rank on q_proj, v_proj [16]."),
    click.option("--offload", type=click.Choice(["none", "optimizer", "optimizer_and_parameters"]), default=None, help="(--training) CPU offload [none]."),
    click.option("--attention", type=click.Choice(["flash", "eager"]), default=None, help="(--training) flash: no s^2 activations [flash]."),
    click.option("--trainable-layers", type=click.IntRange(0, 10_000), default=None,
                 help="(--training --method frozen) last blocks trained with the output layer [0]."),
)
"""The training flags ``memory --training`` and ``perf --training`` share."""

TRAINING_KEYS = ("zero_stage", "optimizer", "micro_batch", "sequence_length", "recompute", "sequence_parallel",
                 "training_method", "convention", "lora_rank", "offload", "attention", "trainable_layers")


@cli.command()
@click.option("--model", "model_id", help="Catalog model id.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Path to a Hugging Face config.json.")
@click.option("--architecture", "architecture_path", type=click.Path(dir_okay=False),
              help="YAML/JSON file holding an architecture mapping (the fields of 'planner schema models' architecture).")
@click.option("--gpu", "gpu_id", help="Catalog GPU id (its usable memory is the capacity).")
@click.option("--gpu-memory-gib", type=FiniteFloatRange(0.1, 100_000), help="Total GPU memory as the engine reports it, GiB.")
@click.option("--gpu-memory-utilization", type=FiniteFloatRange(0.05, 1.0), default=None, help="vLLM [0.9].")
@click.option("--precision", default=None, help="Weight format (see 'planner catalog formats'); default: the checkpoint's.")
@click.option("--kv-cache-dtype", default="fp16", show_default=True)
@click.option("--tp", type=click.IntRange(1, 1024), default=1, show_default=True)
@click.option("--pp", type=click.IntRange(1, 1024), default=1, show_default=True)
@click.option("--ep", type=click.IntRange(1, 65_536), default=1, show_default=True, help="Expert parallel: 1, --tp or --tp x --dp.")
@click.option("--dp", type=click.IntRange(1, 1024), default=1, show_default=True, help="Data-parallel attention ranks per replica.")
@click.option("--batch", type=click.IntRange(0, 10_000_000), default=1, show_default=True, help="Concurrent sequences.")
@click.option("--context", type=click.IntRange(1, 10_000_000), default=4096, show_default=True, help="Tokens per sequence.")
@click.option("--max-model-len", type=click.IntRange(1, 10_000_000), default=None, help="For vLLM's max-concurrency figure (default: --context).")
@click.option("--max-num-batched-tokens", type=click.IntRange(16, 1_048_576), default=None, help="vLLM; default: its own for the GPU.")
@click.option("--max-num-seqs", type=click.IntRange(1, 65_536), default=None, help="vLLM; default: its own for the GPU.")
@click.option("--engine", default=None, metavar="NAME",
              help="vllm (default), sglang, trtllm, llamacpp; also vllm-v0, vllm-v1, tensorrt-llm, llama.cpp.")
@click.option("--engine-version", default=None, metavar="RELEASE", help="Release whose defaults apply, e.g. 0.6.3, 0.4.6, b4500.")
@click.option("--mem-fraction-static", type=FiniteFloatRange(0.05, 0.99), default=None, help="SGLang; default: its own rule.")
@click.option("--chunked-prefill-size", type=click.IntRange(16, 1_048_576), default=None, help="SGLang.")
@click.option("--free-gpu-memory-fraction", type=FiniteFloatRange(0.01, 1.0), default=None, help="TensorRT-LLM [0.9].")
@click.option("--max-num-tokens", type=click.IntRange(16, 1_048_576), default=None, help="TensorRT-LLM [8192].")
@click.option("--max-batch-size", type=click.IntRange(1, 65_536), default=None, help="TensorRT-LLM [2048].")
@click.option("--n-gpu-layers", "--ngl", "n_gpu_layers", type=click.IntRange(0, 100_000), default=None,
              help="llama.cpp -ngl: blocks on the GPU, the rest in host RAM [all].")
@click.option("--n-ubatch", type=click.IntRange(1, 1_048_576), default=None, help="llama.cpp physical batch [512].")
@click.option("--gguf", "gguf_path", type=click.Path(dir_okay=False), default=None,
              help="A .gguf model file: its header's tensor types give the weights (engine: llamacpp).")
@click.option("--cuda-graphs-in-budget", is_flag=True, help="vLLM: charge CUDA graphs to the KV budget (newer vLLM estimates them).")
@click.option("--memory-mode", type=click.Choice(["engine", "formula"]), default="engine", show_default=True)
@click.option("--explain", is_flag=True, help="Show the formula behind each line.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Also write the bill as a stacked bar (.png or .svg).")
@click.option("--training", is_flag=True, help="Training bill: parameters, gradients, optimizer states, activations, buffers.")
@TRAINING_OPTIONS
@handle_errors
def memory(explain: bool, as_json: bool, plot_path: str | None = None, training: bool = False, **options: Any) -> None:
    """Print the memory bill per GPU of one serving configuration (GiB), with vLLM's KV-cache capacity;
    with --training, the bill of one training configuration (worst pipeline stage).

    \b
    Example:
      planner memory --model llama-3.1-70b --gpu h100-sxm --precision bf16 --tp 4 --batch 32 --context 8192
      planner memory --config config.json --gpu-memory-gib 23.58 --max-model-len 20000 --engine vllm-v0 --json
      planner memory --model qwen2.5-32b --gpu l4 --tp 4 --engine sglang --explain
      planner memory --gguf model-Q4_K_M.gguf --gpu rtx-4090 --n-gpu-layers 20 --kv-cache-dtype q8_0
      planner memory --architecture my-model.yaml --gpu l40s --explain
      planner memory --training --model llama-3.1-8b --dp 8 --zero 3 --precision bf16-mixed --sequence-length 4096 --json
    """
    training_options = {key: options.pop(key) for key in TRAINING_KEYS}
    if training:
        serving_only = ("gpu_memory_utilization", "kv_cache_dtype", "ep", "batch", "context", "max_model_len",
                        "max_num_batched_tokens", "max_num_seqs", "engine", "engine_version", "cuda_graphs_in_budget",
                        "memory_mode", "mem_fraction_static", "chunked_prefill_size", "free_gpu_memory_fraction",
                        "max_num_tokens", "max_batch_size", "n_gpu_layers", "n_ubatch", "gguf_path")
        context = click.get_current_context()
        explicit = [key for key in serving_only if context.get_parameter_source(key) is not click.core.ParameterSource.DEFAULT]
        if plot_path is not None:
            explicit.append("plot_path")
        if explicit:
            from .errors import InputError, Issue

            flags = {"plot_path": "--plot", "gguf_path": "--gguf", "n_gpu_layers": "--n-gpu-layers"}
            named = ", ".join(flags.get(key, "--" + key.replace("_", "-")) for key in explicit)
            raise InputError("serving options do not apply with --training",
                             [Issue(f"given: {named}", field_path="--training",
                                    suggestion="training takes --micro-batch and --sequence-length instead of --batch and --context")])
        _training_memory(options, training_options, explain, as_json)
        return
    given = [key for key, value in training_options.items() if value not in (None, False)]
    if given:
        from .errors import InputError, Issue

        flags = {"zero_stage": "--zero", "training_method": "--method"}
        named = ", ".join(flags.get(key, "--" + key.replace("_", "-")) for key in given)
        raise InputError("training options need --training", [Issue(f"given: {named}", field_path="--training")])
    from rich.table import Table

    from .configuration.memory import MemoryRequest, bill_rows, memory_bill
    from .catalog import default_catalog

    _check_plot(plot_path)
    bill = memory_bill(MemoryRequest(**options), default_catalog())
    data = bill.to_dict()
    if plot_path:
        from .report.plots import plot_memory_bill

        plot_memory_bill([(f"{data['weight_format']}, TP={data['tp']} PP={data['pp']}\n{data['batch']} x {data['context_tokens']:,} tokens",
                           bill.memory)], plot_path, f"{data['model']}: memory bill per GPU")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    heading = (f"{data['model']} ({data['attention']}, {data['parameter_count'] / 1e9:.2f}B params) — {data['weight_format']}, "
               f"KV {data['kv_cache_dtype']}, TP={data['tp']} PP={data['pp']} EP={data['ep']} DP={data['dp']}, "
               f"{data['batch']} × {data['context_tokens']:,} tokens, per GPU ({data['engine']} {data['engine_version']}, "
               f"{data['memory_mode']} mode)")
    table = Table()
    table.add_column("line")
    table.add_column("GiB", justify="right")
    if explain:
        table.add_column("formula")
    for line, gib, formula in bill_rows(data):
        table.add_row(line, f"{gib:.3f} GiB", *([formula] if explain else []))
    console = _console()
    from .display import plain

    console.print(plain(heading), markup=False)
    console.print(table)
    if explain and data["architecture_assumptions"]:
        console.print("Architecture read from the config (assumptions where it was silent):", markup=False)
        for line in data["architecture_assumptions"]:
            console.print(f"  - {line}", markup=False)
    console.print(f"KV cache: {data['kv_cache_bytes_per_token']:,} bytes/token per GPU; kv_cache_capacity_tokens "
                  f"{data['kv_cache_capacity_tokens']:,} ({data['memory_per_gpu_gib']['kv_cache_budget']:.2f} GiB budget, blocks of "
                  f"{data['kv_cache_block_size']}); maximum concurrency for {data['max_model_len']:,} tokens per request: "
                  f"{data['max_concurrency_at_max_model_len']:.2f}x; fits: {'yes' if data['fits'] else 'NO'}")


def _training_memory(options: dict[str, Any], training_options: dict[str, Any], explain: bool, as_json: bool) -> None:
    from .catalog import default_catalog
    from .configuration.training import TrainingMemoryRequest, training_memory_bill
    from .report.training import render_training_bill

    shared = ("model_id", "config_path", "architecture_path", "gpu_id", "gpu_memory_gib", "precision", "tp", "pp", "dp")
    data = training_memory_bill(TrainingMemoryRequest(**{k: options[k] for k in shared}, **training_options), default_catalog())
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    render_training_bill(data, explain, _console())


PERF_MODEL_OPTIONS = _options(
    click.option("--model", "model_id", help="Catalog model id."),
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Path to a Hugging Face config.json."),
    click.option("--architecture", "architecture_path", type=click.Path(dir_okay=False), help="YAML/JSON architecture mapping."),
    click.option("--gpu", "gpu_id", help="Catalog GPU id (its bandwidth, FLOP rates, memory and links)."),
    click.option("--tp", type=click.IntRange(1, 1024), default=1, show_default=True),
    click.option("--pp", type=click.IntRange(1, 1024), default=1, show_default=True),
    click.option("--precision", default=None, help="Weight format (see 'planner catalog formats'); default: the checkpoint's."),
)
"""Options every ``planner perf`` mode shares (serving today; a training mode adds its own group)."""

PERF_SERVING_OPTIONS = _options(
    click.option("--ep", type=click.IntRange(1, 65_536), default=1, show_default=True,
                 help="Expert parallel: 1 or --tp (--training: a multiple of --tp dividing --tp x --dp)."),
    click.option("--replicas", type=click.IntRange(1, 100_000), default=1, show_default=True,
                 help="Identical replicas; the load and the reported throughput are for all of them."),
    click.option("--kv-cache-dtype", default="auto", show_default=True, help="auto (the model's 16 bits), fp8, ..."),
    click.option("--engine", default=None, metavar="NAME", help="vllm (default), sglang, trtllm, llamacpp."),
    click.option("--engine-version", default=None, metavar="RELEASE", help="Release whose defaults apply, e.g. 0.6.3."),
    click.option("--max-num-batched-tokens", type=click.IntRange(16, 1_048_576), default=None,
                 help="Token budget per step (vLLM name; SGLang chunked_prefill_size, TensorRT-LLM max_num_tokens)."),
    click.option("--max-num-seqs", type=click.IntRange(1, 65_536), default=None,
                 help="Largest batch (vLLM name; TensorRT-LLM max_batch_size)."),
    click.option("--input-tokens", type=click.IntRange(1, 10_000_000), default=None, help="Prompt tokens per request."),
    click.option("--output-tokens", type=click.IntRange(1, 10_000_000), default=None, help="Generated tokens per request."),
    click.option("--prefix-cache-hit-rate", type=click.FloatRange(0.0, 0.99), default=0.0, show_default=True,
                 help="Share of prompt tokens found in the prefix cache (their prefill is skipped)."),
    click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=None, help="Load: one static batch per replica."),
    click.option("--concurrency", type=click.IntRange(1, 10_000_000), default=None, help="Load: a closed loop of clients."),
    click.option("--request-rate", type=click.FloatRange(1e-6, 1_000_000, min_open=False), default=None,
                 help="Load: Poisson arrivals, requests/s."),
    click.option("--offline", is_flag=True, help="Load: every request queued at once."),
    click.option("--num-requests", type=click.IntRange(1, 100_000_000), default=None,
                 help=f"(--offline) requests queued [{1000}]."),
)


PERF_TRAINING_OPTIONS = _options(
    click.option("--training", is_flag=True, help="Predict one training step instead (the options marked (--training))."),
    click.option("--dp", type=click.IntRange(1, 1_000_000), default=1, show_default=True, help="(--training) data-parallel replicas."),
    click.option("--virtual-stages", type=click.IntRange(1, 1024), default=1, show_default=True,
                 help="(--training) interleaved 1F1B model chunks per pipeline rank."),
    click.option("--global-batch", type=click.IntRange(1, 100_000_000), default=None,
                 help="(--training) sequences per optimizer step [dp x micro-batch x pp]."),
    TRAINING_OPTIONS,
    click.option("--gpus-per-node", type=click.IntRange(1, 1024), default=None, help="(--training) GPUs per node of your cluster [catalog]."),
    click.option("--scale-up-bandwidth", "scale_up_bandwidth_gb_per_s", type=click.FloatRange(0.01, 100_000), default=None,
                 help="(--training) NVLink / Infinity Fabric GB/s per GPU, one direction [catalog]."),
    click.option("--inter-node-bandwidth", "inter_node_bandwidth_gb_per_s", type=click.FloatRange(0.001, 100_000), default=None,
                 help="(--training) network GB/s per GPU between nodes, one direction [catalog]."),
    click.option("--mfu", type=click.FloatRange(0.001, 1.0), default=None, help="(--training) assume this MFU instead of the model."),
)
PERF_TRAINING_KEYS = ("dp", "virtual_stages", "global_batch", "gpus_per_node", "scale_up_bandwidth_gb_per_s",
                      "inter_node_bandwidth_gb_per_s", "mfu", *TRAINING_KEYS)
PERF_SHARED_KEYS = ("model_id", "config_path", "architecture_path", "gpu_id", "tp", "pp", "precision", "ep")


@cli.command()
@PERF_MODEL_OPTIONS
@PERF_SERVING_OPTIONS
@PERF_TRAINING_OPTIONS
@click.option("--explain", is_flag=True, help="Show the formula behind each part of the step and the efficiencies used.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def perf(explain: bool, as_json: bool, training: bool = False, **options: Any) -> None:
    """Predict the throughput and latencies of one serving configuration under a load; with --training, the
    step time of one training configuration split into compute, exposed DP / TP / PP / EP communication, bubble
    and optimizer, with tokens/s, TFLOP/s per GPU and MFU.

    \b
    Example:
      planner perf --model llama-3.1-70b --gpu h100-sxm --tp 4 --input-tokens 2000 --output-tokens 300 --request-rate 5
      planner perf --model llama-3.1-8b --gpu l40s --precision fp8 --engine trtllm --input-tokens 1000 --output-tokens 1000 --offline
      planner perf --model qwen2.5-32b --gpu a100-80gb --tp 2 --input-tokens 512 --output-tokens 256 --concurrency 64 --json
      planner perf --training --model llama-3.1-70b --gpu h100-sxm --tp 8 --dp 16 --zero 1 --sequence-parallel \\
                   --recompute selective --sequence-length 8192 --global-batch 512 --inter-node-bandwidth 12.5
    """
    from .catalog import default_catalog
    from .errors import InputError, Issue
    from .report.serving import to_json

    context = click.get_current_context()
    explicit = [key for key in options if context.get_parameter_source(key) is not click.core.ParameterSource.DEFAULT]
    if training:
        serving_only = [key for key in explicit if key not in (*PERF_TRAINING_KEYS, *PERF_SHARED_KEYS)] + (["explain"] if explain else [])
        if serving_only:
            named = ", ".join("--" + key.replace("_", "-") for key in serving_only)
            raise InputError("serving options do not apply with --training",
                             [Issue(f"given: {named}", field_path="--training",
                                    suggestion="training takes --dp, --micro-batch, --sequence-length and --global-batch")])
        from .configuration.training import TrainingPerfRequest, training_performance
        from .report.training import render_training_performance

        request = TrainingPerfRequest(**{k: options[k] for k in (*PERF_SHARED_KEYS, *PERF_TRAINING_KEYS)})
        data = training_performance(request, default_catalog())
        if as_json:
            click.echo(to_json(data))
            return
        render_training_performance(data, _console())
        return
    training_only = [key for key in explicit if key in PERF_TRAINING_KEYS]
    if training_only:
        named = ", ".join("--" + key.replace("_", "-") for key in training_only)
        raise InputError("training options need --training", [Issue(f"given: {named}", field_path="--training")])
    from .configuration.performance import PerfRequest, performance_report, render_perf

    serving = {k: v for k, v in options.items() if k not in PERF_TRAINING_KEYS}
    data = performance_report(PerfRequest(**serving), default_catalog()).to_dict()
    if as_json:
        click.echo(to_json(data))
        return
    render_perf(data, explain, _console())


@cli.group()
def catalog() -> None:
    """List the built-in GPUs, models and formats."""


@catalog.command("gpus")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def catalog_gpus(as_json: bool) -> None:
    """GPU types with usable memory, throughput, NVLink domain and price."""
    from rich.table import Table

    from .catalog import default_catalog

    gpus = default_catalog().gpus
    if as_json:
        click.echo(json.dumps([g.model_dump() for g in gpus], indent=2))
        return
    table = Table(title="GPU catalog (usable memory as the driver reports it)", title_justify="left")
    for column in ("id", "name", "usable GiB", "nominal GB", "BW GB/s", "BF16 TFLOPS", "FP8", "NVLink", "USD/GPU-h"):
        table.add_column(column)
    for g in gpus:
        table.add_row(g.id, g.name, f"{g.memory_usable_mib / 1024:.1f}" + ("*" if g.memory_usable_estimated else ""),
                      f"{g.memory_nominal_gb:g}", f"{g.memory_bandwidth_gbps:g}", f"{g.dense_tflops('bf16') or 0:g}",
                      "yes" if g.supports_fp8 else "no", str(g.nvlink_domain_size),
                      f"{g.price_usd_per_gpu_hour:.2f}" + ("*" if g.price_estimated else ""))
    console = _console()
    console.print(table)
    console.print("* estimated (see the catalog entry's source)")


@catalog.command("offers")
@click.option("--gpu", "gpu_id", default=None, help="Only this GPU's offers.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def catalog_offers(gpu_id: str | None, as_json: bool) -> None:
    """Rental offers: instance, GPUs, on-demand and spot price, market tier, date and source of every price."""
    from rich.table import Table

    from .catalog import default_catalog
    from .catalog.offers import builtin_offers, default_offer

    cat = default_catalog()
    offers = builtin_offers()
    specs = [cat.gpu(gpu_id)] if gpu_id else cat.gpus
    rows = [(default_offer(spec, offers), True) for spec in specs]
    rows += [(o, False) for o in offers if o.gpu in {s.id for s in specs} and
             all((o.provider, o.instance) != (d.provider, d.instance) for d, _ in rows if d.gpu == o.gpu)]
    rows.sort(key=lambda item: ([s.id for s in specs].index(item[0].gpu), not item[1], item[0].usd_per_gpu_hour("on_demand") or 1e9))
    if as_json:
        click.echo(json.dumps([{**o.model_dump(), "default": default} for o, default in rows], indent=2))
        return
    table = Table(title="Rental offers (USD per GPU-hour; * default offer, the catalog's price)", title_justify="left")
    for column in ("GPU", "provider", "instance", "GPUs", "on demand", "spot", "tier", "as of"):
        table.add_column(column)
    for o, default in rows:
        money = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
        table.add_row(o.gpu + ("*" if default else ""), o.provider, o.instance, str(o.instance_gpus), money(o.usd_per_gpu_hour("on_demand")),
                      money(o.usd_per_gpu_hour("spot")), "ESTIMATED" if o.estimated else (o.tier or "-"), o.as_of or "-")
    _console().print(table)


@catalog.command("models")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def catalog_models(as_json: bool) -> None:
    """Models with architecture summary and parameter counts (computed vs published)."""
    from rich.table import Table

    from .catalog import default_catalog
    from .memory.parameters import count_parameters

    cat = default_catalog()
    rows = []
    for entry in cat.models:
        arch = cat.architecture(entry.id)
        params = count_parameters(arch)
        rows.append({"id": entry.id, "name": entry.name, "attention": arch.attention_kind, "moe": arch.is_moe,
                     "layers": arch.num_layers, "parameters": params.total, "active_parameters": params.active,
                     "published_parameters": entry.published_params_total, "weight_format": entry.weight_format})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Model catalog", title_justify="left")
    for column in ("id", "attention", "MoE", "layers", "params (B)", "active (B)", "published (B)", "checkpoint"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["id"], r["attention"], "yes" if r["moe"] else "", str(r["layers"]), f"{r['parameters'] / 1e9:.2f}",
                      f"{r['active_parameters'] / 1e9:.2f}", f"{(r['published_parameters'] or 0) / 1e9:.2f}", r["weight_format"])
    _console().print(table)


@catalog.command("formats")
@handle_errors
def catalog_formats() -> None:
    """Weight formats and KV-cache dtypes, with bits per weight including scales."""
    from rich.table import Table

    from .model.formats import KV_CACHE_DTYPES, WEIGHT_FORMATS

    table = Table(title="Weight formats", title_justify="left")
    for column in ("name", "bits/weight (incl. scales)", "quantizes", "engines", "description"):
        table.add_column(column)
    for f in WEIGHT_FORMATS.values():
        table.add_row(f.name, f"{f.effective_bits_per_weight:.4g}", f.scope.value, ", ".join(f.engines), f.description)
    kv = Table(title="KV-cache dtypes", title_justify="left")
    for column in ("name", "bits/element", "engines", "description"):
        kv.add_column(column)
    for d in KV_CACHE_DTYPES.values():
        kv.add_row(d.name, f"{d.bits:g}" + (f" + {d.overhead_bits_per_head}/head" if d.overhead_bits_per_head else ""),
                   ", ".join(d.engines), d.description)
    console = _console()
    console.print(table)
    console.print(kv)


@cli.command()
@click.argument("what", type=click.Choice(["scenario", "training", "gpus", "models"]), default="scenario")
def schema(what: str) -> None:
    """Print the JSON Schema of scenarios (serving; 'training' for kind: training) or catalogs."""
    from .catalog.catalog import _GpuFile, _ModelFile
    from .schema.serving import ServingScenario
    from .schema.training import TrainingScenario

    model = {"scenario": ServingScenario, "training": TrainingScenario, "gpus": _GpuFile, "models": _ModelFile}[what]
    click.echo(json.dumps(model.model_json_schema(), indent=2))


def main(interrupted: Callable[[], bool] = lambda: False) -> None:
    """The ``planner`` command. Ctrl-C before a command starts (while its modules load) is reported like Ctrl-C
    inside it, exit 130, instead of click's 'Aborted!' with exit 1; ``interrupted`` says whether Ctrl-C was seen
    (an extension module interrupted while loading raises ImportError instead)."""
    SIGINT_SEEN["check"] = interrupted
    try:
        cli.main(prog_name="planner", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted (Ctrl-C)", err=True)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - outside any command (option callbacks): still no traceback
        if interrupted():
            click.echo("interrupted (Ctrl-C)", err=True)
            sys.exit(INTERRUPTED_EXIT_CODE)
        click.echo(f"internal error: {type(exc).__name__}: {exc} (this is a bug in planner)", err=True)
        sys.exit(3)
