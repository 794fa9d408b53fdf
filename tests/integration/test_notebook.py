"""A small data-exploration notebook executed end to end, once through
`jupyter nbconvert --execute` and once through nbclient directly: pandas
writes a CSV into the working directory and reads it back, the grouped
DataFrame is shown as HTML, and matplotlib draws a bar chart as PNG."""

import os
import subprocess

import nbformat
from nbclient import NotebookClient

import kernel_util as ku

CELLS = [
    "import pandas as pd\n"
    "sales = pd.DataFrame({'city': ['Lyon', 'Nice', 'Lyon', 'Brest', 'Nice'],\n"
    "                      'amount': [10, 20, 30, 40, 50]})\n"
    "sales.to_csv('sales.csv', index=False)\n"
    "print('written')",
    "back = pd.read_csv('sales.csv')\n"
    "assert back.equals(sales)\n"
    "totals = back.groupby('city', as_index=False)['amount'].sum()\n"
    "totals",
    "import matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots()\n"
    "ax.bar(totals['city'], totals['amount'])\n"
    "ax.set_title('amount by city')\n"
    "fig.tight_layout()",
]


def build_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {"name": ku.KERNEL_NAME, "display_name": ku.KERNEL_NAME,
                                 "language": "python"}
    return nb


def check_executed(nb):
    nbformat.validate(nb)
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert not errors, f"notebook raised: {errors}"
    assert any(o.get("text") == "written\n" for o in outputs if o["output_type"] == "stream")

    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1, outputs
    assert "<table" in html[0]
    # The grouped totals: Brest 40, Lyon 40, Nice 70.
    for text in ("Brest", "Lyon", "Nice", "70"):
        assert text in html[0]
    table_output = nb.cells[1].outputs[-1]
    assert table_output["output_type"] == "execute_result"

    pngs = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, [sorted(o.get("data", {})) for o in outputs]
    raw = ku.decode_png(pngs[0])
    assert len(raw) > 1000  # a real chart, not a blank pixel


# The real `jupyter nbconvert` command (Debian's jupyter-nbconvert package).
NBCONVERT = ["/usr/bin/python3", "-m", "jupyter", "nbconvert"]


def test_nbconvert_execute(jupyter_env, tmp_path):
    src = tmp_path / "explore.ipynb"
    nbformat.write(build_notebook(), src)
    proc = subprocess.run(
        NBCONVERT + [
            "--to", "notebook", "--execute",
            f"--ExecutePreprocessor.kernel_name={ku.KERNEL_NAME}",
            "--ExecutePreprocessor.timeout=30",
            "--ExecutePreprocessor.startup_timeout=30",
            "--output", "executed.ipynb", str(src),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_executed(nbformat.read(tmp_path / "executed.ipynb", as_version=4))


def test_nbclient_execute(jupyter_env, tmp_path):
    nb = build_notebook()
    client = NotebookClient(
        nb,
        kernel_name=ku.KERNEL_NAME,
        timeout=30,
        startup_timeout=30,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    check_executed(nb)
    # Execution counts are consecutive from 1 in a fresh kernel.
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]
