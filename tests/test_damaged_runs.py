"""A run folder with a damaged job record (cut mid-file, as a full disk leaves it): `report`
and `compare` name the file in one line and go on with the rest; `--resume` reruns exactly
that job."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from click.testing import Result

from mlbench.results.folder import RunFolder

Cli = Callable[..., Result]


def truncate(path: Path) -> None:
    text = path.read_bytes()
    path.write_bytes(text[: len(text) // 2])


def warnings_of(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("mlbench: warning:")]


def test_a_truncated_job_record_is_named_skipped_and_rerun(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "naive-bayes,knn", "-d", "digits", "--name", "cut", "-q",
                 "--no-report")
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "cut"
    whole = shutil.copytree(run, tmp_path / "results" / "whole")
    damaged, kept = run / "jobs" / "knn-cpu-r0.json", run / "jobs" / "naive-bayes-cpu-r0.json"
    truncate(damaged)
    kept_before = kept.read_bytes()
    expected = (f"mlbench: warning: skipped jobs/knn-cpu-r0.json: not a complete job record "
                f"(truncated?); mlbench run --resume {run} reruns it")

    # The folder reads as the job records that parse, and names the one that does not.
    folder = RunFolder(run)
    assert [record["job_id"] for record in folder.records()] == ["naive-bayes-cpu-r0"]
    assert folder.read_jobs().damaged == [damaged]
    assert folder.finished_jobs() == {"naive-bayes-cpu-r0"}

    # report: one line naming the file, exit 0, a report of the other job.
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [expected]
    assert result.stdout.splitlines() == [str(run / "report.html"), str(run / "report.md")]
    report = (run / "report.md").read_text()
    assert "naive-bayes-cpu-r0" in report and "knn-cpu-r0" not in report
    assert "- 1 of 1 jobs ended ok." in report

    # compare: the same line, exit 0, the comparison of what both runs have.
    output = tmp_path / "compare"
    result = cli("compare", str(whole), str(run), "--output", str(output))
    assert result.exit_code == 0, result.output
    assert warnings_of(result) == [expected]
    assert result.stderr.strip() == expected
    markdown = (output / "compare.md").read_text()
    assert "knn (cpu): only in whole; not in cut" in markdown

    # --resume reruns exactly the damaged job, and leaves the other one's record as it was.
    result = cli("run", "--resume", str(run), "--no-report")
    assert result.exit_code == 0, result.output
    assert "1 job to run, 1 already done" in result.stderr
    assert "knn on cpu, repeat 0: ok" in result.stderr
    assert "naive-bayes on cpu, repeat 0" not in result.stderr
    assert json.loads(damaged.read_text())["status"] == "ok"
    assert kept.read_bytes() == kept_before
    frame = pd.read_csv(run / "results.csv")
    assert sorted(frame["job_id"]) == ["knn-cpu-r0", "naive-bayes-cpu-r0"]
    assert json.loads((run / "run.json").read_text())["complete"] is True

    # Repaired: the report has both jobs and no warning.
    result = cli("report", str(run))
    assert result.exit_code == 0 and result.stderr == ""
    assert "knn-cpu-r0" in (run / "report.md").read_text()


def test_a_record_that_is_json_but_no_job_record_counts_as_damaged(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.save_job({"job_id": "knn-cpu-r0", "model": "knn", "device": "cpu", "repeat": 0,
                     "status": "ok", "accuracy": 0.9}, {})
    for name, text in (("empty", ""), ("list", "[1, 2]"), ("partial", '{"job_id": "partial"}'),
                       ("binary", "\udcff")):
        folder.job_record(name).write_bytes(text.encode("utf-8", "surrogateescape"))
    jobs = folder.read_jobs()
    assert [record["job_id"] for record in jobs.records] == ["knn-cpu-r0"]
    assert sorted(path.stem for path in jobs.damaged) == ["binary", "empty", "list", "partial"]
    assert folder.finished_jobs() == {"knn-cpu-r0"}
    assert list(folder.write_table()["job_id"]) == ["knn-cpu-r0"]
