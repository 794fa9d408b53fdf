"""Kernel-level behaviour: the installed kernelspec, kernel_info on shell and
control, busy/idle around every request, interrupt, restart, shutdown,
input() over the stdin channel, and comms."""

import json
import subprocess
import time

import pytest

import kernel_util as ku


@pytest.fixture
def t(kernel):
    km, kc = kernel
    return ku.Tracker(kc)


@ku.requires_sandcell
def test_kernelspec_written_by_install(jupyter_env):
    path = jupyter_env / "share" / "jupyter" / "kernels" / "sandcell-python" / "kernel.json"
    with open(path) as f:
        spec = json.load(f)
    assert spec["argv"] == [ku.SANDCELL, "kernel", "-f", "{connection_file}"]
    assert spec["language"] == "python"
    assert spec["interrupt_mode"] == "message"
    assert spec["display_name"] == "Python (sandcell)"

    from jupyter_client.kernelspec import KernelSpecManager

    found = KernelSpecManager().find_kernel_specs()
    assert found.get("sandcell-python") == str(path.parent)

    # And the command a user types (Debian's jupyter-client package).
    listed = subprocess.run(["/usr/bin/python3", "-m", "jupyter", "kernelspec", "list"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert "sandcell-python" in listed.stdout and str(path.parent) in listed.stdout


def check_kernel_info(reply):
    assert reply["msg_type"] == "kernel_info_reply"
    c = reply["content"]
    assert c["status"] == "ok"
    assert c["protocol_version"].startswith("5.")
    assert c["language_info"]["name"] == "python"
    assert c["language_info"]["file_extension"] == ".py"
    assert isinstance(c["implementation"], str) and c["implementation"]
    assert isinstance(c["banner"], str) and c["banner"].strip()
    assert isinstance(c["help_links"], list)
    for link in c["help_links"]:
        assert isinstance(link["text"], str) and link["url"].startswith("http")


def test_kernel_info_on_shell_and_control(t):
    shell_id = t.request("kernel_info_request", channel="shell")
    control_id = t.request("kernel_info_request", channel="control")
    check_kernel_info(t.wait_reply(shell_id))
    check_kernel_info(t.wait_reply(control_id))


REQUESTS = {
    "kernel_info_shell": ("kernel_info_request", {}, "shell"),
    "kernel_info_control": ("kernel_info_request", {}, "control"),
    "execute": ("execute_request", {"code": "1", "silent": False, "store_history": True,
                                    "user_expressions": {}, "allow_stdin": False,
                                    "stop_on_error": True}, "shell"),
    "complete": ("complete_request", {"code": "pri", "cursor_pos": 3}, "shell"),
    "inspect": ("inspect_request", {"code": "print", "cursor_pos": 5, "detail_level": 0}, "shell"),
    "is_complete": ("is_complete_request", {"code": "x = 1"}, "shell"),
    "history": ("history_request", {"hist_access_type": "tail", "n": 5, "raw": True,
                                    "output": False}, "shell"),
    "comm_info": ("comm_info_request", {}, "shell"),
    "interrupt_control": ("interrupt_request", {}, "control"),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_busy_and_idle_around_every_request(t, name):
    msg_type, content, channel = REQUESTS[name]
    msg_id = t.request(msg_type, content, channel=channel)
    reply = t.wait_reply(msg_id)
    assert reply["msg_type"] == msg_type.replace("_request", "_reply")
    t.wait(lambda: t.is_idle(msg_id), what="idle")
    t.drain(0.3)
    statuses = [m for m in t.iopub_of(msg_id) if m["msg_type"] == "status"]
    assert [m["content"]["execution_state"] for m in statuses] == ["busy", "idle"]
    for m in statuses:
        assert m["parent_header"]["msg_type"] == msg_type
        assert m["parent_header"]["msg_id"] == msg_id


# ---------------------------------------------------------------- interrupt


def wait_running(t, msg_id):
    """Waits until the kernel started running msg_id, plus a little."""
    t.wait_iopub(msg_id, "execute_input")
    time.sleep(0.5)


@pytest.mark.parametrize("code", ["while True: pass", "import time; time.sleep(30)"])
def test_interrupt(kernel, code):
    km, kc = kernel
    t = ku.Tracker(kc)
    t.run_ok("x = 42")
    msg_id = t.execute(code)
    wait_running(t, msg_id)
    start = time.monotonic()
    km.interrupt_kernel()
    res = t.finish(msg_id, timeout=20)
    assert time.monotonic() - start < 10
    assert res.status == "error", res.describe()
    assert res.error()["ename"] == "KeyboardInterrupt"
    after = t.run_ok("x")
    assert after.result_data()["text/plain"] == "42"


def test_interrupt_when_idle_is_harmless(kernel):
    km, kc = kernel
    t = ku.Tracker(kc)
    t.run_ok("x = 7")
    km.interrupt_kernel()
    time.sleep(1)
    assert t.run_ok("x").result_data()["text/plain"] == "7"


# ---------------------------------------------------------------- restart


def test_restart_gives_a_fresh_interpreter(kernel):
    km, kc = kernel
    t = ku.Tracker(kc)
    t.run_ok("before_restart = 1")
    old_pid = ku.kernel_pid(km)
    old_tree = ku.process_tree(old_pid)
    km.restart_kernel(now=False)
    left = ku.wait_gone(old_tree, timeout=10)
    assert not left, f"old kernel processes still running: {ku.describe_procs(left)}"
    assert ku.kernel_pid(km) != old_pid
    kc.wait_for_ready(timeout=60)
    t = ku.Tracker(kc)
    res = t.run("before_restart")
    assert res.status == "error", res.describe()
    assert res.error()["ename"] == "NameError"
    assert t.run_ok("1+1").result_data()["text/plain"] == "2"


# ---------------------------------------------------------------- shutdown


def test_shutdown_stops_every_process(kernel):
    km, kc = kernel
    t = ku.Tracker(kc)
    t.run_ok("x = 1")  # make sure the interpreter exists
    popen = km.provisioner.process
    tree = ku.process_tree(popen.pid)
    if not ku.IS_IPYKERNEL:
        # kernel -> zygote -> interpreter
        assert len(tree) >= 3, ku.describe_procs(tree)
    msg_id = kc.shutdown()
    reply = t.wait_reply(msg_id)
    assert reply["msg_type"] == "shutdown_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["restart"] is False
    left = ku.wait_gone(tree, timeout=10, popen=popen)
    assert not left, f"still running after shutdown: {ku.describe_procs(left)}"


# ---------------------------------------------------------------- stdin


def test_input_over_stdin(t):
    msg_id = t.execute("name = input('name? ')\nprint('hello', name)", allow_stdin=True)
    req = t.wait_stdin(msg_id)
    assert req["msg_type"] == "input_request"
    assert req["content"]["prompt"] == "name? "
    assert req["content"]["password"] is False
    t.kc.input("bob")
    res = t.finish(msg_id)
    assert res.status == "ok", res.describe()
    assert "hello bob" in res.stream_text()
    assert t.run_ok("name").result_data()["text/plain"] == "'bob'"


def test_getpass_over_stdin(t):
    msg_id = t.execute(
        "import getpass\npw = getpass.getpass('pw: ')\nprint(len(pw))", allow_stdin=True
    )
    req = t.wait_stdin(msg_id)
    assert req["msg_type"] == "input_request"
    assert req["content"]["prompt"] == "pw: "
    assert req["content"]["password"] is True
    t.kc.input("secret")
    res = t.finish(msg_id)
    assert res.status == "ok", res.describe()
    assert res.stream_text().strip().endswith("6")
    assert "secret" not in res.stream_text()


def test_input_without_allow_stdin_fails_cleanly(t):
    msg_id = t.execute("input('x? ')", allow_stdin=False)
    res = t.finish(msg_id, timeout=20)
    assert res.status == "error", res.describe()
    assert t.stdin[msg_id] == []
    t.run_ok("1")


# ---------------------------------------------------------------- comms


def test_comm_info_is_empty(t):
    msg_id = t.kc.comm_info()
    reply = t.wait_reply(msg_id)
    assert reply["msg_type"] == "comm_info_reply"
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["comms"] == {}


def test_comm_open_unknown_target_is_closed(t):
    comm_id = "c0ffee0123456789"
    msg_id = t.request(
        "comm_open", {"comm_id": comm_id, "target_name": "no_such_target", "data": {}}
    )
    close = t.wait_iopub(msg_id, "comm_close")
    assert close["content"]["comm_id"] == comm_id
    t.wait(lambda: t.is_idle(msg_id), what="idle after comm_open")
    reply = t.wait_reply(t.kc.comm_info())
    assert reply["content"]["comms"] == {}
    assert t.run_ok("1+1").result_data()["text/plain"] == "2"
