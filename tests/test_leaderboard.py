"""`mlbench leaderboard` over real saved runs: two runs on one machine, the first copied as a
run from a second machine (its run.json's machine rewritten), one run on another dataset,
an unfinished run and two damaged ones. Each (dataset, machine) is a table of its own,
ranked by accuracy, never mixing another's runs; the runs left out are named in one line
each."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from mlbench.cli import main
from mlbench.reporting.stats import accuracy_interval
from mlbench.results.table import read_table
from tests.conftest import isolate

MODELS = ("-m", "knn,random-forest,naive-bayes", "-p", "random-forest.n_estimators=5")
OTHER_MACHINE = {"cpu": "Example CPU 9999", "cpu_count": 64, "usable_cpus": 64,
                 "gpus": ["NVIDIA H100 80GB HBM3"]}


def make_run(cli: Callable[..., Result], name: str, *options: str) -> None:
    result = cli("run", "-q", "--name", name, *options)
    assert result.exit_code == 0, result.output


def rewrite_run_json(run: Path, change: Callable[[dict], None]) -> None:
    info = json.loads((run / "run.json").read_text())
    change(info)
    (run / "run.json").write_text(json.dumps(info))


def reject(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> Iterator[Path]:
    """The runs, made once for every test here: alpha and beta (another seed, so another
    forest) on digits, beta the later; gamma, alpha as if run on another (busy) machine; delta on
    mnist-5k; and three a leaderboard leaves out: killed (unfinished), cut (a cut-off job
    record) and garbled (a cut-off run.json)."""
    folder = tmp_path_factory.mktemp("leaderboard") / "results"

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "-o", str(folder), "--no-report"],
                                  catch_exceptions=False)

    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, session_cache)
        # Seeds chosen so that the first run has the better forest: best and latest differ.
        make_run(cli, "alpha", "-d", "digits", *MODELS, "--seed", "1")
        make_run(cli, "beta", "-d", "digits", *MODELS)
        make_run(cli, "delta", "-d", "mnist-5k", "--train-size", "300", "--test-size", "200",
                 "-m", "knn,naive-bayes")
    shutil.copytree(folder / "alpha", folder / "gamma")
    rewrite_run_json(folder / "gamma", lambda info: info["machine"].update(OTHER_MACHINE))
    for record in (folder / "gamma" / "jobs").glob("*.json"):  # and timed on a busy one
        job = json.loads(record.read_text())
        job.update(disturbed=True, fit_disturbed=True, predict_disturbed=True)
        record.write_text(json.dumps(job))
    # Killed by SIGKILL: run.json never got finished_at. Cut: a job record cut short.
    shutil.copytree(folder / "beta", folder / "killed")
    rewrite_run_json(folder / "killed", lambda info: (info.pop("finished_at"),
                                                      info.pop("complete")))
    shutil.copytree(folder / "beta", folder / "cut")
    cut = next((folder / "cut" / "jobs").glob("knn-*.json"))
    cut.write_text(cut.read_text()[:40])
    shutil.copytree(folder / "beta", folder / "garbled")  # run.json itself cut short
    (folder / "garbled" / "run.json").write_text('{"config": {"models": ["kn')
    yield folder


def leaderboard(results: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["leaderboard", str(results), *options],
                              catch_exceptions=False)


def accuracies(results: Path, runs: list[str]) -> pd.DataFrame:
    """Per model (named with its variant) and run: mean test accuracy, from results.csv."""
    table = pd.concat([read_table(results / run / "results.csv").assign(run=run)
                       for run in runs])
    table["name"] = [model if not isinstance(variant, str) else f"{model} {variant}"
                     for model, variant in zip(table["model"], table["variant"], strict=True)]
    return table.groupby(["name", "run"])["accuracy"].mean().reset_index()


def machine_title(results: Path, dataset: str) -> str:
    machine = json.loads((results / "alpha" / "run.json").read_text())["machine"]
    usable = (f" ({machine['usable_cpus']} usable)"
              if machine["usable_cpus"] != machine["cpu_count"] else "")
    return (f"{dataset}, on {machine['cpu']}, {machine['cpu_count']} cores{usable}, GPUs: "
            f"{', '.join(machine['gpus']) or 'none'}")


def run_names(text: str) -> set[str]:
    return set(re.findall(r"\b(alpha|beta|gamma|delta|killed|cut|garbled)\b", text))


def test_ranks_each_dataset_and_machine_apart(results: Path) -> None:
    result = leaderboard(results)
    assert result.exit_code == 0, result.output
    out = result.stdout

    # The damaged and the unfinished run: one line each, named, with what to do; no trace.
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert f"mlbench: warning: skipped {results / 'cut'}: damaged job record (jobs/knn-" \
        in lines[0]
    assert lines[1].startswith(f"mlbench: warning: skipped {results / 'garbled'}: damaged: ")
    assert "its run.json is unreadable" in lines[1]
    assert lines[2] == (f"mlbench: warning: skipped {results / 'killed'}: unfinished "
                        "(interrupted, or still running); finish an interrupted run with: "
                        f"mlbench run --resume {results / 'killed'}")

    # A table per dataset and machine, headed by what it is, the largest first.
    titles = [machine_title(results, "digits, 360 test images"),
              "digits, 360 test images, on Example CPU 9999, 64 cores, GPUs: NVIDIA H100 "
              "80GB HBM3", machine_title(results, "mnist-5k, 200 test images")]
    shown = [line.rstrip() for line in out.splitlines()
             if re.match(r"^(digits|mnist-5k), ", line)]
    assert shown == titles, out
    starts = [out.index(title) for title in titles]
    here, elsewhere, mnist = (out[start:end] for start, end
                              in zip(starts, [*starts[1:], len(out)], strict=True))
    # Never mixed: each table holds its own runs' results only: here each model's best run
    # and the latest, beta.
    runs = accuracies(results, ["alpha", "beta"]).sort_values(["accuracy", "run"])
    assert run_names(here) == {*runs.groupby("name")["run"].last(), "beta"}
    assert run_names(elsewhere) == {"gamma"}
    # Its times come from disturbed jobs only, and say so.
    times = re.findall(r"([\d.]+ s(?: !)?) +│ +([\d.]+ s(?: !)?) +│ gamma", elsewhere)
    assert len(times) == 3 and all(cell.endswith(" !") for pair in times for cell in pair)
    assert run_names(mnist) == {"delta"} and "random-forest" not in mnist

    # Ranked by each model's best mean accuracy over the two runs on this machine.
    best = accuracies(results, ["alpha", "beta"]).groupby("name")["accuracy"].max()
    ranking = sorted(best.index, key=lambda name: (-best[name], name))
    shown = re.findall(r"(knn|naive-bayes|random-forest n_estimators=5)\s", here)
    assert list(dict.fromkeys(shown)) == ranking, here


def test_csv_holds_best_and_latest_per_group(results: Path) -> None:
    result = leaderboard(results, "--format", "csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    here = table[(table["dataset"] == "digits") & ~table["machine"].str.startswith("Example")]
    assert set(here["run"]) == {"alpha", "beta"}
    for name, rows in accuracies(results, ["alpha", "beta"]).groupby("name"):
        mine = here[here["model"] == name]
        best = rows.sort_values(["accuracy", "run"]).iloc[-1]  # the later run among equals
        best_rows = mine[mine["entry"].str.startswith("best")]
        assert len(best_rows) == 1 and best_rows["run"].iloc[0] == best["run"], mine
        assert best_rows["accuracy"].iloc[0] == pytest.approx(best["accuracy"])
        low, high = accuracy_interval(best["accuracy"], 360)
        assert best_rows["accuracy_low"].iloc[0] == pytest.approx(low)
        assert best_rows["accuracy_high"].iloc[0] == pytest.approx(high)
        # beta finished last: its result is the latest, one row where it is also the best.
        latest = mine[mine["entry"].str.endswith("latest")]
        assert len(latest) == 1 and latest["run"].iloc[0] == "beta"
        assert len(mine) == (1 if best["run"] == "beta" else 2)
    assert (here["entry"] == "latest").any()  # the seeds give one model two rows
    assert (here["fit_seconds"] > 0).all() and (here["predict_seconds"] > 0).all()
    for run, commit in zip(table["run"], table["git_commit"], strict=True):
        saved = json.loads((results / run / "run.json").read_text())["machine"]["git_commit"]
        assert (commit if isinstance(commit, str) else None) == saved
    for _, rows in table.groupby(["dataset", "machine"]):  # ranks from 1, best first
        ranks = rows.loc[rows["entry"] != "latest", "rank"].tolist()
        assert ranks == sorted(ranks) and ranks[0] == 1
    assert set(table.loc[table["dataset"] == "mnist-5k", "run"]) == {"delta"}
    gamma = table[table["run"] == "gamma"]
    assert len(gamma) == 3 and (gamma["disturbed"] == gamma["repeats"]).all()


def test_json_and_markdown(results: Path) -> None:
    result = leaderboard(results, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout, parse_constant=reject)  # strict: no NaN, Infinity
    assert document["kind"] == "leaderboard" and document["runs_read"] == 4
    groups = {(group["dataset"], group["machine"].startswith("Example")): group
              for group in document["groups"]}
    assert set(groups) == {("digits", False), ("digits", True), ("mnist-5k", False)}
    assert {row["run"] for row in groups["digits", False]["rows"]} == {"alpha", "beta"}
    assert {row["run"] for row in groups["digits", True]["rows"]} == {"gamma"}
    assert {row["run"] for row in groups["mnist-5k", False]["rows"]} == {"delta"}
    for group in groups.values():
        best = [row["accuracy"] for row in group["rows"] if row["entry"] != "latest"]
        assert best == sorted(best, reverse=True)
        assert set(group["rows"][0]) == set(document["columns"])
    assert [skipped["run_dir"] for skipped in document["skipped"]] == [
        str(results / "cut"), str(results / "garbled"), str(results / "killed")]

    markdown = leaderboard(results, "--format", "markdown").stdout
    assert markdown.startswith(f"# mlbench leaderboard: {results}")
    assert markdown.count("\n## digits, 360 test images, on ") == 2
    assert "\n## mnist-5k, 200 test images, on " in markdown
    assert re.search(r"\| rank +\| model +\| device", markdown)
    assert "skipped" in markdown.split("## Left out")[1]


def test_bad_folder_is_one_line(tmp_path: Path) -> None:
    result = leaderboard(tmp_path / "nowhere")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"mlbench: error: {tmp_path / 'nowhere'} is not a folder; "
                                     "give the folder mlbench run writes runs into, e.g. "
                                     "mlbench leaderboard results")
    empty = leaderboard(tmp_path)
    assert empty.exit_code == 0 and "no finished run with an ok job" in empty.stderr
