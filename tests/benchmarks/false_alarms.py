"""Does `mlbench compare --fail-on` cry wolf? Identical runs compared pairwise, and the same
pairs with a planted 1.5x slower fit.

    python tests/benchmarks/false_alarms.py OUT              # on a quiet machine
    python tests/benchmarks/false_alarms.py OUT --busy 1     # one core held busy

Makes 5 identical runs of `svm,knn,random-forest,logistic,mlp` plus `work` (the planted
model of ``planted_work.py``, whose fit is real BLAS work) on mnist-5k with `--repeats 3`,
and 2 runs more in which `work`'s fit does 1.5x the work (PLANTED_SLOWDOWN=1.5), in the
order b1 b2 p1 b3 b4 p2 b5 so drift in the machine's speed falls on both kinds. Then
`mlbench compare A B --fail-on fit:10%,predict:10%` for the 10 pairs of identical runs
(every two of the five, the earlier as base) and the 10 planted pairs (each identical run
as base, each planted run against it), and prints the exit codes: 0 pass, 5 a regression,
6 inconclusive. What the issue asks: 0 exits 5 among identical pairs, quiet or busy; 10 of
10 planted pairs exit 5 on a quiet machine, and none exits 0 under load. It also prints the
noise between runs it saw: the standard deviation over the identical pairs of each model's
log ratio of geometric-mean times (what ``stats.BETWEEN_RUNS`` stands for).
`--busy N` starts N processes that spin for the whole benchmark, killed at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PLUGIN = Path(__file__).with_name("planted_work.py")
MODELS = "svm,knn,random-forest,logistic,mlp,work"
ORDER = ["b1", "b2", "p1", "b3", "b4", "p2", "b5"]


def make_run(out: Path, name: str) -> float:
    """One run, planted where its name starts with p; returns its wall time."""
    env = dict(os.environ, PLANTED_SLOWDOWN="1.5" if name.startswith("p") else "1")
    started = time.perf_counter()
    subprocess.run(["mlbench", "run", "--plugin", str(PLUGIN), "--models", MODELS,
                    "--dataset", "mnist-5k", "--repeats", "3", "--no-report", "--quiet",
                    "--output-dir", str(out), "--name", name], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def compare(out: Path, base: str, other: str) -> dict[str, object]:
    result = subprocess.run(["mlbench", "compare", str(out / base), str(out / other),
                             "--fail-on", "fit:10%,predict:10%",
                             "-o", str(out / f"compare-{base}-{other}")],
                            capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if "fail-on" in line]
    return {"base": base, "other": other, "exit": result.returncode, "lines": lines}


def between_runs(out: Path, names: list[str]) -> pd.DataFrame:
    """Per model and time, the sd over pairs of identical runs of the log ratio of their
    geometric means over undisturbed jobs, and the largest ratio seen."""
    rows = []
    frames = {name: pd.read_csv(out / name / "results.csv") for name in names}
    for column in ("fit_seconds", "predict_seconds"):
        centres = {}
        for name, frame in frames.items():
            calm = frame[~frame.get("disturbed", pd.Series(False, index=frame.index))
                         .fillna(False).astype(bool)]
            centres[name] = calm.groupby("model")[column].apply(
                lambda values: float(np.exp(np.log(values).mean())))
        table = pd.DataFrame(centres)
        for model, values in table.iterrows():
            logs = [np.log(values[b] / values[a]) for a, b in itertools.combinations(names, 2)]
            rows.append({"time": column, "model": model,
                         "geo. mean s": float(np.exp(np.log(values).mean())),
                         "sd of log ratio": float(np.std(logs, ddof=1)),
                         "largest ratio": float(np.exp(np.max(np.abs(logs))))})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--busy", type=int, default=0, help="processes spinning meanwhile")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy)]
    try:
        walls = {name: make_run(args.out, name) for name in ORDER}
    finally:
        for spinner in spinners:
            spinner.kill()
    base = [name for name in ORDER if name.startswith("b")]
    planted = [name for name in ORDER if name.startswith("p")]
    pairs = {"identical": list(itertools.combinations(base, 2)),
             "planted": [(b, p) for b in base for p in planted]}
    results = {kind: [compare(args.out, a, b) for a, b in chosen]
               for kind, chosen in pairs.items()}
    print(f"busy processes: {args.busy}; run wall times: "
          + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in walls.items()))
    for kind, found in results.items():
        exits = [int(str(item["exit"])) for item in found]
        print(f"{kind}: {len(exits)} pairs; exit 0: {exits.count(0)}, exit 5: "
              f"{exits.count(5)}, exit 6: {exits.count(6)}, other: "
              f"{len(exits) - exits.count(0) - exits.count(5) - exits.count(6)}")
        for item in found:
            for line in item["lines"]:  # type: ignore[attr-defined]
                print(f"  {item['base']} vs {item['other']} (exit {item['exit']}): {line}")
    noise = between_runs(args.out, base)
    print("Noise between identical runs (sd of the log ratio over the 10 pairs):")
    print(noise.to_string(index=False, float_format=lambda value: f"{value:.3g}"))
    (args.out / "false_alarms.json").write_text(json.dumps(
        {"busy": args.busy, "walls": walls, "results": results,
         "noise": noise.to_dict("records")}, indent=1))


if __name__ == "__main__":
    main()
