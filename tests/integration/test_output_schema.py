"""Outputs that are not valid Jupyter content never reach a client as they
are: from the display API or forged by a cell on the interpreter's
channel, each becomes an InvalidOutput error output naming the first
problem, published and journaled in its place, and the cell goes on.
jupyter_client's execute_interactive (with its default output hook, which
indexes what it gets) does not raise on any of them.

sandcell-only: ipykernel publishes such content as it comes."""

import json
import subprocess
import time

import nbformat
import pytest

import kernel_util as ku
from conftest import stop_kernel

pytestmark = ku.requires_sandcell

PREFIX = "the interpreter sent an output sandcell cannot use: "

# A cell that writes one raw datagram (the channel's "." marker: a whole
# record) to the interpreter's channel, as a hostile cell can.
RAW = """
import os, stat
def _raw(data):
    for fd in map(int, os.listdir('/proc/self/fd')):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, b'.' + data)
                return
        except OSError:
            pass
    raise RuntimeError('no channel found')
"""

FORGE = "import _sandcell\n_sandcell.send({!r})\nprint('after')"


def forged(record):
    return FORGE.format(record if isinstance(record, str) else json.dumps(record))


# (cell, evalue after PREFIX): the display API, then forged records.
INVALID = [
    ("from IPython.display import publish_display_data\n"
     "publish_display_data({'text/plain': 5})\nprint('after')",
     "display_data.data['text/plain'] is a number, not a string"),
    ("from IPython.display import publish_display_data\n"
     "publish_display_data('just text')\nprint('after')",
     "display_data.data is a string, not an object"),
    ("from IPython.display import publish_display_data\n"
     "publish_display_data({'text/plain': 'x'}, metadata=3)\nprint('after')",
     "display_data.metadata is a number, not an object"),
    ("from IPython.display import display\n"
     "display({'text/plain': ['a', 'b']}, raw=True)\nprint('after')",
     "display_data.data['text/plain'] is an array, not a string"),
    ("from IPython.display import display\n"
     "display({'not a mime type': 'x'}, raw=True)\nprint('after')",
     "display_data.data has a key that is not a mime type: 'not a mime type'"),
    ("from IPython.display import display\n"
     "h = display('x', display_id=True)\nh.update({'text/html': None}, raw=True)\nprint('after')",
     "update_display_data.data['text/html'] is null, not a string"),
    (forged({"type": "display_data", "content": {"data": "x", "metadata": {}}}),
     "display_data.data is a string, not an object"),
    (forged({"type": "error", "content": {"ename": 1, "evalue": "v", "traceback": []}}),
     "error.ename is a number, not a string"),
    (forged({"type": "error", "content": {"ename": "E", "evalue": "v", "traceback": [1]}}),
     "error.traceback[0] is a number, not a string"),
    (forged({"type": "stream", "content": {"name": "stdin", "text": "x"}}),
     "stream.name is 'stdin', not stdout or stderr"),
    (forged({"type": "execute_result", "content": {"data": {"text/plain": {}}}}),
     "execute_result.data['text/plain'] is an object, not a string"),
    (forged({"type": "clear_output", "content": {"wait": "yes"}}),
     "clear_output.wait is a string, not a boolean"),
    (forged({"type": "input_request", "content": {"prompt": 3}}),
     "input_request.prompt is a number, not a string"),
    (forged('{"type": "stream", "content": '), "the record is not JSON ("),
    (forged({"type": "status", "content": {"execution_state": "idle"}}),
     "the record's type is not one an interpreter sends"),
    (forged({"type": "stream", "content": []}), "the record's content is not an object"),
]

IDS = ["number-data", "string-data", "number-metadata", "list-value", "bad-mime",
       "update-null", "forged-display", "forged-ename", "forged-traceback", "forged-stream",
       "forged-result", "forged-clear", "forged-input", "not-json", "unknown-type",
       "content-list"]

