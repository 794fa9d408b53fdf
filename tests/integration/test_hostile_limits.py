"""Sandbox escape corpus: limits that must not rest on the interpreter's word.

The interpreter is untrusted from its first cell: user code can write any
record to its channel (through the runtime's own ``_sandcell`` module or
straight to the socket), fork children that outlive the cell, and make
completion or inspection run its code (``__dir__``, ``__repr__``). Each test
below is one such trick against one limit: a forged reply or input_request
does not end or pause the time limit, a forked child cannot write after the
reply, complete and inspect are bounded by the time limit, user expressions
stopped by it say TimeoutError, an unanswered input() ends after the input
timeout, nothing in the jail can leave the process group the daemon stops
between cells, and no comm target of a cell is reachable.
(docs/design-decisions.md, "What the daemon believes from an interpreter".)
"""

import json
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

TICKS = "/workspace/sc-ticks"


def _channel_setup():
    return """
import os, socket, stat, json
def _sc_channel():
    for fd in range(64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return socket.socket(fileno=os.dup(fd))
        except OSError:
            pass
"""


# How a cell sends a forged record: through the runtime's own module, or
# written by hand to the channel socket (one datagram: '.' then the JSON).
FORGERS = {
    "_sandcell": "import _sandcell, json\ndef _sc_forge(rec):\n    _sandcell.send(json.dumps(rec))\n",
    "socket": _channel_setup() + "_sc_s = _sc_channel()\n"
              "def _sc_forge(rec):\n    _sc_s.send(b'.' + json.dumps(rec).encode())\n",
}

FORGED_REPLY = {"type": "reply", "content": {"status": "ok", "execution_count": 1,
                                             "user_expressions": {}, "payload": []}}

# The number of the running request, which the daemon matches replies by
# (to keep the honest runtime in step): no secret from user code, which
# finds it in the runtime's frames.
STEAL_SEQ = """
import sys
_sc_f = sys._getframe()
while 'request' not in _sc_f.f_locals:
    _sc_f = _sc_f.f_back
_sc_seq = _sc_f.f_locals['request']['seq']
del _sc_f
"""
FORGED_INPUT = {"type": "input_request", "content": {"prompt": "forged> ", "password": False}}

# Appends the wall-clock time to TICKS every 50 ms, for ever.
TICK_LOOP = f"""
import time
with open({TICKS!r}, 'a') as _sc_f:
    while True:
        _sc_f.write(f'{{time.time()}}\\n')
        _sc_f.flush()
        time.sleep(0.05)
"""


def _err(res):
    assert res.status == "error", f"the request did not fail: {res.describe()}"
    return res.content


# ------------------------------------------------------------ forged records


@pytest.mark.parametrize("how", sorted(FORGERS))
def test_a_forged_reply_does_not_end_the_time_limit(start_kernel, how):
    """A reply record without the running request's number is not the
    cell's end: the cell is still stopped at its limit."""
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    res = t.run(FORGERS[how] + f"_sc_forge({FORGED_REPLY!r})\nwhile True: pass", timeout=20)
    took = res.reply_time - res.sent_time
    err = _err(res)
    assert err["ename"] == "TimeoutError" and "3 s time limit" in err["evalue"], res.describe()
    assert 2.5 < took < 9, f"the time limit took {took:.1f} s"
    ku.assert_answers(t)


@pytest.mark.parametrize("how", sorted(FORGERS))
def test_a_forged_reply_does_not_let_the_cell_run_on(start_kernel, how):
    """The cell sends a reply of its own, numbered as the daemon expects,
    then loops. The daemon takes the record as the cell's end, but nothing
    of the interpreter runs until the next request, and that request's time
    limit stops the loop."""
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    res = t.run(FORGERS[how] + STEAL_SEQ + f"_sc_forge(dict({FORGED_REPLY!r}, seq=_sc_seq))\n"
                + TICK_LOOP, timeout=20)
    assert res.status == "ok", res.describe()  # the forged reply, taken at its word
    replied = time.time()
    time.sleep(5)  # past the 3 s limit: on the interpreter's word, the loop would run on
    resumed = time.time()
    nxt = t.run("1 + 1", timeout=20)
    took = nxt.reply_time - nxt.sent_time
    assert nxt.status == "error" and nxt.content["ename"] == "TimeoutError", nxt.describe()
    assert took < 9, f"the next request's time limit took {took:.1f} s"
    ticks = [float(x) for x in t.run_ok(f"print(open({TICKS!r}).read())").stream_text().split()]
    gap = [x for x in ticks if replied + 0.5 < x < resumed - 0.1]
    assert not gap, (f"the cell ran for {gap[-1] - gap[0]:.1f} s after its forged reply, "
                     f"while no request was in flight ({len(gap)} ticks)")
    ku.assert_answers(t)


