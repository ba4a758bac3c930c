"""The evaluation notebook runs end to end, and is stored without outputs.

It is executed with this interpreter (the project venv): a kernelspec pointing at
``sys.executable`` is written to a temporary Jupyter path, so a ``python3`` kernel
installed elsewhere on the machine (user or system) can never be picked instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "evaluation.ipynb"
KERNEL_NAME = "introrank-test-venv"
PREFIX_CHECK = "import sys; print(sys.prefix)"


def _venv_kernelspec(root: Path) -> Path:
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "introrank test venv",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root


def test_notebook_is_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"cells {dirty} have stored outputs: clear them before committing"


@pytest.mark.slow
def test_evaluation_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jupyter_path = _venv_kernelspec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))  # searched before every other path
    workdir = tmp_path / "work"
    workdir.mkdir()

    nb = nbformat.read(NOTEBOOK, as_version=4)
    n_cells = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(PREFIX_CHECK))  # which Python ran the cells
    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError if any cell raises

    errors = [out for cell in nb.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert not errors, errors
    kernel_prefix = "".join(out.get("text", "") for out in nb.cells[-1].outputs).strip()
    assert kernel_prefix == sys.prefix, f"kernel ran in {kernel_prefix!r}, not {sys.prefix!r}"
    gate = "".join(out.get("text", "") for out in nb.cells[n_cells - 1].outputs)
    assert "model beats all" in gate, f"the quality-gate cell did not report success: {gate!r}"
