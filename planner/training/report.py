"""Rendering of training results and bills: rich tables for people, JSON and CSV for machines. No solving here."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console
from rich.table import Table

from ..architecture import ModelArchitecture
from ..memory.training import TrainingLayout, TrainingMemory, TrainingRecipe
from .plan import TrainingSolveReport, memory_lines_gib

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
        for column in ("TP×PP×DP", "ZeRO", "recompute", "SP", "offload", "micro-batch", "micro-batches/step",
                       "steps", "step s", "tokens/s", "bubble"):
            layout.add_column(column, justify="right")
        layout.add_row(f"{row['tp']}×{row['pp']}×{row['dp']}", str(row["zero_stage"]), row["recompute"],
                       "on" if row["sequence_parallel"] else "off", row["offload"], str(row["micro_batch"]),
                       str(row["micro_batches_per_step"]), f"{row['steps']:,}", f"{row['step_seconds']:.2f}",
                       f"{row['tokens_per_second']:,.0f}", f"{row['pipeline_bubble_fraction']:.1%}")
        console.print(layout)
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


def training_csv(report: TrainingSolveReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["gpu", "gpus", "tp", "pp", "dp", "zero_stage", "recompute", "sequence_parallel", "offload", "micro_batch",
               "hours", "cost_usd", "cost_usd_per_hour", "tokens_per_second"]
    writer.writerow(["plan", *columns, *(f"{k}_gib" for k in (*MEMORY_LINES, "total", "capacity"))])
    for index, plan in enumerate(report.plans, start=1):
        row = plan.to_dict()
        mem = row["memory_per_gpu_gib"]
        writer.writerow([index, *(row[c] for c in columns), *(mem[k] for k in (*MEMORY_LINES, "total", "capacity"))])
    return buffer.getvalue()


def training_bill(model_name: str, arch: ModelArchitecture, recipe: TrainingRecipe, layout: TrainingLayout,
                  memory: TrainingMemory, capacity_bytes: int | None, gpu_id: str | None) -> dict[str, Any]:
    """What ``planner memory --training --json`` prints: the worst stage's bill per GPU and its inputs."""
    worst = memory.worst
    return {
        "model": model_name,
        "gpu": gpu_id,
        "method": recipe.method,
        "precision": recipe.precision,
        "optimizer": recipe.optimizer,
        "convention": recipe.convention,
        "attention": "flash" if recipe.flash_attention else "eager",
        "parameter_count": memory.parameter_count,
        "trainable_parameter_count": memory.trainable_parameter_count,
        "tp": layout.tp, "pp": layout.pp, "dp": layout.dp, "zero_stage": layout.zero_stage,
        "micro_batch": layout.micro_batch, "sequence_length": layout.sequence_length, "recompute": layout.recompute,
        "sequence_parallel": layout.sequence_parallel, "offload": layout.offload,
        "worst_stage": worst.stage,
        "fits": None if capacity_bytes is None else worst.total_bytes <= capacity_bytes,
        "memory_per_gpu_gib": memory_lines_gib(worst, None, capacity_bytes),
        "stages_total_gib": [round(s.total_bytes / 2**30, 3) for s in memory.stages],
        "explain": dict(memory.explanations),
    }


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
    table.add_row("total (measured peak)", f"{mem['total']:.3f}", *(["what nvidia-smi shows at the peak"] if explain else []))
    table.add_row("formula total", f"{mem['formula_total']:.3f}",
                  *([f"tensors + flat overhead {mem['overhead']:.2f} GiB (ZeRO / Korthikanti accounting)"] if explain else []))
    if "capacity" in mem:
        table.add_row("capacity", f"{mem['capacity']:.3f}", *([""] if explain else []))
        table.add_row("free", f"{mem['free']:.3f}", *(["capacity − total"] if explain else []))
    if mem["cpu_offload"]:
        table.add_row("host memory (offloaded)", f"{mem['cpu_offload']:.3f}", *([""] if explain else []))
    console.print(table)
    if data["fits"] is not None:
        console.print(f"fits: {'yes' if data['fits'] else 'NO'}")
