"""execute_request end to end through jupyter_client: streams while running,
results, rich display, matplotlib, errors, silent/store_history, user
expressions, stop_on_error, history, and the introspection requests
(complete, inspect, is_complete)."""

import pytest

import kernel_util as ku


@pytest.fixture
def t(kernel):
    """A message tracker on a fresh kernel."""
    km, kc = kernel
    return ku.Tracker(kc)


# ---------------------------------------------------------------- streams


def test_stdout_is_streamed_while_the_cell_runs(t):
    code = "import time\nfor i in range(3):\n    print('tick', i)\n    time.sleep(1)\n"
    res = t.run_ok(code)
    assert res.stream_text("stdout") == "tick 0\ntick 1\ntick 2\n"

    def arrival(text):
        for when, msg in res.iopub_timed:
            if msg["msg_type"] == "stream" and text in msg["content"]["text"]:
                return when
        raise AssertionError(f"{text!r} never arrived: {res.describe()}")

    first, last = arrival("tick 0"), arrival("tick 2")
    # The first line must not wait for the end of the cell (~3 s of sleeps).
    assert res.reply_time - first >= 1.5, (
        f"first line arrived only {res.reply_time - first:.2f}s before the reply"
    )
    assert last - first >= 1.5, f"lines arrived {last - first:.2f}s apart, not spread out"
    assert len(res.of_type("stream")) >= 2


def test_stderr_stream(t):
    res = t.run_ok("import sys\nprint('oops', file=sys.stderr)\nprint('fine')")
    assert res.stream_text("stderr") == "oops\n"
    assert res.stream_text("stdout") == "fine\n"


def test_execute_input_and_execution_count(t):
    first = t.run_ok("a = 1")
    inputs = first.of_type("execute_input")
    assert len(inputs) == 1
    assert inputs[0]["content"]["code"] == "a = 1"
    count = first.content["execution_count"]
    assert isinstance(count, int) and count >= 1
    assert inputs[0]["content"]["execution_count"] == count
    second = t.run_ok("b = 2")
    assert second.content["execution_count"] == count + 1
    assert second.of_type("execute_input")[0]["content"]["execution_count"] == count + 1