@pytest.mark.parametrize("how", sorted(FORGERS))
def test_a_forged_input_request_does_not_pause_the_time_limit(start_kernel, how):
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    res = t.run(FORGERS[how] + f"_sc_forge({FORGED_INPUT!r})\nwhile True: pass", timeout=20)
    took = res.reply_time - res.sent_time
    err = _err(res)
    assert err["ename"] == "TimeoutError" and "3 s time limit" in err["evalue"], res.describe()
    assert 2.5 < took < 9, f"the time limit took {took:.1f} s"
    ku.assert_answers(t)


def test_input_does_not_pause_the_time_limit(start_kernel):
    km, kc = start_kernel("--timeout", "3", "--input-timeout", "60")
    t = ku.Tracker(kc)
    msg_id = t.execute("input('name? ')", allow_stdin=True)
    t.wait_stdin(msg_id, timeout=20)  # asked, and never answered
    res = t.finish(msg_id, timeout=20)
    took = res.reply_time - res.sent_time
    err = _err(res)
    assert err["ename"] == "TimeoutError" and "3 s time limit" in err["evalue"], res.describe()
    assert 2.5 < took < 9, f"the time limit took {took:.1f} s"
    ku.assert_answers(t)


def test_unanswered_input_ends_after_the_input_timeout(start_kernel):
    km, kc = start_kernel("--timeout", "0", "--input-timeout", "2")
    t = ku.Tracker(kc)
    t.run_ok("kept = 'state'")
    msg_id = t.execute("answer = input('name? ')", allow_stdin=True)
    t.wait_stdin(msg_id, timeout=20)
    res = t.finish(msg_id, timeout=20)
    took = res.reply_time - res.sent_time
    err = _err(res)
    assert err["ename"] == "TimeoutError" and "2 s input timeout" in err["evalue"], res.describe()
    assert res.error()["ename"] == "TimeoutError", res.describe()
    assert 1.5 < took < 8, f"the input timeout took {took:.1f} s"
    # A late answer is dropped; the state is kept.
    assert t.run_ok("kept").result_data()["text/plain"] == "'state'"
    ku.assert_answers(t)


def test_answered_input_still_works(start_kernel):
    km, kc = start_kernel("--timeout", "10")
    t = ku.Tracker(kc)
    msg_id = t.execute("print('hello', input('name? '))", allow_stdin=True)
    t.wait_stdin(msg_id, timeout=20)
    time.sleep(0.5)  # the interpreter is stopped meanwhile
    kc.input("Ada")
    res = t.finish(msg_id, timeout=20)
    assert res.status == "ok" and res.stream_text() == "hello Ada\n", res.describe()


# ------------------------------------------------------------ forked children


def _stream_bytes(msgs):
    return sum(len(m["content"]["text"].encode()) for m in msgs if m["msg_type"] == "stream")


def test_a_forked_child_cannot_write_after_the_reply(start_kernel):
    """A child forked by a cell writes 12 MiB once the cell has replied:
    nothing of it is published while no request is in flight, and what it
    writes during a later request counts against that request's 4 MiB."""
    km, kc = start_kernel("--max-output", "4", "--timeout", "10")
    t = ku.Tracker(kc)
    res = t.run_ok("""
import os, time
if os.fork() == 0:
    time.sleep(0.5)
    for _ in range(192):
        print('y' * 65535)
    os._exit(0)
""")
    t.drain(4)
    late = [m for msgs in t.iopub.values() for at, m in msgs
            if m["msg_type"] == "stream" and at > res.reply_time]
    assert not late, (f"{_stream_bytes(late)} bytes published after the cell's reply, with no "
                      f"request in flight")
    before = {k: len(v) for k, v in t.iopub.items()}
    nxt = t.run("import time; time.sleep(3)", timeout=30)
    t.drain(2)
    published = [m for k, msgs in t.iopub.items() for _, m in msgs[before.get(k, 0):]]
    total = _stream_bytes(published)
    assert total < 4.5 * (1 << 20), f"{total} bytes published under a 4 MiB output limit"
    assert nxt.status == "ok", nxt.describe()


