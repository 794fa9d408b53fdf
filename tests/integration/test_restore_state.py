"""A restored conversation is the conversation it restores (issue: nothing
lost): the files put into its workspace come back in their place among the
cells, its limits come back unless the restore overrides them, list_request
and `sandcell ls` show every conversation's limits under start_request's
names and units, `sandcell replay` gets the same files, and the export of a
restored conversation is the whole notebook, the restored cells included."""

import json
import subprocess

import nbformat
import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

SALES = b"region,amount\nnorth,10\nsouth,32\n"


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def connect(d, conv):
    return ku.Tracker(d.client(conv["connection"]))


def journal_records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_put_files_come_back_in_their_place(daemon):
    d = daemon()
    conv = d.control.start()
    cid = conv["id"]
    t = connect(d, conv)
    assert d.control.put(cid, "sales.csv", SALES)["content"]["status"] == "ok"
    t.run_ok("import pandas as pd\ndf = pd.read_csv('sales.csv')")
    # The same name, new content: the cell before it must see the old one
    # when the conversation is rebuilt, the cell after it the new one.
    assert d.control.put(cid, "note.txt", b"first")["content"]["status"] == "ok"
    t.run_ok("first = open('note.txt').read()")
    assert d.control.put(cid, "note.txt", b"second")["content"]["status"] == "ok"
    t.run_ok("second = open('note.txt').read()")
    files = [r for r in journal_records(conv["journal"]) if r["type"] == "file"]
    assert [(f["path"], f["size"]) for f in files] == [
        ("sales.csv", len(SALES)), ("note.txt", 5), ("note.txt", 6)], files
    d.control.stop(cid)

    new = d.control.start(restore=conv["journal"])
    assert new["restored_from"] == {"journal": conv["journal"], "executions": 3, "files": 3}
    t2 = connect(d, new)
    res = t2.run_ok("print(int(df.amount.sum()), first, second, open('sales.csv').read() == "
                    f"{SALES.decode()!r})")
    assert res.stream_text("stdout") == "42 first second True\n", res.describe()
    assert res.stream_text("stderr") == "", res.describe()
    got = d.control.get(new["id"], "note.txt")
    assert got["content"]["status"] == "ok" and got["buffers"][0] == b"second", got["content"]

    # A restore of the restored conversation brings back the same files.
    d.control.stop(new["id"])
    third = d.control.start(restore=new["journal"])
    t3 = connect(d, third)
    res = t3.run_ok("print(open('sales.csv').read() == " f"{SALES.decode()!r}, second)")
    assert res.stream_text("stdout") == "True second\n", res.describe()


def test_a_file_that_cannot_come_back_is_named(daemon, tmp_path):
    d = daemon()
    conv = d.control.start()
    t = connect(d, conv)
    assert d.control.put(conv["id"], "data.csv", b"a\n1\n")["content"]["status"] == "ok"
    t.run_ok("x = 1")
    d.control.stop(conv["id"])
    # The record keeps the file's name and size but not its content.
    edited = d.journal_dir / "edited.jsonl"  # restore reads only the journal folder
    with open(edited, "w") as out:
        for rec in journal_records(conv["journal"]):
            if rec["type"] == "file":
                del rec["content_base64"]
                rec["omitted"] = "left out for the test"
            out.write(json.dumps(rec) + "\n")
    new = d.control.start(restore=str(edited))
    res = connect(d, new).run_ok("x")
    note = res.stream_text("stderr")
    assert "file data.csv: left out for the test" in note, res.describe()


def test_limits_come_back_unless_overridden(daemon):
    d = daemon()
    conv = d.control.start(memory=300, max_executions=7, timeout=12.5, pids=40, max_output=3,
                           input_timeout=77)
    connect(d, conv).run_ok("y = 2")
    d.control.stop(conv["id"])

    kept = d.control.start(restore=conv["journal"])
    changed = d.control.start(restore=conv["journal"], memory=400, max_executions=9)
    listed = {c["id"]: c for c in d.control.list()}
    assert listed[kept["id"]]["max_executions"] == 7
    limits = listed[kept["id"]]["limits"]
    assert (limits["memory"], limits["timeout"], limits["pids"], limits["max_output"],
            limits["max_executions"], limits["input_timeout"]) == (300, 12.5, 40, 3, 7, 77), limits
    limits = listed[changed["id"]]["limits"]
    assert (limits["memory"], limits["timeout"], limits["max_executions"]) == (400, 12.5, 9)
    header = journal_records(kept["journal"])
    # The header is written once the interpreter is ready: use the conversation.
    connect(d, kept).run_ok("y")
    header = journal_records(kept["journal"])[0]
    assert header["limits"]["memory_mib"] == 300 and header["limits"]["max_executions"] == 7


def test_list_and_ls_show_limits_by_start_names(daemon):
    d = daemon(["--memory", "256", "--timeout", "30"])
    conv = d.control.start(memory=200, disk=50, open_files=100, cpus=0.5,
                           idle_timeout=600, lifetime=7200)
    entry = next(c for c in d.control.list() if c["id"] == conv["id"])
    limits = entry["limits"]
    assert set(limits) == {"timeout", "input_timeout", "memory", "pids", "cpus", "disk",
                           "open_files", "max_output", "max_executions", "idle_timeout",
                           "lifetime"}, limits
    assert (limits["memory"], limits["disk"], limits["open_files"], limits["cpus"],
            limits["timeout"], limits["idle_timeout"], limits["lifetime"]) == (
        200, 50, 100, 0.5, 30, 600, 7200), limits
    ls = d.cli("ls")
    assert ls.returncode == 0, ls.stderr
    assert "LIMITS" in ls.stdout.splitlines()[0], ls.stdout
    line = next(l for l in ls.stdout.splitlines() if l.startswith(conv["id"]))
    for text in ("timeout=30s", "memory=200MiB", "disk=50MiB", "open_files=100", "cpus=0.5",
                 "idle_timeout=600s", "lifetime=7200s"):
        assert text in line, line


def test_export_of_a_restored_conversation_is_the_whole_notebook(daemon, tmp_path):
    d = daemon()
    conv = d.control.start()
    t = connect(d, conv)
    t.run_ok("a = 1")
    t.run_ok("b = a + 1\nb")
    d.control.stop(conv["id"])
    new = d.control.start(restore=conv["journal"])
    connect(d, new).run_ok("c = b + 1\nc")
    d.control.stop(new["id"])
    out = tmp_path / "whole.ipynb"
    proc = subprocess.run([str(ku.SANDCELL), "export", new["journal"], "-o", str(out)],
                          capture_output=True, text=True, timeout=ku.TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    cells = [(c.execution_count, c.source) for c in nb.cells if c.cell_type == "code"]
    assert cells == [(1, "a = 1"), (2, "b = a + 1\nb"), (3, "c = b + 1\nc")], cells


def test_replay_gets_the_same_files(daemon, tmp_path):
    d = daemon()
    conv = d.control.start()
    t = connect(d, conv)
    assert d.control.put(conv["id"], "sales.csv", SALES)["content"]["status"] == "ok"
    t.run_ok("import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.amount.sum())")
    d.control.stop(conv["id"])
    new = d.control.start(restore=conv["journal"])
    connect(d, new).run_ok("print(len(open('sales.csv').read()))")
    d.control.stop(new["id"])
    for journal in (conv["journal"], new["journal"]):
        proc = subprocess.run([str(ku.SANDCELL), "replay", journal], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, (journal, proc.stdout, proc.stderr)
        assert "1 same, 0 different, 0 errors" in proc.stdout, proc.stdout
