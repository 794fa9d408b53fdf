"""Sandbox escape corpus: what a cell can learn or touch beyond its jail.

Secrets of the kernel's environment and its connection key, the host's
processes (seeing, signalling), processes left running after the
conversation, a second conversation's files, processes, environment,
memory, IPC and sockets, forged records on the interpreter's channel, and
the same jail started by an unprivileged user (nobody), where the cgroup
layer is missing.
"""

import contextlib
import errno
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from jupyter_client.manager import KernelManager

import kernel_util as ku

pytestmark = ku.requires_sandcell


def _sleepers(marker):
    return [p for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] == ["sleep", marker] and ku.is_live(p)]


# A cell function: where, among what the cell can read, does a string occur
# (given as two halves, see ku.MEMSCAN_SETUP)? Files are read up to 1 MiB,
# /usr is skipped (the host's read-only install).
SEARCH_SETUP = ku.MEMSCAN_SETUP + """
import os
def _sc_search(a, b):
    found = []
    def has(data):
        i = data.find(a)
        while i >= 0:
            if data[i + len(a):i + len(a) + len(b)] == b:
                return True
            i = data.find(a, i + 1)
        return False
    n_proc = 0
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        n_proc += 1
        for what in ('environ', 'cmdline'):
            try:
                if has(open(f'/proc/{pid}/{what}', 'rb').read()):
                    found.append(f'/proc/{pid}/{what}')
            except OSError:
                pass
    for key, value in os.environ.items():
        if has(f'{key}={value}'.encode()):
            found.append(f'os.environ[{key!r}]')
    n_files = 0
    for top in ('/etc', '/workspace', '/tmp', '/dev/shm', '/data'):
        for root, dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(root, name)
                try:
                    with open(path, 'rb') as f:
                        data = f.read(1 << 20)
                except OSError:
                    continue
                n_files += 1
                if has(data) or has(path.encode()):
                    found.append(path)
    found += ['memory:' + h for h in _sc_memscan(a, b)]
    return [found, n_proc, n_files]
"""


def _search(t, secret):
    a, b = ku.halves(secret)
    result, res = ku.attempt(t, f"return _sc_search({a}, {b})", SEARCH_SETUP)
    assert result and result["ok"], res.describe()
    found, n_proc, n_files = result["value"]
    assert n_proc >= 1 and n_files >= 5, f"the search saw too little: {result}"
    return found


# ------------------------------------------------------------- secrets


def test_kernel_environment_secret_is_not_visible(start_kernel):
    secret = f"sandcell-secret-{secrets.token_hex(16)}"
    km, kc = start_kernel(env=dict(os.environ, SANDCELL_TEST_SECRET=secret,
                                   AWS_SECRET_ACCESS_KEY=secret))
    t = ku.Tracker(kc)
    # The kernel process itself does have it.
    assert secret.encode() in open(f"/proc/{ku.kernel_pid(km)}/environ", "rb").read()
    result, res = ku.attempt(t, """
import os, subprocess
out = {'environ': sorted(os.environ)}
for path in ('/proc/self/environ', '/proc/1/environ'):
    try:
        out[path] = open(path, 'rb').read().decode('latin-1')
    except OSError as e:
        out[path] = e.errno
out['child'] = subprocess.run(['env'], capture_output=True, text=True).stdout
return out
""")
    assert result and result["ok"], res.describe()
    out = result["value"]
    assert "SANDCELL_TEST_SECRET" not in out["environ"], out["environ"]
    assert "AWS_SECRET_ACCESS_KEY" not in out["environ"], out["environ"]
    for where, value in out.items():
        assert secret not in str(value), f"the secret is in {where}"
    # A readable environ is fine as long as it is the jail's.
    for path in ("/proc/self/environ", "/proc/1/environ"):
        assert out[path] == errno.EACCES or "SANDCELL_TEST_SECRET" not in out[path], out[path]
    assert _search(t, secret) == [], "the secret is readable from the cell"
    ku.assert_answers(t)


