"""Output is never lost for the characters it holds: NUL and every other
control character, bytes that are not UTF-8 and lone surrogates reach
jupyter_client as ipykernel sends them (NUL as \\u0000 in the JSON, what is
not UTF-8 as U+FFFD) along with everything sent with them, and the journal
and its exported notebook hold the same.

Run with SANDCELL_TEST_KERNEL=python3 the shared cases check ipykernel
itself, which is what they are compared with; cases where ipykernel fails
(a lone high surrogate breaks its session's packer, its streams have no
`buffer`) are sandcell-only."""

import json
import subprocess

import nbformat
import pytest

import kernel_util as ku
from conftest import stop_kernel

CONTROLS = "".join(chr(i) for i in range(32)) + "\x7f\x85\x9b"

# (cell, stream text on stdout): each cell prints a marker after the
# character under test, so a dropped message shows as a missing marker.
STREAMS = [
    ("print('a\\x00b'); print('after')", "a\x00b\nafter\n"),
    ("import sys; sys.stdout.write(%r); print('|after')" % CONTROLS, CONTROLS + "|after\n"),
    ("print('\\x1b[31mred\\x1b[0m \\x1b]52;c;eA==\\x07 \\x08\\x0c'); print('after')",
     "\x1b[31mred\x1b[0m \x1b]52;c;eA==\x07 \x08\x0c\nafter\n"),
    ("print('x\\udcffy'); print('after')", "x\ufffdy\nafter\n"),
]

SANDCELL_STREAMS = [
    ("print('x\\ud800y\\udfff'); print('after')", "x\ufffdy\ufffd\nafter\n"),
    ("import sys; sys.stdout.buffer.write(b'p\\xffq\\xe2\\x82\\n'); print('after')",
     "p\ufffdq\ufffd\nafter\n"),
    # a character cut between two writes is joined
    ("import sys; b = sys.stdout.buffer; b.write(b'\\xe2\\x82'); b.write(b'\\xac\\n');"
     " b.flush(); print('after')", "\u20ac\nafter\n"),
    # ... and one left unfinished at the end of the cell is U+FFFD
    ("import sys; print('before'); sys.stdout.buffer.write(b'\\xe2\\x82')", "before\n\ufffd"),
]

DISPLAY_NUL = ("from IPython.display import display\n"
               "display({'text/plain': 'd\\x00e', 'text/html': '<b>\\x00</b>'}, raw=True)\n"
               "print('after')")

DATAFRAME_NUL = "import pandas as pd\npd.DataFrame({'a\\x00': ['v\\x00w']})"

DATAFRAME_SURROGATE = "import pandas as pd\npd.DataFrame({'col': ['v\\ud800w']})"

ERROR_NUL = "raise ValueError('e\\x00f\\x1b[0m')"


@pytest.fixture(scope="module")
def kc(jupyter_env):
    km, client = ku.start_new_kernel(kernel_name=ku.KERNEL_NAME, startup_timeout=ku.TIMEOUT)
    try:
        yield client
    finally:
        stop_kernel(km, client)


