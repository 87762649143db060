"""``planner memory --training`` and ``planner solve`` on training scenarios, through click's CliRunner."""

import json

from click.testing import CliRunner

from planner.cli import cli
from tests.conftest import SCENARIOS

GIB = 2**30
LORA_EXAMPLE = str(SCENARIOS / "training-llama-3.1-8b-lora-consumer-gpu.yaml")
NODE_EXAMPLE = str(SCENARIOS / "training-llama-3.1-8b-full-finetune-node.yaml")


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_memory_training_json_has_the_documented_bill():
    result = run("memory", "--training", "--model", "llama-3.1-8b", "--dp", "8", "--zero", "3", "--precision", "bf16-mixed",
                 "--micro-batch", "1", "--sequence-length", "4096", "--recompute", "full", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    params = data["parameter_count"]
    assert params == 8_030_261_248
    mem = data["memory_per_gpu_gib"]
    assert set(mem) >= {"parameters", "gradients", "optimizer_states", "activations", "buffers", "total"}
    assert mem["parameters"] == round(2 * params / 8 / GIB, 3)  # ZeRO-3 shards the 16-bit weights over 8
    assert mem["optimizer_states"] == round(12 * params / 8 / GIB, 3)
    assert mem["total"] >= sum(mem[k] for k in ("parameters", "gradients", "optimizer_states", "activations", "buffers")) - 0.01


def test_memory_training_convention_changes_the_bytes_per_parameter():
    def states(convention):
        data = json.loads(run("memory", "--training", "--model", "llama-3.1-8b", "--convention", convention, "--json").stdout)
        mem = data["memory_per_gpu_gib"]
        return mem["parameters"] + mem["gradients"] + mem["optimizer_states"], data["parameter_count"]

    paper, params = states("zero-paper")
    megatron, _ = states("megatron")
    assert abs(paper - 16 * params / GIB) < 0.01 and abs(megatron - 18 * params / GIB) < 0.01


def test_memory_training_lora_reports_trainable_parameters():
    result = run("memory", "--training", "--model", "llama-3.1-8b", "--method", "lora", "--gpu", "rtx-4090",
                 "--recompute", "full", "--json")
    data = json.loads(result.stdout)
    assert data["trainable_parameter_count"] == 6_815_744 and data["fits"] is True


def test_memory_training_table_explains_each_line():
    result = run("memory", "--training", "--model", "llama-3.1-70b", "--tp", "8", "--pp", "4", "--dp", "8", "--zero", "1",
                 "--sequence-parallel", "--recompute", "selective", "--gpu", "h100-sxm", "--explain")
    assert result.exit_code == 0, result.output
    assert "Korthikanti" in result.output and "optimizer_states" in result.output and "fits: yes" in result.output


def test_training_options_without_training_flag_exit_2():
    result = run("memory", "--model", "llama-3.1-8b", "--zero", "3")
    assert result.exit_code == 2 and "--training" in result.stderr and "--zero" in result.stderr


def test_memory_training_unknown_precision_suggests_a_known_one():
    result = run("memory", "--training", "--model", "llama-3.1-8b", "--precision", "bf16-mixd")
    assert result.exit_code == 2 and "bf16-mixed" in result.stderr and "Traceback" not in result.output


def test_memory_training_rejects_tp_that_does_not_divide_the_heads():
    result = run("memory", "--training", "--model", "llama-3.1-8b", "--tp", "3")
    assert result.exit_code == 2 and "--tp" in result.stderr


def test_serving_memory_is_unchanged_without_training():
    data = json.loads(run("memory", "--model", "llama-3.1-8b", "--json").stdout)
    assert "kv_cache" in data["memory_per_gpu_gib"] and "optimizer_states" not in data["memory_per_gpu_gib"]


def test_solve_training_json_has_layout_time_cost_and_bill():
    result = run("solve", NODE_EXAMPLE, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "training" and data["status"] == "optimal"
    plan = data["plans"][0]
    for key in ("gpu", "gpus", "tp", "pp", "dp", "zero_stage", "recompute", "micro_batch", "hours", "cost_usd",
                "tokens_per_second", "memory_per_gpu_gib"):
        assert key in plan
    assert plan["gpus"] == plan["tp"] * plan["pp"] * plan["dp"] <= 8
    assert plan["hours"] <= 24 and plan["cost_usd"] <= 2000


def test_solve_training_table_and_csv():
    table = run("solve", LORA_EXAMPLE)
    assert table.exit_code == 0 and "status: optimal" in table.output and "1 x rtx-3090" in table.output
    lines = run("solve", LORA_EXAMPLE, "--format", "csv").stdout.strip().splitlines()
    assert lines[0].startswith("plan,gpu,gpus") and len(lines) == 2


def test_solve_training_enumerate_agrees_with_cpsat():
    cpsat = json.loads(run("solve", NODE_EXAMPLE, "--format", "json").stdout)["plans"][0]
    exhaustive = json.loads(run("solve", NODE_EXAMPLE, "--format", "json", "--method", "enumerate").stdout)["plans"][0]
    assert cpsat == exhaustive


def test_infeasible_training_exits_1_with_the_binding_limit(tmp_path):
    text = (SCENARIOS / "training-llama-3.1-8b-full-finetune-node.yaml").read_text().replace("deadline_hours: 24", "deadline_hours: 1")
    path = tmp_path / "too-soon.yaml"
    path.write_text(text)
    result = run("solve", str(path))
    assert result.exit_code == 1 and "deadline" in result.stderr and "would suffice" in result.stderr


def test_bad_training_key_exits_2_with_line_and_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: training\nmodel: llama-3.1-8b\ndata: {tokens: 1000000, sequence_length: 1024, "
                    "global_batch_sequences: 8}\ndeadline_hour: 3\n")
    result = run("solve", str(path))
    assert result.exit_code == 2 and ":4:1" in result.stderr and "deadline_hours" in result.stderr


def test_validate_training_scenario():
    result = run("validate", NODE_EXAMPLE)
    assert result.exit_code == 0 and "layouts fit" in result.output


def test_schema_prints_the_training_scenario_schema():
    data = json.loads(run("schema", "training").stdout)
    assert {"data", "deadline_hours", "parallelism", "method", "objective"} <= set(data["properties"])


def write(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text("kind: training\nmodel: llama-3.1-8b\n" + text)
    return str(path)


def test_global_batch_tokens_must_be_whole_sequences(tmp_path):
    result = run("solve", write(tmp_path, "data: {tokens: 1000000, sequence_length: 1000, global_batch_tokens: 4500}\n"))
    assert result.exit_code == 2 and "multiple of sequence_length" in result.stderr


def test_unknown_optimizer_suggests_the_nearest(tmp_path):
    result = run("solve", write(tmp_path, "optimizer: adamv\ndata: {tokens: 1000000, sequence_length: 1024, global_batch_sequences: 8}\n"))
    assert result.exit_code == 2 and "adamw" in result.stderr and ":3:" in result.stderr


def test_precision_no_listed_gpu_supports_is_bad_input(tmp_path):
    result = run("solve", write(tmp_path, "precision: fp8-mixed\ngpus: [a100-80gb]\n"
                                          "data: {tokens: 1000000, sequence_length: 1024, global_batch_sequences: 8}\n"))
    assert result.exit_code == 2 and "precision" in result.stderr


def test_contradicting_batch_options_are_bad_input(tmp_path):
    result = run("solve", write(tmp_path, "micro_batch: [4]\nparallelism: {dp: [3]}\n"
                                          "data: {tokens: 1000000, sequence_length: 1024, global_batch_sequences: 8}\n"))
    assert result.exit_code == 2 and "micro-batch" in result.stderr


def test_epochs_times_dataset_tokens_give_the_tokens():
    from planner.schema import validate_scenario

    s = validate_scenario({"kind": "training", "model": "llama-3.1-8b",
                           "data": {"epochs": 3, "dataset_tokens": 1e8, "sequence_length": 2048, "global_batch_tokens": 2048 * 64}})
    assert s.data.total_tokens == 300_000_000 and s.data.global_batch == 64
