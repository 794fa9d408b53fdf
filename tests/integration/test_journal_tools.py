"""`sandcell export` and `sandcell replay` on journals.

Until the manager writes journals itself, the journals of real
conversations are written here: a jupyter_client conversation with
`sandcell kernel`, each cell's iopub outputs and reply recorded in the
journal format (docs/journal.md) by `record_journal`. Hand-written
journals for the valid and invalid cases are in tests/journals/.

Each exported notebook is checked with Debian's nbformat.validate and
rendered with jupyter nbconvert; replays must say "same" for a
deterministic pandas + matplotlib conversation and "different" for a
random.random() cell; bad journals are named with their line and never
crash the tools."""

import datetime
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

JOURNALS = ku.REPO / "tests" / "journals"
TOOL_TIMEOUT = 180


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_journal(kc, cells, path, cgroups=True, max_output_mib=10):
    """Runs |cells| in the kernel behind |kc| and writes what happened as a
    journal at |path|, one execution record per cell, as the manager
    would. Returns the recorded execution records."""
    tracker = ku.Tracker(kc)
    header = {
        "type": "header", "format": "sandcell-journal", "version": 1,
        "conversation": "kernel-test", "created": _now(), "sandcell": "test",
        "python": "3.11.2",
        "limits": {"timeout_s": 30, "memory_mib": 512, "pids": 64, "cpus": 1.0,
                   "disk_mib": 100, "open_files": 256,
                   "max_output_bytes": max_output_mib << 20,
                   "data_dir": None, "jail": True, "cgroups": cgroups, "max_executions": 0},
        "preload": {"pandas": "1.5.3", "numpy": "1.24.2", "matplotlib": "3.6.3"},
    }
    records, generation = [], 1
    for code in cells:
        started = _now()
        res = tracker.run(code, timeout=60)
        outputs = [{"msg_type": m["msg_type"], "content": m["content"]} for m in res.outputs]
        reply = res.content
        records.append({
            "type": "execution", "execution_count": reply.get("execution_count"),
            "code": code, "silent": False, "store_history": True,
            "interpreter": generation, "started": started, "duration_s": 0.1,
            "cpu_s": 0.1, "peak_memory_bytes": None, "status": reply["status"],
            "outputs": outputs, "reply": reply,
        })
        if reply.get("ename") in ("InterpreterDied", "TimeoutError"):
            generation += 1
    with open(path, "w") as f:
        for rec in [header] + records + [{"type": "end", "reason": "stop", "time": _now()}]:
            f.write(json.dumps(rec) + "\n")
    return records


