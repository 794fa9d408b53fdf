"""Sandbox escape corpus: resource limits.

Fork and thread bombs, memory bombs (one big allocation, a slow leak, many
processes), a full disk, too many open files, a busy CPU, a cell that never
ends (and one that ignores or swallows the interrupt), and an output
flood. Each is bounded by a limit of the jail (cgroup pids, memory and cpu;
rlimits; the tmpfs sizes; the per-cell time limit; the output cap), the
cell reports a clear error, and the kernel answers afterwards. Small limits
are set with flags so that each test takes seconds.
"""

import os
import re
import subprocess
import time

import psutil
import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


def _err(res):
    assert res.status == "error", f"the cell did not fail: {res.describe()}"
    return res.error()


# ------------------------------------------------------------- processes


def test_fork_bomb(start_kernel):
    """500 forks, each child sleeping: fork fails with EAGAIN near the pids
    limit (64), the host sees no more processes than that, and the kernel
    answers."""
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, """
import os, time
children = []
for _ in range(500):
    try:
        pid = os.fork()
    except OSError as e:
        return [len(children), type(e).__name__, e.errno]
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)
return [len(children), None, None]
""")
    assert result and result["ok"], res.describe()
    forked, exc, err = result["value"]
    assert exc == "BlockingIOError" and err == 11, result
    assert 10 < forked < 64, result
    tree = ku.without_spares(ku.process_tree(ku.kernel_pid(km)))
    assert len(tree) <= 64 + 2, f"{len(tree)} processes in the kernel's tree"
    ku.assert_answers(t)
    # The children are the interpreter's own; it can end them all.
    result, res = ku.attempt(t, """
import os, signal, time
os.kill(-1, signal.SIGKILL)
n = 0
while True:
    try:
        os.wait()
        n += 1
    except ChildProcessError:
        return n
""")
    assert result and result["ok"] and result["value"] == forked, res.describe()
    ku.assert_answers(t)


def test_exponential_fork_bomb(start_kernel):
    """Every child forks too (for at most 3 s), so the count grows
    exponentially until the pids limit stops it."""
    km, kc = start_kernel("--pids", "32")
    t = ku.Tracker(kc)
    kpid = ku.kernel_pid(km)
    msg_id = t.execute("""
import os, time
end = time.time() + 3
while time.time() < end:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
if os.getpid() != 1:
    os._exit(0)
""")
    peak = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        peak = max(peak, len(ku.without_spares(ku.process_tree(kpid))))
        t.pump()
    res = t.finish(msg_id, timeout=20)
    assert peak <= 32 + 2, f"{peak} processes in the kernel's tree (pids limit 32)"
    # The cell itself finishes (as pid 1 the interpreter does not exit).
    assert res.status == "ok", res.describe()
    ku.assert_answers(t)


def test_thread_bomb(start_kernel):
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, """
import threading
stop = threading.Event()
started = 0
try:
    for _ in range(500):
        threading.Thread(target=stop.wait, daemon=True).start()
        started += 1
except RuntimeError as e:
    stop.set()
    return [started, str(e)]
stop.set()
return [started, None]
""")
    assert result and result["ok"], res.describe()
    started, error = result["value"]
    assert error == "can't start new thread" and started < 64, result
    ku.assert_answers(t)


def test_pids_flag(start_kernel):
    km, kc = start_kernel("--pids", "16")
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, """
import subprocess
procs = []
try:
    for _ in range(100):
        procs.append(subprocess.Popen(['sleep', '30']))
except OSError as e:
    err = e.errno
else:
    err = None
for p in procs:
    p.kill()
    p.wait()
return [len(procs), err]
""")
    assert result and result["ok"], res.describe()
    started, err = result["value"]
    assert err == 11 and started < 16, result
    ku.assert_answers(t)


def test_open_files_flag(start_kernel):
    km, kc = start_kernel("--open-files", "32")
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, """
files = []
try:
    for _ in range(1000):
        files.append(open('/dev/null'))
except OSError as e:
    err = e.errno
else:
    err = None
n = len(files)
for f in files:
    f.close()
return [n, err]
""")
    assert result and result["ok"], res.describe()
    opened, err = result["value"]
    assert err == 24 and opened < 32, result  # EMFILE
    ku.assert_answers(t)


# ---------------------------------------------------------------- memory


MEMORY_ERROR = re.compile(r"memory limit")


