"""One daemon per runtime file, and nothing left of a daemon killed
outright: a second `sandcell serve` on a runtime file whose daemon runs
refuses to start (exit 2, naming the file and the daemon's pid) and leaves
the first one serving with its file intact; a daemon never removes a
runtime file it did not write; the cgroup folders of a dead owner are
removed when the next daemon starts, and by `sandcell doctor`, while those
of a live owner (another daemon, or a pid that only looks alive because it
was reused) are told apart by the start time in their names."""

import json
import os
import subprocess
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def _serve_once(runtime_file, tmp_path, timeout=20):
    """Runs a second `sandcell serve` on |runtime_file|; returns the
    CompletedProcess, or fails (after killing it) if it keeps running."""
    argv = [ku.SANDCELL, "serve", "--runtime-file", str(runtime_file),
            "--journal-dir", str(tmp_path / "second-journals"), "--pool", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        tree = ku.process_tree(proc.pid)
        ku.kill_all(tree)
        proc.communicate(timeout=10)
        ku.wait_gone(tree, timeout=10)
        pytest.fail(f"a second daemon on {runtime_file} kept running ({timeout} s)")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_second_daemon_on_the_same_runtime_file_is_refused(daemon, tmp_path):
    d = daemon()
    before = open(d.runtime_file, "rb").read()
    res = _serve_once(d.runtime_file, tmp_path)
    assert res.returncode == 2, f"exit status {res.returncode}; stderr:\n{res.stderr}"
    lock = f"{d.runtime_file}.lock"
    assert open(lock).read().strip() == str(d.pid), "the lock file does not name the daemon"
    assert str(d.runtime_file) in res.stderr and f"pid {d.pid}" in res.stderr, res.stderr
    assert open(d.runtime_file, "rb").read() == before, "the runtime file was changed"
    assert d.alive()
    cid = d.control.start()["id"]
    assert d.control.ids() == [cid], "the first daemon stopped answering"
    d.control.stop(cid)
    rc, _ = d.terminate()
    assert rc == 0
    assert not os.path.exists(d.runtime_file), "a clean exit keeps its runtime file"
    assert not os.path.exists(lock), "a clean exit keeps its lock file"


def test_a_runtime_file_written_by_another_is_kept(daemon, tmp_path):
    d = daemon()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"written": "by someone else"}))
    os.rename(other, d.runtime_file)
    rc, _ = d.terminate()
    assert rc == 0
    assert os.path.exists(d.runtime_file), "the daemon removed a runtime file it did not write"
    assert json.load(open(d.runtime_file)) == {"written": "by someone else"}


def test_a_killed_daemon_releases_its_runtime_file(daemon, tmp_path):
    d = daemon()
    d.signal(9)
    d.proc.wait(timeout=10)
    d.stopped = True
    ku.wait_gone(list(d.seen.values()), timeout=10)
    assert os.path.exists(f"{d.runtime_file}.lock"), "SIGKILL left no lock file to take over"
    d2 = daemon(["--runtime-file", str(d.runtime_file)], runtime_file=d.runtime_file,
                ready=False)
    deadline = time.monotonic() + ku.TIMEOUT
    while True:  # the killed daemon's file is there until d2 replaces it
        assert d2.alive(), f"the next daemon did not start: {d2.stderr_text()}"
        try:
            if json.load(open(d.runtime_file)).get("pid") == d2.pid:
                break
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, "the next daemon did not write its runtime file"
        time.sleep(0.05)
    d2.wait_ready()
    assert d2.control.list() == []


# ------------------------------------------------------------- cgroups


def _own_group_dirs():
    """The folders sandcell makes its groups in, as kernel/cgroup.c finds
    them: below our own group, in v2 or in the v1 memory, pids and cpu
    hierarchies; [] if they cannot be written."""
    own = {}
    for line in open("/proc/self/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            own[c] = "" if path == "/" else path
    if "" in own:
        base = f"/sys/fs/cgroup{own['']}"
        try:
            ctl = open(f"{base}/cgroup.controllers").read().split()
            if "memory" in ctl and "pids" in ctl and os.access(base, os.W_OK):
                return [base]
        except OSError:
            pass
    dirs = [f"/sys/fs/cgroup/{c}{own.get(c, '')}" for c in ("memory", "pids", "cpu")]
    if all(c in own for c in ("memory", "pids", "cpu")) and all(
            os.access(d, os.W_OK) for d in dirs):
        return dirs
    return []


needs_cgroups = pytest.mark.skipif(not _own_group_dirs(),
                                   reason="no writable cgroups for this user")


def _start_time(pid):
    stat = open(f"/proc/{pid}/stat").read()
    return int(stat[stat.rindex(")") + 2:].split()[19])


def _make_groups(name, dirs=None):
    paths = [os.path.join(d, name) for d in dirs or _own_group_dirs()]
    for p in paths:
        os.mkdir(p)
    return paths


def _remove_groups(paths):
    for p in paths:
        try:
            os.rmdir(p)
        except FileNotFoundError:
            pass


@pytest.fixture
def fake_groups():
    """make(name) -> the folders of a made-up sandcell group, one per
    hierarchy; any left are removed at the end."""
    made = []

    def make(name, dirs=None):
        paths = _make_groups(name, dirs)
        made.extend(paths)
        return paths

    yield make
    _remove_groups(made)


def _wait_gone(paths, timeout=ku.TIMEOUT):
    deadline = time.monotonic() + timeout
    while any(os.path.exists(p) for p in paths) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in paths if os.path.exists(p)]


