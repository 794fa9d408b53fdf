"""Interpreter death (sandcell only): the interpreter process exits, crashes
or is killed from outside in the middle of a cell. The kernel process must
survive, report the death as an error output plus an error reply that names
what happened, and run the next cell in a fresh interpreter."""

import os
import re
import signal
import time

import psutil
import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

DEATHS = {
    "exit_code": ("import os; os._exit(3)", re.compile(r"\b3\b"), False),
    "segfault": ("import ctypes; ctypes.string_at(0)", re.compile(r"SIGSEGV"), False),
    "sigkill": ("import time; time.sleep(30)", re.compile(r"SIGKILL"), True),
}


@pytest.mark.parametrize("case", list(DEATHS))
def test_interpreter_death_is_reported_and_recovered(kernel, case):
    code, names_it, kill_from_outside = DEATHS[case]
    km, kc = kernel
    t = ku.Tracker(kc)
    t.run_ok("survivor = 1")
    kpid = ku.kernel_pid(km)
    old_interp = ku.interpreter_process(kpid)

    msg_id = t.execute(code)
    start = time.monotonic()
    if kill_from_outside:
        t.wait_iopub(msg_id, "execute_input")
        time.sleep(0.5)
        assert ku.interpreter_process(kpid).pid == old_interp.pid
        os.kill(old_interp.pid, signal.SIGKILL)
        start = time.monotonic()

    res = t.finish(msg_id, timeout=20)
    assert res.reply_time - start < 10, f"death reported after {res.reply_time - start:.1f}s"
    assert res.status == "error", res.describe()
    err = res.error()
    assert names_it.search(err["evalue"]), f"evalue does not say what happened: {err!r}"
    assert not ku.is_live(old_interp)

    # The kernel process itself survived (and was not restarted behind our back).
    assert km.is_alive()
    assert ku.kernel_pid(km) == kpid and psutil.pid_exists(kpid)

    # The next cell runs in a fresh interpreter.
    fresh = t.run_ok("'survivor' in globals()")
    assert fresh.result_data()["text/plain"] == "False"
    assert t.run_ok("print('still here')").stream_text() == "still here\n"
    assert ku.interpreter_process(kpid).pid != old_interp.pid


def test_history_survives_interpreter_death(kernel):
    """History is kept by the kernel process (the journal), not the
    interpreter, so cells from before a crash are still listed."""
    km, kc = kernel
    t = ku.Tracker(kc)
    before = t.run_ok("hist_before_death = 1").content["execution_count"]
    assert t.run("import os; os._exit(3)").status == "error"
    after = t.run_ok("hist_after_death = 2").content["execution_count"]
    assert after > before
    reply = t.wait_reply(t.kc.history(hist_access_type="tail", n=10, raw=True, output=False))
    entries = [(h[1], h[2]) for h in reply["content"]["history"]]
    assert (before, "hist_before_death = 1") in entries, entries
    assert (after, "hist_after_death = 2") in entries, entries
    lines = [h[1] for h in reply["content"]["history"]]
    assert lines == sorted(lines)
