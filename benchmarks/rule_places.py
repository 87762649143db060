"""How many modules write each structural rule themselves (a regular expression per rule over ``planner/``).

``python -m benchmarks.rule_places`` prints, per rule, how many modules spell its condition out (its home
included). One home per rule means a count of 1 (2 where a model's own definition and the rule module both
match): the callers ask the home rather than repeat the condition. A grep, not a proof: a pattern can match a
use that is not the rule (listed with ``--files``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

THIN_DUMP = r'(?!\s*(?:"""(?:[^"]|"(?!""))*"""\s*)?return self\.output\([^)]*\)\.model_dump\()'
"""Not counted as hand-written: a ``to_dict`` whose body (after its docstring) only returns ``self.output(...)``'s
``model_dump``, the output model's JSON (``planner.schema.outputs*``)."""

RULES: dict[str, str] = {
    "TP divides the heads": r"tp_is_valid\(",
    "TP inside a node or NVLink domain": r"crosses_network\(|max_group_without_network",
    "PP at most the layers": r"\bpp\s*>\s*[\w.]*num_layers|num_layers\s*<\s*[\w.]*pp\b",
    "format needs FP8/BF16 hardware": r"needs_(fp8|bf16)_hardware",
    "no pipeline with ZeRO-2/3": r"zero(_stage)?\s*>=\s*2",
    "MoE with TP needs SP": r"is_moe and [\w.]*tp\s*>\s*1",
    "EP divides experts and TP x DP": r"num_experts\s*%\s*[\w.]*ep\b|%\s*[\w.]*\bep\b",
    "interleaving splits the layers": r"virtual_stages\s*>\s*1\s+and|num_layers\s*%\s*\([\w.]*pp\s*\*",
    "NVLink peers of a GPU (NCCL buffers)": r"peers\s*=\s*min\(|scale_up_link\s+in\s+\(",
    "pydantic errors translated": r"\.errors\(\)",
    "hand-written to_dict": r"def (to_dict|as_dict)\([^)]*\)[^:]*:" + THIN_DUMP + r"|def describe\(self\) -> dict",
}


def places(root: Path = ROOT) -> dict[str, list[str]]:
    """Rule -> the modules (paths relative to ``root``) whose code matches its expression, comments left out."""
    found: dict[str, list[str]] = {name: [] for name in RULES}
    for path in sorted((root / "planner").rglob("*.py")):
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        for name, pattern in RULES.items():
            if re.search(pattern, code):
                found[name].append(str(path.relative_to(root)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to measure")
    parser.add_argument("--files", action="store_true", help="list the modules of each rule")
    args = parser.parse_args()
    for name, files in places(args.root).items():
        print(f"{len(files):3d}  {name}" + (f": {', '.join(files)}" if args.files else ""))


if __name__ == "__main__":
    main()
