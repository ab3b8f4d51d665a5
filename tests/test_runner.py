"""The runner under faults: crashes, hangs, broken models, interruption and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from tests.conftest import wait_for_file

Cli = Callable[..., Result]


def results(tmp_path: Path, name: str = "t") -> pd.DataFrame:
    frame = pd.read_csv(tmp_path / "results" / name / "results.csv")
    return frame.set_index("model")


def test_worker_killed_mid_job_gives_crashed_row(cli: Cli, tmp_path: Path, steerable: Path) -> None:
    pid_file = tmp_path / "pid"

    def kill_worker() -> None:
        os.kill(int(wait_for_file(pid_file)), signal.SIGKILL)

    killer = threading.Thread(target=kill_worker)
    killer.start()
    result = cli("run", "--plugin", str(steerable), "-m", "steerable,linear", "-d", "digits",
                 "--name", "t", "-p", f"steerable.pid_file={str(pid_file)!r}",
                 "-p", "steerable.wait_seconds=60")
    killer.join()
    assert result.exit_code == 1, result.output
    frame = results(tmp_path)
    assert frame.loc["steerable", "status"] == "crashed"
    assert "SIGKILL" in frame.loc["steerable", "error"]
    assert frame.loc["linear", "status"] == "ok"


def test_hung_job_times_out_and_others_run(cli: Cli, tmp_path: Path, steerable: Path) -> None:
    # Left alone, steerable would wait 120 s and then succeed: "timeout" proves it was cut.
    result = cli("run", "--plugin", str(steerable), "-m", "steerable,knn", "-d", "digits",
                 "--name", "t", "-p", "steerable.wait_seconds=120", "--timeout", "2")
    assert result.exit_code == 1
    frame = results(tmp_path)
    assert frame.loc["steerable", "status"] == "timeout"
    assert "2 s timeout" in frame.loc["steerable", "error"]
    assert frame.loc["knn", "status"] == "ok"


def test_model_errors_become_failed_rows_naming_the_plugin(
    cli: Cli, tmp_path: Path, steerable: Path
) -> None:
    for name, param, expected in [
        ("raises", "steerable.fail='out of ideas'", "RuntimeError: out of ideas"),
        ("short", "steerable.predict_count_delta=-1",
         "plugin 'steerable': model 'steerable' predict() returned shape (359,)"),
        ("labels", "steerable.bad_label=True", "returned labels never seen in training: [99]"),
    ]:
        result = cli("run", "--plugin", str(steerable), "-m", "steerable,naive-bayes",
                     "-d", "digits", "--name", name, "-p", param, "-q")
        assert result.exit_code == 1
        frame = results(tmp_path, name)
        assert frame.loc["steerable", "status"] == "failed"
        assert expected in frame.loc["steerable", "error"]
        assert frame.loc["naive-bayes", "status"] == "ok"
        assert expected in result.stdout  # the table shows the error too


def test_skips_are_recorded_with_their_reason(cli: Cli, tmp_path: Path, steerable: Path) -> None:
    result = cli("run", "--plugin", str(steerable), "-m", "steerable,linear", "-d", "digits",
                 "--name", "t", "--devices", "cpu,gpu",
                 "-p", "steerable.skip='install mlbench[steer]'", "-q")
    assert result.exit_code == 0, result.output  # skipped is not a failure
    frame = pd.read_csv(tmp_path / "results" / "t" / "results.csv")
    by_job = frame.set_index("job_id")
    assert by_job.loc["steerable-cpu-r0", "status"] == "skipped"
    assert by_job.loc["steerable-cpu-r0", "error"] == "install mlbench[steer]"
    assert by_job.loc["linear-gpu-r0", "status"] == "skipped"
    assert by_job.loc["linear-gpu-r0", "error"] == "linear has no gpu path; it runs on cpu only"
    assert by_job.loc["linear-cpu-r0", "status"] == "ok"


def test_parallel_jobs_and_thread_limit(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "linear,knn,naive-bayes", "-d", "digits", "--name", "t",
                 "--jobs", "2", "--threads", "1", "-q")
    assert result.exit_code == 0, result.output
    frame = results(tmp_path)
    assert set(frame["status"]) == {"ok"}
    assert set(frame["threads"].dropna()) <= {1}
    assert frame["worker_pid"].nunique() == 3  # a fresh process per job


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def ctrl_c_as_in_a_terminal() -> None:
    """In the run's process, before it starts: SIGINT handled as a terminal's Ctrl-C. A shell
    without job control starts background commands with SIGINT ignored and children inherit
    that (Python then installs no KeyboardInterrupt handler), so this test would hang when
    the suite itself was started in the background."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("stop", "exit_code"), [
    (signal.SIGINT, 130), pytest.param(signal.SIGTERM, 143, marks=pytest.mark.long)])
def test_interrupted_run_resumes_only_missing_jobs(
    tmp_path: Path, steerable: Path, stop: signal.Signals, exit_code: int
) -> None:
    gate = tmp_path / "gate"  # steerable waits until this file exists
    pid_file = tmp_path / "pid"
    run_dir = tmp_path / "results" / "t"
    command = [sys.executable, "-m", "mlbench.cli", "run", "--plugin", str(steerable),
               "-m", "linear,steerable,knn", "-d", "digits", "-o", str(tmp_path / "results"),
               "--name", "t", "-p", f"steerable.wait_for={str(gate)!r}",
               "-p", "steerable.wait_seconds=120", "-p", f"steerable.pid_file={str(pid_file)!r}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=ctrl_c_as_in_a_terminal)
    wait_for_file(run_dir / "jobs" / "linear-cpu-r0.json")
    worker = int(wait_for_file(pid_file))  # steerable is now waiting on the gate
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr
    assert f"mlbench run --resume {run_dir}" in stderr
    assert not is_running(worker), "the running worker was left behind"
    assert sorted(p.name for p in (run_dir / "jobs").iterdir()) == ["linear-cpu-r0.json"]
    linear_before = (run_dir / "jobs" / "linear-cpu-r0.json").read_text()
    assert json.loads((run_dir / "run.json").read_text())["complete"] is False
    # The table holds exactly the finished job, as its record says.
    table = pd.read_csv(run_dir / "results.csv")
    assert list(table["job_id"]) == ["linear-cpu-r0"]
    assert table["accuracy"].iloc[0] == pytest.approx(json.loads(linear_before)["accuracy"])

    gate.write_text("open")
    resumed = subprocess.run([sys.executable, "-m", "mlbench.cli", "run", "--resume",
                              str(run_dir), "--no-report"], capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "2 jobs to run, 1 already done" in resumed.stderr
    assert (run_dir / "jobs" / "linear-cpu-r0.json").read_text() == linear_before
    frame = pd.read_csv(run_dir / "results.csv")
    assert sorted(frame["model"]) == ["knn", "linear", "steerable"]
    assert set(frame["status"]) == {"ok"}
    info = json.loads((run_dir / "run.json").read_text())
    assert info["complete"] is True and len(info["resumed_at"]) == 1
