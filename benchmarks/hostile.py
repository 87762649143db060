"""The hostile-input corpus: every bad or hostile input the planner must answer with a clear message (or the right
answer) in seconds and bounded memory, and the runner that checks it.

Three sources of cases:

- ``tests/data/bad/``: small files, one bad or hostile input each, with what the planner must answer in
  ``expected.yaml`` (YAML bombs, recursive anchors, deep nesting, 5,000-digit numbers, NUL bytes, absurd values,
  markup and escape codes in names, bad catalogs, config.json, sweeps and architecture files);
- inputs made at run time because they are big or special: FIFOs, character devices and symlink loops named as
  every kind of input, a 50 MB scenario, a file one byte over the size limit, a 10,000-GPU catalog, a sweep of
  200,000 values;
- command-line values: nan and inf flags, --plot destinations that cannot be written, --set values that are
  bombs.

Run ``python -m benchmarks.hostile [--timeout-s 10] [--memory-gib 2] [--save]`` (``--save``: also
benchmarks/results/hostile.json, which docs/reliability.md renders): each case in its own process under those
limits; prints handled/total, the slowest case and the largest peak RSS. ``tests/test_bad_inputs.py`` runs the
same cases in-process, each under a time bound and the process's peak memory checked.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "data" / "bad"
SMALL = ROOT / "scenarios" / "llama-3.1-8b-consumer-gpu.yaml"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Case:
    """One command line and what it must answer: its exit code, fragments of stderr (errors) or stdout (answers)."""

    name: str
    kind: str  # scenario | config | gpu-catalog | model-catalog | sweep | architecture | generated | cli
    argv: tuple[str, ...]  # "{tmp}" stands for the case's scratch folder
    exit: int
    stderr: tuple[str, ...] = ()
    stdout: tuple[str, ...] = ()
    make: Callable[[Path], None] | None = field(default=None, compare=False)  # writes the files the case needs

    def prepare(self, tmp: Path) -> list[str]:
        if self.make is not None:
            self.make(tmp)
        return [arg.replace("{tmp}", str(tmp)) for arg in self.argv]


def _uses_catalog(kind: str, path: Path) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        key, model = ("gpus", "llama-3.1-8b") if kind == "gpu-catalog" else ("models", "my-model")
        (tmp / "uses-catalog.yaml").write_text(f"model: {model}\nworkload: {{concurrency: 8, context_tokens: 4096}}\n"
                                               f"catalog: {{{key}: {path}}}\n")
    return make


def corpus_cases() -> list[Case]:
    """The files of ``tests/data/bad`` with their expected answers; a scenario is run by ``validate`` and ``solve``."""
    cases = []
    for name, spec in yaml.safe_load((BAD / "expected.yaml").read_text())["cases"].items():
        path, kind = BAD / name, spec["as"]
        stderr, stdout, code = tuple(spec.get("message", ())), tuple(spec.get("stdout", ())), spec["exit"]
        if kind == "scenario":
            runs = [("validate", ("validate", str(path)), None), ("solve", ("solve", str(path)), None)]
        elif kind == "config":
            runs = [("memory", ("memory", "--config", str(path)), None)]
        elif kind == "architecture":
            runs = [("memory", ("memory", "--architecture", str(path)), None)]
        elif kind == "sweep":
            runs = [("whatif", ("whatif", str(SMALL), "--sweep", str(path), "--workers", "1"), None)]
        else:
            make = _uses_catalog(kind, path)
            runs = [("validate", ("validate", "{tmp}/uses-catalog.yaml"), make), ("solve", ("solve", "{tmp}/uses-catalog.yaml"), make)]
        cases += [Case(f"{name} [{command}]", kind, argv, code, stderr, ("valid",) if code == 0 and command == "validate" else stdout,
                       make) for command, argv, make in runs]
    return cases


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda tmp: None if (tmp / name).exists() else os.mkfifo(tmp / name)


def _loop(name: str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        for a, b in ((name, name + ".other"), (name + ".other", name)):
            if not (tmp / a).is_symlink():
                (tmp / a).symlink_to(tmp / b)
    return make


def _write(name: str, text: Callable[[], str | bytes]) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        data = text()
        (tmp / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return make


def _sparse(name: str, size: int) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        with open(tmp / name, "wb") as handle:
            handle.truncate(size)
    return make


def _both(*makers: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        for maker in makers:
            maker(tmp)
    return make


def _catalog_gpus(count: int) -> str:
    entry = ('{{id: g{i}, name: G{i}, vendor: nvidia, segment: datacenter, memory_nominal_gb: 80, memory_usable_mib: 81559, '
             'memory_usable_source: x, memory_bandwidth_gbps: 3350, bf16_dense_tflops: 989, supports_bf16: true, '
             'supports_fp8: true, nvlink_domain_size: 8, gpus_per_node: 8, price_usd_per_gpu_hour: 2.5, price_source: x, '
             'source_url: x}}')
    return "schema_version: 1\ngpus:\n" + "".join(f"  - {entry.format(i=i)}\n" for i in range(count))


def _scenario_using(name: str, model: str = "llama-3.1-8b", extra: str = "") -> Callable[[Path], None]:
    return _write(name, lambda: f"model: {model}\nworkload: {{concurrency: 8, context_tokens: 4096}}\n{extra}\n")


def generated_cases() -> list[Case]:
    """Inputs made at run time: special files named as every kind of input, and inputs too big to commit."""
    cases = []
    for tag, what, maker in (("fifo", "FIFO", _fifo), ("loop", "symbolic link loop", _loop)):
        cases += [
            Case(f"{tag} as scenario", "generated", ("solve", f"{{tmp}}/{tag}.yaml"), 2, ("scenario file", what),
                 make=maker(f"{tag}.yaml")),
            Case(f"{tag} as config.json", "generated", ("memory", "--config", f"{{tmp}}/{tag}.json"), 2, ("model config", what),
                 make=maker(f"{tag}.json")),
            Case(f"{tag} as config.json of a scenario", "generated", ("solve", "{tmp}/uses-config.yaml"), 2,
                 ("model config", what), make=_both(maker(f"{tag}.json"), _scenario_using("uses-config.yaml", f"{{config: {tag}.json}}"))),
            Case(f"{tag} as GPU catalog", "generated", ("solve", "{tmp}/uses-gpus.yaml"), 2, ("catalog file", what),
                 make=_both(maker(f"{tag}.gpus.yaml"), _scenario_using("uses-gpus.yaml", extra=f"catalog: {{gpus: {tag}.gpus.yaml}}"))),
            Case(f"{tag} as model catalog", "generated", ("validate", "{tmp}/uses-models.yaml"), 2, ("catalog file", what),
                 make=_both(maker(f"{tag}.models.yaml"),
                            _scenario_using("uses-models.yaml", extra=f"catalog: {{models: {tag}.models.yaml}}"))),
            Case(f"{tag} as sweep", "generated", ("whatif", str(SMALL), "--sweep", f"{{tmp}}/{tag}.sweep.yaml"), 2,
                 ("sweep file", what), make=maker(f"{tag}.sweep.yaml")),
            Case(f"{tag} as --architecture", "generated", ("memory", "--architecture", f"{{tmp}}/{tag}.arch.yaml"), 2,
                 ("architecture file", what), make=maker(f"{tag}.arch.yaml")),
            Case(f"{tag} as --gguf", "generated", ("memory", "--gguf", f"{{tmp}}/{tag}.gguf"), 2, ("model file", what),
                 make=maker(f"{tag}.gguf")),
        ]
    devices = [Case(f"{device} as scenario", "generated", ("solve", device), 2, ("scenario file is not a regular file",
                    "a character device")) for device in ("/dev/zero", "/dev/null", "/dev/urandom") if os.path.exists(device)]
    return cases + devices + [
        Case("50 MB scenario", "generated", ("solve", "{tmp}/50mb.yaml"), 2, ("scenario file is too large", "52,428,800 bytes"),
             make=_sparse("50mb.yaml", 50 * 2**20)),
        Case("scenario one byte over the limit", "generated", ("validate", "{tmp}/over.yaml"), 2, ("is too large", "4,194,305 bytes"),
             make=_write("over.yaml", lambda: "# " + "x" * (4 * 2**20 - 1))),
        Case("10,000-GPU catalog", "generated", ("solve", "{tmp}/uses-10k.yaml"), 2, ("too many entries", "10k.gpus.yaml:3:3"),
             make=_both(_write("10k.gpus.yaml", lambda: _catalog_gpus(10_000)),
                        _scenario_using("uses-10k.yaml", extra="catalog: {gpus: 10k.gpus.yaml}"))),
        Case("1,000-GPU catalog solved", "generated", ("solve", "{tmp}/uses-1k.yaml", "--format", "json", "--time-limit", "60"), 0,
             stdout=('"status": "optimal"',),
             make=_both(_write("1k.gpus.yaml", lambda: _catalog_gpus(1_000)),
                        _scenario_using("uses-1k.yaml", extra="catalog: {gpus: 1k.gpus.yaml}"))),
        Case("sweep of 200,000 values", "generated", ("whatif", str(SMALL), "--sweep", "{tmp}/200k.sweep.yaml"), 2,
             ("too many entries", "more than 1,000 entries"),
             make=_write("200k.sweep.yaml", lambda: "sweep:\n  - path: workload.concurrency\n    values: ["
                         + ",".join(str(i) for i in range(1, 200_001)) + "]\n")),
        Case("scenario of 300,000 values", "generated", ("validate", "{tmp}/wide.yaml"), 2, ("the file is too large", "250,000 values"),
             make=_scenario_using("wide.yaml", extra="extra: {" + ", ".join(
                 f"k{i}: [" + ",".join("1" * 1 for _ in range(999)) + "]" for i in range(300)) + "}")),
    ]


def cli_cases() -> list[Case]:
    """Command-line values: non-finite numbers, plot destinations that cannot be written, --set bombs."""
    scenario = str(SMALL)
    bomb = "&a [" + ",".join(["x"] * 10) + "]"
    deep = "[" * 1000 + "]" * 1000
    cases = [Case(f"{flag} {value}", "cli", (command, *before, flag, value), 2, (f"Invalid value for '{flag}'",))
             for command, before, flag in (("solve", (scenario,), "--time-limit"),
                                           ("memory", ("--model", "llama-3.1-8b"), "--gpu-memory-gib"),
                                           ("memory", ("--model", "llama-3.1-8b"), "--gpu-memory-utilization"))
             for value in ("nan", "inf")]
    cases += [
        Case("--plot in a missing folder", "cli", ("solve", scenario, "--plot", "{tmp}/no/such/folder/plot.png"), 2,
             ("output folder not found", "--plot")),
        Case("--plot is a folder", "cli", ("solve", scenario, "--plot", "{tmp}"), 2, ("is a directory",)),
        Case("--plot is a folder named .png", "cli", ("solve", scenario, "--plot", "{tmp}/dir.png"), 2,
             ("is a directory",), make=lambda tmp: (tmp / "dir.png").mkdir(exist_ok=True)),
        Case("--plot is a FIFO", "cli", ("solve", scenario, "--plot", "{tmp}/fifo.png"), 2, ("output path is not a regular file",),
             make=_fifo("fifo.png")),
        Case("--plot with a .txt name", "cli", ("solve", scenario, "--plot", "{tmp}/plot.txt"), 2, ("must end in .png or .svg",)),
        Case("--set alias bomb", "cli", ("whatif", scenario, "--set", "description={a: " + ", ".join([bomb] + [
            f"b{i}: &b{i} [" + ",".join([("*a" if i == 0 else f"*b{i - 1}")] * 10) + "]" for i in range(9)]) + "}"), 2,
             ("aliases expand to more than 250,000 values",)),
        Case("--set nested 1,000 deep", "cli", ("whatif", scenario, "--set", f"description={deep}"), 2, ("nested too deeply",)),
        Case("--set 5,000-digit number", "cli", ("whatif", scenario, "--set", "workload.concurrency=" + "9" * 5000), 2,
             ("number too long",)),
        Case("--set unknown path", "cli", ("whatif", scenario, "--set", "workload.concurency=4"), 2,
             ("unknown key 'concurency'", "did you mean")),
        Case("--set a list value keeps its label", "cli", ("whatif", scenario, "--set", "precisions=[bf16]"), 0,
             stdout=("--set precisions=[bf16]",)),
        Case("TeX in a name, in a plot title", "cli", ("solve", str(BAD / "mathtext-in-name.yaml"), "--plot", "{tmp}/bill.png"), 0,
             stdout=("$\\frac{$ cost $x^",)),
        Case("markup in a name, in a Pareto table and plot", "cli", ("solve", str(BAD / "markup-in-name.yaml"), "--pareto",
                                                                     "--pareto-points", "3", "--plot", "{tmp}/front.png"), 0,
             stdout=("[/] [bold]not bold[/bold] [red]",)),
        Case("markup, TeX and escape codes in a variation, in a sweep plot", "cli",
             ("whatif", scenario, "--sweep", str(BAD / "markup-variation.sweep.yaml"), "--plot", "{tmp}/sweep.png"), 0,
             stdout=("[/] $\\frac{$ \\x1b[31m",)),
        Case("RAY_ADDRESS unreachable", "cli", ("whatif", scenario, "--set", "workload.concurrency=4", "--executor", "ray"), 2,
             ("cannot reach the Ray cluster",)),
    ]
    return cases


def all_cases() -> list[Case]:
    return corpus_cases() + generated_cases() + cli_cases()


def problems(case: Case, code: int, stdout: str, stderr: str, loose: bool = False) -> list[str]:
    """What is wrong with one answer (empty: handled): exit code, message fragments, no traceback, clean output;
    ``loose`` leaves out the message fragments (to measure another version, whose wording differs)."""
    found = []
    if code != case.exit:
        found.append(f"exit {code}, expected {case.exit}")
    if "Traceback" in stdout + stderr:
        found.append("a traceback reached the user")
    if CONTROL.search(stdout) or CONTROL.search(stderr.replace("\x1b[", "")):  # rich may colour stderr
        found.append("a raw control character reached the terminal")
    for fragment in () if loose else case.stderr:
        if fragment not in stderr:
            found.append(f"stderr lacks {fragment!r}")
    for fragment in () if loose else case.stdout:
        if fragment not in stdout:
            found.append(f"stdout lacks {fragment!r}")
    if case.exit != 0 and stdout.strip():
        found.append("output on stdout although the command failed")
    return found


def environment(root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(root))
    env["RAY_ADDRESS"] = "127.0.0.1:9"  # nothing listens on the discard port: the unreachable-cluster case
    return env


def run_bounded(case: Case, tmp: Path, timeout_s: float, memory_bytes: int, root: Path = ROOT,
                loose: bool = False) -> tuple[list[str], float]:
    """Run one case in its own process under a time and address-space limit: (problems, seconds). ``root``: the
    checkout whose planner runs (another one measures an older version against the same corpus)."""
    argv = case.prepare(tmp)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    start = time.perf_counter()
    try:
        result = subprocess.run([sys.executable, "-m", "planner", *argv], cwd=root, env=environment(root), capture_output=True,
                                text=True, timeout=timeout_s, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        return [f"no answer within {timeout_s:g} s"], time.perf_counter() - start
    return problems(case, result.returncode, result.stdout, result.stderr, loose), time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--memory-gib", type=float, default=2.0)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose planner is run (default: this one)")
    parser.add_argument("--quiet", action="store_true", help="only the summary, not each case not handled")
    parser.add_argument("--loose", action="store_true", help="exit code, no traceback and clean output only, not the "
                                                              "message wording (for another version)")
    parser.add_argument("--save", action="store_true", help="also write benchmarks/results/hostile.json (this checkout only)")
    args = parser.parse_args(argv)
    cases = all_cases()
    handled, slowest, failures = 0, (0.0, ""), []
    with tempfile.TemporaryDirectory() as scratch:
        for index, case in enumerate(cases):
            tmp = Path(scratch) / f"case{index}"
            tmp.mkdir()
            found, seconds = run_bounded(case, tmp, args.timeout_s, int(args.memory_gib * 2**30), args.root, args.loose)
            slowest = max(slowest, (seconds, case.name))
            if found:
                failures.append((case.name, found))
            else:
                handled += 1
    kinds = sorted({c.kind for c in cases})
    peak_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the largest of all the case processes
    result = {"handled": handled, "cases": len(cases), "timeout_s": args.timeout_s, "memory_gib": args.memory_gib,
              "loose": args.loose, "by_kind": {kind: sum(c.kind == kind for c in cases) for kind in kinds},
              "slowest_s": round(slowest[0], 2), "slowest_case": slowest[1], "peak_rss_mib": round(peak_rss / 2**20),
              "not_handled": [{"case": name, "problems": found} for name, found in failures]}
    print(summary_text(result))
    if not args.quiet:
        for failure in result["not_handled"]:
            print(f"  NOT HANDLED {failure['case']}: {'; '.join(failure['problems'])}")
    if args.save and args.root.resolve() == ROOT:
        from .docs import save_results

        save_results("hostile", result, "python3 -m benchmarks.hostile " + " ".join(argv if argv is not None else sys.argv[1:]))


def summary_text(result: dict) -> str:
    """The benchmark's three summary lines (docs/reliability.md shows them)."""
    return "\n".join([
        f"hostile inputs handled: {result['handled']}/{result['cases']} (each in its own process, limits "
        f"{result['timeout_s']:g} s and {result['memory_gib']:g} GiB of address space{'; exit codes only' if result['loose'] else ''})",
        "cases by kind: " + ", ".join(f"{kind} {n}" for kind, n in result["by_kind"].items()),
        f"slowest: {result['slowest_s']:.2f} s ({result['slowest_case']}); largest peak RSS of a case: {result['peak_rss_mib']} MiB "
        "(the interpreter and its imports included)"])


if __name__ == "__main__":
    main()
