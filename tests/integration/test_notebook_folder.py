"""A kernel started for a notebook sees the notebook's folder as its
working directory (README, "Files next to a notebook"): /workspace starts
with the files of the folder the kernel was started in, under an overlay
whose writes stay in the sandbox, so `pd.read_csv("sales.csv")` next to a
notebook works as under ipykernel while the host folder is never written.
`--empty-workspace` opts out; / and the home folder are never shown unless
asked for with --workspace-from."""

import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import kernel_util as ku

pytestmark = ku.requires_sandcell

SALES = "region,amount\nnorth,10\nsouth,32\n"


@pytest.fixture
def folder():
    """A notebook folder the sandbox's user may read: pytest's own temporary
    folders are 0700, and as root the sandbox reads the host as nobody."""
    top = Path(tempfile.mkdtemp(prefix="sandcell-nb-", dir="/tmp"))
    top.chmod(0o755)
    d = top / "analysis"
    d.mkdir(mode=0o755)
    (d / "sales.csv").write_text(SALES)
    (d / "sub").mkdir(mode=0o755)
    (d / "sub" / "more.txt").write_text("deeper")
    yield d
    shutil.rmtree(top)


def run_notebook(folder, kernel_name, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    NotebookClient(nb, kernel_name=kernel_name, timeout=ku.TIMEOUT,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
            for c in nb.cells]


def workspace_of_kernel_started_in(cwd):
    """What os.listdir('.') prints in a kernel started in |cwd|."""
    km, kc = ku.start_new_kernel(kernel_name=ku.KERNEL_NAME, startup_timeout=60, cwd=str(cwd))
    try:
        res = ku.Tracker(kc).run_ok("import os\nprint(os.listdir('.'))")
        return res.stream_text("stdout")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_notebook_reads_the_files_next_to_it(jupyter_env, folder):
    out = run_notebook(
        folder, ku.KERNEL_NAME,
        "import os, pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(int(df.amount.sum()))",
        "print(open('sub/more.txt').read(), os.getcwd())",
        # Writes stay in the sandbox: a new file, a changed file, a removed one.
        "open('out.csv', 'w').write('x')\n"
        "try:\n"
        "    open('sales.csv', 'a').write('east,1\\n')\n"
        "    os.remove('sub/more.txt')\n"
        "except PermissionError:\n"
        "    print('read-only')\n"
        "print(len(pd.read_csv('sales.csv')), sorted(os.listdir('.')), os.listdir('sub'))",
    )
    assert out[0] == "42\n", out
    assert out[1] == "deeper /workspace\n", out
    if os.geteuid() == 0:
        # As root the sandbox is nobody outside: the folder's files belong to
        # no user of the sandbox, so they stay read-only inside it too.
        assert out[2] == "read-only\n2 ['out.csv', 'sales.csv', 'sub'] ['more.txt']\n", out
    else:
        assert out[2] == "3 ['out.csv', 'sales.csv', 'sub'] []\n", out
    assert (folder / "sales.csv").read_text() == SALES
    assert (folder / "sub" / "more.txt").read_text() == "deeper"
    assert sorted(os.listdir(folder)) == ["sales.csv", "sub"]


def test_a_link_in_the_folder_does_not_reach_the_host(jupyter_env, folder):
    secret = folder.parent / "secret.txt"
    secret.write_text("host secret")
    os.symlink(secret, folder / "link.txt")
    os.symlink("/etc/shadow", folder / "shadow")
    out = run_notebook(
        folder, ku.KERNEL_NAME,
        "import os\n"
        "for name in ('link.txt', 'shadow'):\n"
        "    try:\n"
        "        print(name, open(name).read()[:20])\n"
        "    except OSError as e:\n"
        "        print(name, type(e).__name__)",
    )
    assert "host secret" not in out[0] and "root:" not in out[0], out
    assert out[0] == "link.txt FileNotFoundError\nshadow FileNotFoundError\n", out


def test_empty_workspace_opts_out(jupyter_env, folder):
    name = ku.install_kernelspec(jupyter_env, ["--empty-workspace"])
    out = run_notebook(folder, name, "import os\nprint(os.listdir('.'))")
    assert out == ["[]\n"], out


def test_home_folder_is_not_shown_unless_asked(jupyter_env, folder, monkeypatch):
    monkeypatch.setenv("HOME", str(folder))
    assert workspace_of_kernel_started_in(folder) == "[]\n"
    name = ku.install_kernelspec(jupyter_env, ["--workspace-from", str(folder)])
    out = run_notebook(folder, name, "import os\nprint(sorted(os.listdir('.')))")
    assert out == ["['sales.csv', 'sub']\n"], out


@pytest.mark.skipif(os.geteuid() != 0, reason="the folder is unreadable to the sandbox only "
                    "when sandcell runs as root (its jail is nobody outside)")
def test_a_folder_the_sandbox_cannot_read_gives_an_empty_workspace(jupyter_env, tmp_path):
    private = tmp_path / "private"  # under pytest's 0700 folder
    private.mkdir()
    (private / "secret.csv").write_text("x\n")
    assert workspace_of_kernel_started_in(private) == "[]\n"
    name = ku.install_kernelspec(jupyter_env, ["--workspace-from", str(private)])
    with pytest.raises(Exception):
        run_notebook(private, name, "1")