def _assert_memory_limit_error(res, mib):
    err = _err(res)
    assert err["ename"] in ("MemoryError", "InterpreterDied"), res.describe()
    assert MEMORY_ERROR.search(err["evalue"]) and f"{mib} MiB" in err["evalue"], (
        f"the error does not name the memory limit: {err['ename']}: {err['evalue']}")


def test_memory_bomb(start_kernel):
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    t.run_ok("kept = 'state'")
    res = t.run("x = bytearray(2 * 1024 ** 3)")
    _assert_memory_limit_error(res, 512)
    ku.assert_answers(t)


def test_slow_memory_leak(start_kernel):
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    res = t.run("""
chunks = []
for _ in range(205):
    chunks.append(b'x' * (10 << 20))
""")
    _assert_memory_limit_error(res, 512)
    ku.assert_answers(t)


@ku.requires_cgroups
def test_memory_flag(start_kernel):
    """Without cgroups only RLIMIT_AS (usage + limit + 256 MiB) is left,
    which lets this 256 MiB allocation through: the cgroup is what holds
    the exact limit."""
    km, kc = start_kernel("--memory", "128")
    t = ku.Tracker(kc)
    t.run_ok("small = bytearray(32 << 20)")
    _assert_memory_limit_error(t.run("big = bytearray(256 << 20)"), 128)
    ku.assert_answers(t)


@ku.requires_cgroups
def test_memory_bomb_across_processes(start_kernel):
    """Eight children of 100 MiB each under --memory 256: each child stays
    under its own address-space rlimit, so only the cgroup can stop them;
    the host never sees the children hold more than the
    limit (private memory of the children, as psutil's USS)."""
    km, kc = start_kernel("--memory", "256")
    t = ku.Tracker(kc)
    kpid = ku.kernel_pid(km)
    child = "import time; x = [b'x' * (10 << 20) for _ in range(10)]; time.sleep(2)"
    msg_id = t.execute(ku.attempt_code(f"""
import subprocess, sys
procs = [subprocess.Popen([sys.executable, '-c', {child!r}]) for _ in range(8)]
return [p.wait() for p in procs]
"""))
    peak = 0
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and not t.is_idle(msg_id):
        try:
            children = ku.interpreter_process(kpid).children(recursive=True)
        except (psutil.NoSuchProcess, AssertionError):
            children = []
        private = 0
        for p in children:
            try:
                private += p.memory_full_info().uss
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, private)
        t.pump()
    res = t.finish(msg_id, timeout=30)
    result = ku.attempt_result(res)
    if result is None:
        # The OOM killer may pick the interpreter itself.
        _assert_memory_limit_error(res, 256)
    else:
        assert result["ok"], result
        assert -9 in result["value"], f"no child was killed: {result['value']}"
    assert 0 < peak < (256 + 32) << 20, f"the children held {peak >> 20} MiB of private memory"
    ku.assert_answers(t)


# ------------------------------------------------------------------ disk


@pytest.mark.parametrize("where", ["/workspace", "/tmp"])
def test_disk_fill_one_file(start_kernel, where):
    km, kc = start_kernel("--disk", "20")
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, f"""
written = 0
try:
    with open('{where}/fill', 'wb') as f:
        while written < 200:
            f.write(b'\\0' * (1 << 20))
            f.flush()
            written += 1
except OSError as e:
    return [written, e.errno]
return [written, None]
""")
    assert result and result["ok"], res.describe()
    written, err = result["value"]
    assert err in (27, 28) and written <= 20, result  # EFBIG, ENOSPC
    ku.assert_answers(t)
    # The space comes back once the file is gone.
    t.run_ok(f"import os; os.remove('{where}/fill'); open('{where}/small', 'wb').write(b'x' * 4096)")


@pytest.mark.parametrize("where", ["/workspace", "/tmp"])
def test_disk_fill_many_files(start_kernel, where):
    km, kc = start_kernel("--disk", "20")
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, f"""
written = 0
try:
    while written < 200:
        with open(f'{where}/fill-{{written}}', 'wb') as f:
            f.write(b'\\0' * (1 << 20))
        written += 1
except OSError as e:
    return [written, e.errno]
return [written, None]
""")
    assert result and result["ok"], res.describe()
    written, err = result["value"]
    assert err == 28 and written <= 20, result  # ENOSPC
    ku.assert_answers(t)