# Valid content the check must let through.
VALID = [
    ("from IPython.display import display\n"
     "display({'application/json': {'a': [1, None]}, 'text/plain': 'j'}, raw=True)",
     {"application/json": {"a": [1, None]}, "text/plain": "j"}),
    ("from IPython.display import display\n"
     "display({'application/vnd.plotly.v1+json': {'data': []}, 'text/plain': 'p'}, raw=True)",
     {"application/vnd.plotly.v1+json": {"data": []}, "text/plain": "p"}),
    (forged({"type": "display_data", "content": {"data": {"text/plain": "ok"}, "extra": 1}}),
     {"text/plain": "ok"}),
]


@pytest.fixture(scope="module")
def kc(jupyter_env):
    km, client = ku.start_new_kernel(kernel_name=ku.KERNEL_NAME, startup_timeout=ku.TIMEOUT)
    try:
        yield client
    finally:
        stop_kernel(km, client)


def run(kc, code):
    """execute_interactive with jupyter_client's default output hook (it
    must not raise) and a record of what came: (reply content, outputs)."""
    outputs = []

    def hook(msg):
        if msg["msg_type"] not in ("status", "execute_input"):
            outputs.append((msg["msg_type"], msg["content"]))
        kc._output_hook_default(msg)

    reply = kc.execute_interactive(code, output_hook=hook, timeout=ku.TIMEOUT)
    return reply["content"], outputs


@pytest.mark.parametrize("code, problem", INVALID, ids=IDS)
def test_invalid_content_becomes_an_error_output(kc, code, problem):
    reply, outputs = run(kc, code)
    assert reply["status"] == "ok", (reply, outputs)
    errors = [c for t, c in outputs if t == "error"]
    assert len(errors) == 1, outputs
    assert errors[0]["ename"] == "InvalidOutput", errors
    assert errors[0]["evalue"].startswith(PREFIX + problem), errors
    assert errors[0]["traceback"] == ["InvalidOutput: " + errors[0]["evalue"]]
    assert [c["text"] for t, c in outputs if t == "stream"][-1:] == ["after\n"], outputs
    assert not [t for t, _ in outputs if t not in ("error", "stream", "display_data")], outputs


@pytest.mark.parametrize("code, data", VALID, ids=["json", "plotly", "extra-key"])
def test_valid_content_passes(kc, code, data):
    reply, outputs = run(kc, code)
    assert reply["status"] == "ok", (reply, outputs)
    assert [c["data"] for t, c in outputs if t == "display_data"] == [data], outputs


def test_bad_bytes_on_the_channel_are_replaced(kc):
    code = RAW + ("_raw(b'{\"type\":\"stream\",\"content\":{\"name\":\"stdout\","
                  "\"text\":\"a\\\\u0000b\\xffc\\\\ud800d\\\\n\"}}')\nprint('after')")
    reply, outputs = run(kc, code)
    assert reply["status"] == "ok", (reply, outputs)
    text = "".join(c["text"] for t, c in outputs if t == "stream")
    assert text == "a\x00b\ufffdc\ufffdd\nafter\n", outputs


def test_repr_method_of_a_wrong_type_is_skipped_as_ipython_does(kc):
    code = ("class Odd:\n"
            "    def _repr_html_(self): return 5\n"
            "    def __repr__(self): return 'odd'\n"
            "Odd()")
    reply, outputs = run(kc, code)
    assert reply["status"] == "ok", (reply, outputs)
    results = [c for t, c in outputs if t == "execute_result"]
    assert [r["data"] for r in results] == [{"text/plain": "odd"}], outputs
    stderr = "".join(c["text"] for t, c in outputs if t == "stream" and c["name"] == "stderr")
    assert "Odd._repr_html_ returned int, not str; ignored" in stderr