def test_connection_file_and_key_are_out_of_reach(start_kernel):
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    path = km.connection_file
    key = km.session.key.decode()
    assert os.path.exists(path) and key
    result, res = ku.attempt(t, f"return open({path!r}).read()")
    ku.assert_failed(result, res, ["FileNotFoundError", "PermissionError"])
    # Its directory may exist inside (/tmp is the jail's own), but not the file.
    result, res = ku.attempt(t, f"import os; return os.listdir({os.path.dirname(path)!r})")
    assert result is not None, res.describe()
    assert not result["ok"] or os.path.basename(path) not in result["value"], result
    assert _search(t, key) == [], "the connection key is readable from the cell"
    ku.assert_answers(t)


def test_manager_environment_values_do_not_reach_the_interpreter(start_kernel, tmp_path):
    """Even variables the kernel passes to its zygote on purpose (HOME, for
    one) carry host details: the interpreter's memory, including the
    environment block its process image started with, must not hold them."""
    home = str(tmp_path / f"home-{secrets.token_hex(8)}")
    os.mkdir(home)
    km, kc = start_kernel(env=dict(os.environ, HOME=home))
    t = ku.Tracker(kc)
    assert f"HOME={home}".encode() in open(f"/proc/{ku.kernel_pid(km)}/environ", "rb").read()
    found = _search(t, f"HOME={home}")
    assert found == [], f"the kernel's HOME ({home}) is readable from the cell in {found}"
    ku.assert_answers(t)


# ------------------------------------------------------ host processes


def test_host_processes_are_invisible(jail_kernel):
    km, kc = jail_kernel
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, f"""
import os
me = {os.getpid()}
if os.path.exists(f'/proc/{{me}}'):
    assert 'pytest' not in open(f'/proc/{{me}}/cmdline').read(), 'the test process is visible'
pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
cmdlines = {{}}
for pid in pids:
    try:
        cmdlines[pid] = open(f'/proc/{{pid}}/cmdline', 'rb').read().decode('latin-1')
    except OSError as e:
        cmdlines[pid] = e.errno
return [os.getpid(), os.getppid(), cmdlines]
""")
    assert result and result["ok"], res.describe()
    mypid, ppid, cmdlines = result["value"]
    assert (mypid, ppid) == (1, 0), result
    me = " ".join(psutil.Process().cmdline())
    for pid, cmdline in cmdlines.items():
        assert "pytest" not in str(cmdline) and str(cmdline).replace("\0", " ").strip() != me
    interp = ku.interpreter_process(ku.kernel_pid(km))
    assert len(cmdlines) == 1 + len(interp.children(recursive=True)), (
        f"the jail sees {sorted(cmdlines)}, more than the interpreter and its children")
    ku.assert_answers(t)


def test_signals_to_host_processes(jail_kernel):
    """kill(-1, SIGKILL) and kill of a host pid from inside reach nothing
    outside; the interpreter (pid 1 of its namespace) survives its own
    kill(-1)."""
    km, kc = jail_kernel
    t = ku.Tracker(kc)
    marker = f"60.{os.getpid()}1"
    host = subprocess.Popen(["sleep", marker])
    try:
        result, res = ku.attempt(t, f"""
import os, signal
out = {{}}
for pid in ({host.pid}, {os.getpid()}, {ku.kernel_pid(km)}):
    try:
        os.kill(pid, signal.SIGKILL)
        out[pid] = 'sent'
    except OSError as e:
        out[pid] = e.errno
try:
    os.kill(-1, signal.SIGKILL)   # nothing else runs in the jail: ESRCH
    out['all'] = 'sent'
except OSError as e:
    out['all'] = e.errno
return out
""")
        assert result and result["ok"], res.describe()
        assert set(result["value"].values()) <= {errno.ESRCH, "sent"}, result
        assert all(v == errno.ESRCH for k, v in result["value"].items() if k != "all"), result
        time.sleep(0.3)
        assert host.poll() is None, "the host process was killed from the cell"
        assert km.is_alive()
        ku.assert_answers(t)
    finally:
        host.kill()
        host.wait()