def run(kc, code):
    """Runs |code| with execute_interactive (which must not raise); returns
    (reply content, [(msg_type, content)] of its outputs)."""
    outputs = []

    def hook(msg):
        if msg["msg_type"] not in ("status", "execute_input"):
            outputs.append((msg["msg_type"], msg["content"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=ku.TIMEOUT)
    return reply["content"], outputs


def stdout_of(outputs):
    return "".join(c["text"] for t, c in outputs if t == "stream" and c["name"] == "stdout")


@pytest.mark.parametrize("code, text", STREAMS, ids=["nul", "controls", "escapes", "escaped-byte"])
def test_stream_characters_arrive_as_ipykernel_sends_them(kc, code, text):
    reply, outputs = run(kc, code)
    assert reply["status"] == "ok", (reply, outputs)
    assert stdout_of(outputs) == text, outputs


@ku.requires_sandcell
@pytest.mark.parametrize("code, text", SANDCELL_STREAMS,
                         ids=["lone-surrogates", "buffer-bad-bytes", "buffer-split", "buffer-tail"])
def test_surrogates_and_bad_bytes_become_replacement_characters(kc, code, text):
    reply, outputs = run(kc, code)
    assert reply["status"] == "ok", (reply, outputs)
    assert stdout_of(outputs) == text, outputs


def test_display_with_nul_is_published(kc):
    reply, outputs = run(kc, DISPLAY_NUL)
    assert reply["status"] == "ok", (reply, outputs)
    displays = [c for t, c in outputs if t == "display_data"]
    assert [d["data"] for d in displays] == [{"text/plain": "d\x00e",
                                              "text/html": "<b>\x00</b>"}], outputs
    assert stdout_of(outputs) == "after\n"


def test_dataframe_with_nul_is_shown(kc):
    reply, outputs = run(kc, DATAFRAME_NUL)
    assert reply["status"] == "ok", (reply, outputs)
    results = [c for t, c in outputs if t == "execute_result"]
    assert len(results) == 1, outputs
    assert "v\x00w" in results[0]["data"]["text/plain"], results
    assert "v\x00w" in results[0]["data"]["text/html"], results


@ku.requires_sandcell
def test_dataframe_and_display_with_lone_surrogates_are_shown(kc):
    reply, outputs = run(kc, DATAFRAME_SURROGATE)
    assert reply["status"] == "ok", (reply, outputs)
    results = [c for t, c in outputs if t == "execute_result"]
    assert len(results) == 1 and "v\ufffdw" in results[0]["data"]["text/plain"], outputs
    reply, outputs = run(kc, "from IPython.display import display\n"
                             "display({'text/plain': 'd\\x00\\ud800'}, raw=True)")
    assert [c["data"] for t, c in outputs if t == "display_data"] == [
        {"text/plain": "d\x00\ufffd"}], outputs


def test_error_with_nul_is_reported(kc):
    reply, outputs = run(kc, ERROR_NUL)
    assert reply["status"] == "error", (reply, outputs)
    assert reply["evalue"] == "e\x00f\x1b[0m", reply
    errors = [c for t, c in outputs if t == "error"]
    assert len(errors) == 1 and errors[0]["evalue"] == "e\x00f\x1b[0m", outputs


@ku.requires_sandcell  # ipykernel keeps no outputs in its history unless configured to
def test_history_keeps_a_result_with_nul(kc):
    code = "class R:\n    def __repr__(self):\n        return 'g\\x00h'\nR()"
    reply, outputs = run(kc, code)
    assert reply["status"] == "ok", (reply, outputs)
    assert [c["data"]["text/plain"] for t, c in outputs if t == "execute_result"] == ["g\x00h"]
    msg_id = kc.history(hist_access_type="tail", n=1, output=True)
    while True:
        msg = kc.get_shell_msg(timeout=ku.TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id:
            break
    history = msg["content"]["history"]
    assert history[-1][2] == [code, "g\x00h"], history


def test_the_kernel_still_answers(kc):
    reply, outputs = run(kc, "print('still here')")
    assert stdout_of(outputs) == "still here\n"


# ------------------------------------------------------------ journal, export

@ku.requires_sandcell
def test_journal_and_export_hold_the_same(start_kernel, tmp_path):
    journals = tmp_path / "journals"
    km, client = start_kernel("--journal-dir", journals)
    cells = [code for code, _ in STREAMS + SANDCELL_STREAMS] + [DISPLAY_NUL, DATAFRAME_NUL,
                                                                   DATAFRAME_SURROGATE, ERROR_NUL]
    sent = {}
    for code in cells:
        _, sent[code] = run(client, code)
    [path] = list(journals.iterdir())
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    recorded = {r["code"]: [(o["msg_type"], o["content"]) for o in r["outputs"]]
                for r in records if r["type"] == "execution"}
    assert list(recorded) == cells
    for code in cells:
        got = [(t, {k: v for k, v in c.items() if k != "execution_count"})
               for t, c in recorded[code]]
        want = [(t, {k: v for k, v in c.items() if k != "execution_count"})
                for t, c in sent[code]]
        assert got == want, code

    out = tmp_path / "encoded.ipynb"
    proc = subprocess.run([ku.SANDCELL, "export", str(path), "-o", str(out)],
                          capture_output=True, text=True, timeout=ku.TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    by_code = {cell.source: cell.outputs for cell in nb.cells}
    assert by_code[STREAMS[0][0]][0]["text"] == "a\x00b\nafter\n"
    assert by_code[DATAFRAME_NUL][0]["data"]["text/plain"].count("v\x00w") == 1
    assert by_code[ERROR_NUL][0]["evalue"] == "e\x00f\x1b[0m"
    assert "\\u0000" in out.read_text(), "NUL is written as \\u0000"
