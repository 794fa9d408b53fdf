"""Unprivileged use: `sandcell serve` (and `kernel`) run as a user of their
own, created here and removed afterwards.

- Without a cgroup delegated to that user, serve and kernel stop at start
  (exit 2) and say what is missing and both fixes (delegation,
  --no-cgroups), rather than serving conversations that can never run a
  cell.
- With a delegated subtree (here: a group in each of the v1 memory, pids
  and cpu hierarchies, below the test's own, owned by the user, the daemon
  started in it), serve needs no flag: each conversation's group is made
  below it with its limits, and --memory is enforced there. Once the
  delegation is taken back, a start_request fails at once.
- Under --no-cgroups, --memory N is enforced as N of new memory per
  process (RLIMIT_DATA), and the MemoryError names the limit.

Needs root (to create the user and the delegated groups); everything it
makes (the user, the groups, the folders) is removed at the end.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

import kernel_util as ku

pytestmark = [
    ku.requires_sandcell,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates a user and cgroups: needs root"),
]

V1_CONTROLLERS = ("memory", "pids", "cpu")


@pytest.fixture
def user():
    """A fresh system user: yields (name, uid, gid); removed afterwards,
    after every process it still runs is killed."""
    name = f"scu{uuid.uuid4().hex[:10]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                    "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True)
    try:
        out = subprocess.run(["id", "-u", name], check=True, capture_output=True, text=True)
        uid = int(out.stdout)
        out = subprocess.run(["id", "-g", name], check=True, capture_output=True, text=True)
        yield name, uid, int(out.stdout)
    finally:
        left = subprocess.run(["pgrep", "-u", name], capture_output=True, text=True).stdout
        for pid in left.split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        subprocess.run(["userdel", name], capture_output=True)
        assert not left.strip(), f"processes of the test user were left running: {left}"


@pytest.fixture
def home(user):
    """A folder of the user's own under /tmp (the pytest folders are 0700
    root's): runtime file, journals, logs. Removed afterwards."""
    d = tempfile.mkdtemp(prefix="sandcell-unpriv-")
    os.chown(d, user[1], user[2])
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _as_user(user, groups=()):
    """A preexec_fn: moves the child into |groups| (cgroup folders) while
    still root, then drops to the user for good."""
    _, uid, gid = user

    def become():
        for g in groups:
            with open(os.path.join(g, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return become


def _env(home):
    env = dict(os.environ, HOME=home)
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("XDG_STATE_HOME", None)
    return env


def _own_v1_group(controller):
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return path.rstrip("/")
    return None


@pytest.fixture
def delegated(user):
    """A v1 group in each of the memory, pids and cpu hierarchies, below
    this test's own, owned by the user (folder and files), as an
    administrator delegates one. Yields their paths; removed afterwards
    (nothing may be left inside them)."""
    if not all(os.path.isdir(f"/sys/fs/cgroup/{c}") and _own_v1_group(c) is not None
               for c in V1_CONTROLLERS):
        pytest.skip("no cgroup v1 memory, pids and cpu hierarchies to delegate from")
    name = f"sc-deleg-{uuid.uuid4().hex[:8]}"
    paths = []
    try:
        for c in V1_CONTROLLERS:
            path = f"/sys/fs/cgroup/{c}{_own_v1_group(c)}/{name}"
            os.mkdir(path)
            paths.append(path)
            os.chown(path, user[1], user[2])
            for entry in os.listdir(path):
                os.chown(os.path.join(path, entry), user[1], user[2])
        yield paths
    finally:
        left = []
        for path in reversed(paths):
            for sub in os.listdir(path):
                if os.path.isdir(os.path.join(path, sub)):
                    left.append(os.path.join(path, sub))
                    try:
                        os.rmdir(os.path.join(path, sub))
                    except OSError:
                        pass
            os.rmdir(path)
        assert not left, f"groups left in the delegated subtree: {left}"


def _serve_argv(home, *args):
    return [ku.SANDCELL, "serve", "--runtime-file", os.path.join(home, "rt.json"),
            "--journal-dir", os.path.join(home, "journals"), "--pool", "0", *args]


def _assert_names_the_fixes(text):
    assert "cgroups cannot be made" in text, text
    assert "delegate" in text and "--no-cgroups" in text, text
    assert "not writable" in text, text  # the real reason, not just "failed"


def test_serve_without_delegation_stops_at_start(user, home):
    """No group of the user's own: serve exits 2 at once, naming the
    unwritable group and both fixes, and leaves no runtime file."""
    res = subprocess.run(_serve_argv(home), capture_output=True, text=True, timeout=ku.TIMEOUT,
                         env=_env(home), preexec_fn=_as_user(user), cwd=home)
    assert res.returncode == 2, (res.returncode, res.stderr)
    _assert_names_the_fixes(res.stderr)
    assert not os.path.exists(os.path.join(home, "rt.json")), "it wrote its runtime file"


def test_kernel_without_delegation_stops_at_start(user, home):
    """The same for `sandcell kernel` (the frontend shows the kernel dying,
    with the message on its stderr)."""
    conn = os.path.join(home, "kernel.json")
    # Never bound: the kernel stops before it binds anything.
    ports = {f"{ch}_port": 40000 + i
             for i, ch in enumerate(("shell", "iopub", "stdin", "control", "hb"))}
    with open(conn, "w") as f:
        json.dump(dict(ports, transport="tcp", ip="127.0.0.1", key=uuid.uuid4().hex,
                       signature_scheme="hmac-sha256"), f)
    os.chown(conn, user[1], user[2])
    res = subprocess.run([ku.SANDCELL, "kernel", "-f", conn, "--preload", "json"],
                         capture_output=True, text=True, timeout=ku.TIMEOUT, env=_env(home),
                         preexec_fn=_as_user(user), cwd=home)
    assert res.returncode == 2, (res.returncode, res.stderr)
    _assert_names_the_fixes(res.stderr)


def test_serve_in_delegated_subtree(user, home, delegated):
    """Started inside the delegated groups with no flag, serve jails each
    conversation in a group of its own below them, with --memory 128 set
    there: a 300 MiB allocation fails, naming the limit. When the user no
    longer may make groups there, a start fails at once."""
    with ku.serve_daemons(Path(home)) as start:
        d = start(["--memory", "128", "--pool", "0", "--no-journal"], env=_env(home),
                  preexec_fn=_as_user(user, delegated), journal_dir=False)
        assert "UNSAFE" not in d.stderr_text(), d.stderr_text()
        conv = d.control.start()
        kc = d.client(conv["connection"])
        t = ku.Tracker(kc)
        res = t.run_ok("print(open('/proc/self/status').read().count('Seccomp:\t2'))")
        assert res.stream_text().strip() == "1", res.describe()
        # The interpreter's group (and the zygote's spares') below the
        # delegated memory group, each with the 128 MiB limit.
        pid = int(t.run_ok("import os; print(os.getpid())").stream_text())
        groups = [os.path.join(delegated[0], g) for g in os.listdir(delegated[0])
                  if g.startswith("sandcell-")]
        assert groups, "no group below the delegated memory group"
        for g in groups:
            with open(os.path.join(g, "memory.limit_in_bytes")) as f:
                assert int(f.read()) == 128 << 20, g
        held = [g for g in groups if open(os.path.join(g, "cgroup.procs")).read().split()]
        assert held, "no process runs in the groups below the delegated one"
        assert pid == 1, "the interpreter is not in a pid namespace of its own"
        res = t.run("big = bytearray(300 << 20)")
        assert res.status == "error", res.describe()
        err = res.error()
        assert "128 MiB memory limit" in f"{err['ename']}: {err['evalue']}", res.describe()

        # Delegation taken back: the user may no longer make groups there.
        for path in delegated:
            os.chown(path, 0, 0)
        try:
            reply = d.control.error("start_request", {})
            assert reply["ename"] == "SandboxUnavailable", reply
            _assert_names_the_fixes(reply["evalue"])
        finally:
            for path in delegated:
                os.chown(path, user[1], user[2])
        d.control.stop(conv["id"])


def test_no_cgroups_memory_is_the_limit(user, home):
    """--no-cgroups --memory 256, unprivileged: 400 MiB fails with a
    MemoryError naming the 256 MiB limit (RLIMIT_AS alone let 626 MiB
    through); 150 MiB still works."""
    with ku.serve_daemons(Path(home)) as start:
        d = start(["--no-cgroups", "--memory", "256", "--pool", "0", "--no-journal"],
                  env=_env(home), preexec_fn=_as_user(user), journal_dir=False)
        assert "UNSAFE" in d.stderr_text(), d.stderr_text()
        conv = d.control.start()
        t = ku.Tracker(d.client(conv["connection"]))
        res = t.run("big = bytearray(400 << 20)")
        assert res.status == "error", res.describe()
        err = res.error()
        assert err["ename"] == "MemoryError", res.describe()
        assert re.search(r"\b256 MiB memory limit", err["evalue"]), res.describe()
        assert "--no-cgroups" in err["evalue"], res.describe()
        t.run_ok("ok = bytearray(150 << 20); del ok")
        d.control.stop(conv["id"])