def test_background_children_die_with_the_conversation(start_kernel):
    """A plain background child and a daemon (double fork; its setsid is
    refused, see test_hostile_limits.py) outlive their cell, but not the
    kernel."""
    plain, daemon = f"1000.{os.getpid()}2", f"1000.{os.getpid()}3"
    km, kc = start_kernel()
    t = ku.Tracker(kc)
    t.run_ok(f"""
import os, subprocess, time
subprocess.Popen(['sleep', '{plain}'])
if os.fork() == 0:
    try:
        os.setsid()
    except PermissionError:
        pass
    if os.fork() == 0:
        os.execvp('sleep', ['sleep', '{daemon}'])
    os._exit(0)
os.wait()
time.sleep(0.3)
""")
    assert len(_sleepers(plain)) == 1 and len(_sleepers(daemon)) == 1
    ku.assert_answers(t)
    kc.stop_channels()
    km.shutdown_kernel(now=False)
    left = ku.wait_gone(_sleepers(plain) + _sleepers(daemon), timeout=10)
    assert not left, f"processes of the conversation survived it: {ku.describe_procs(left)}"


# ------------------------------------------------- another conversation


def test_a_second_conversation_sees_nothing_of_the_first(start_kernel):
    marker = f"sandcell-a-{secrets.token_hex(12)}"
    sleep_arg = f"1000.{os.getpid()}4"
    shm_key = 0x5C000000 | (os.getpid() & 0xFFFFF)
    km_a, kc_a = start_kernel()
    km_b, kc_b = start_kernel()
    a, b = ku.Tracker(kc_a), ku.Tracker(kc_b)
    a.run_ok(f"""
import os, subprocess, socket, ctypes
secret_in_memory = '{marker}-memory'.upper()
for d in ('/workspace', '/tmp', '/dev/shm'):
    open(f'{{d}}/{marker}', 'w').write('{marker}')
os.environ['A_SECRET'] = '{marker}'
os.putenv('A_SECRET', '{marker}')
sleeper = subprocess.Popen(['sleep', '{sleep_arg}'], env=dict(os.environ))
libc = ctypes.CDLL(None, use_errno=True)
shm_id = libc.shmget({shm_key}, 4096, 0o1600)
assert shm_id >= 0, ctypes.get_errno()
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind('\\0{marker}')
listener.listen(1)
""")
    a_interp = ku.interpreter_process(ku.kernel_pid(km_a))
    # The search does find all of it from inside the first conversation.
    found_in_a = _search(a, marker)
    for where in ("/workspace/", "/tmp/", "/dev/shm/", "os.environ['A_SECRET']", "memory:"):
        assert any(f.startswith(where) for f in found_in_a), (where, found_in_a)
    assert any(f.endswith("/environ") for f in found_in_a), found_in_a

    # Files, environment, processes' command lines and environ, memory.
    assert _search(b, marker) == [], "the first conversation's marker is visible"
    assert _search(b, f"{marker}-memory".upper()) == []
    result, res = ku.attempt(b, f"""
import os, ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
out = {{}}
ctypes.set_errno(0)
out['shmget'] = [libc.shmget({shm_key}, 4096, 0o600), ctypes.get_errno()]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect('\\0{marker}')
    out['connect'] = 'connected'
except OSError as e:
    out['connect'] = e.errno
out['a_proc'] = os.path.exists('/proc/{a_interp.pid}/mem') and \\
    'sleep' in open('/proc/{a_interp.pid}/cmdline').read()
out['procs'] = [open(f'/proc/{{p}}/cmdline').read() for p in os.listdir('/proc') if p.isdigit()]
return out
""")
    assert result and result["ok"], res.describe()
    out = result["value"]
    assert out["shmget"] == [-1, errno.ENOENT], out
    assert out["connect"] == errno.ECONNREFUSED, out
    assert out["a_proc"] is False, out
    assert not any("sleep" in c for c in out["procs"]), out

    # The first conversation still has everything.
    result, res = ku.attempt(a, f"""
import os
return [os.path.exists('/workspace/{marker}'), sleeper.poll() is None, shm_id >= 0]
""")
    assert result and result["value"] == [True, True, True], res.describe()
    ku.assert_answers(a)
    ku.assert_answers(b)


# ------------------------------------------------------- forged records


