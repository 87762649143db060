"""Rendering of training results and bills: rich tables for people, JSON and CSV for machines. No solving here."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from ..analysis.training_pareto import TrainingFront
from ..plans.training import TrainingSolveReport
from .tables import Column, left, prose, table

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

MEMORY_LINES = ("parameters", "gradients", "optimizer_states", "activations", "buffers", "cuda_context", "nccl",
                "allocator_reserve")
"""The lines of the measured peak (what nvidia-smi shows); the formulas' total (flat ``overhead`` instead of the
last three) is printed beside it."""

SHORT_MEMORY_LINES = {"parameters": "params", "gradients": "grads", "optimizer_states": "optimizer", "activations": "activations",
                      "buffers": "buffers", "overhead": "overhead"}
"""The default view's headers; ``overhead`` merges the CUDA context, NCCL and the allocator's reserve."""


def render_training_table(report: TrainingSolveReport, console: Console, wide: bool = False) -> None:
    console.print(f"[bold]{report.scenario_name}[/bold]: {report.model_name} ({report.parameter_count / 1e9:.2f}B params, "
                  f"{report.trainable_parameter_count / 1e6:,.1f}M trainable, {report.method}), {report.tokens:,} tokens, "
                  f"global batch {report.global_batch} x {report.sequence_length:,}"
                  + (f", deadline {report.deadline_hours:,.1f} h" if report.deadline_hours else ""))
    for index, plan in enumerate(report.plans, start=1):
        row = plan.to_dict()
        console.print(_layout_table(row, f"Plan {index}: {row['gpus']} x {row['gpu']} — ${row['cost_usd']:,.2f} in {row['hours']:,.2f} h "
                                         f"(${row['cost_usd_per_hour']:,.2f}/h{_billed(row)})", wide))
        console.print(step_breakdown_table(row["step_seconds"], row["step_breakdown_s"], row["time_model"], wide))
        console.print(_bill_table(row["memory_per_gpu_gib"], f"Memory per GPU, worst pipeline stage ({row['worst_stage']}), GiB", wide))
    solver = report.solver
    gap = solver.get("gap")
    status = report.status if report.status != "feasible" else (
        f"feasible (gap {gap:.1%}, not proven optimal)" if gap is not None else "feasible (not proven optimal)")
    console.print(f"status: [bold]{status}[/bold] · objective {report.objective} · {report.candidates_total:,} layouts considered, "
                  f"{report.candidates_after_pruning:,} after pruning · {solver.get('method')} in {solver.get('wall_time_s', 0):.3f} s · "
                  f"workers={solver.get('num_workers', '-')} seed={solver.get('random_seed', '-')} ortools {solver.get('ortools', '-')}")
    for note in report.notes:
        console.print(f"note: {note}")


def _billed(row: dict[str, Any]) -> str:
    """Whole instances: the GPUs paid for when more than the layout uses; an estimated price is marked."""
    whole_instances = row.get("billed_gpus", row["gpus"]) != row["gpus"]
    billed = f", {row['billed_gpus']} GPUs billed in instances of {row['instance_gpus']}" if whole_instances else ""
    return billed + (", price est." if row.get("price_estimated") else "")


def _layout(row: dict[str, Any], wide: bool, virtual: str = " (v{})") -> str:
    """TP×PP×DP; the default view adds what its wide-only columns say when it is not the usual (EP, SP)."""
    pp = f"{row['pp']}" + (virtual.format(row["virtual_stages"]) if row["virtual_stages"] > 1 else "")
    extra = "" if wide else (f" ep{row['ep']}" if row["ep"] > 1 else "") + (" sp" if row["sequence_parallel"] else "")
    return f"{row['tp']}×{pp}×{row['dp']}{extra}"


def _layout_table(row: dict[str, Any], title: str, wide: bool) -> Table:
    columns = [Column("TP×PP×DP"), Column("EP", wide=True), Column("ZeRO"), Column("recompute"), Column("SP", wide=True),
               Column("offload", wide=True), Column("micro-batch" if wide else "micro-batch × n"), Column("micro-batches/step", wide=True),
               Column("steps"), Column("tokens/s/GPU"), Column("TFLOP/s/GPU"), Column("MFU")]
    cells = (_layout(row, wide), str(row["ep"]), str(row["zero_stage"]), row["recompute"] + ("" if wide or row["offload"] == "none" else
             f", offload {row['offload']}"), "on" if row["sequence_parallel"] else "off", row["offload"],
             str(row["micro_batch"]) if wide else f"{row['micro_batch']} × {row['micro_batches_per_step']}",
             str(row["micro_batches_per_step"]), f"{row['steps']:,}", f"{row['tokens_per_second_per_gpu']:,.0f}",
             f"{row['model_tflops_per_gpu']:,.0f}", f"{row['mfu']:.1%}")
    return table(title, columns, [cells], wide)


def _bill_table(mem: dict[str, float], title: str, wide: bool) -> Table:
    """The measured peak per GPU by line; the default view merges the CUDA context, NCCL and allocator reserve."""
    lines = {**mem, "overhead": sum(mem[k] for k in ("cuda_context", "nccl", "allocator_reserve"))}
    shown = (*MEMORY_LINES, "total", "capacity", "free") if wide else (*SHORT_MEMORY_LINES, "total", "capacity", "free")
    headers = [SHORT_MEMORY_LINES.get(k, k) if not wide else k for k in shown]
    return table(title, [Column(h) for h in headers], [[f"{lines[k]:.2f}" for k in shown]], wide)


BREAKDOWN_LABELS = {"compute_s": "compute", "exposed_dp_s": "DP comm", "exposed_tp_s": "TP comm", "exposed_pp_s": "PP comm",
                    "exposed_ep_s": "EP comm", "bubble_s": "bubble", "optimizer_s": "optimizer", "offload_s": "offload"}


def step_breakdown_table(step_seconds: float, breakdown: dict[str, float], time_model: str, wide: bool = False) -> Table:
    """One optimizer step split into compute, exposed communication, bubble and the optimizer, in seconds and %
    (one column per part with ``--wide``; by default one row per part, so it fits any layout)."""
    title = f"Step {step_seconds:,.3f} s ({time_model}): where the time goes"
    if wide:
        return table(title, [Column(label) for label in BREAKDOWN_LABELS.values()],
                     [[f"{breakdown[k]:,.3f} s ({breakdown[k] / step_seconds:.0%})" if step_seconds else "-"
                       for k in BREAKDOWN_LABELS]], wide)
    rows = [(label, f"{breakdown[k]:,.3f}", f"{breakdown[k] / step_seconds:.0%}" if step_seconds else "-")
            for k, label in BREAKDOWN_LABELS.items()]
    return table(title, [left("part"), Column("s"), Column("share")], rows, wide)


def render_training_pareto(front: TrainingFront, title: str, console: Console, wide: bool = False) -> None:
    """The cost-time frontier: one row per plan, cheapest first, with what the extra money buys."""
    columns = [Column("#"), Column("GPUs"), Column("TP×PP×DP"), Column("ZeRO"), Column("recompute"), Column("micro-batch", wide=True),
               Column("hours"), Column("cost $"), Column("$/h", wide=True), Column("MFU"), prose("vs cheapest", 14)]
    base = front.points[0].time if front.points else None
    rows = []
    for index, plan in enumerate(front.points, start=1):
        row = plan.to_dict()
        speedup = (f"{base.hours / plan.time.hours:.2f}x faster, +{plan.time.cost_usd / base.cost_usd - 1:.0%} $"
                   if base and index > 1 else "-")
        rows.append((str(index), f"{row['gpus']} x {row['gpu']}", _layout(row, True, "({})"), str(row["zero_stage"]),
                     row["recompute"], str(row["micro_batch"]), f"{row['hours']:,.2f}", f"{row['cost_usd']:,.2f}",
                     f"{row['cost_usd_per_hour']:,.2f}", f"{row['mfu']:.1%}", speedup))
    stopped = "" if front.complete else ", stopped at --pareto-points"
    console.print(table(f"{title}: cost-time Pareto set ({len(front.points)} plans{stopped})",
                        columns, rows, wide))


def training_csv(report: TrainingSolveReport | TrainingFront) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["gpu", "gpus", "tp", "pp", "dp", "ep", "virtual_stages", "zero_stage", "recompute", "sequence_parallel", "offload",
               "micro_batch", "hours", "cost_usd", "cost_usd_per_hour", "step_seconds", "tokens_per_second",
               "tokens_per_second_per_gpu", "model_tflops_per_gpu", "mfu"]
    writer.writerow(["plan", *columns, *BREAKDOWN_LABELS, *(f"{k}_gib" for k in (*MEMORY_LINES, "total", "capacity"))])
    plans = report.points if isinstance(report, TrainingFront) else report.plans
    for index, plan in enumerate(plans, start=1):
        row = plan.to_dict()
        mem = row["memory_per_gpu_gib"]
        writer.writerow([index, *(row[c] for c in columns), *(row["step_breakdown_s"][k] for k in BREAKDOWN_LABELS),
                         *(mem[k] for k in (*MEMORY_LINES, "total", "capacity"))])
    return buffer.getvalue()


def render_training_bill(data: dict[str, Any], explain: bool, console: Console, wide: bool = False) -> None:
    mem = data["memory_per_gpu_gib"]
    title = (f"{data['model']} ({data['parameter_count'] / 1e9:.2f}B params, {data['trainable_parameter_count'] / 1e6:,.1f}M "
             f"trainable) — {data['method']}, {data['precision']}, {data['optimizer']}, TP={data['tp']} PP={data['pp']} "
             f"DP={data['dp']} ZeRO-{data['zero_stage']}, micro-batch {data['micro_batch']} x {data['sequence_length']:,}, "
             f"recompute {data['recompute']}; per GPU of stage {data['worst_stage']}")
    formulas = data["explain"]
    rows = [(line, mem[line], formulas[line]) for line in MEMORY_LINES]
    rows += [("total (measured peak)", mem["total"], formulas["total"]), ("formula total", mem["formula_total"], formulas["formula_total"])]
    if "capacity" in mem:
        rows += [("capacity", mem["capacity"], ""), ("free", mem["free"], "capacity − total")]
    if mem["cpu_offload"]:
        rows.append(("host memory (offloaded)", mem["cpu_offload"], formulas["cpu_offload"]))
    columns = [left("line"), Column("GiB"), *([prose("formula")] if explain else [])]
    console.print(table(title, columns, [(line, f"{gib:.3f}", *([formula] if explain else [])) for line, gib, formula in rows], wide))
    if data["fits"] is not None:
        console.print(f"fits: {'yes' if data['fits'] else 'NO'}")


def render_training_performance(data: dict[str, Any], console: Console, wide: bool = False) -> None:
    """What ``planner perf --training`` prints: the layout, the step split by part, and throughput."""
    vp = f" (v{data['virtual_stages']})" if data["virtual_stages"] > 1 else ""
    console.print(f"[bold]{data['model']}[/bold] on {data['gpus']} x {data['gpu']} — {data['method']}, {data['precision']}, "
                  f"TP={data['tp']} PP={data['pp']}{vp} DP={data['dp']} EP={data['ep']} ZeRO-{data['zero_stage']}, recompute "
                  f"{data['recompute']}, SP {'on' if data['sequence_parallel'] else 'off'}, micro-batch {data['micro_batch']} x "
                  f"{data['sequence_length']:,}, {data['micro_batches_per_step']} micro-batches per step "
                  f"(global batch {data['global_batch_sequences']:,})")
    links = {k: v for k, v in data["topology"]["links"].items() if v is not None and not k.endswith("gb_per_s")}
    console.print(f"cluster: {data['topology']['gpus_per_node']} GPUs per node, "
                  f"{data['topology']['inter_node_gb_per_s_per_gpu']:g} GB/s network per GPU"
                  + (f"; links: {', '.join(f'{k.upper()} over {v}' for k, v in links.items())}" if links else ""))
    console.print(step_breakdown_table(data["step_seconds"], data["step_breakdown_s"], data["time_model"], wide))
    columns = [Column(c) for c in ("tokens/s", "tokens/s/GPU", "TFLOP/s/GPU (model)", "MFU", "HFU", "memory/GPU GiB", "fits")]
    console.print(table("Throughput", columns, [(f"{data['tokens_per_second']:,.0f}", f"{data['tokens_per_second_per_gpu']:,.0f}",
                                                 f"{data['model_tflops_per_gpu']:,.1f}", f"{data['mfu']:.1%}", f"{data['hfu']:.1%}",
                                                 f"{data['memory_per_gpu_gib']:,.2f}", "yes" if data["fits"] else "NO")], wide))