def test_idle_comes_after_every_output(t):
    code = (
        "for i in range(300):\n    print('line', i)\n"
        "import sys\nsys.stderr.write('err\\n')\n"
        "display('shown')\n'last'"
    )
    msg_id = t.execute(code)
    res = t.finish(msg_id)
    assert res.status == "ok", res.describe()
    t.drain(0.5)  # anything late for this request would land here
    msgs = t.iopub_of(msg_id)
    types = [m["msg_type"] for m in msgs]
    assert msgs[0]["msg_type"] == "status" and msgs[0]["content"]["execution_state"] == "busy"
    assert msgs[-1]["msg_type"] == "status" and msgs[-1]["content"]["execution_state"] == "idle"
    assert types.count("status") == 2, types
    stdout = [m["content"]["text"] for m in msgs
              if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"]
    assert "".join(stdout) == "".join(f"line {i}\n" for i in range(300))
    assert "display_data" in types and "execute_result" in types


# ---------------------------------------------------------------- results


def test_execute_result_text_plain(t):
    res = t.run_ok("1+2")
    results = res.of_type("execute_result")
    assert len(results) == 1
    assert results[0]["content"]["data"]["text/plain"] == "3"
    assert results[0]["content"]["execution_count"] == res.content["execution_count"]


def test_only_the_last_expression_is_shown(t):
    res = t.run_ok("10\nprint('between')\n20")
    assert res.result_data()["text/plain"] == "20"
    assert res.stream_text() == "between\n"


@pytest.mark.parametrize("code", ["x = 5", "None", "def f():\n    return 1", "import os"])
def test_no_execute_result_without_a_value(t, code):
    res = t.run_ok(code)
    assert res.of_type("execute_result") == [], res.describe()


def test_dataframe_result_has_html(t):
    res = t.run_ok(
        "import pandas as pd\npd.DataFrame({'name': ['ann', 'bob'], 'score': [11, 22]})"
    )
    data = res.result_data()
    assert "<table" in data["text/html"]
    assert "bob" in data["text/html"] and "22" in data["text/html"]
    assert "bob" in data["text/plain"]


# ---------------------------------------------------------------- display


def test_display_builtin(t):
    res = t.run_ok("display(42)\ndisplay('text', {'k': 1})")
    shown = [m["content"]["data"]["text/plain"] for m in res.of_type("display_data")]
    assert shown == ["42", "'text'", "{'k': 1}"]
    assert res.of_type("execute_result") == []


def test_ipython_display_rich_types(t):
    code = (
        "import base64\n"
        "from IPython.display import display, HTML, Image, Markdown\n"
        "display(HTML('<b>bold</b>'))\n"
        "display(Markdown('# Title'))\n"
        f"display(Image(data=base64.b64decode('{ku.TINY_PNG_B64}')))\n"
    )
    res = t.run_ok(code)
    shown = [m["content"]["data"] for m in res.of_type("display_data")]
    assert len(shown) == 3, res.describe()
    assert shown[0]["text/html"] == "<b>bold</b>"
    assert shown[1]["text/markdown"] == "# Title"
    assert ku.decode_png(shown[2]["image/png"]) == ku.tiny_png()
    for m in res.of_type("display_data"):
        assert isinstance(m["content"]["metadata"], dict)


def test_clear_output(t):
    res = t.run_ok(
        "from IPython.display import clear_output\nprint('before')\nclear_output()\nprint('after')"
    )
    types = [m["msg_type"] for m in res.outputs]
    assert types.count("clear_output") == 1, types
    idx = types.index("clear_output")
    before = "".join(m["content"].get("text", "") for m in res.outputs[:idx])
    after = "".join(m["content"].get("text", "") for m in res.outputs[idx + 1 :])
    assert "before" in before and "after" not in before
    assert "after" in after
    assert res.outputs[idx]["content"]["wait"] is False


def test_matplotlib_figure_at_end_of_cell(t):
    res = t.run_ok(
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "_ = ax.plot([1, 2, 3], [3, 1, 2])"
    )
    images = [m for m in res.of_type("display_data") if "image/png" in m["content"]["data"]]
    assert len(images) == 1, res.describe()
    ku.decode_png(images[0]["content"]["data"]["image/png"])
    # The figure was closed after being shown.
    after = t.run_ok("import matplotlib.pyplot as plt\nlen(plt.get_fignums())")
    assert after.result_data()["text/plain"] == "0"
    assert [m for m in after.of_type("display_data")] == []


def test_plt_show_gives_one_image(t):
    res = t.run_ok("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    images = [m for m in res.outputs
              if m["msg_type"] in ("display_data", "execute_result")
              and "image/png" in m["content"]["data"]]
    assert len(images) == 1, res.describe()
    ku.decode_png(images[0]["content"]["data"]["image/png"])


# ---------------------------------------------------------------- errors


def test_error_has_only_user_frames(t):
    t.run_ok("kept = 5")
    code = "def inner():\n    return 1 / 0\n\ndef outer():\n    return inner()\n\nouter()"
    res = t.run(code)
    assert res.status == "error", res.describe()
    assert res.content["ename"] == "ZeroDivisionError"
    assert res.content["evalue"] == "division by zero"
    err = res.error()
    assert err["ename"] == "ZeroDivisionError"
    assert err["evalue"] == "division by zero"
    assert isinstance(err["traceback"], list) and all(isinstance(s, str) for s in err["traceback"])
    text = ku.strip_ansi("\n".join(err["traceback"]))
    assert "sandcell_runtime" not in text, text
    assert "/usr/lib/python3" not in text, f"library frames in the traceback:\n{text}"
    assert "inner" in text and "outer" in text, text
    assert "ZeroDivisionError" in text
    assert res.of_type("execute_result") == []
    # An ordinary error keeps the interpreter and its state.
    assert t.run_ok("kept").result_data()["text/plain"] == "5"


def test_syntax_error(t):
    res = t.run("x = (1 + * 2)")
    assert res.status == "error"
    err = res.error()
    assert err["ename"] == "SyntaxError"
    assert "sandcell_runtime" not in ku.strip_ansi("\n".join(err["traceback"]))


def test_exception_raised_by_user(t):
    res = t.run("class MyError(Exception):\n    pass\n\nraise MyError('custom message')")
    assert res.status == "error"
    err = res.error()
    assert err["ename"] == "MyError"
    assert err["evalue"] == "custom message"


# ---------------------------------------------------------------- request flags


def test_silent_execution(t):
    count = t.run_ok("a = 1").content["execution_count"]
    res = t.run("b = 2\nb * 10", silent=True)
    assert res.status == "ok"
    assert res.of_type("execute_input") == []
    assert res.of_type("execute_result") == []
    nxt = t.run_ok("a + b")
    assert nxt.content["execution_count"] == count + 1
    assert nxt.result_data()["text/plain"] == "3"


def test_store_history_false_does_not_bump_count(t):
    count = t.run_ok("a = 1").content["execution_count"]
    res = t.run_ok("a = 2\na", store_history=False)
    assert res.result_data()["text/plain"] == "2"
    nxt = t.run_ok("a")
    assert nxt.content["execution_count"] == count + 1


def test_user_expressions(t):
    res = t.run_ok("a = 41", user_expressions={"good": "a + 1", "bad": "1/0"})
    exprs = res.content["user_expressions"]
    assert exprs["good"]["status"] == "ok"
    assert exprs["good"]["data"]["text/plain"] == "42"
    assert exprs["bad"]["status"] == "error"
    assert exprs["bad"]["ename"] == "ZeroDivisionError"


def test_stop_on_error_aborts_the_queue(t):
    # Requests that reached the kernel before the error reply are aborted
    # (as ipykernel does); the first cell runs long enough that the other
    # two have surely arrived, even on a loaded machine.
    ids = [t.execute("import time; time.sleep(0.3); raise ValueError('first')"),
           t.execute("a = 1"), t.execute("b = 2")]
    replies = [t.wait_reply(i) for i in ids]
    assert [r["content"]["status"] for r in replies] == ["error", "aborted", "aborted"]
    for i in ids:
        t.wait(lambda: t.is_idle(i), what="idle")
    # The queue recovers and the aborted cells did not run.
    res = t.run_ok("('a' in globals(), 'b' in globals())")
    assert res.result_data()["text/plain"] == "(False, False)"


def test_stop_on_error_false_keeps_going(t):
    ids = [t.execute("raise ValueError('first')", stop_on_error=False), t.execute("a = 1")]
    replies = [t.wait_reply(i) for i in ids]
    assert [r["content"]["status"] for r in replies] == ["error", "ok"]
    assert t.run_ok("a").result_data()["text/plain"] == "1"


# ---------------------------------------------------------------- history


def history(t, **kwargs):
    msg_id = t.kc.history(**kwargs)
    reply = t.wait_reply(msg_id)
    assert reply["msg_type"] == "history_reply"
    assert reply["content"]["status"] == "ok"
    return reply["content"]["history"]


def test_history_tail_range_search(t):
    cells = ["hist_a = 1", "hist_b = 2", "hist_a + hist_b"]
    counts = [t.run_ok(c).content["execution_count"] for c in cells]
    t.run_ok("hist_hidden = 3", store_history=False)

    tail = history(t, hist_access_type="tail", n=3, raw=True, output=False)
    assert [h[2] for h in tail] == cells
    assert [h[1] for h in tail] == counts
    session = tail[0][0]
    assert all(h[0] == session for h in tail)

    with_output = history(t, hist_access_type="tail", n=1, raw=True, output=True)
    assert len(with_output) == 1
    assert with_output[0][2][0] == cells[2]
    assert len(with_output[0][2]) == 2

    rng = history(
        t, hist_access_type="range", session=session, start=counts[1], stop=counts[1] + 1,
        raw=True, output=False,
    )
    assert [(h[1], h[2]) for h in rng] == [(counts[1], "hist_b = 2")]

    found = history(t, hist_access_type="search", pattern="hist_b*", raw=True, output=False)
    assert [h[2] for h in found] == ["hist_b = 2"]
    found = history(t, hist_access_type="search", pattern="*hist_a*", raw=True, output=False)
    assert [h[2] for h in found] == ["hist_a = 1", "hist_a + hist_b"]
    hidden = history(t, hist_access_type="search", pattern="hist_hidden*", raw=True, output=False)
    assert hidden == []


# ---------------------------------------------------------------- introspection


def complete(t, code, cursor_pos=None):
    msg_id = t.kc.complete(code, cursor_pos)
    reply = t.wait_reply(msg_id)
    assert reply["msg_type"] == "complete_reply"
    assert reply["content"]["status"] == "ok"
    return reply["content"]


def test_complete_user_variable(t):
    t.run_ok("my_variable_xyz = 1\nmy_other_xyz = 2")
    c = complete(t, "my_var")
    assert c["matches"] == ["my_variable_xyz"]
    assert (c["cursor_start"], c["cursor_end"]) == (0, 6)
    c = complete(t, "y = my_ot + 1", cursor_pos=9)
    assert "my_other_xyz" in c["matches"]
    assert (c["cursor_start"], c["cursor_end"]) == (4, 9)


def test_complete_attribute(t):
    t.run_ok("import os")
    code = "os.pa"
    c = complete(t, code)
    assert c["cursor_end"] == len(code)
    completed = {code[: c["cursor_start"]] + m for m in c["matches"]}
    assert "os.path" in completed, c
    assert all(s.startswith("os.pa") for s in completed), c


def inspect(t, code, cursor_pos=None, detail_level=0):
    msg_id = t.kc.inspect(code, cursor_pos, detail_level)
    reply = t.wait_reply(msg_id)
    assert reply["msg_type"] == "inspect_reply"
    assert reply["content"]["status"] == "ok"
    return reply["content"]


def test_inspect_user_function(t):
    t.run_ok('def documented(a, b=2):\n    """Returns the answer."""\n    return 42')
    r = inspect(t, "documented")
    assert r["found"] is True
    text = ku.strip_ansi(r["data"]["text/plain"])
    assert "Returns the answer." in text
    assert "documented(a, b=2)" in text
    r = inspect(t, "x = documented(1)", cursor_pos=8)
    assert r["found"] is True


def test_inspect_unknown_name(t):
    r = inspect(t, "no_such_name_xyz")
    assert r["found"] is False
    assert r["data"] == {}


@pytest.mark.parametrize(
    "code,status",
    [
        ("x = 1", "complete"),
        ("for i in range(3):", "incomplete"),
        ("s = '''abc", "incomplete"),
        ("import = 7q", "invalid"),
    ],
)
def test_is_complete(t, code, status):
    msg_id = t.kc.is_complete(code)
    reply = t.wait_reply(msg_id)
    assert reply["msg_type"] == "is_complete_reply"
    assert reply["content"]["status"] == status
    if status == "incomplete":
        assert isinstance(reply["content"].get("indent"), str)