def run_tool(*args, timeout=TOOL_TIMEOUT):
    return subprocess.run([ku.SANDCELL, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def replay(journal, *flags):
    if not ku.cgroups_available():
        flags = (*flags, "--no-cgroups")
    return run_tool("replay", journal, *flags)


def export_and_check(journal, tmp_path):
    """Exports |journal|, validates the notebook with nbformat and renders it
    with nbconvert; returns the notebook."""
    out = tmp_path / "conversation.ipynb"
    proc = run_tool("export", journal, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name], "temporary file left"
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec == {"name": "sandcell-python",
                                      "display_name": "Python (sandcell)",
                                      "language": "python"}
    assert nb.metadata.language_info["name"] == "python"
    html = tmp_path / "conversation.html"
    conv = subprocess.run(["/usr/bin/jupyter-nbconvert", "--to", "html", str(out),
                           "--output", str(html)], capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT, cwd=tmp_path)
    assert conv.returncode == 0, conv.stderr
    assert html.stat().st_size > 0
    return nb, html.read_text()


# ------------------------------------------------------------ fixtures

def test_export_fixture(tmp_path):
    nb, html = export_and_check(JOURNALS / "basic.jsonl", tmp_path)
    cells = nb.cells
    assert [c.execution_count for c in cells] == [1, 2, 3, 4, None, 5]  # silent one left out
    assert all(c.cell_type == "code" for c in cells)
    assert cells[0].outputs == [{"output_type": "stream", "name": "stdout",
                                 "text": "hello\nworld\n"}]  # streams merged
    assert cells[1].outputs[0]["output_type"] == "execute_result"
    assert cells[1].outputs[0]["execution_count"] == 2
    assert cells[1].outputs[0]["data"] == {"text/plain": "42"}
    assert [o["output_type"] for o in cells[2].outputs] == ["display_data"]  # cleared "loading"
    assert cells[2].outputs[0]["data"]["image/png"].startswith("iVBOR")
    err = cells[3].outputs[0]
    assert (err["output_type"], err["ename"], err["evalue"]) == ("error", "ValueError", "bad value")
    assert cells[4].outputs == [] and cells[4].source == "print('never runs')"
    assert [o.get("text") for o in cells[5].outputs] == ["progress 2\n", "warn\n"]
    assert "bad value" in html and "hello" in html


def test_export_to_stdout_is_the_same_notebook(tmp_path):
    proc = run_tool("export", JOURNALS / "basic.jsonl", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.reads(proc.stdout, as_version=4)
    nbformat.validate(nb)
    (tmp_path / "x.ipynb").write_text("old")
    assert run_tool("export", JOURNALS / "basic.jsonl", "-o", tmp_path / "x.ipynb").returncode == 0
    assert json.loads((tmp_path / "x.ipynb").read_text()) == json.loads(proc.stdout)


def test_torn_last_line_is_a_warning(tmp_path):
    nb, _ = export_and_check(JOURNALS / "torn-last-line.jsonl", tmp_path)
    assert [c.execution_count for c in nb.cells] == [1, 2]
    proc = run_tool("export", JOURNALS / "torn-last-line.jsonl", "-o", tmp_path / "y.ipynb")
    assert "torn-last-line.jsonl:4:" in proc.stderr and "warning" in proc.stderr


BAD = [
    ("not-json-middle.jsonl", 3, "not JSON"),
    ("unknown-version.jsonl", 1, "unknown format version 2"),
    ("unknown-format.jsonl", 1, "unknown format"),
    ("missing-code.jsonl", 3, '"code" is missing'),
    ("wrong-type.jsonl", 3, '"execution_count" must be an integer or null'),
    ("wrong-output-type.jsonl", 2, '"text" must be a string'),
    ("not-an-object.jsonl", 3, "must be a JSON object"),
    ("no-header.jsonl", 1, "header"),
    ("empty.jsonl", 1, "empty"),
]


@pytest.mark.parametrize("name,line,reason", BAD, ids=[b[0] for b in BAD])
@pytest.mark.parametrize("tool", ["export", "replay"])
def test_bad_journal_names_line_and_reason(tool, name, line, reason, tmp_path):
    path = JOURNALS / name
    out = tmp_path / "nb.ipynb"
    proc = run_tool("export", path, "-o", out) if tool == "export" else replay(path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert f"{path}:{line}: " in proc.stderr and reason in proc.stderr, proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert "replayed" not in proc.stdout


@pytest.mark.parametrize("tool", ["export", "replay"])
def test_missing_file_and_directory(tool, tmp_path):
    for path, reason in ((tmp_path / "nope.jsonl", "No such file"), (tmp_path, "directory")):
        args = ("export", path, "-o", tmp_path / "nb.ipynb") if tool == "export" else ("replay", path)
        proc = run_tool(*args)
        assert proc.returncode == 2, proc.stderr
        assert str(path) in proc.stderr and reason in proc.stderr, proc.stderr


def test_usage_errors():
    for args in (("export",), ("export", "j.jsonl"), ("replay",), ("replay", "a", "b"),
                 ("replay", "j", "--until", "x"), ("export", "j", "-o", "f", "--bogus")):
        proc = run_tool(*args)
        assert proc.returncode == 2 and proc.stderr.startswith("sandcell: "), (args, proc.stderr)
    for cmd in ("export", "replay"):
        proc = run_tool(cmd, "--help")
        assert proc.returncode == 0 and f"sandcell {cmd} JOURNAL" in proc.stdout


def test_replay_refuses_an_unjailed_journal_without_no_jail():
    proc = run_tool("replay", JOURNALS / "unjailed.jsonl")
    assert proc.returncode == 2
    assert "unjailed.jsonl:1:" in proc.stderr and "--no-jail" in proc.stderr


# ------------------------------------------------- recorded conversations

ANALYSIS = [
    "import pandas as pd\nimport numpy as np\nimport matplotlib.pyplot as plt",
    "df = pd.DataFrame({'group': list('abcab') * 20, 'value': np.arange(100) % 7})\n"
    "print(df.shape)",
    "df.head()",
    "sums = df.groupby('group')['value'].sum()\nsums",
    "df.describe()",
    "fig, ax = plt.subplots(figsize=(4, 3))\nax.bar(sums.index, sums.values)\n"
    "ax.set_title('sums')",
    "plt.plot([1, 3, 2])",
    "class Thing: pass\nThing()",
    "import sys\nprint('to stderr', file=sys.stderr)\nprint('to stdout')",
    "df['value'].loc[1000]",
]


def test_ten_cell_analysis_replays_the_same(kernel, tmp_path):
    _, kc = kernel
    journal = tmp_path / "analysis.jsonl"
    records = record_journal(kc, ANALYSIS, journal, cgroups=ku.cgroups_available())
    assert len(records) == 10
    assert records[-1]["status"] == "error"  # a KeyError, recorded and replayed alike
    assert any(o["msg_type"] == "display_data" and "image/png" in o["content"]["data"]
               for r in records for o in r["outputs"])
    nb, html = export_and_check(journal, tmp_path)
    assert len(nb.cells) == 10 and "<table" in html
    proc = replay(journal)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:10] == [f"[{n}] same" for n in range(1, 11)], proc.stdout
    assert "10 same, 0 different, 0 errors" in lines[-1]

    proc = replay(journal, "--until", 4)
    assert proc.returncode == 0 and proc.stdout.splitlines()[:4] == [
        f"[{n}] same" for n in range(1, 5)] and "[5]" not in proc.stdout
    proc = replay(journal, "--until", 99)
    assert proc.returncode == 2 and "no execution 99" in proc.stderr


def test_random_cell_is_different(kernel, tmp_path):
    _, kc = kernel
    journal = tmp_path / "random.jsonl"
    record_journal(kc, ["import random", "print(random.random())", "print('stable')"], journal,
                   cgroups=ku.cgroups_available())
    proc = replay(journal)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "[1] same" in out and "[2] different" in out and "[3] same" in out, out
    diff = out.split("[2] different\n", 1)[1].split("[3]", 1)[0]
    assert "@@ stdout" in diff and "\n  -0." in diff and "\n  +0." in diff, diff


def test_edited_output_is_different_and_state_loss_is_followed(kernel, tmp_path):
    _, kc = kernel
    journal = tmp_path / "died.jsonl"
    record_journal(kc, ["x = 5\nx", "import os; os._exit(3)", "print('x' in globals())"],
                   journal, cgroups=ku.cgroups_available())
    recs = [json.loads(l) for l in journal.read_text().splitlines()]
    assert [r.get("interpreter") for r in recs[1:4]] == [1, 1, 2]
    assert recs[2]["reply"]["ename"] == "InterpreterDied"
    proc = replay(journal)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # died alike, fresh state alike
    recs[1]["outputs"][0]["content"]["data"]["text/plain"] = "6"
    journal.write_text("".join(json.dumps(r) + "\n" for r in recs))
    proc = replay(journal)
    assert proc.returncode == 1 and "[1] different" in proc.stdout
    assert "-6" in proc.stdout and "+5" in proc.stdout


# ----------------------------------------- journals written by `sandcell serve`

@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def serve_conversation(d, cells):
    """Runs |cells| in a new conversation of |d|, stops it and returns its
    journal once the end record is written."""
    conv = d.control.start()
    t = ku.Tracker(d.client(conv["connection"]))
    for code in cells:
        t.run(code, timeout=60)
    d.control.stop(conv["id"])
    path = conv["journal"]
    for _ in range(200):
        with open(path) as f:
            if json.loads(f.read().splitlines()[-1])["type"] == "end":
                break
        time.sleep(0.05)
    return path


def test_serve_journal_end_to_end(daemon, tmp_path):
    d = daemon()
    journal = serve_conversation(d, ANALYSIS)
    out = tmp_path / "export"
    out.mkdir()
    nb, html = export_and_check(journal, out)
    assert [c.execution_count for c in nb.cells] == list(range(1, 11))
    assert any(o.get("output_type") == "display_data" and "image/png" in o["data"]
               for c in nb.cells for o in c.outputs)
    assert "<table" in html and "KeyError" in html
    proc = replay(journal)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[:10] == [f"[{n}] same" for n in range(1, 11)], proc.stdout

    journal = serve_conversation(d, ["import random", "print(random.random())", "1 + 1"])
    proc = replay(journal)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[:3] == ["[1] same", "[2] different", "  @@ stdout, line 1 @@"]
    assert "[3] same" in proc.stdout and "2 same, 1 different, 0 errors" in proc.stdout


def _record(n, code, outputs, status="ok", ename=None, interpreter=1):
    reply = {"status": status, "execution_count": n}
    if ename:
        reply.update(ename=ename, evalue="", traceback=[])
    return {"type": "execution", "execution_count": n, "code": code, "silent": False,
            "store_history": True, "interpreter": interpreter, "started": _now(),
            "duration_s": 1.0, "cpu_s": 0.0, "peak_memory_bytes": None, "status": status,
            "outputs": outputs, "reply": reply}


def test_replay_time_limit(tmp_path):
    """The recorded 1 s limit applies in the replay: an interrupted cell is a
    TimeoutError as in the original; one that ignores the interrupt is
    killed, which is the replay's error, and the next cell gets a fresh
    interpreter."""
    header = json.loads((JOURNALS / "basic.jsonl").read_text().splitlines()[0])
    header["limits"]["timeout_s"] = 1
    header["limits"]["cgroups"] = ku.cgroups_available()
    out = lambda text: [{"msg_type": "stream", "content": {"name": "stdout", "text": text}}]
    timeout_error = [{"msg_type": "error", "content": {
        "ename": "TimeoutError", "evalue": "the cell exceeded the 1 s time limit",
        "traceback": ["TimeoutError: the cell exceeded the 1 s time limit"]}}]
    records = [
        header,
        _record(1, "import time\ntime.sleep(5)", timeout_error, "error", "TimeoutError"),
        _record(2, "x = 1\nprint('after')", out("after\n")),
        _record(3, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                   "time.sleep(8)\nprint('done')", out("done\n")),
        _record(4, "print('x' in dir())", out("True\n")),
    ]
    journal = tmp_path / "timeouts.jsonl"
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    proc = replay(journal)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lines[0:2] == ["[1] same", "[2] same"], proc.stdout
    assert lines[2].startswith("[3] error: the cell exceeded the 1 s time limit"), proc.stdout
    assert lines[3] == "[4] different" and "-True" in proc.stdout and "+False" in proc.stdout


def test_export_of_a_10_mib_cell_is_whole_and_not_quadratic(tmp_path):
    """A cell that printed 10 MiB, recorded as the runtime sends it (8 KiB
    stream messages), exports as one stream holding every byte. Joining
    each message into the text so far took 12-17 s here; the bound only
    catches that regression, the figures are bench/export.py's."""
    line = "".join(chr(ord("a") + i % 26) for i in range(99)) + "\n"
    text = line * ((10 << 20) // len(line))
    chunks = [text[i:i + 8192] for i in range(0, len(text), 8192)]
    header = json.loads((JOURNALS / "basic.jsonl").read_text().splitlines()[0])
    outputs = [{"msg_type": "stream", "content": {"name": "stdout", "text": c}} for c in chunks]
    journal = tmp_path / "big.jsonl"
    journal.write_text(json.dumps(header) + "\n" +
                       json.dumps(_record(1, "print(...)", outputs)) + "\n")
    out = tmp_path / "big.ipynb"
    started = time.monotonic()
    proc = run_tool("export", journal, "-o", out)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    nb = json.loads(out.read_text())
    assert nb["cells"][0]["outputs"] == [{"output_type": "stream", "name": "stdout",
                                          "text": text}]
    assert elapsed < 10, f"export of 10 MiB took {elapsed:.1f} s"


def test_mangled_journals_never_crash_the_tools(tmp_path):
    """Cut short anywhere or with a byte changed anywhere, a journal is
    either exported (a torn last line is skipped) or refused with its line
    named; the tools never die of a signal."""
    import random
    data = (JOURNALS / "basic.jsonl").read_bytes()
    rng = random.Random(4)
    cases = [data[:rng.randrange(len(data))] for _ in range(40)]
    for _ in range(60):
        i = rng.randrange(len(data))
        cases.append(data[:i] + bytes([rng.choice(b'{}[]",:\\\n0x\xff\x00')]) + data[i + 1:])
    path = tmp_path / "mangled.jsonl"
    for case in cases:
        path.write_bytes(case)
        # replay reads the journal, then finds no execution 999 to stop at
        for args in (("export", path, "-o", "-"), ("replay", path, "--until", "999")):
            proc = subprocess.run([ku.SANDCELL, *map(str, args)], capture_output=True,
                                  timeout=60)
            assert proc.returncode in ((0, 2) if args[0] == "export" else (2,)), (
                case, proc.returncode, proc.stderr)
            if proc.returncode == 2:
                last = proc.stderr.splitlines()[-1]  # after a warning, if any
                assert last.startswith(f"sandcell {args[0]}: {path}:".encode()), (
                    case, proc.stderr)


def test_replay_of_a_restored_conversation_rebuilds_its_state(daemon, tmp_path):
    d = daemon()
    first = serve_conversation(d, ["x = 41", "import os; os._exit(1)", "y = 1"])
    conv = d.control.start(restore=first)
    t = ku.Tracker(d.client(conv["connection"]))
    t.run("print(x + 1, y)", timeout=60)
    d.control.stop(conv["id"])
    journal = conv["journal"]
    header = json.loads(open(journal).readline())
    assert header["restored_from"]["journal"] == first
    proc = replay(journal)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == "[4] same", proc.stdout
    assert "rebuilt the state from" in proc.stderr

    os.unlink(first)
    proc = replay(journal)
    assert proc.returncode == 2 and f"{journal}:1: " in proc.stderr and first in proc.stderr


def test_output_limit_is_replayed(start_kernel, tmp_path):
    """A cell cut at the recorded output limit is cut in the replay too and
    compared on what both kept (the cut falls where batching put it)."""
    _, kc = start_kernel("--max-output", "1")
    journal = tmp_path / "capped.jsonl"
    records = record_journal(kc, ["for i in range(3000):\n    print(str(i) * 300)",
                                  "print('after')"],
                             journal, cgroups=ku.cgroups_available(), max_output_mib=1)
    notes = [o for o in records[0]["outputs"] if o["msg_type"] == "stream"
             and "output limit" in o["content"]["text"]]
    assert len(notes) == 1, records[0]["outputs"][-3:]
    proc = replay(journal)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[:2] == ["[1] same", "[2] same"]


def test_cells_that_never_ran_are_skipped(daemon, tmp_path):
    """The cap ends the journal ("reason": "cap"); a refused cell, recorded
    with a null count as the writer does for cells that never reached an
    interpreter, is listed as skipped and does not count."""
    d = daemon()
    conv = d.control.start(max_executions=2)
    t = ku.Tracker(d.client(conv["connection"]))
    for code in ("a = 1", "print(a)", "print('refused')"):
        t.run(code, timeout=60)
    d.control.stop(conv["id"])
    recs = [json.loads(l) for l in open(conv["journal"]).read().splitlines()]
    assert recs[-1]["type"] == "end" and recs[-1]["reason"] == "cap", recs[-1]
    refused = _record(None, "print('refused')", [{"msg_type": "error", "content": {
        "ename": "ExecutionLimitReached", "evalue": "cap", "traceback": []}}],
        "error", "ExecutionLimitReached")
    journal = tmp_path / "capped.jsonl"
    journal.write_text("".join(json.dumps(r) + "\n" for r in recs[:-1] + [refused]))
    proc = replay(journal)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "[1] same", "[2] same",
        "[-] skipped: not run in the original (ExecutionLimitReached)",
        "replayed 2 cells: 2 same, 0 different, 0 errors; 1 skipped"], proc.stdout
    out = tmp_path / "export"
    out.mkdir()
    nb, _ = export_and_check(journal, out)
    assert [c.execution_count for c in nb.cells] == [1, 2, None]
    assert nb.cells[2].outputs[0]["ename"] == "ExecutionLimitReached"


@pytest.fixture
def data_dir():
    """A folder for /data that the jail can open (its outer user cannot
    traverse pytest's private temporary directory)."""
    d = Path(tempfile.mkdtemp(prefix="sandcell-data-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_replay_data_folder(tmp_path, data_dir):
    """The recorded data folder is mounted at /data again; a folder that is
    gone is refused (exit 2) unless --data names another."""
    data = data_dir
    (data / "x.txt").write_text("recorded\n")
    header = json.loads((JOURNALS / "basic.jsonl").read_text().splitlines()[0])
    header["limits"]["data_dir"] = str(tmp_path / "gone")
    cell = _record(1, "print(open('/data/x.txt').read(), end='')",
                   [{"msg_type": "stream", "content": {"name": "stdout", "text": "recorded\n"}}])
    journal = tmp_path / "data.jsonl"
    journal.write_text(json.dumps(header) + "\n" + json.dumps(cell) + "\n")
    proc = replay(journal)
    assert proc.returncode == 2 and "gone" in proc.stderr and "--data" in proc.stderr, proc.stderr
    proc = replay(journal, "--data", data)
    assert proc.returncode == 0 and proc.stdout.startswith("[1] same\n"), proc.stdout + proc.stderr
    (data / "x.txt").write_text("changed\n")
    proc = replay(journal, "--data", data)
    assert proc.returncode == 1 and "-recorded" in proc.stdout and "+changed" in proc.stdout
