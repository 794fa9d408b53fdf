"""Deterministic cleanup: when an interpreter ends, for any reason, nothing
of it remains — no process, mount, cgroup, workspace or temporary file.
Counted before and after, on the host."""

import glob
import os
import time

import psutil
import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


def _cgroups(zygote_pid):
    """The cgroup directories of one zygote's interpreters (v1 and v2); they
    are named sandcell-ZYGOTEPID-N."""
    prefix = f"sandcell-{zygote_pid}-"
    found = set()
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found |= {os.path.join(root, d) for d in dirs if d.startswith(prefix)}
        dirs[:] = [d for d in dirs if not d.startswith("sandcell-")]
    return found


def _mounts():
    with open("/proc/self/mountinfo") as f:
        return f.read().count("\n")


CANARY = f"sandcell-cleanup-canary-{os.getpid()}"


def _canaries():
    """Host paths that would hold the files the cell wrote, had they leaked."""
    return glob.glob(f"/tmp/**/{CANARY}*", recursive=True) + glob.glob(f"/dev/shm/{CANARY}*")


def _sleepers():
    """Processes started by a cell with a unique command line."""
    return [p for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] == ["sleep", "1000.4242"] and ku.is_live(p)]


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.05)


def _run(kc, code):
    reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: None)
    return reply["content"]


@pytest.mark.parametrize("ending", ["shutdown", "crash", "kill"])
def test_interpreter_leaves_nothing_behind(jupyter_env, ending):
    mounts = _mounts()
    km, kc = ku.start_new_kernel(kernel_name=ku.KERNEL_NAME, startup_timeout=60)
    try:
        kernel_pid = ku.kernel_pid(km)
        wrote = _run(kc, f"open('/workspace/f', 'w').write('x' * 1000); "
                         f"open('/tmp/{CANARY}', 'w').write('y'); "
                         f"open('/dev/shm/{CANARY}', 'w').write('z')")
        assert wrote["status"] == "ok", wrote
        zygote_pid = ku.interpreter_process(kernel_pid).ppid()
        assert _run(kc, "import subprocess; p = subprocess.Popen(['sleep', '1000.4242'])"
                    )["status"] == "ok"
        assert len(_cgroups(zygote_pid)) >= 1, "the interpreter has no cgroup"
        if ending == "crash":
            assert _run(kc, "import os; os._exit(3)")["status"] == "error"
        elif ending == "kill":
            ku.interpreter_process(kernel_pid).kill()
            _run(kc, "1")  # the kernel notices and answers
        if ending != "shutdown":
            # the background child died with its interpreter, and the fresh
            # interpreter starts with an empty workspace
            _wait(lambda: not _sleepers(), 10, "the background child died with the interpreter")
            fresh = _run(kc, "import os; assert not os.path.exists('/workspace/f')")
            assert fresh["status"] == "ok", fresh
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    _wait(lambda: not _sleepers(), 10, "the interpreter's background child is gone")
    _wait(lambda: not _cgroups(zygote_pid), 10, "every cgroup of the kernel is removed")
    assert _mounts() == mounts, "mounts changed on the host"
    assert _canaries() == [], "the interpreter's files reached the host"
