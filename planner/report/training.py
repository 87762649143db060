"""Rendering of training results and bills: rich tables for people, JSON and CSV for machines. No solving here."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console
from rich.table import Table

from ..analysis.training_pareto import TrainingFront
from ..plans.training import TrainingSolveReport

MEMORY_LINES = ("parameters", "gradients", "optimizer_states", "activations", "buffers", "cuda_context", "nccl",
                "allocator_reserve")
"""The lines of the measured peak (what nvidia-smi shows); the formulas' total (flat ``overhead`` instead of the
last three) is printed beside it."""


def render_training_table(report: TrainingSolveReport, console: Console) -> None:
    console.print(f"[bold]{report.scenario_name}[/bold]: {report.model_name} ({report.parameter_count / 1e9:.2f}B params, "
                  f"{report.trainable_parameter_count / 1e6:,.1f}M trainable, {report.method}), {report.tokens:,} tokens, "
                  f"global batch {report.global_batch} x {report.sequence_length:,}"
                  + (f", deadline {report.deadline_hours:,.1f} h" if report.deadline_hours else ""))
    for index, plan in enumerate(report.plans, start=1):
        row = plan.to_dict()
        mem = row["memory_per_gpu_gib"]
        layout = Table(title=f"Plan {index}: {row['gpus']} x {row['gpu']} — ${row['cost_usd']:,.2f} in {row['hours']:,.2f} h "
                             f"(${row['cost_usd_per_hour']:,.2f}/h)", title_justify="left")
        for column in ("TP×PP×DP", "EP", "ZeRO", "recompute", "SP", "offload", "micro-batch", "micro-batches/step",
                       "steps", "tokens/s/GPU", "TFLOP/s/GPU", "MFU"):
            layout.add_column(column, justify="right")
        pp = f"{row['pp']}" + (f" (v{row['virtual_stages']})" if row["virtual_stages"] > 1 else "")
        layout.add_row(f"{row['tp']}×{pp}×{row['dp']}", str(row["ep"]), str(row["zero_stage"]), row["recompute"],
                       "on" if row["sequence_parallel"] else "off", row["offload"], str(row["micro_batch"]),
                       str(row["micro_batches_per_step"]), f"{row['steps']:,}", f"{row['tokens_per_second_per_gpu']:,.0f}",
                       f"{row['model_tflops_per_gpu']:,.0f}", f"{row['mfu']:.1%}")
        console.print(layout)
        console.print(step_breakdown_table(row["step_seconds"], row["step_breakdown_s"], row["time_model"]))
        bill = Table(title=f"Memory per GPU, worst pipeline stage ({row['worst_stage']}), GiB", title_justify="left")
        for column in (*MEMORY_LINES, "total", "capacity", "free"):
            bill.add_column(column, justify="right")
        bill.add_row(*(f"{mem[k]:.2f}" for k in (*MEMORY_LINES, "total", "capacity", "free")))
        console.print(bill)
    solver = report.solver
    gap = solver.get("gap")
    status = report.status if report.status != "feasible" else (
        f"feasible (gap {gap:.1%}, not proven optimal)" if gap is not None else "feasible (not proven optimal)")
    console.print(f"status: [bold]{status}[/bold] · objective {report.objective} · {report.candidates_total:,} layouts considered, "
                  f"{report.candidates_after_pruning:,} after pruning · {solver.get('method')} in {solver.get('wall_time_s', 0):.3f} s · "
                  f"workers={solver.get('num_workers', '-')} seed={solver.get('random_seed', '-')} ortools {solver.get('ortools', '-')}")


BREAKDOWN_LABELS = {"compute_s": "compute", "exposed_dp_s": "DP comm", "exposed_tp_s": "TP comm", "exposed_pp_s": "PP comm",
                    "exposed_ep_s": "EP comm", "bubble_s": "bubble", "optimizer_s": "optimizer", "offload_s": "offload"}


def step_breakdown_table(step_seconds: float, breakdown: dict[str, float], time_model: str) -> Table:
    """One optimizer step split into compute, exposed communication, bubble and the optimizer, in seconds and %."""
    table = Table(title=f"Step {step_seconds:,.3f} s ({time_model}): where the time goes", title_justify="left")
    for label in BREAKDOWN_LABELS.values():
        table.add_column(label, justify="right")
    table.add_row(*(f"{breakdown[k]:,.3f} s ({breakdown[k] / step_seconds:.0%})" if step_seconds else "-" for k in BREAKDOWN_LABELS))
    return table


def render_training_pareto(front: TrainingFront, title: str, console: Console) -> None:
    """The cost-time frontier: one row per plan, cheapest first, with what the extra money buys."""
    table = Table(title=f"{title}: cost-time Pareto set ({len(front.points)} plans{'' if front.complete else ', stopped at --pareto-points'})",
                  title_justify="left")
    for column in ("#", "GPUs", "TP×PP×DP", "ZeRO", "recompute", "micro-batch", "hours", "cost $", "$/h", "MFU", "vs cheapest"):
        table.add_column(column, justify="right")
    base = front.points[0].time if front.points else None
    for index, plan in enumerate(front.points, start=1):
        row = plan.to_dict()
        speedup = f"{base.hours / plan.time.hours:.2f}x faster, +{plan.time.cost_usd / base.cost_usd - 1:.0%} $" if base and index > 1 else "-"
        pp = f"{row['pp']}" + (f"(v{row['virtual_stages']})" if row["virtual_stages"] > 1 else "")
        table.add_row(str(index), f"{row['gpus']} x {row['gpu']}", f"{row['tp']}×{pp}×{row['dp']}", str(row["zero_stage"]),
                      row["recompute"], str(row["micro_batch"]), f"{row['hours']:,.2f}", f"{row['cost_usd']:,.2f}",
                      f"{row['cost_usd_per_hour']:,.2f}", f"{row['mfu']:.1%}", speedup)
    console.print(table)


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


def render_training_bill(data: dict[str, Any], explain: bool, console: Console) -> None:
    mem = data["memory_per_gpu_gib"]
    table = Table(title=f"{data['model']} ({data['parameter_count'] / 1e9:.2f}B params, {data['trainable_parameter_count'] / 1e6:,.1f}M "
                        f"trainable) — {data['method']}, {data['precision']}, {data['optimizer']}, TP={data['tp']} PP={data['pp']} "
                        f"DP={data['dp']} ZeRO-{data['zero_stage']}, micro-batch {data['micro_batch']} x {data['sequence_length']:,}, "
                        f"recompute {data['recompute']}; per GPU of stage {data['worst_stage']}", title_justify="left")
    table.add_column("line")
    table.add_column("GiB", justify="right")
    if explain:
        table.add_column("formula")
    for line in MEMORY_LINES:
        table.add_row(line, f"{mem[line]:.3f}", *([data["explain"][line]] if explain else []))
    formulas = data["explain"]
    table.add_row("total (measured peak)", f"{mem['total']:.3f}", *([formulas["total"]] if explain else []))
    table.add_row("formula total", f"{mem['formula_total']:.3f}", *([formulas["formula_total"]] if explain else []))
    if "capacity" in mem:
        table.add_row("capacity", f"{mem['capacity']:.3f}", *([""] if explain else []))
        table.add_row("free", f"{mem['free']:.3f}", *(["capacity − total"] if explain else []))
    if mem["cpu_offload"]:
        table.add_row("host memory (offloaded)", f"{mem['cpu_offload']:.3f}", *([formulas["cpu_offload"]] if explain else []))
    console.print(table)
    if data["fits"] is not None:
        console.print(f"fits: {'yes' if data['fits'] else 'NO'}")


def render_training_performance(data: dict[str, Any], console: Console) -> None:
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
    console.print(step_breakdown_table(data["step_seconds"], data["step_breakdown_s"], data["time_model"]))
    table = Table(title="Throughput", title_justify="left")
    for column in ("tokens/s", "tokens/s/GPU", "TFLOP/s/GPU (model)", "MFU", "HFU", "memory/GPU GiB", "fits"):
        table.add_column(column, justify="right")
    table.add_row(f"{data['tokens_per_second']:,.0f}", f"{data['tokens_per_second_per_gpu']:,.0f}",
                  f"{data['model_tflops_per_gpu']:,.1f}", f"{data['mfu']:.1%}", f"{data['hfu']:.1%}",
                  f"{data['memory_per_gpu_gib']:,.2f}", "yes" if data["fits"] else "NO")
    console.print(table)