def test_forged_reply_that_is_invalid_becomes_an_error_reply(start_kernel):
    km, client = start_kernel()
    # The forged reply, numbered as the running request (the number is in
    # the runtime's frames), ends the request as far as the daemon knows;
    # the cell's own reply, after the sleep, is ignored.
    code = ("import _sandcell, json, sys\n"
            "f = sys._getframe()\n"
            "while 'request' not in f.f_locals:\n"
            "    f = f.f_back\n"
            "_sandcell.send(json.dumps({'type': 'reply', 'seq': f.f_locals['request']['seq'],\n"
            "                           'content': {'status': 5}}))\n"
            "print('after')")
    reply, outputs = run(client, code + "\nimport time; time.sleep(0.5)")
    assert reply["status"] == "error", reply
    assert reply["ename"] == "InvalidOutput", reply
    assert reply["evalue"] == ("the interpreter sent a reply sandcell cannot use: "
                               "execute_reply.status is a number, not a string"), reply
    errors = [c for t, c in outputs if t == "error"]
    assert [e["evalue"] for e in errors] == [reply["evalue"]], outputs


def test_journal_holds_the_error_in_place_of_the_invalid_output(start_kernel, tmp_path):
    journals = tmp_path / "journals"
    km, client = start_kernel("--journal-dir", journals)
    cells = [INVALID[0][0], INVALID[7][0], VALID[0][0]]
    sent = {code: run(client, code)[1] for code in cells}
    [path] = list(journals.iterdir())
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    recorded = {r["code"]: [(o["msg_type"], o["content"]) for o in r["outputs"]]
                for r in records if r["type"] == "execution"}
    assert recorded == sent
    assert recorded[INVALID[0][0]][0][1]["ename"] == "InvalidOutput"

    out = tmp_path / "schema.ipynb"
    proc = subprocess.run([ku.SANDCELL, "export", str(path), "-o", str(out)],
                          capture_output=True, text=True, timeout=ku.TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0].outputs[0]
    assert first["output_type"] == "error" and first["ename"] == "InvalidOutput", first


def test_invalid_records_count_against_the_output_limit(start_kernel):
    km, client = start_kernel("--max-output", "1")
    bad = json.dumps({"type": "display_data", "content": {"data": "x" * 2000}})
    code = f"import _sandcell\nfor _ in range(1000):\n    _sandcell.send({bad!r})\n"
    reply, outputs = run(client, code)
    assert reply["status"] == "ok", reply
    errors = [c for t, c in outputs if t == "error"]
    assert 100 < len(errors) < 600, len(errors)  # about 1 MiB of 2 KiB records
    assert all(e["ename"] == "InvalidOutput" for e in errors)
    notes = [c["text"] for t, c in outputs if t == "stream" and c["name"] == "stderr"]
    assert any("reached the output limit of 1 MiB" in n for n in notes), notes
    reply, outputs = run(client, "print('next cell')")
    assert [c["text"] for t, c in outputs if t == "stream"] == ["next cell\n"], outputs


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def test_a_flood_of_bad_records_does_not_flood_the_log(daemon):
    """Every bad record becomes an error output for the client, but the
    daemon's log takes at most 20 warnings per conversation in 10 s, and
    says how many it left out when the conversation ends."""
    d = daemon()
    cid = d.control.start()["id"]
    t = ku.Tracker(d.client(d.control.ok("connection_request", {"id": cid})["connection"]))
    bad = json.dumps({"type": "display_data", "content": {"data": "x", "metadata": {}}})
    res = t.run_ok(f"import _sandcell\nfor i in range(500):\n    _sandcell.send({bad!r})\n"
                   "print('after')")
    errors = res.of_type("error")
    assert len(errors) == 500, res.describe()
    assert all(e["content"]["evalue"] == PREFIX + "display_data.data is a string, not an object"
               for e in errors)
    assert res.stream_text() == "after\n"
    logged = d.stderr_text(tail=1 << 20).count(PREFIX)
    assert logged == 20, d.stderr_text()
    d.control.stop(cid)
    deadline = time.monotonic() + ku.TIMEOUT
    while "480 more warnings" not in d.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ("480 more warnings about what the interpreter sent were not logged (at most 20 every "
            "10 s)") in d.stderr_text()
    assert d.stderr_text(tail=1 << 20).count(PREFIX) == 20
