"""The conversation journal as `sandcell serve` and `sandcell kernel` write
it (docs/journal.md): a 0600 JSON Lines file with a header and one record
per cell, on disk before the cell's execute_reply; history_request answered
from it across interpreter deaths; restore of a journal into a new
conversation (after the execution cap, and of a bad path); and a daemon
killed with SIGKILL in the middle of a cell leaves a journal whose every
line parses and that restores every finished cell."""

import json
import os
import signal
import stat
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def read_journal(path):
    """(records, torn): every complete line parsed; the text of a last line
    without its newline, or None."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    torn = lines.pop() or None  # after the last "\n": empty unless torn
    return [json.loads(line) for line in lines], torn


def executions(path):
    records, torn = read_journal(path)
    assert torn is None, f"{path} ends with a torn line: {torn[:200]!r}"
    assert records[0]["type"] == "header", records[0]
    return [r for r in records if r["type"] == "execution"]


def connect(d, conv):
    return ku.Tracker(d.client(conv["connection"]))


PLOT = """
import matplotlib.pyplot as plt
plt.plot([1, 3, 2])
plt.show()
"""


def test_records_fields_and_modes(daemon, tmp_path):
    d = daemon(["--max-executions", "0"])
    conv = d.control.start()
    path = conv["journal"]
    assert path == str(d.journal_dir / f"{conv['id']}.jsonl"), conv
    assert [c["journal"] for c in d.control.list()] == [path]
    ls = d.cli("ls")
    assert ls.returncode == 0 and path in ls.stdout, ls
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d.journal_dir).st_mode) == 0o700

    t = connect(d, conv)
    t.run_ok("x = 6 * 7\nprint('hello')\nx")
    t.run_ok(PLOT)
    err = t.run("{}['missing']")
    assert err.status == "error"
    silent = t.run_ok("s = 1", silent=True)
    assert silent.status == "ok"

    records, torn = read_journal(path)
    assert torn is None
    header = records[0]
    assert header["type"] == "header" and header["format"] == "sandcell-journal"
    assert header["version"] == 1 and header["conversation"] == conv["id"]
    assert header["python"].startswith("3.") and header["sandcell"]
    limits = header["limits"]
    assert limits["timeout_s"] == 30 and limits["memory_mib"] == 512 and limits["jail"] is True
    assert limits["max_executions"] == 0 and limits["data_dir"] is None
    assert set(header["preload"]) == {"pandas", "numpy", "matplotlib"}, header
    assert all(isinstance(v, str) for v in header["preload"].values()), header
    assert "restored_from" not in header

    cells = [r for r in records if r["type"] == "execution"]
    assert [c["code"] for c in cells] == ["x = 6 * 7\nprint('hello')\nx", PLOT,
                                         "{}['missing']", "s = 1"]
    assert [c["execution_count"] for c in cells] == [1, 2, 3, 3]
    assert [c["status"] for c in cells] == ["ok", "ok", "error", "ok"]
    assert [c["silent"] for c in cells] == [False, False, False, True]
    for c in cells:
        assert c["interpreter"] == 1
        assert c["started"].endswith("Z") and len(c["started"]) == 27, c["started"]
        assert 0 <= c["duration_s"] < 30
        assert isinstance(c["cpu_s"], float) and 0 <= c["cpu_s"] < 30, c["cpu_s"]
        assert isinstance(c["peak_memory_bytes"], int) and c["peak_memory_bytes"] > 1 << 20
        assert c["reply"]["status"] == c["status"]
    first = cells[0]["outputs"]
    assert first == [
        {"msg_type": "stream", "content": {"name": "stdout", "text": "hello\n"}},
        {"msg_type": "execute_result",
         "content": {"execution_count": 1, "data": {"text/plain": "42"}, "metadata": {}}},
    ], first
    images = [o["content"]["data"]["image/png"] for o in cells[1]["outputs"]
              if o["msg_type"] == "display_data"]
    assert len(images) == 1
    ku.decode_png(images[0])
    error = [o for o in cells[2]["outputs"] if o["msg_type"] == "error"]
    assert len(error) == 1 and error[0]["content"]["ename"] == "KeyError"
    assert cells[2]["reply"]["ename"] == "KeyError" and cells[2]["reply"]["traceback"]

    d.control.stop(conv["id"])
    deadline = time.monotonic() + 10
    while read_journal(path)[0][-1]["type"] != "end" and time.monotonic() < deadline:
        time.sleep(0.05)
    end = read_journal(path)[0][-1]
    assert end["type"] == "end" and end["reason"] == "stop", end


def test_record_is_on_disk_when_the_reply_arrives(daemon):
    d = daemon()
    conv = d.control.start()
    t = connect(d, conv)
    for i in range(10):
        msg_id = t.execute(f"print({i})\n{i} * 2")
        t.wait_reply(msg_id)
        # Read at once, before the idle status: the record must be there.
        cells = executions(conv["journal"])
        assert len(cells) == i + 1, f"cell {i}: the reply came before its record"
        assert cells[-1]["outputs"][-1]["content"]["data"]["text/plain"] == str(i * 2)
        t.finish(msg_id)


def history(t, **content):
    msg_id = t.request("history_request", content)
    reply = t.wait_reply(msg_id)["content"]
    assert reply["status"] == "ok", reply
    return [tuple(e[1:]) if not isinstance(e[2], list) else (e[1], tuple(e[2]))
            for e in reply["history"]]


def test_history_from_the_journal_across_interpreter_deaths(daemon):
    d = daemon()
    conv = d.control.start()
    t = connect(d, conv)
    t.run_ok("x = 1")
    t.run_ok("x + 1")
    died = t.run("import os; os._exit(3)")
    assert died.content.get("ename") == "InterpreterDied", died.describe()
    t.run_ok("y = 5")
    t.run_ok("'x' in globals()")  # a fresh interpreter: False
    t.run_ok("x = 0", store_history=False)

    cells = executions(conv["journal"])
    assert [c["interpreter"] for c in cells] == [1, 1, 1, 2, 2, 2]
    stored = [c for c in cells if c["store_history"]]
    assert [c["execution_count"] for c in stored] == [1, 2, 3, 4, 5]

    def result(c):
        out = [o for o in c["outputs"] if o["msg_type"] == "execute_result"]
        return out[0]["content"]["data"]["text/plain"] if out else None

    journal_inputs = [(c["execution_count"], c["code"]) for c in stored]
    journal_outputs = [(c["execution_count"], (c["code"], result(c))) for c in stored]
    assert history(t, hist_access_type="tail", n=10, output=False) == journal_inputs
    assert history(t, hist_access_type="tail", n=10, output=True) == journal_outputs
    assert history(t, hist_access_type="tail", n=2, output=False) == journal_inputs[-2:]
    assert history(t, hist_access_type="range", session=0, start=2, stop=4,
                   output=True) == journal_outputs[1:3]
    assert journal_outputs[1] == (2, ("x + 1", "2"))
    assert journal_outputs[4] == (5, ("'x' in globals()", "False"))
    assert history(t, hist_access_type="search", pattern="x*", output=False) == [
        (1, "x = 1"), (2, "x + 1")]
    assert history(t, hist_access_type="search", pattern="*5*", output=True) == [
        (4, ("y = 5", None))]


def test_restore_after_the_cap(daemon):
    d = daemon()
    conv = d.control.start(max_executions=4)
    t = connect(d, conv)
    t.run_ok("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': list('xyz')})")
    assert t.run("1 / 0").status == "error"
    t.run_ok("v = 41")
    t.run_ok("v += 1\nv")
    capped = t.run("v")
    assert capped.content.get("ename") == "ExecutionLimitReached", capped.describe()
    assert conv["journal"] in capped.content["evalue"]
    records, _ = read_journal(conv["journal"])
    assert records[-1]["type"] == "end" and records[-1]["reason"] == "cap", records[-1]

    new = d.control.start(restore=conv["journal"])
    assert new["restored_from"] == {"journal": conv["journal"], "executions": 4, "files": 0}, new
    t2 = connect(d, new)
    res = t2.run_ok("print(v, df.shape, list(df.b))\nv")
    assert res.stream_text("stdout") == "42 (3, 2) ['x', 'y', 'z']\n", res.describe()
    assert res.content["execution_count"] == 5
    note = res.stream_text("stderr")
    assert "restored from" in note and "cell 2: ZeroDivisionError" in note, note
    # The restored cells were not shown again.
    assert [m["msg_type"] for m in res.of_type("execute_result")] == ["execute_result"]
    assert history(t2, hist_access_type="tail", n=3, output=True) == [
        (3, ("v = 41", None)), (4, ("v += 1\nv", "42")),
        (5, ("print(v, df.shape, list(df.b))\nv", "42"))]
    header = read_journal(new["journal"])[0][0]
    assert header["restored_from"] == {"journal": conv["journal"], "executions": 4, "files": 0}
    assert [c["code"] for c in executions(new["journal"])] == [
        "print(v, df.shape, list(df.b))\nv"]

    # and through the command line
    cli = d.cli("start", "--restore", new["journal"])
    assert cli.returncode == 0, cli.stderr
    cid = cli.stdout.strip()
    out = d.cli("exec", "-c", cid, "v, len(df)")
    assert out.returncode == 0 and out.stdout.strip() == "(42, 3)", (out.stdout, out.stderr)


def test_restore_of_a_bad_journal_fails_at_once(daemon, tmp_path):
    d = daemon()
    conv = d.control.start()
    missing = d.journal_dir / "nothing.jsonl"  # restore reads only the journal folder
    reply = d.control.error("start_request", {"restore": str(missing)})
    assert reply["ename"] == "RestoreFailed" and str(missing) in reply["evalue"], reply
    broken = d.journal_dir / "broken.jsonl"
    t = connect(d, conv)
    t.run_ok("a = 1")
    t.run_ok("b = 2")
    lines = open(conv["journal"]).read().splitlines(keepends=True)
    lines[1] = lines[1][:20] + "\n"  # a record cut short in the middle of the file
    broken.write_text("".join(lines))
    reply = d.control.error("start_request", {"restore": str(broken)})
    assert reply["ename"] == "RestoreFailed" and f"{broken}:2:" in reply["evalue"], reply
    reply = d.control.error("start_request", {"restore": 7})
    assert reply["ename"] == "BadRequest", reply
    assert [c["id"] for c in d.control.list()] == [conv["id"]]
    cli = d.cli("start", "--restore", str(missing))
    assert cli.returncode != 0 and "RestoreFailed" in cli.stderr, cli
    assert [c["id"] for c in d.control.list()] == [conv["id"]]


def test_sigkill_mid_cell_leaves_a_journal_that_restores(daemon, tmp_path):
    journals = tmp_path / "kept-journals"
    d = daemon(["--journal-dir", journals])
    conv = d.control.start()
    t = connect(d, conv)
    for i in range(20):
        t.run_ok(f"v{i} = {i}\nprint('x' * {1000 * i})")
    running = t.execute("import time\nstarted = 1\ntime.sleep(30)")
    t.wait_iopub(running, "execute_input")
    time.sleep(0.3)
    d.signal(signal.SIGKILL)
    d.proc.wait(timeout=5)
    d.stopped = True
    assert not ku.wait_gone(list(d.seen.values()), timeout=10)

    path = conv["journal"]
    records, torn = read_journal(path)  # every complete line parses
    assert torn is None
    assert records[0]["type"] == "header"
    cells = [r for r in records[1:]]
    assert [c["type"] for c in cells] == ["execution"] * 20  # no end record, no running cell
    assert [c["code"].split("\n")[0] for c in cells] == [f"v{i} = {i}" for i in range(20)]

    # A torn last line (a write cut by SIGKILL) is skipped by the reader.
    torn_copy = journals / "torn.jsonl"  # where a daemon of that folder may restore it
    torn_copy.write_bytes(open(path, "rb").read() + b'{"type":"execution","code":"v99 =')

    # It exports with every finished cell.
    import nbformat

    for journal in (path, torn_copy):
        notebook = tmp_path / f"{os.path.basename(journal)}.ipynb"
        out = d.cli("export", journal, "-o", notebook)
        assert out.returncode == 0, out.stderr
        nb = nbformat.read(str(notebook), as_version=4)
        nbformat.validate(nb)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert [c.split("\n")[0] for c in code] == [f"v{i} = {i}" for i in range(20)], code
    d2 = daemon(["--journal-dir", journals])
    for journal in (path, str(torn_copy)):
        new = d2.control.start(restore=journal)
        assert new["restored_from"]["executions"] == 20, new
        t2 = connect(d2, new)
        res = t2.run_ok("sum(v0 + globals()[f'v{i}'] for i in range(20)), 'started' in globals()")
        assert res.result_data()["text/plain"] == "(190, False)", res.describe()
        assert res.content["execution_count"] == 21


def test_kernel_journals_only_with_journal_dir(start_kernel, tmp_path):
    journals = tmp_path / "kernel-journals"
    km, kc = start_kernel("--journal-dir", journals)
    t = ku.Tracker(kc)
    t.run_ok("z = 3\nz * 2")
    km2, kc2 = start_kernel()  # no --journal-dir: no journal anywhere
    ku.Tracker(kc2).run_ok("1")
    files = list(journals.iterdir())
    assert len(files) == 1 and files[0].name.startswith(f"kernel-{ku.kernel_pid(km)}-"), files
    cells = executions(files[0])
    assert [(c["code"], c["execution_count"]) for c in cells] == [("z = 3\nz * 2", 1)]
    assert read_journal(files[0])[0][0]["conversation"] == files[0].name[:-len(".jsonl")]
    kc.shutdown()
    deadline = time.monotonic() + 10
    while read_journal(files[0])[0][-1]["type"] != "end" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_journal(files[0])[0][-1]["reason"] == "shutdown"


def test_serve_default_journal_dir_and_no_journal(daemon, tmp_path):
    state = tmp_path / "state"
    env = dict(os.environ, XDG_STATE_HOME=str(state))
    d = daemon(env=env, journal_dir=False)
    conv = d.control.start()
    default = state / "sandcell" / "journals"
    assert conv["journal"] == str(default / f"{conv['id']}.jsonl"), conv
    assert stat.S_IMODE(os.stat(default).st_mode) == 0o700
    off = daemon(["--no-journal"], env=env)
    conv2 = off.control.start()
    assert conv2["journal"] is None and off.control.list()[0]["journal"] is None
    connect(off, conv2).run_ok("1 + 1")
    assert os.listdir(default) == [f"{conv['id']}.jsonl"]
    help_text = d.cli("serve", "--help").stdout
    assert "--no-journal" in help_text and "XDG_STATE_HOME" in help_text, help_text
    assert "--restore JOURNAL" in d.cli("start", "--help").stdout


def test_refused_cells_are_recorded_without_disturbing_the_running_one(daemon):
    d = daemon()
    conv = d.control.start()
    t = connect(d, conv)
    running = t.execute("import time\nprint('before')\ntime.sleep(1)\nprint('after')\n7")
    t.wait_iopub(running, "stream")
    wrong = t.request("execute_request", {"code": "1 + 1", "silent": False}, channel="control")
    assert t.wait_reply(wrong)["content"]["ename"] == "WrongChannel"
    res = t.finish(running)
    assert res.stream_text() == "before\nafter\n", res.describe()
    bad = t.run("1", silent="yes")
    assert bad.content["ename"] == "BadRequest", bad.describe()
    cells = executions(conv["journal"])
    assert [(c["code"], c["execution_count"], c["status"]) for c in cells] == [
        ("1 + 1", None, "error"),
        ("import time\nprint('before')\ntime.sleep(1)\nprint('after')\n7", 1, "ok"),
        ("1", None, "error"),
    ]
    assert cells[0]["outputs"][0]["content"]["ename"] == "WrongChannel"
    assert [o["msg_type"] for o in cells[1]["outputs"]] == ["stream", "stream", "execute_result"]
    assert "".join(o["content"].get("text", "") for o in cells[1]["outputs"]) == "before\nafter\n"
    assert cells[2]["reply"]["ename"] == "BadRequest"