def test_setsid_and_setpgid_fail_with_eperm(start_kernel):
    """Nothing in the jail can leave the interpreter's process group, which
    the daemon stops between cells. (In a child: the interpreter itself is a
    group leader, whose setsid fails anyway.)"""
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    res = t.run_ok("""
import os
def _sc_in_child(call):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            call()
            code = 0
        except OSError as e:
            code = e.errno
        os.write(w, str(code).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    out = os.read(r, 16).decode()
    os.close(r)
    return int(out)
print(_sc_in_child(os.setsid), _sc_in_child(lambda: os.setpgid(0, 0)))
""")
    import errno
    assert res.stream_text().split() == [str(errno.EPERM)] * 2, res.describe()
    ku.assert_answers(t)


# ------------------------------------------------------------ complete, inspect

SLOW_OBJECT = """
import time
class Slow:
    def __dir__(self):
        time.sleep(60)
        return ['never']
    def __repr__(self):
        time.sleep(60)
        return 'never'
slow = Slow()
kept = 'state'
"""


@pytest.mark.parametrize("msg_type,content", [
    ("complete_request", {"code": "slow.", "cursor_pos": 5}),
    ("inspect_request", {"code": "slow", "cursor_pos": 4, "detail_level": 0}),
], ids=["complete", "inspect"])
def test_complete_and_inspect_are_stopped_at_the_time_limit(start_kernel, msg_type, content):
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    t.run_ok(SLOW_OBJECT)
    msg_id = t.request(msg_type, content)
    res = t.finish(msg_id, timeout=20)
    took = res.reply_time - res.sent_time
    err = _err(res)
    assert err["ename"] == "TimeoutError" and "3 s time limit" in err["evalue"], res.describe()
    assert msg_type in err["evalue"], err
    assert 2.5 < took < 9, f"the {msg_type} took {took:.1f} s"
    assert t.run_ok("kept").result_data()["text/plain"] == "'state'"
    ku.assert_answers(t)


def test_user_expressions_stopped_by_the_time_limit_say_timeout(start_kernel):
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    t.run_ok("import time\ndef slow():\n    time.sleep(60)\n")
    res = t.run("x = 1", user_expressions={"a": "slow()", "b": "1 + 1"}, timeout=20)
    took = res.reply_time - res.sent_time
    assert res.status == "ok", res.describe()
    exprs = res.content["user_expressions"]
    for name in ("a", "b"):
        assert exprs[name]["status"] == "error", exprs
        assert exprs[name]["ename"] == "TimeoutError", exprs
        assert "3 s time limit" in exprs[name]["evalue"], exprs
    assert 2.5 < took < 9, f"the time limit took {took:.1f} s"
    ku.assert_answers(t)


def test_the_note_after_a_timeout_kill_names_the_limit(start_kernel):
    km, kc = start_kernel("--timeout", "2")
    t = ku.Tracker(kc)
    res = t.run("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
                timeout=20)
    assert _err(res)["ename"] == "TimeoutError", res.describe()
    nxt = t.run_ok("1 + 1")
    note = nxt.stream_text("stderr")
    assert "fresh interpreter" in note and "2 s time limit" in note, nxt.describe()


# ------------------------------------------------------------ comms


def test_a_cell_cannot_register_a_comm_target(start_kernel):
    """Comms reach no user code: whatever a cell sends, a client's
    comm_open is closed at once by the daemon and comm_msg goes nowhere."""
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    target = "sandcell.test_target"
    res = t.run_ok(FORGERS["_sandcell"] + f"""
_sc_forge({{"type": "comm_open", "content": {{"comm_id": "c1", "target_name": {target!r},
                                            "data": {{}}}}}})
_sc_forge({{"type": "comm_msg", "content": {{"comm_id": "c1", "data": {{"x": 1}}}}}})
from IPython import get_ipython
print(get_ipython())
""")
    assert res.stream_text().strip() == "None", res.describe()
    assert not [m for m in res.msgs if m["msg_type"].startswith("comm_")], res.describe()
    open_id = t.request("comm_open", {"comm_id": "c2", "target_name": target, "data": {}})
    closed = t.wait_iopub(open_id, "comm_close", timeout=10)
    assert closed["content"]["comm_id"] == "c2"
    msg_id = t.request("comm_msg", {"comm_id": "c2", "data": {"x": 1}})
    t.drain(1)
    assert [m["msg_type"] for m in t.iopub_of(msg_id)] == ["status", "status"], \
        t.iopub_of(msg_id)
    info = t.finish(t.request("comm_info_request", {}), timeout=10)
    assert info.content["comms"] == {}, info.content
    ku.assert_answers(t)
