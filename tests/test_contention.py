"""Disturbed timings: the arithmetic of the counters on given samples, the rule, old runs
without the flag; and, on this machine with real processes spinning beside mlbench (never
mocks), every job flagged and said in the terminal and the report, and the line before a
run that says the machine is busy.

No test here asserts that a job was *not* disturbed: the suite must stay green while other
work runs (CI sometimes has it). The quiet machine is measured by
tests/benchmarks/disturbed.py instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from mlbench.reporting.tables import disturbed_jobs, disturbed_note
from mlbench.results.record import JobRecord
from mlbench.results.table import read_table, to_frame
from mlbench.running import contention
from mlbench.running.contention import Reading, Sample, between, is_busy, is_disturbed

Cli = Callable[..., Result]
linux_only = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs /proc/stat")
TICK = 1 / contention.TICKS_PER_SECOND


def spun(at: float, busy: float, own: float, steal: float = 0.0, cpus: int = 2) -> Sample:
    return Sample(at=at, busy_seconds=busy, steal_seconds=steal, own_seconds=own, cpus=cpus)


# ------------------------------------------------------------------- the arithmetic


def test_others_are_the_busy_time_less_our_own_over_the_wall_time() -> None:
    # 10 s: the CPUs were busy 18 s, 6 of them ours, 0.5 stolen by the hypervisor.
    reading = between(spun(100.0, 1000.0, 50.0), spun(110.0, 1018.0, 56.0, steal=0.5))
    assert reading is not None
    assert reading.seconds == pytest.approx(10.0)
    assert reading.others_cores == pytest.approx(1.2)
    assert reading.own_cores == pytest.approx(0.6)
    assert reading.steal_seconds == pytest.approx(0.5)
    assert reading.usable_cores == 2


def test_a_reading_never_goes_below_zero_and_needs_both_samples() -> None:
    # Our CPU time is exact, the CPUs' busy time counted in ticks: ours may read a hair more.
    reading = between(spun(0.0, 10.0, 5.0), spun(1.0, 11.0, 6.02))
    assert reading is not None and reading.others_cores == 0.0
    assert between(None, spun(1.0, 1.0, 1.0)) is None
    assert between(spun(1.0, 1.0, 1.0), None) is None
    assert between(spun(1.0, 1.0, 1.0), spun(1.0, 2.0, 1.0)) is None  # no time passed


@pytest.mark.parametrize(("others", "seconds", "cores", "threads", "disturbed"), [
    (1.0, 10.0, 2, None, True),  # a spinner beside a job that may use both cores
    (0.15, 10.0, 2, None, False),  # a quiet machine's daemons, mlbench's own parent
    (0.25, 10.0, 2, None, True),  # beyond the 0.2-core tolerance
    (1.0, 10.0, 2, 1, False),  # --threads 1 left a core free, and the spinner took it
    (1.3, 10.0, 2, 1, True),  # ...and then some of the job's
    (0.3, 0.1, 2, None, False),  # 0.03 s of others in a 0.1 s window: within the tick floor
    (1.0, 0.1, 2, None, True),  # a whole core, even in 0.1 s
    (5.0, 10.0, 64, None, False),  # a tenth of 64 cores is the tolerance there
    (7.0, 10.0, 64, None, True),
    (1.0, 10.0, 2, 8, True),  # more threads than cores: it may use every core
])
def test_the_rule(others: float, seconds: float, cores: int, threads: int | None,
                  disturbed: bool) -> None:
    assert is_disturbed(others, seconds, cores, threads) is disturbed


@pytest.mark.parametrize(("others", "own", "disturbed"), [
    (1.0, 1.0, True),  # a spinner and a job that wanted both cores: saturated
    (1.0, 0.9, True),  # within the slack of saturated
    (1.0, 0.05, False),  # a job that sleeps (or waits on its disk): a core stood idle
    (1.0, 0.6, False),  # a job that used under one core while a core stood a third idle
])
def test_only_a_saturated_machine_disturbs(others: float, own: float, disturbed: bool) -> None:
    assert is_disturbed(others, 10.0, 2, None, own) is disturbed


def test_the_tick_floor_is_two_ticks_per_cpu() -> None:
    # Others' 0.2 cores allowed plus 2 ticks per CPU: 2 x 2 x 10 ms = 0.04 s over 1 s.
    floor = 2 * 2 * TICK
    assert not is_disturbed(0.2 + floor * 0.99, 1.0, 2, None)
    assert is_disturbed(0.2 + floor * 1.01, 1.0, 2, None)


def test_the_busy_line_threshold_is_a_quarter_core_beyond_the_floor() -> None:
    floor = 2 * 2 * TICK / 0.5
    assert not is_busy(Reading(0.5, 0.25 + floor * 0.99, 0.0, 0.0, 2))
    assert is_busy(Reading(0.5, 0.25 + floor * 1.01, 0.0, 0.0, 2))
    assert is_busy(Reading(0.5, 1.8, 0.0, 0.0, 2))


def test_proc_stat_is_read_for_the_usable_cpus_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fixed /proc/stat: cpu1 is not this process's to run on, so it is not counted.
    (tmp_path / "stat").write_text(
        "cpu  400 0 200 900 10 0 5 20 0 0\n"
        "cpu0 100 10 50 300 5 3 2 15 7 0\n"
        "cpu1 300 0 150 600 5 0 3 5 0 0\n"
        "intr 12345\n")
    monkeypatch.setattr(contention, "PROC", tmp_path)
    reading = contention.sample({0})
    assert reading is not None and reading.cpus == 1
    # user + nice + system + irq + softirq + steal; idle, iowait and guest (in user) not.
    assert reading.busy_seconds == pytest.approx((100 + 10 + 50 + 3 + 2 + 15) * TICK)
    assert reading.steal_seconds == pytest.approx(15 * TICK)
    monkeypatch.setattr(contention, "PROC", tmp_path / "nothing")
    assert contention.sample() is None  # macOS: nothing recorded, nothing flagged


# ------------------------------------------------------------------- records and tables


def test_old_records_and_tables_without_the_flag_read_as_not_known(tmp_path: Path) -> None:
    old = {"job_id": "knn-cpu-r0", "model": "knn", "plugin": "scikit-learn", "device": "cpu",
           "repeat": 0, "seed": 0, "params": {}, "sweep": {}, "status": "ok",
           "fit_seconds": 1.0}
    frame = to_frame([old, {**old, "job_id": "knn-cpu-r1", "repeat": 1, "disturbed": True,
                            "others_cores": 1.3, "usable_cores": 2}])
    assert str(frame["disturbed"].dtype) == "boolean"
    assert frame["disturbed"].isna().tolist() == [True, False]  # not known, not False
    assert disturbed_jobs(frame).tolist() == [False, True]  # a reader: not flagged
    # A results.csv written before the columns existed.
    csv = tmp_path / "results.csv"
    frame.drop(columns=["disturbed", "others_cores", "steal_seconds", "own_cores",
                        "usable_cores"]).to_csv(csv, index=False)
    read = read_table(csv)
    assert read["disturbed"].isna().all() and str(read["disturbed"].dtype) == "boolean"
    assert not disturbed_jobs(read).any() and disturbed_note(read) is None
    # And one written with them, through CSV and Parquet.
    frame.to_csv(csv, index=False)
    frame.to_parquet(tmp_path / "results.parquet", index=False)
    for path in (csv, tmp_path / "results.parquet"):
        again = read_table(path)
        assert again["disturbed"].isna().tolist() == [True, False]
        assert disturbed_jobs(again).tolist() == [False, True]
    note = disturbed_note(frame)
    assert note is not None and note.startswith("1 job was disturbed (of 1 timed")
    assert JobRecord.from_json(json.loads(json.dumps(old))).disturbed is None


def test_the_terminal_marks_a_disturbed_job_given_its_record() -> None:
    from rich.console import Console

    from mlbench.cli.live_progress import outcome_text
    from mlbench.cli.result_tables import results_table

    quiet = {"job_id": "knn-cpu-r0", "model": "knn", "plugin": "scikit-learn", "device": "cpu",
             "repeat": 0, "seed": 0, "params": {}, "sweep": {}, "status": "ok",
             "dataset": "digits", "train_size": 1437, "test_size": 360, "accuracy": 0.98,
             "fit_seconds": 0.01, "predict_seconds": 0.2, "disturbed": False,
             "others_cores": 0.01, "usable_cores": 2}
    busy = {**quiet, "job_id": "knn-cpu-r1", "repeat": 1, "disturbed": True,
            "others_cores": 1.34}
    assert outcome_text(quiet).endswith("predict 0.20 s")
    assert outcome_text(busy).endswith(
        "predict 0.20 s; ! disturbed: other processes used 1.3 of the 2 cores")
    console = Console(record=True, width=300)
    console.print(results_table(to_frame([quiet, busy])))
    rows = [line for line in console.export_text().splitlines() if "knn" in line]
    assert [" ok ! " in row for row in rows] == [False, True]
    assert disturbed_note(to_frame([quiet, busy])) == (
        "1 job was disturbed (of 2 timed; marked !): other processes used the cores they were "
        "given while they ran (1.3 cores on average), so their times are likely longer than on "
        "a quiet machine and not like-for-like with undisturbed ones; their accuracies stand. "
        "Rerun them on a quiet machine, or give --threads N leaving cores free "
        "(docs/running.md, Disturbed timings).")


# ------------------------------------------------------------------- under real load


@linux_only
def test_the_busy_line_before_a_run(cli: Cli, spinners: list[int]) -> None:
    result = cli("run", "--models", "naive-bayes", "--dataset", "digits")
    assert result.exit_code == 0, result.output
    busy = [line for line in result.stderr.splitlines() if "the machine is busy" in line]
    assert len(busy) == 1, result.stderr
    assert busy[0].startswith("mlbench: the machine is busy (other processes are using ")
    assert busy[0].endswith("cores); timings will be flagged where disturbed")
    # Said before the jobs start.
    assert result.stderr.index("the machine is busy") < result.stderr.index("1 job to run")


@pytest.mark.long  # three real models beside two spinning processes, and the report (40 to 75 s)
@linux_only
def test_jobs_beside_spinning_processes_are_flagged_and_said(
        cli: Cli, tmp_path: Path, spinners: list[int]) -> None:
    result = cli("run", "--models", "knn,logistic,random-forest", "--dataset", "mnist-5k",
                 "--name", "busy", "--wide", report=True)
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "busy"
    frame = read_table(run / "results.csv")
    assert len(frame) == 3 and (frame["status"] == "ok").all()
    assert frame["disturbed"].tolist() == [True, True, True], frame[
        ["model", "others_cores", "own_cores"]]
    assert (frame["others_cores"] > contention.TOLERANCE_CORES).all()
    assert (frame["usable_cores"] >= 1).all()
    assert frame["steal_seconds"].notna().all() and frame["own_cores"].notna().all()
    for model in ("knn", "logistic", "random-forest"):
        record = json.loads((run / "jobs" / f"{model}-cpu-r0.json").read_text())
        assert record["disturbed"] is True
    # The terminal: each job's line, its status cell, and the line under the table.
    finished = [line for line in result.stderr.splitlines() if ": ok (" in line]
    assert len(finished) == 3
    assert all("; ! disturbed: other processes used " in line for line in finished)
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ ")]
    assert len(rows) == 3 and all(" ok ! " in row for row in rows), result.stdout
    assert "! 3 jobs were disturbed (of 3 timed; marked !)" in result.stdout
    # The report: the warning above its Results tables, and each job's mark.
    report = (run / "report.md").read_text()
    results = report.split("## Results", 1)[1].split("\n## ", 1)[0]
    assert "3 jobs were disturbed (of 3 timed; marked !)" in results
    assert results.count("| ok !") == 3
    assert "disturbed !" in results  # the per-model count
    html = (run / "report.html").read_text()
    assert "3 jobs were disturbed" in html


def test_the_rule_is_stated_with_the_code_s_thresholds() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "running.md").read_text()
    rule = " ".join(docs.split("## Disturbed timings", 1)[1].split("\n## ", 1)[0].split())
    assert f"{contention.TOLERANCE_CORES:g} of a core" in rule
    assert f"{contention.TOLERANCE_SHARE:.0%} of the cores the job may use" in rule
    assert f"{contention.BUSY_CORES:g} of a core" in rule
    assert contention.FLOOR_TICKS_PER_CPU == 2 and "two ticks per core" in rule
