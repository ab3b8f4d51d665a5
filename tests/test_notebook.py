"""The example notebook, examples/saved_run.ipynb, executed as a reader would: nbclient in a
real Jupyter kernel (ipykernel's ``python3``, this interpreter), two real runs on digits. In
the long lane (``pytest -m long``, a step of .ci/run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

EXAMPLE = Path(__file__).parents[1] / "examples" / "saved_run.ipynb"


def html_outputs(cell: Any) -> list[str]:
    return [output["data"]["text/html"] for output in cell.get("outputs", [])
            if "text/html" in output.get("data", {})]


def test_the_example_notebook_shows_runs_and_compares_them(tmp_path: Path) -> None:
    notebook = nbformat.read(EXAMPLE, as_version=4)
    # The kernel starts in tmp_path, so the notebook's results/ lands there; a cell that
    # raises fails the test (CellExecutionError) with the cell's traceback.
    NotebookClient(notebook, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    shown, table, compared, loaded = (html_outputs(cell) for cell in code)

    # A run shows as its report's first screen: the Summary's verdicts, then the results.
    assert len(shown) == 1 and "<h3>mlbench run: " in shown[0]
    assert ">Summary</h2>" in shown[0] and "jobs ended ok" in shown[0]
    assert ">Results</h2>" in shown[0] and "<th>test accuracy (mean)</th>" in shown[0]
    assert "knn" in shown[0] and "logistic" in shown[0]
    assert "<th>accuracy</th>" in table[0]  # .frame: pandas' own display of the table
    assert "2 model(s) compared" in compared[0] and " against " in compared[0]
    assert ">Summary</h2>" in loaded[0] and "jobs ended ok" in loaded[0]

    runs = sorted((tmp_path / "results").iterdir())
    assert len(runs) == 2 and all((run / "run.json").is_file() for run in runs)
