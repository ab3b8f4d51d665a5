"""The public API for saved runs: ``mlbench.load`` / ``mlbench.run`` give a ``SavedRun`` whose
notebook display is the report's first screen, whose ``.report()`` writes the report and whose
``.compare()`` is ``mlbench compare``'s judgement; bad folders are one-line errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mlbench
from mlbench.errors import UsageError
from mlbench.reporting.saved import SavedComparison, SavedRun
from mlbench.results.folder import RunFolder

MODELS = ["knn", "naive-bayes"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, session_cache: Path
             ) -> tuple[SavedRun, SavedRun]:
    """Two small real runs of the same models, made through ``mlbench.run``."""
    output = tmp_path_factory.mktemp("saved")
    with pytest.MonkeyPatch.context() as patch:  # as conftest's `isolated`, for this module
        patch.setenv("MLBENCH_LOAD_PLUGINS", "scikit-learn")
        patch.setenv("MLBENCH_CACHE_DIR", str(session_cache))
        patch.delenv("MLBENCH_PLUGINS", raising=False)
        first = mlbench.run(MODELS, "digits", output_dir=output, name="first", test_size=200)
        second = mlbench.run(MODELS, "digits", output_dir=output, name="second", test_size=200,
                             train_size=600)
    assert isinstance(first, SavedRun) and isinstance(second, SavedRun)
    return first, second


def section(html: str, title: str) -> str:
    """One section of a report or fragment: from its heading to the next one."""
    match = re.search(rf">{title}</h2>(.*?)(<h2|<details class=\"section\"|$)", html, re.S)
    assert match, f"no {title} section"
    return match.group(1)


def test_run_returns_the_saved_run_with_its_table(two_runs: tuple[SavedRun, SavedRun]) -> None:
    first, _ = two_runs
    saved = pd.read_csv(first.path / "results.csv")
    assert list(first.frame["job_id"]) == list(saved["job_id"])
    assert list(first.frame["model"]) == MODELS and set(first.frame["status"]) == {"ok"}
    assert first.frame["accuracy"].tolist() == pytest.approx(saved["accuracy"].tolist())
    assert first.info.dataset.name == "digits" and first.info.dataset.test_size == 200


def test_the_notebook_display_is_the_reports_first_screen(
        two_runs: tuple[SavedRun, SavedRun]) -> None:
    first, _ = two_runs
    shown = mlbench.load(first.path)._repr_html_()
    written = first.report()
    assert written.html.exists() and written.markdown.exists()
    page = written.html.read_text()
    # The same Summary (its verdicts) and the same results tables as the report's.
    for title in ("Summary", "Results"):
        assert section(shown, title).strip() == section(page, title).strip()
    summary = section(shown, "Summary")
    assert "jobs ended ok" in summary and all(model in summary for model in MODELS)
    assert "<th>test accuracy (mean)</th>" in section(shown, "Results")
    # A fragment for a cell: no page of its own, no style or script to leak into the notebook.
    assert not re.search(r"<(html|head|body|style|script|nav)\b", shown)
    assert "<h2>Setup</h2>" not in shown  # only the first screen


def test_compare_judges_two_runs_as_mlbench_compare_does(
        two_runs: tuple[SavedRun, SavedRun], tmp_path: Path) -> None:
    first, second = two_runs
    comparison = first.compare(str(second.path))  # a folder, or a saved run
    assert isinstance(comparison, SavedComparison)
    assert comparison.lines[0].startswith("second against first: 2 model(s) compared")
    assert sorted(comparison.deltas["model"]) == MODELS
    assert set(comparison.summary["run"]) == {"first", "second"}
    html = first.compare(second)._repr_html_()
    assert "second against first" in html and "2 model(s) compared" in html
    assert not re.search(r"<(html|style|script)\b", html)
    written = comparison.write(tmp_path / "cmp")
    assert (written / "compare.html").exists() and (written / "compare.md").exists()
    relabelled = first.compare(mlbench.load(second.path, label="smaller"))
    assert relabelled.lines[0].startswith("smaller against first")


def test_a_folder_that_is_no_run_is_one_line_saying_so(
        tmp_path: Path, two_runs: tuple[SavedRun, SavedRun]) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    for path, says in [(tmp_path / "missing", "is not a folder"),
                       (tmp_path, "is not a run folder (no run.json)"),
                       (broken, "cannot be read as a run folder")]:
        with pytest.raises(UsageError) as error:
            mlbench.load(path)
        assert says in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(UsageError, match="compare needs another run"):
        two_runs[0].compare()


def test_a_damaged_job_record_is_named_once_and_left_out(
        two_runs: tuple[SavedRun, SavedRun], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    copy = Path(shutil.copytree(two_runs[0].path, tmp_path / "copy"))
    damaged = next(iter(sorted(RunFolder(copy).jobs_dir.glob("*.json"))))
    damaged.write_text('{"job_id": "cut sh')
    saved = mlbench.load(copy)
    assert damaged.stem not in set(saved.frame["job_id"]) and len(saved.frame) == 1
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and damaged.name in warnings[0]
    assert "Summary" in saved._repr_html_()


def test_a_run_with_no_job_yet_shows_so_and_cannot_be_compared(
        two_runs: tuple[SavedRun, SavedRun], tmp_path: Path) -> None:
    copy = Path(shutil.copytree(two_runs[0].path, tmp_path / "empty"))
    shutil.rmtree(RunFolder(copy).jobs_dir)
    saved = mlbench.load(copy)
    assert saved.frame.empty and saved  # still a run, though its table is empty
    assert "No job finished" in section(saved._repr_html_(), "Summary")
    with pytest.raises(UsageError, match="has no finished job to compare") as error:
        saved.compare(two_runs[0])
    assert "\n" not in str(error.value)


def test_the_table_as_run_returned_it_still_answers_with_a_warning(
        two_runs: tuple[SavedRun, SavedRun]) -> None:
    first, _ = two_runs
    with pytest.warns(DeprecationWarning, match=r"use run\.frame\[\.\.\.\]"):
        assert first["model"].tolist() == MODELS
    with pytest.warns(DeprecationWarning, match=r"run\.frame\.attrs"):
        assert first.attrs["run_dir"] == str(first.path)
    with pytest.warns(DeprecationWarning):
        assert first.set_index("model").loc["knn", "status"] == "ok"
    with pytest.raises(AttributeError):
        first.no_such_name  # noqa: B018 - neither the run's nor the table's


def test_progress_true_shows_the_commands_display(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = mlbench.run(["knn"], "digits", output_dir=tmp_path, test_size=100, progress=True)
    out, err = capsys.readouterr()
    assert "mlbench: 1 job to run" in err and "[1/1] knn" in err
    assert "knn" in out and str(saved.path) in err  # the results table, and where it is
    assert isinstance(mlbench.resume(saved.path), SavedRun)  # nothing left to run
    with pytest.raises(UsageError, match="progress='yes' is not a progress display") as error:
        mlbench.run(["knn"], "digits", output_dir=tmp_path / "none", progress="yes")
    assert "\n" not in str(error.value) and not (tmp_path / "none").exists()


def test_dir_lists_the_lazy_names_and_import_stays_light() -> None:
    assert {"run", "resume", "load"} <= set(dir(mlbench))
    assert {"run", "resume", "load"} <= set(mlbench.__all__)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, mlbench; print('pandas' in sys.modules, "
                               "'mlbench.running' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == ["False", "False"]