def test_dev_shm_is_bounded(start_kernel):
    """/dev/shm is a private tmpfs of its own, capped too."""
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, """
written = 0
try:
    while written < 400:
        with open(f'/dev/shm/fill-{written}', 'wb') as f:
            f.write(b'\\0' * (1 << 20))
        written += 1
except OSError as e:
    return [written, e.errno]
return [written, None]
""")
    assert result and result["ok"], res.describe()
    written, err = result["value"]
    assert err == 28 and written <= 128, result
    ku.assert_answers(t)


# ------------------------------------------------------------------- CPU


@ku.requires_cgroups
def test_cpu_flag(start_kernel):
    """Four busy processes for 2 s of wall clock under --cpus 0.5 get about
    1 s of CPU between them, not 2 s per core."""
    km, kc = start_kernel("--cpus", "0.5")
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, """
import os, time
start = time.monotonic()
pids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        while time.monotonic() - start < 2:
            pass
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
wall = time.monotonic() - start
times = os.times()
return [wall, times.children_user + times.children_system]
""", timeout=30)
    assert result and result["ok"], res.describe()
    wall, cpu = result["value"]
    assert cpu <= 0.5 * wall * 1.3 + 0.2, f"{cpu:.2f} s of CPU in {wall:.2f} s under --cpus 0.5"
    ku.assert_answers(t)


# ---------------------------------------------------------- time limits


def test_busy_loop_hits_the_time_limit(start_kernel):
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    t.run_ok("kept = 'state'")
    res = t.run("while True: pass", timeout=20)
    took = res.reply_time - res.sent_time
    err = _err(res)
    assert err["ename"] == "TimeoutError" and "3 s" in err["evalue"], res.describe()
    assert 2.5 < took < 8, f"the time limit took {took:.1f} s"
    # Interrupted, not killed: the state is kept.
    assert t.run_ok("kept").result_data()["text/plain"] == "'state'"
    ku.assert_answers(t)


@pytest.mark.parametrize("code", [
    "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
    "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except BaseException:\n        pass",
], ids=["ignores-SIGINT", "swallows-KeyboardInterrupt"])
def test_a_cell_that_resists_the_interrupt_is_killed(start_kernel, code):
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    t.run_ok("kept = 'state'")
    res = t.run(code, timeout=20)
    took = res.reply_time - res.sent_time
    err = _err(res)
    assert err["ename"] == "TimeoutError" and "3 s" in err["evalue"], res.describe()
    assert "killed" in err["evalue"], err["evalue"]
    assert 4 < took < 10, f"the kill came after {took:.1f} s"
    fresh = t.run_ok("'kept' in globals()")
    assert fresh.result_data()["text/plain"] == "False"
    ku.assert_answers(t)


def _sleepers(marker):
    return [p for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] == ["sleep", marker] and ku.is_live(p)]


def test_a_grandchild_outlives_a_timed_out_cell_but_not_the_kernel(start_kernel):
    """A shell whose sleep ignores SIGINT: the time limit interrupts the
    cell (subprocess.run kills the shell), the orphaned sleep stays in the
    jail, and it dies when the kernel shuts down."""
    marker = f"1000.{os.getpid()}5"
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    code = ("import subprocess\n"
            f"subprocess.run(['sh', '-c', 'trap \"\" INT; sleep {marker}; true'])")
    res = t.run(code, timeout=20)
    err = _err(res)
    assert err["ename"] == "TimeoutError", res.describe()
    ku.assert_answers(t)
    assert len(_sleepers(marker)) == 1
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    left = ku.wait_gone(_sleepers(marker), timeout=10)
    assert not left, f"the jail's sleep survived the kernel: {ku.describe_procs(left)}"


# ---------------------------------------------------------------- output


def _stream_bytes(res):
    return sum(len(m["content"]["text"].encode()) for m in res.of_type("stream"))


def test_output_flood(start_kernel):
    km, kc = start_kernel("--timeout", "5", "--max-output", "1")
    t = ku.Tracker(kc)
    res = t.run('while True: print("x" * 1000)', timeout=30)
    err = _err(res)
    assert err["ename"] == "TimeoutError", res.describe()
    notes = [m for m in res.of_type("stream")
             if m["content"]["name"] == "stderr" and "output limit" in m["content"]["text"]]
    assert len(notes) == 1, f"expected one note about the output limit: {res.describe()}"
    total = _stream_bytes(res)
    assert (1 << 20) * 0.9 < total < 1.5 * (1 << 20), f"{total} bytes of stream output"
    ku.assert_answers(t)