@needs_cgroups
def test_next_daemon_tells_a_reused_pid_from_a_live_owner(daemon, fake_groups):
    me = os.getpid()
    # This pytest process runs, but did not make this group: a pid reused
    # after a daemon was killed. Its start time gives it away.
    reused = fake_groups(f"sandcell-{me}-t1-7")
    # A group of a live owner (start time right): never touched.
    live = fake_groups(f"sandcell-{me}-t{_start_time(me)}-8")
    # Another daemon, running, with an interpreter in its groups.
    d1 = daemon()
    cid = d1.control.start()["id"]
    kc = d1.client(d1.control.ok("connection_request", {"id": cid})["connection"])
    ku.Tracker(kc).run_ok("x = 1")
    d1_groups = ku.cgroups_of(ku.sandcell_cgroups(), {p.pid for p in d1.tree()}, strict=True)
    assert d1_groups, "the first daemon's interpreter has no cgroup"

    daemon()  # its zygote sweeps as it starts
    left = _wait_gone(reused, timeout=10)
    assert not left, f"a group whose owner is gone (its pid reused) was kept: {left}"
    assert all(os.path.exists(p) for p in live), "a live owner's group was removed"
    assert all(os.path.exists(p) for p in d1_groups), "another daemon's groups were removed"
    assert ku.Tracker(kc).run_ok("x + 1").result_data()["text/plain"] == "2"


@needs_cgroups
def test_sigkilled_daemon_groups_go_when_the_next_starts(daemon):
    d = daemon()
    cid = d.control.start()["id"]
    kc = d.client(d.control.ok("connection_request", {"id": cid})["connection"])
    ku.Tracker(kc).run_ok("1")
    tree = d.tree()
    groups = ku.cgroups_of(ku.sandcell_cgroups(), {p.pid for p in tree}, strict=True)
    assert groups, "the interpreter has no cgroup"
    assert all(os.path.basename(g).split("-")[2].startswith("t") for g in groups), (
        f"groups not named by owner pid and start time: {sorted(groups)}")
    d.close_clients()
    d.signal(9)
    d.proc.wait(timeout=10)
    d.stopped = True
    assert not ku.wait_gone(tree, timeout=10)
    assert any(os.path.exists(g) for g in groups), "nothing was left to sweep"
    daemon()
    left = _wait_gone(groups, timeout=10)
    assert not left, f"the next daemon left the killed one's cgroups: {left}"


@pytest.fixture
def private_group():
    """The folders of a group of this test's own, below ours in each
    hierarchy, and a preexec_fn that moves a child into it. Every daemon
    or kernel that starts sweeps the stale groups below its own group: a
    stale group made below ours may be removed by a test running beside
    this one before the command under test sees it; below this group, only
    a process inside it looks. Removed at the end, once empty."""
    dirs = _make_groups(f"test-private-{os.getpid()}")

    def enter():
        for d in dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as procs:
                procs.write(str(os.getpid()))

    yield dirs, enter
    _remove_groups(dirs)


@needs_cgroups
def test_doctor_reports_and_removes_stale_groups(jupyter_env, private_group, fake_groups):
    dirs, enter = private_group
    me = os.getpid()
    stale = fake_groups(f"sandcell-{me}-t1-s3", dirs)
    live = fake_groups(f"sandcell-{me}-t{_start_time(me)}-9", dirs)
    res = subprocess.run([ku.SANDCELL, "doctor"], capture_output=True, text=True, timeout=120,
                         preexec_fn=enter)
    for p in stale:
        assert f"removed {p}" in res.stdout, res.stdout
    assert not [p for p in stale if os.path.exists(p)], "doctor did not remove them"
    assert all(os.path.exists(p) for p in live), "doctor removed a live owner's group"
    for p in live:
        assert p not in res.stdout
    again = subprocess.run([ku.SANDCELL, "doctor"], capture_output=True, text=True, timeout=120,
                           preexec_fn=enter)
    assert any(line.split()[:3] == ["stale", "cgroups", "none"]
               for line in again.stdout.splitlines()), again.stdout
