"""The documentation keeps up with the code: every column, option and exit code is documented
on the docs/ page a user looks for it on, every page is linked from the README, every link
resolves, every command shown parses, and the README stays short. (The guides' examples run
in test_authoring.py.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mlbench.cli import main
from mlbench.contract.registry import load_registry
from mlbench.results.table import COLUMNS, HISTORY_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
USER_DOCS = [README, *PAGES]
README_LIMIT = 12_000  # bytes: the "at most 12 KB", read strictly
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def page(name: str) -> str:
    return (ROOT / "docs" / name).read_text()


def prose(text: str) -> str:
    """``text`` without its fenced code blocks (a `# comment` there is not a heading)."""
    return FENCE.sub("", text)


def section(text: str, heading: str) -> str:
    """From ``heading`` (a whole line) to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    after = text.split(f"\n{heading}\n", 1)[1]
    return re.split(rf"\n#{{1,{len(level)}}} ", after)[0]


def anchors(path: Path) -> set[str]:
    """The fragments GitHub gives the headings of a Markdown file: lower case, punctuation
    dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", prose(path.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def commands(path: Path) -> list[list[str]]:
    """Every `mlbench ...` command of the bash blocks of ``path``, a line's own or one of the
    commands it chains with `&&`, as arguments (an environment assignment in front and a
    trailing comment left out)."""
    found = []
    for language, body in FENCE.findall(path.read_text()):
        if language != "bash":
            continue
        for line in body.splitlines():
            chain = shlex.split(line, comments=True)
            while chain:
                end = chain.index("&&") if "&&" in chain else len(chain)
                words, chain = chain[:end], chain[end + 1:]
                while words and re.match(r"^[A-Z_]+=", words[0]):
                    words.pop(0)
                if words and words[0] == "mlbench":
                    found.append(words[1:])
    return found


def test_the_readme_sets_up_and_runs_the_main_job_and_the_tests_in_one_line_each() -> None:
    lines = [line for language, body in FENCE.findall(README.read_text()) if language == "bash"
             for line in body.splitlines()]
    setup = "python3 -m venv .venv && . .venv/bin/activate && pip install -e "
    assert f'{setup}".[cnn]" && mlbench run --models cnn,svm,knn' in lines
    assert f'{setup}".[all,dev]" && pytest' in lines
    assert ["run", "--models", "cnn,svm,knn"] in commands(README)


# ---------------------------------------------------------------- the reference pages


def test_every_results_column_is_documented_with_its_unit() -> None:
    results = page("results.md")
    for name, dtype, unit, meaning in COLUMNS:
        assert f"| `{name}` | {dtype} | {unit} | {meaning} |" in results, name


def test_every_history_column_is_documented() -> None:
    schema = section(page("results.md"), "## Schema of `history.csv`")
    for name in HISTORY_COLUMNS:
        assert f"`{name}`" in schema, name


def test_every_run_option_has_a_row_in_the_cli_page() -> None:
    options = section(page("cli.md"), "## Options of `mlbench run`")
    for param in main.commands["run"].params:
        long_names = [opt for opt in param.opts if opt.startswith("--")]
        if long_names and long_names[0] != "--help":
            row = rf"^\| `{re.escape(long_names[0])}[` ]"  # `--seed S`, `--models`, `-m ...`
            assert re.search(row, options, re.MULTILINE), long_names[0]


def test_every_command_has_a_row_in_the_cli_page() -> None:
    for name in main.commands:
        assert f"| `mlbench {name}" in page("cli.md"), name


def test_exit_codes_match_the_cli() -> None:
    from mlbench.cli import commands as cli

    table = section(page("cli.md"), "## Exit codes")
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert documented == {0, cli.EXIT_JOBS_FAILED, cli.EXIT_USAGE, cli.EXIT_DATASET,
                          cli.EXIT_DISK_FULL, cli.EXIT_INTERRUPTED, cli.EXIT_TERMINATED,
                          cli.EXIT_FAIL_ON, cli.EXIT_INCONCLUSIVE, cli.EXIT_EXPORT}


# ---------------------------------------------------------------- the README and the links


def test_the_readme_is_short() -> None:
    assert len(README.read_bytes()) <= README_LIMIT


def test_the_readme_links_every_docs_page() -> None:
    linked = set(LINK.findall(prose(README.read_text())))
    assert {f"docs/{path.name}" for path in PAGES} <= linked


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda path: path.name)
def test_every_relative_link_resolves(path: Path) -> None:
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        file, _, fragment = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        assert resolved.exists(), f"{path.name}: {target} does not exist"
        if fragment and resolved.suffix == ".md":
            assert fragment in anchors(resolved), f"{path.name}: {target} names no heading"


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda path: path.name)
def test_user_docs_name_no_path_of_this_machine(path: Path) -> None:
    text = path.read_text()
    for internal in ("../shared", "shared/data", "/work/", "/home/", "/tmp/"):
        assert internal not in text, f"{path.name} names {internal}"


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda path: path.name)
def test_every_command_shown_parses_and_names_real_models(path: Path) -> None:
    """Each `mlbench ...` line of a bash block is a command with options that exist and
    values of their types; a run's models, tags and dataset exist (unless a plugin adds
    them, or the page's own new-plugin made them)."""
    registry = load_registry()
    created = {words[1] for words in commands(path) if words[:1] == ["new-plugin"]}
    for words in commands(path):
        assert words and words[0] in main.commands, f"{path.name}: mlbench {shlex.join(words)}"
        context = main.commands[words[0]].make_context(words[0], words[1:])
        if words[0] != "run" or context.params["plugins"]:
            continue
        for name in (context.params["models"] or "").split(","):
            # A model of a plugin the page has just made (and installed) counts as real.
            assert (name in registry.models or name in registry.tags() or name in created
                    or not name), name
        assert context.params["dataset"] in registry.datasets, context.params["dataset"]
