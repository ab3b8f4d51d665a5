"""A saved run as one object (``results.Run``), and the faults on the way to its report: each
predictions file read once for a report and a comparison; a damaged, empty or wrong
results.parquet rebuilt from the job records; a read-only run folder; Ctrl-C during the
report. Real runs, real files, real processes and signals."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

from mlbench.reporting.compare import compare_runs
from mlbench.reporting.report import build_report
from mlbench.results.run import Run
from mlbench.results.table import read_table
from tests.conftest import wait_for_file
from tests.test_faults import snapshot
from tests.test_import_contracts import lint_imports
from tests.test_runner import ctrl_c_as_in_a_terminal

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> tuple[Path, Path]:
    """Two small real runs of the same models on the same test images, without reports;
    tests copy them."""
    import mlbench

    output = tmp_path_factory.mktemp("saved")
    with pytest.MonkeyPatch.context() as patch:  # as conftest's `isolated`, for this module
        patch.setenv("MLBENCH_LOAD_PLUGINS", "scikit-learn")
        patch.setenv("MLBENCH_CACHE_DIR", str(session_cache))
        patch.delenv("MLBENCH_PLUGINS", raising=False)
        made = [mlbench.run(models=["knn", "logistic"], dataset="digits", output_dir=output,
                            name=name, train_size=400, test_size=200)
                for name in ("first", "second")]
    return made[0].path, made[1].path


def copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / run.name))


# -- each file read once ------------------------------------------------------------------

def test_a_report_and_a_comparison_read_each_predictions_file_once(
        runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = (copy(run, tmp_path) for run in runs)
    reads: Counter[str] = Counter()
    real_load = np.load

    def counted_load(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike) and Path(file).is_relative_to(tmp_path):
            reads[str(Path(file).relative_to(tmp_path))] += 1
        return real_load(file, *args, **kwargs)  # the real read, counted

    monkeypatch.setattr(np, "load", counted_load)
    opened = [Run.open(first), Run.open(second)]
    for run in opened:
        build_report(run)
    comparison = compare_runs(opened)
    # The comparison used the saved predictions (McNemar: one repeat, same test images).
    assert set(comparison.deltas["accuracy_test"]) == {"McNemar"}
    predictions = sorted(str(path.relative_to(tmp_path))
                         for run in (first, second) for path in run.glob("predictions/*.npz"))
    assert len(predictions) == 4
    assert {name: reads[name] for name in predictions} == dict.fromkeys(predictions, 1)
    # And every other saved array: the test labels and images, once per run.
    others = {name: count for name, count in reads.items() if name not in predictions}
    assert others == {f"{run}/{name}": 1 for run in ("first", "second")
                      for name in ("test_labels.npy", "test_images.npz")}


def test_no_module_outside_results_opens_a_run_folders_files() -> None:
    """The run folder's files are read in mlbench/results/ only (``Run`` and the folder),
    and by the runner that writes them (run.json, and which jobs are done, for --resume):
    no reader of a folder's files is called on a folder elsewhere, and reporting and the
    CLI read no file themselves."""
    readers = {"saved_arrays", "predicted_labels", "test_labels", "test_images", "read_jobs",
               "records", "read_run", "saved_table", "finished_jobs", "history", "table"}
    direct = {"load", "read_parquet", "read_table"}  # np.load, json.load, the results table
    found = set()
    for path in (ROOT / "mlbench").rglob("*.py"):
        module = path.relative_to(ROOT).as_posix()
        if path.parent.name == "results":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            on_folder = ((isinstance(receiver, ast.Name) and receiver.id == "folder")
                         or (isinstance(receiver, ast.Attribute) and receiver.attr == "folder"))
            if on_folder and node.func.attr in readers:
                found.add(f"{module}: folder.{node.func.attr}")
            elif path.parent.name in ("reporting", "cli") and node.func.attr in direct:
                found.add(f"{module}: {node.func.attr}")
    assert sorted(found) == ["mlbench/running/api.py: folder.finished_jobs",
                             "mlbench/running/api.py: folder.read_run"]


def test_reporting_never_prints(tmp_path: Path) -> None:
    """Reporting computes and writes documents; the terminal is the CLI's: no print call in
    reporting/, and an import-linter contract that fails the build on rich or click there."""
    calls = [f"{path.name}:{node.lineno}" for path in (ROOT / "mlbench" / "reporting").glob("*.py")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id == "print"]
    assert calls == []

    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "mlbench", tmp_path / "mlbench", ignore=ignore)
    shutil.copytree(ROOT / "plugins", tmp_path / "mlbench_plugins", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    compare = tmp_path / "mlbench" / "reporting" / "compare.py"
    compare.write_text(compare.read_text() + "\nimport rich.console  # printing, in reporting\n")
    broken = lint_imports(tmp_path)
    assert broken.returncode == 1 and "1 broken" in broken.stdout, broken.stdout
    assert "Reporting computes and writes documents, it never prints" in " ".join(
        broken.stdout.split("Broken contracts")[1].split())
    assert "mlbench.reporting.compare -> rich" in broken.stdout


# -- a damaged results table ----------------------------------------------------------------

def damage(run: Path, how: str) -> None:
    parquet = run / "results.parquet"
    if how == "truncated":
        parquet.write_bytes(parquet.read_bytes()[:100])
    elif how == "empty":
        parquet.write_bytes(b"")
    elif how == "wrong columns":  # a valid Parquet file, of something else
        pd.DataFrame({"job": ["knn-cpu-r0"], "state": ["failed"]}).to_parquet(parquet)
    elif how == "missing":
        parquet.unlink()


@pytest.mark.parametrize("how", ["truncated", "empty", "wrong columns", "missing"])
def test_a_damaged_results_table_is_rebuilt_from_the_job_records(
        cli: Cli, runs: tuple[Path, Path], tmp_path: Path, how: str) -> None:
    run = copy(runs[0], tmp_path)
    records = read_table(run / "results.csv")
    damage(run, how)
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"mlbench: warning: rebuilt results.parquet of {run} from the job records (missing, "
        "damaged or out of date)"]
    assert "- 2 of 2 jobs ended ok." in (run / "report.md").read_text()
    rebuilt = read_table(run / "results.parquet")
    pd.testing.assert_frame_equal(rebuilt, records)
    if how == "truncated":  # once rebuilt, nothing more to say
        again = cli("report", str(run))
        assert again.exit_code == 0 and again.stderr == "", again.output


# -- a read-only run folder ------------------------------------------------------------------

def as_the_system_checks(command: list[str]) -> list[str]:
    """``command`` run so that the system's permission checks apply to it: as it is for a
    user, and for root without the capabilities that let root write anywhere."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: nothing would stop root writing")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", *command]