def test_forged_records_on_the_channel(start_kernel):
    """The cell writes garbage and forged records (a reply, a second
    'ready', a jail failure, an oversized unfinished record) to its own
    channel socket. The kernel survives. The forged reply is not taken for
    the cell's (it lacks the request's number) and the real one is lost in
    the unfinished record, so the cell ends at its time limit; then cells
    run and report as usual."""
    km, kc = start_kernel("--timeout", "3")
    t = ku.Tracker(kc)
    kpid = ku.kernel_pid(km)
    first = t.run("""
import os, socket, stat, time
s = None
for fd in range(64):
    try:
        if stat.S_ISSOCK(os.fstat(fd).st_mode):
            s = socket.socket(fileno=os.dup(fd))
            break
    except OSError:
        pass
for rec in [b'garbage', b'.not json', b'.[]', b'.{"type": "ready", "content": {}}',
            b'.{"type": "jail_failed", "content": {"layer": "seccomp", "error": "forged"}}',
            b'.{"type": "reply", "content": {"status": "ok", "execution_count": 99}}',
            b'.{"type": "nope", "content": {}}', b'+' + b'a' * 60000]:
    s.send(rec)
time.sleep(1)
""", timeout=20)
    assert first.status == "error" and first.content["ename"] == "TimeoutError", first.describe()
    t.run("import time; time.sleep(1.5)")
    t.drain(1)
    assert psutil.pid_exists(kpid) and km.is_alive()
    res = t.run_ok("40 + 2")
    assert res.result_data()["text/plain"] == "42"
    res = t.run_ok("print('hello')")
    assert res.stream_text() == "hello\n", res.describe()
    ku.assert_answers(t)


# ------------------------------------------- an unprivileged kernel (nobody)

NOBODY = 65534


def _can_switch_to_nobody():
    if os.geteuid() != 0:
        return "the tests do not run as root, so they cannot switch to nobody"
    if not shutil.which("setpriv") or not shutil.which("unshare"):
        return "setpriv or unshare (util-linux) is not installed"
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                            "unshare", "-U", "-r", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"nobody cannot create a user namespace here: {probe.stderr.strip()}"
    for path in [ku.SANDCELL, os.path.join(os.path.dirname(ku.SANDCELL), "sandcell-worker")]:
        probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                                "--clear-groups", "test", "-x", path])
        if probe.returncode != 0:
            return f"nobody cannot execute {path}"
    return None


@contextlib.contextmanager
def _nobody_kernel(jupyter_env, flags):
    """A sandcell kernel run as nobody (setpriv), its connection file handed
    over to it; yields (km, kc, ready, stderr text reader)."""
    why = _can_switch_to_nobody()
    if why:
        pytest.skip(why)
    d = Path(tempfile.mkdtemp(prefix="sandcell-nobody-"))
    os.chmod(d, 0o700)
    os.chown(d, NOBODY, NOBODY)
    wrapper = ["sh", "-c",
               f'chown {NOBODY}:{NOBODY} "$0" && exec setpriv --reuid={NOBODY} --regid={NOBODY} '
               f'--clear-groups "$@"', "{connection_file}"]
    name = ku.install_kernelspec(jupyter_env, flags, wrapper=wrapper)
    km = KernelManager(kernel_name=name)
    km.connection_file = str(d / "kernel.json")
    log_path = d / "stderr.log"
    procs, popen = [], None
    # A zygote without a writable home would make matplotlib create a
    # cache directory in the host's /tmp that nobody removes; the zygote
    # gives the preload a private one instead and removes it.
    mpl_before = set(Path("/tmp").glob("matplotlib-*")) | set(Path("/tmp").glob("sandcell-mpl-*"))
    with open(log_path, "w") as log:
        km.start_kernel(env=dict(os.environ, HOME=str(d)), stderr=log)
    kc = km.client()
    kc.start_channels()
    try:
        popen = km.provisioner.process
        try:
            kc.wait_for_ready(timeout=ku.TIMEOUT)
            ready = True
        except RuntimeError:
            ready = False
        procs = ku.process_tree(popen.pid)
        yield km, kc, ready, log_path.read_text
    finally:
        procs = procs or (ku.process_tree(popen.pid) if popen else [])
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=False)
        left = ku.wait_gone(procs, timeout=10, popen=popen)
        shutil.rmtree(d, ignore_errors=True)
        mpl_left = []
        for p in (set(Path("/tmp").glob("matplotlib-*")) |
                  set(Path("/tmp").glob("sandcell-mpl-*"))) - mpl_before:
            if p.stat().st_uid == NOBODY:
                mpl_left.append(str(p))
                shutil.rmtree(p, ignore_errors=True)
        if mpl_left:
            pytest.fail(f"the nobody kernel left matplotlib directories in /tmp: {mpl_left}")
        if left:
            report = ku.describe_procs(left)
            ku.kill_all(left)
            pytest.fail(f"the nobody kernel left processes: {report}")