def _channel_socket_setup():
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


def test_output_flood_written_straight_to_the_channel(start_kernel):
    """Stream records written to the interpreter's channel socket by hand,
    bypassing the runtime's streams, still count against the cap."""
    km, kc = start_kernel("--max-output", "1")
    t = ku.Tracker(kc)
    res = t.run(_channel_socket_setup() + """
s = _sc_channel()
rec = b'.' + json.dumps({"type": "stream", "content": {"name": "stdout", "text": "z" * 60000}}).encode()
for _ in range(100):
    s.send(rec)
""")
    total = _stream_bytes(res)
    assert total < 1.5 * (1 << 20), f"{total} bytes of stream output under a 1 MiB cap"
    assert any("output limit" in m["content"]["text"] for m in res.of_type("stream")), res.describe()
    t.drain(1)
    ku.assert_answers(t)


def test_descriptors_sent_to_the_kernel_do_not_pile_up(start_kernel):
    """Records carrying file descriptors (SCM_RIGHTS) by the thousand: the
    kernel process does not keep them."""
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    kproc = psutil.Process(ku.kernel_pid(km))
    before = kproc.num_fds()
    res = t.run(_channel_socket_setup() + """
import array
s = _sc_channel()
r, w = os.pipe()
for i in range(2000):
    msg = b'.' + json.dumps({"type": "stream", "content": {"name": "stdout", "text": "."}}).encode()
    try:
        s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [r, w] * 8))])
    except OSError:
        break
""")
    assert res.status == "ok", res.describe()
    t.drain(1)
    assert kproc.num_fds() <= before + 4, f"the kernel went from {before} to {kproc.num_fds()} fds"
    ku.assert_answers(t)
    assert kproc.num_fds() <= before + 4


def _peak_rss(pid):
    """VmHWM of a process, bytes."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) << 10
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.mark.parametrize("mib", [16, 8], ids=["over-the-output-cap", "under-the-output-cap"])
def test_a_huge_record_does_not_blow_up_the_kernel_process(start_kernel, mib):
    """The kernel process is outside the interpreter's cgroup, so what it
    allocates for the interpreter's records escapes --memory. A cell sends
    one well-formed record of |mib| MiB made of tiny JSON values (in
    channel-sized chunks, as channel_send would), once over and once under
    the default 10 MiB output cap; the kernel's peak memory must not grow
    by more than a few times the record's size."""
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    kpid = ku.kernel_pid(km)
    before = _peak_rss(kpid)
    res = t.run(_channel_socket_setup() + f"""
s = _sc_channel()
body = b'{{"type": "stream", "content": {{"name": "stdout", "text": "x", "pad": [' + b'0,' * ({mib} << 19) + b'0]}}}}'
for i in range(0, len(body), 65535):
    chunk = body[i:i + 65535]
    s.send((b'.' if i + 65535 >= len(body) else b'+') + chunk)
""", timeout=60)
    assert res.status == "ok", res.describe()
    t.drain(1)
    grown = _peak_rss(kpid) - before
    assert grown < (5 * mib) << 20, (
        f"a {mib} MiB record from the interpreter grew the kernel process's peak memory by "
        f"{grown >> 20} MiB")
    ku.assert_answers(t)


# ---------------------------------------------------------------- doctor


def test_doctor_lists_the_layers():
    proc = subprocess.run([ku.SANDCELL, "doctor"], capture_output=True, text=True, timeout=60)
    if "doctor" not in proc.stdout + proc.stderr or proc.returncode == 2:
        pytest.skip(f"`sandcell doctor` is not available yet: {proc.stderr.strip()[:200]}")
    layers = ku.doctor_layers()
    for layer in ["user namespace", "pid namespace", "network namespace", "mount namespace",
                  "ipc namespace", "uts namespace", "cgroup namespace", "seccomp", "cgroups"]:
        assert layer in layers, f"doctor does not mention {layer}: {proc.stdout}"
    if all(layers.values()):
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        missing = [name for name, ok in layers.items() if not ok]
        assert "cgroups" in missing or os.geteuid() == 0, proc.stdout
    if os.geteuid() == 0:
        assert proc.returncode == 0 and all(layers.values()), (
            f"as root, every layer should be available: {proc.stdout}")
