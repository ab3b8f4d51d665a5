"""`mlbench compare` on real saved runs: real differences are flagged, noise is not, what
differs between the runs is said, `--fail-on` gates CI on a planted regression and not on two
equal runs, the output fits 100 columns and lands beside the runs, and bad input gets one
line."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mlbench.reporting.compare import compare_runs, open_runs
from mlbench.reporting.compare_report import display_table
from mlbench.results.table import read_table

Cli = Callable[..., Result]
# Deterministic models (the same accuracy for every seed) and a seed-dependent one.
MODELS = "knn,naive-bayes,random-forest"
SMALL_FOREST = "random-forest.n_estimators=10"


def make_run(cli: Cli, tmp_path: Path, name: str, *options: str) -> Path:
    result = cli("run", "-d", "digits", "-q", "--name", name, *options)
    assert result.exit_code == 0, result.output
    return tmp_path / "results" / name


def compare(cli: Cli, tmp_path: Path, *runs: Path) -> tuple[Result, str]:
    """Run mlbench compare into tmp_path/compare; returns the result and compare.md."""
    output = tmp_path / "compare"
    result = cli("compare", *map(str, runs), "--output", str(output))
    assert result.exit_code == 0, result.output
    return result, (output / "compare.md").read_text()


def deltas(*runs: Path) -> dict[str, dict[str, object]]:
    """Each compared row by its model (its name without the variant, "n_estimators=10")."""
    comparison = compare_runs(open_runs(list(runs)))
    return {str(row["model"]).split(" ")[0]: row for row in comparison.deltas.to_dict("records")}


def test_flags_a_real_difference_and_not_noise(cli: Cli, tmp_path: Path) -> None:
    common = ("-m", MODELS, "--repeats", "3", "-p", SMALL_FOREST)
    base = make_run(cli, tmp_path, "base", *common)
    noise = make_run(cli, tmp_path, "reseeded", *common, "--seed", "10")
    small = make_run(cli, tmp_path, "small", *common, "--train-size", "60")

    # Same settings, other seeds: the forest's accuracy moves, but within its spread.
    same = deltas(base, noise)
    assert set(same) == {"knn", "naive-bayes", "random-forest"}
    # Repeats that never vary say nothing about chance: the deterministic models go to
    # McNemar on the same test images, the forest to Welch over its repeats.
    assert {model: row["accuracy_test"] for model, row in same.items()} == {
        "knn": "McNemar", "naive-bayes": "McNemar", "random-forest": "Welch"}
    assert not any(row["accuracy_flag"] for row in same.values()), same
    assert same["knn"]["accuracy_delta"] == 0 and same["random-forest"]["accuracy_delta"] != 0

    # 60 training images instead of 1,437: every model loses accuracy beyond its spread.
    real = deltas(base, small)
    assert all(row["accuracy_flag"] for row in real.values()), real
    assert all(float(row["accuracy_delta"]) < -0.05 for row in real.values())

    result, markdown = compare(cli, tmp_path, base, small)
    assert "knn (cpu): accuracy" in result.stdout and "points lower in small" in result.stdout
    assert "dataset: digits (1,437 train / 360 test images) in base; digits (60 train / " \
           "360 test images) in small" in markdown
    assert "Welch's t-test" in markdown  # the rule is stated
    assert result.stdout.splitlines()[-1] == (
        f"mlbench: comparison in {tmp_path / 'compare' / 'compare.html'} (compare.md and "
        "charts/ beside it)")
    # The change table: each run's figure, the change in points with its interval.
    # knn does not vary over seeds (the same 60 images each repeat): McNemar, not Welch.
    for model, test in (("knn", "McNemar"), ("random-forest", "Welch")):
        assert re.search(rf"\| {model}[^|]*\| accuracy +\| [\d.]+ +\| [\d.]+ +\| -[\d.]+ pts "
                         rf"\(-[\d.]+ to -[\d.]+\) +\| {test} p", markdown), markdown
    for chart in ("accuracy.png", "fit_time.png"):
        path = tmp_path / "compare" / "charts" / chart
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"charts/{chart}" in markdown

    page = (tmp_path / "compare" / "compare.html").read_text()
    for model in ("knn", "naive-bayes", "random-forest"):
        assert f"<td>{model}" in page
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page

    _, reseeded = compare(cli, tmp_path, base, noise)
    assert "first seed: 0 in base; 10 in reseeded" in reseeded
    assert not re.search(r"^- .+: accuracy [\d.]+ points", reseeded, re.MULTILINE)
    assert re.search(r"^- .+: accuracy [\d.]+ points lower in small", markdown, re.MULTILINE)


def test_single_repeats_and_other_datasets(cli: Cli, tmp_path: Path) -> None:
    one = make_run(cli, tmp_path, "one", "-m", "knn,naive-bayes")
    tiny = make_run(cli, tmp_path, "tiny", "-m", "knn,naive-bayes", "--train-size", "60")
    other = make_run(cli, tmp_path, "other", "-m", "knn,svm", "--dataset", "mnist-5k",
                     "--train-size", "500", "--test-size", "300")

    # One repeat each, the same 360 test images: McNemar on the saved predictions.
    paired = deltas(one, tiny)
    assert {row["accuracy_test"] for row in paired.values()} == {"McNemar"}
    assert all(row["accuracy_flag"] for row in paired.values())

    # Another dataset: still compared, the difference stated, accuracy not tested.
    apart = deltas(one, other)
    assert set(apart) == {"knn"}
    assert apart["knn"]["accuracy_test"] == "not tested: other test images"
    assert not apart["knn"]["accuracy_flag"]
    result, markdown = compare(cli, tmp_path, one, other)
    assert re.search(r"dataset: digits \(1,437 train / 360 test images\) in one; "
                     r"mnist-5k \(500 train / 300 test images\) in other", markdown)
    assert "naive-bayes (cpu): only in one; not in other" in markdown
    assert "svm (cpu): only in other; not in one" in markdown
    assert "not tested" in result.stdout


def test_params_that_differ_are_stated(cli: Cli, tmp_path: Path) -> None:
    three = make_run(cli, tmp_path, "k3", "-m", "knn")
    five = make_run(cli, tmp_path, "k5", "-m", "knn", "-p", "knn.n_neighbors=5")
    _, markdown = compare(cli, tmp_path, three, five)
    assert "params of knn: n\\_neighbors=3 in k3; n\\_neighbors=5 in k5" in markdown


def test_html_escapes_params_from_plugins(cli: Cli, tmp_path: Path,
                                         write_plugin: Callable[[str, str], Path]) -> None:
    plugin = write_plugin("html_name", '''
        import numpy as np
        import mlbench

        class Tagged(mlbench.Model):
            """Predicts the majority class."""
            name = "tagged"
            defaults = {"note": "<script>alert(1)</script>"}

            def fit(self, X, y):
                self.majority_ = int(np.bincount(y).argmax())
                return self

            def predict(self, X):
                return np.full(len(X), self.majority_)

        @mlbench.hookimpl
        def mlbench_register_models(register):
            register(Tagged)
    ''')
    first = make_run(cli, tmp_path, "p1", "--plugin", str(plugin), "-m", "tagged")
    second = make_run(cli, tmp_path, "p2", "--plugin", str(plugin), "-m", "tagged",
                      "-p", 'tagged.note="<b>two</b>"')
    _, markdown = compare(cli, tmp_path, first, second)
    page = (tmp_path / "compare" / "compare.html").read_text()
    assert "params of tagged: note=" in page and "&lt;b&gt;two&lt;/b&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page and "<b>" not in page
    assert "<script" not in markdown and "<b>" not in markdown


def bad(cli: Cli, *args: str) -> str:
    result = cli("compare", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlbench: error: "), result.stderr
    return lines[0]


def test_time_to_target_per_model_and_run(cli: Cli, tmp_path: Path) -> None:
    from tests.test_report import CLOCKED  # epochs of 2, 3, 4 s, accuracy 0.992 in the second

    plugin = tmp_path / "clocked.py"
    plugin.write_text(f"TOTAL = 'cumulative_train_seconds'\n{CLOCKED}")
    common = ("--plugin", str(plugin), "-m", "clocked,knn")
    reached = make_run(cli, tmp_path, "reached", *common, "--repeats", "2")
    missed = make_run(cli, tmp_path, "missed", *common, "--target-accuracy", "0.999")
    cells = display_table(compare_runs(open_runs([reached, missed])))
    to_target = {(row["model"], row["run"]): row["to target s"]
                 for row in cells.to_dict("records")}
    assert to_target == {("clocked", "reached"): "5", ("clocked", "missed"): "",
                         ("knn", "reached"): "", ("knn", "missed"): ""}  # empty, never 0
    # Runs where no model keeps a history have no such column.
    plain = [make_run(cli, tmp_path, name, "-m", "knn") for name in ("plain", "again")]
    assert "to target s" not in display_table(compare_runs(open_runs(plain)))


def test_bad_input_is_one_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    run = make_run(cli, tmp_path, "only", "-m", "naive-bayes")
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")

    assert "at least two run folders" in bad(cli)
    assert "at least two run folders" in bad(cli, str(run))
    assert "not a run folder (no run.json)" in bad(cli, str(run), str(empty))
    assert "is not a folder" in bad(cli, str(run), str(tmp_path / "missing"))
    assert "the same run folder is given twice" in bad(cli, str(run), str(run))
    assert "cannot be read" in bad(cli, str(run), str(broken))
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "run.json").write_text(json.dumps({"dataset": {"name": "digits"}}))
    assert "no finished job" in bad(cli, str(run), str(copy))
    twin = shutil.copytree(run, tmp_path / "twin")
    assert "cannot write the comparison" in bad(cli, str(run), str(twin), "--output",
                                                str(a_file))


SLEEPY = '''
    import time
    import numpy as np
    import mlbench

    class Sleepy(mlbench.Model):
        """Predicts the majority class, after sleeping in fit as long as told."""
        name = "sleepy-majority-baseline"
        defaults = {"fit_sleep": 0.0}

        def fit(self, X, y):
            time.sleep(self.params["fit_sleep"])
            self.majority_ = int(np.bincount(y).argmax())
            return self

        def predict(self, X):
            return np.full(len(X), self.majority_)

    @mlbench.hookimpl
    def mlbench_register_models(register):
        register(Sleepy)
'''
GATES = ("--fail-on", "accuracy:0.5", "--fail-on", "fit:10%,predict:10%")


def gate(cli: Cli, *args: str) -> Result:
    return cli("compare", *args, *GATES)


def judged(result: Result, runs: list[Path], expected: int) -> bool:
    """Whether the gate decided, with exit ``expected``. Where the machine disturbed a job of
    ``runs`` (a busy CI machine), undecided (exit 6, one inconclusive line) is right too:
    then False, and the caller checks no more."""
    disturbed = any(read_table(run / "results.csv")["disturbed"].astype("boolean")
                    .fillna(False).any() for run in runs)
    if disturbed and result.exit_code == 6:
        assert fail_on_lines(result)[0].startswith("mlbench: fail-on inconclusive: ")
        return False
    assert result.exit_code == expected, result.output
    return True


def fail_on_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("mlbench: fail-on")]


def test_fail_on_passes_equal_runs_and_fails_a_planted_regression(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Deterministic and quick; on a busy machine their jobs may be disturbed, and then the
    # gate rightly cannot decide (``judged``).
    models = ("-m", "naive-bayes,perceptron")
    base = make_run(cli, tmp_path, "base", *models)
    again = make_run(cli, tmp_path, "again", *models)
    starved = make_run(cli, tmp_path, "starved", *models, "--train-size", "60")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    # The same command twice: nothing breaks a threshold, exit 0.
    result = gate(cli, str(base), str(again))
    if not judged(result, [base, again], 0):
        return
    assert fail_on_lines(result) == []
    # Written beside the runs (the later run's folder), never into ./results; said last.
    written = again / "compare-base"
    assert result.output.splitlines()[-1] == (
        f"mlbench: comparison in {written / 'compare.html'} (compare.md and charts/ beside it)")
    assert (written / "compare.md").exists() and not (elsewhere / "results").exists()
    assert "--fail-on accuracy:0.5, --fail-on fit:10%, --fail-on predict:10%: no breach." in \
        (written / "compare.md").read_text()

    # 60 training images instead of 1,437: accuracy drops far beyond chance and 0.5 points.
    result = gate(cli, str(base), str(starved))
    assert result.exit_code == 5, result.output
    breaches = fail_on_lines(result)
    assert len(breaches) == 2, result.stderr
    for model, line in zip(("naive-bayes", "perceptron"), breaches, strict=True):
        assert re.fullmatch(
            rf"mlbench: fail-on: {model} \(cpu\) in starved against base: accuracy -[\d.]+ "
            r"pts \(-[\d.]+ to -[\d.]+\), McNemar p[<=][\d.]+ \(--fail-on accuracy:0.5\)",
            line), line
    assert "2 breach(es)" in (starved / "compare-base" / "compare.md").read_text()
    # The same drop under a threshold it does not reach: beyond chance, yet no breach.
    result = cli("compare", str(base), str(starved), "--fail-on", "accuracy:99")
    assert result.exit_code == 0 and fail_on_lines(result) == [], result.output


def test_fail_on_a_slower_fit_and_colours_only_real_changes(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        write_plugin: Callable[[str, str], Path]) -> None:
    # The regression planted in the plugin, not through a param: a job run with other params
    # than another is another variant, which compare never sets against it.
    common = ("-m", "sleepy-majority-baseline,naive-bayes", "--repeats", "2")
    quick, slow = (make_run(cli, tmp_path, name, *common, "--plugin", str(write_plugin(
        f"sleepy_{name}", SLEEPY.replace('"fit_sleep": 0.0', f'"fit_sleep": {sleep}'))))
        for name, sleep in (("quick", 0.02), ("slow", 0.4)))
    output = str(tmp_path / "cmp")

    # Fit 0.02 s -> 0.4 s: a slow-down beyond the noise and 10%, with its interval.
    result = gate(cli, str(quick), str(slow), "--output-dir", output)
    if not judged(result, [quick, slow], 5):
        return
    (line,) = fail_on_lines(result)
    assert re.fullmatch(r"mlbench: fail-on: sleepy-majority-baseline \(cpu\) in slow against "
                        r"quick: fit [\d.]+x slower \([\d.]+-[\d.]+\), beyond the noise "
                        r"within and between runs \(--fail-on fit:10%\)", line), line
    # Every line fits 100 columns (the last names the folder, as long as the path is), and
    # no name or interval is cut.
    lines = result.stdout.splitlines()
    assert max(map(len, lines[:-1])) <= 100, result.stdout
    assert "sleepy-majority-baseline" in result.stdout and "…" not in result.stdout
    assert re.search(r"\d+\.\d\dx slower \(\d+\.\d\d-\d+\.\d\d\)", result.stdout)

    # In colour: the slower fit red, the same fit the other way round green, and naive
    # Bayes (unchanged, under the noise floor) not coloured at all.
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    red, green = "\x1b[1;31m", "\x1b[1;32m"
    for first, second, colour, word in ((quick, slow, red, "slower"),
                                        (slow, quick, green, "faster")):
        result = cli("compare", str(first), str(second), "-o", output)
        rows = [line for line in result.stdout.splitlines() if "x " + word in line]
        assert any(colour in row for row in rows if "beyond noise" in row), result.stdout
        table = result.stdout.split("Summary:")[0]
        assert table.count(red) + table.count(green) == 2, result.stdout  # change, judged
        assert result.exit_code == 0  # no --fail-on: a change is reported, never a failure


def test_bad_fail_on_is_one_line(cli: Cli, tmp_path: Path) -> None:
    runs = [str(make_run(cli, tmp_path, name, "-m", "naive-bayes")) for name in ("x", "y")]
    for threshold in ("accuracy", "fit:10", "speed:5%", "accuracy:-1", "fit:ten%"):
        line = bad(cli, *runs, "--fail-on", threshold)
        assert line == (f"mlbench: error: --fail-on {threshold!r} is not a threshold; use "
                        "accuracy:POINTS (e.g. accuracy:0.5), fit:PERCENT% or "
                        "predict:PERCENT% (e.g. fit:10%)"), line


def test_fail_on_cannot_decide_without_a_model_in_common(cli: Cli, tmp_path: Path) -> None:
    ours = make_run(cli, tmp_path, "ours", "-m", "naive-bayes")
    theirs = make_run(cli, tmp_path, "theirs", "-m", "perceptron")
    result = gate(cli, str(ours), str(theirs), "-o", str(tmp_path / "cmp"))
    assert result.exit_code == 6, result.output  # not 0: nothing was checked
    assert fail_on_lines(result) == [
        "mlbench: fail-on inconclusive: nothing in common to compare: no model and device "
        "ended ok in both ours and theirs"]
    assert "theirs against ours: nothing in common to compare" in result.stdout
    # Without --fail-on it is a comparison like any other: exit 0.
    assert cli("compare", str(ours), str(theirs), "-o", str(tmp_path / "cmp")).exit_code == 0


def test_runs_on_other_machines_are_named_and_not_gated(cli: Cli, tmp_path: Path) -> None:
    base = make_run(cli, tmp_path, "base", "-m", "naive-bayes")
    other = make_run(cli, tmp_path, "other", "-m", "naive-bayes")
    info = json.loads((other / "run.json").read_text())
    info["machine"]["cpu"] = "Another CPU"
    info["machine"]["libraries"]["numpy"] = "0.0.1"
    (other / "run.json").write_text(json.dumps(info))

    result = gate(cli, str(base), str(other), "-o", str(tmp_path / "cmp"))
    # The first lines say it, before any figure.
    assert result.stdout.splitlines()[0] == "Not like for like:", result.stdout
    assert "CPU:" in result.stdout.splitlines()[1] and "numpy: " in result.stdout
    assert result.exit_code == 6, result.output
    (line,) = fail_on_lines(result)
    assert line.startswith("mlbench: fail-on inconclusive: times not gated: the runs are not "
                           "like for like (CPU: "), line
    assert line.endswith("--allow-unlike gates them anyway")
    compared = (tmp_path / "cmp" / "compare.md").read_text()
    assert "Not like for like: CPU: " in compared.split("## Summary", 1)[1].split("\n\n")[1]
    # Asked to, it gates them: two runs of the same quick model break nothing.
    result = gate(cli, str(base), str(other), "--allow-unlike", "-o", str(tmp_path / "cmp"))
    if judged(result, [base, other], 0):
        assert fail_on_lines(result) == [], result.output
    # An accuracy threshold alone is judged whatever the machine.
    result = cli("compare", str(base), str(other), "--fail-on", "accuracy:0.5")
    assert result.exit_code == 0, result.output