def test_unprivileged_kernel_without_cgroups_refuses_to_run_code(jupyter_env):
    """As nobody there is no cgroup to write: without --no-cgroups no code
    may run, and the user is told that the cgroup layer is missing — by the
    kernel refusing to start, or by an error on the cell, soon."""
    with _nobody_kernel(jupyter_env, []) as (km, kc, ready, stderr):
        if not ready:
            assert "cgroup" in stderr(), f"the kernel died without naming the layer: {stderr()}"
            return
        t = ku.Tracker(kc)
        msg_id = t.execute("import os; print('ran as', os.getuid())")
        try:
            res = t.finish(msg_id, timeout=20)
        except AssertionError as e:
            pytest.fail(f"no reply within 20 s to a cell of an unprivileged kernel without "
                        f"cgroups ({e}); the kernel only logged: {stderr().strip()[-400:]}")
        assert "ran as" not in res.stream_text(), "code ran without the cgroup layer"
        assert res.status == "error", res.describe()
        assert "cgroup" in res.content.get("evalue", ""), (
            f"the error does not name the cgroup layer: {res.describe()}")
        # Frontends show a cell's error from its iopub output, not from the
        # reply: without one the notebook shows an empty, failed cell.
        errors = res.of_type("error")
        assert len(errors) == 1 and "cgroup" in errors[0]["content"]["evalue"], (
            f"the error is not published on iopub: {res.describe()}")


def test_unprivileged_kernel_with_no_cgroups_keeps_the_other_layers(jupyter_env):
    with _nobody_kernel(jupyter_env, ["--no-cgroups"]) as (km, kc, ready, stderr):
        assert ready, f"the kernel did not start: {stderr()}"
        assert "UNSAFE" in stderr() and "--no-cgroups" in stderr(), stderr()
        t = ku.Tracker(kc)
        result, res = ku.attempt(t, """
import os, socket, errno, ctypes
libc = ctypes.CDLL(None, use_errno=True)
def unshare_user():
    if libc.unshare(0x10000000) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
out = {'ids': [os.getuid(), os.getgid(), os.getpid()]}
status = open('/proc/self/status').read()
out['status'] = [l for l in status.splitlines() if l.split(':')[0] in ('Seccomp', 'NoNewPrivs', 'CapEff')]
for name, call in [('shadow', lambda: open('/etc/shadow')),
                   ('root', lambda: os.listdir('/root')),
                   ('usr', lambda: open('/usr/sandcell-canary', 'w')),
                   ('inet', lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
                   ('unshare', unshare_user)]:
    try:
        call()
        out[name] = 'ok'
    except OSError as e:
        out[name] = e.errno
import resource
out['nproc'] = resource.getrlimit(resource.RLIMIT_NPROC)
return out
""")
        assert result and result["ok"], res.describe()
        out = result["value"]
        assert out["ids"] == [1000, 1000, 1], out
        assert sorted(out["status"]) == ["CapEff:\t0000000000000000", "NoNewPrivs:\t1",
                                         "Seccomp:\t2"], out
        assert out["shadow"] == errno.ENOENT and out["root"] == errno.ENOENT, out
        assert out["usr"] in (errno.EROFS, errno.EACCES), out
        assert out["inet"] == errno.EACCES and out["unshare"] == errno.EPERM, out
        assert out["nproc"] == [64, 64], out
        ku.assert_answers(t)
