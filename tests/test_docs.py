"""The documentation cannot go stale: every generated output and number in README.md and docs/*.md is what the
code produces today, every command is listed in the README, every example scenario is documented, and every link
between the documents resolves."""

import re

import pytest

from benchmarks import docs
from tests.conftest import ROOT

README = ROOT / "README.md"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_generated_outputs_and_numbers_are_up_to_date():
    stale = docs.stale()
    assert not stale, (f"generated documentation is stale in {', '.join(stale)}: {docs.REGENERATE_HINT}\n\n"
                       + "\n".join(diff[:3000] for diff in stale.values()))


def test_every_cli_command_is_in_the_readme_command_list():
    from planner.cli import cli

    section = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^planner ([a-z]+(?: [a-z]+)?)", section, flags=re.M))
    missing = []
    for name, command in cli.commands.items():
        subcommands = getattr(command, "commands", None)
        if subcommands:
            missing += [f"{name} {sub}" for sub in subcommands if f"{name} {sub}" not in listed]
        elif not any(entry.split()[0] == name for entry in listed):
            missing.append(name)
    assert not missing, f"README.md's command list lacks: {', '.join('planner ' + m for m in missing)}"


def test_every_example_scenario_is_named_in_the_documentation():
    text = "\n".join(path.read_text() for path in docs.doc_files())
    missing = [path.name for path in sorted((ROOT / "scenarios").glob("*.yaml")) if path.name not in text]
    assert not missing, f"scenarios not mentioned in README.md or docs/: {', '.join(missing)}"


@pytest.mark.parametrize("path", docs.doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_between_documents_resolve(path):
    broken = []
    for target in LINK.findall(re.sub(r"```.*?```", "", path.read_text(), flags=re.S)):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
            broken.append(target)
    assert not broken, f"{path.name}: broken links {broken}"


def test_the_readme_stays_short():
    assert len(README.read_text().splitlines()) <= 320


def test_scenarios_written_out_in_the_documents_are_valid():
    import yaml

    from planner.schema import validate_scenario

    shown = [(path.name, block) for path in docs.doc_files()
             for block in re.findall(r"```yaml\n(.*?)```", path.read_text(), flags=re.S) if block.startswith("name:")]
    assert shown, "no scenario written out in the documents"
    for name, block in shown:
        validate_scenario(yaml.safe_load(block), source=name)