def mlbench_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(as_the_system_checks([sys.executable, "-m", "mlbench.cli", *args]),
                          capture_output=True, text=True, timeout=300)


def read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)


def test_a_read_only_run_folder(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = copy(runs[0], tmp_path)
    (run / "results.parquet").write_bytes(b"")  # damaged as well: nothing may be written
    read_only(run)
    before = snapshot(run)

    result = mlbench_command("report", str(run))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"mlbench: error: cannot write the report to {run}: Permission denied; write it "
        f"elsewhere with: mlbench report {run} --output-dir DIR"]

    elsewhere = tmp_path / "report"
    result = mlbench_command("report", str(run), "--output-dir", str(elsewhere))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(elsewhere / "report.html"),
                                          str(elsewhere / "report.md")]
    assert result.stderr.splitlines() == [
        f"mlbench: warning: results.parquet of {run} missing, damaged or out of date; the "
        "report is made from the job records"]
    assert "- 2 of 2 jobs ended ok." in (elsewhere / "report.md").read_text()
    assert (elsewhere / "charts" / "accuracy.png").exists()

    result = mlbench_command("run", "--resume", str(run), "--no-report")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"mlbench: error: cannot write to {run}: Permission denied; "
                           "--resume writes the rest of the run there: make it writable")
    assert snapshot(run) == before  # nothing written, nothing lost


# -- Ctrl-C during the report ----------------------------------------------------------------

# The real `mlbench report`, paused at a known point so the SIGINT lands there: at its start
# inside a finalizer (where Python swallows a KeyboardInterrupt: "Exception ignored in"), or
# while it draws a chart. The pause writes a marker, then waits (it never skips the real call).
PAUSED_REPORT = '''
import sys, time
from pathlib import Path

from mlbench.cli import main
from mlbench.reporting import charts
from mlbench.results.folder import RunFolder

where, marker, run = sys.argv[1], Path(sys.argv[2]), sys.argv[3]


def pause():
    marker.write_text("paused")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)


class Finalized:
    def __del__(self):
        pause()


def patch(owner, name, before):
    real = getattr(owner, name)

    def paused(*args, **kwargs):
        before()
        return real(*args, **kwargs)

    setattr(owner, name, paused)


if where == "in a finalizer at its start":
    patch(RunFolder, "read_run", lambda: Finalized())  # dropped at once: __del__ runs
else:
    patch(charts, "save_figure", pause)
main(["report", run])
'''


@pytest.mark.parametrize("where", ["in a finalizer at its start", "while drawing a chart"])
def test_ctrl_c_during_the_report_stops_it_in_one_line(
        runs: tuple[Path, Path], tmp_path: Path, where: str) -> None:
    run = copy(runs[0], tmp_path)
    marker = tmp_path / "paused"
    process = subprocess.Popen([sys.executable, "-c", PAUSED_REPORT, where, str(marker),
                                str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=ctrl_c_as_in_a_terminal)
    wait_for_file(marker)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.splitlines() == [
        f"mlbench: interrupted while writing the report; the results are saved in {run}; "
        f"write the report with: mlbench report {run}"]
    assert stdout == ""
    assert not (run / "report.md").exists()  # stopped then, not after writing it all
    # The results are whole: the report can be written again.
    assert read_table(run / "results.parquet")["status"].tolist() == ["ok", "ok"]
