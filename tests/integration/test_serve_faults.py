"""Faults under `sandcell serve`: an interpreter killed mid-cell, a memory
bomb, a fork bomb and an endless loop next to well-behaved conversations,
200 conversations started and stopped with no leak of processes, fds,
cgroups or mounts, and the daemon itself ended by SIGTERM (graceful) and by
SIGKILL (no interpreter survives it)."""

import os
import signal
import time

import psutil
import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def timed_run(tracker, code, timeout=ku.TIMEOUT):
    t0 = time.monotonic()
    res = tracker.run(code, timeout=timeout)
    return res, time.monotonic() - t0


def test_kill_interpreter_mid_cell(daemon):
    d = daemon(["--max-conversations", "8"])
    ctl = d.control
    convs = [ctl.start() for _ in range(3)]
    trackers = [ku.Tracker(d.client(c["connection"])) for c in convs]
    for i, t in enumerate(trackers):
        t.run_ok(f"x = {i + 100}")
    victim, others = trackers[0], trackers[1:]

    msg_id = victim.execute("_m = open('/tmp/kill-me-marker', 'w')\n"
                            "import time\ntime.sleep(60)")
    victim.wait_iopub(msg_id, "execute_input")
    interp = ku.wait_file_holders(d, "kill-me-marker")
    assert len(interp) == 1, ku.describe_procs(interp)
    # The others are busy too when it happens.
    busy = [t.execute("import time\ntime.sleep(2)\nx") for t in others]
    time.sleep(0.5)
    os.kill(interp[0].pid, signal.SIGKILL)
    killed_at = time.monotonic()

    res = victim.finish(msg_id, timeout=10)
    took = res.reply_time - killed_at
    assert res.status == "error", res.describe()
    assert res.content.get("ename") == "InterpreterDied", res.describe()
    assert took < 3, f"the death was reported after {took:.1f}s"
    assert res.error()["ename"] == "InterpreterDied"
    ku.assert_framed(res)

    for i, (t, mid) in enumerate(zip(others, busy), start=1):
        r = t.finish(mid, timeout=ku.TIMEOUT)
        assert r.status == "ok", r.describe()
        assert r.result_data()["text/plain"] == str(i + 100)
        assert t.run_ok("x + 1").result_data()["text/plain"] == str(i + 101)
    assert d.alive()
    # The victim's conversation goes on in a fresh interpreter.
    fresh = victim.run_ok("'x' in globals()")
    assert fresh.result_data()["text/plain"] == "False"
    assert victim.run_ok("1 + 1").result_data()["text/plain"] == "2"
    assert len(ctl.list()) == 3


LIMITS = {"memory": 256, "pids": 32, "timeout": 5}

MEMORY_BOMB = """
_m = open('/tmp/bomb-memory', 'w')
hog = []
while True:
    hog.append(b'x' * (1 << 20))
"""

FORK_BOMB = """
_m = open('/tmp/bomb-fork', 'w')
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""

ENDLESS_LOOP = """
_m = open('/tmp/bomb-loop', 'w')
while True:
    pass
"""


def test_bombs_do_not_disturb_the_others(daemon):
    d = daemon(["--max-conversations", "10"])
    ctl = d.control
    bombs = {"memory": MEMORY_BOMB, "fork": FORK_BOMB, "loop": ENDLESS_LOOP}
    bomb_convs = {name: ctl.start(**LIMITS) for name in bombs}
    good_convs = [ctl.start() for _ in range(3)]
    bt = {name: ku.Tracker(d.client(c["connection"])) for name, c in bomb_convs.items()}
    gt = [ku.Tracker(d.client(c["connection"])) for c in good_convs]
    for i, t in enumerate(gt):
        t.run_ok(f"state = {i}")
    for t in bt.values():
        t.run_ok("kept = 'before'")

    sent = {name: bt[name].execute(code) for name, code in bombs.items()}
    t0 = time.monotonic()
    results = {}
    latencies = []
    max_pids = 0
    # While the bombs go off, the others answer, again and again.
    while len(results) < len(bombs):
        pending = set(bombs) - set(results)
        assert time.monotonic() - t0 < 60, f"bombs still running after 60s: {pending}"
        for i, t in enumerate(gt):
            res, took = timed_run(t, "state + 1", timeout=15)
            assert res.status == "ok", res.describe()
            assert res.result_data()["text/plain"] == str(i + 1)
            latencies.append(took)
        forks = ku.find_file_holders(d.tree(), "bomb-fork")
        max_pids = max(max_pids, len(forks))
        for name, mid in sent.items():
            if name not in results:
                bt[name].pump()
                if mid in bt[name].replies and bt[name].is_idle(mid):
                    results[name] = (bt[name].finish(mid), time.monotonic() - t0)
    latencies.sort()
    assert latencies[-1] < 5, f"a good conversation waited {latencies[-1]:.1f}s: {latencies}"
    assert latencies[len(latencies) // 2] < 1, f"median latency {latencies}"
    assert max_pids <= LIMITS["pids"], f"the fork bomb reached {max_pids} processes"

    mem, mem_t = results["memory"]
    assert mem.status == "error", mem.describe()
    assert mem.content.get("ename") in ("MemoryError", "InterpreterDied"), mem.describe()
    assert "256" in mem.content.get("evalue", ""), f"evalue lacks the limit: {mem.describe()}"
    assert mem_t < 20, f"the memory bomb ended after {mem_t:.1f}s"

    loop, loop_t = results["loop"]
    assert loop.status == "error", loop.describe()
    assert loop.content.get("ename") == "TimeoutError", loop.describe()
    assert "5" in loop.content.get("evalue", ""), loop.describe()
    assert 4.5 < loop_t < 20, f"the endless loop ended after {loop_t:.1f}s"

    fork, fork_t = results["fork"]
    assert fork.status == "error", fork.describe()
    assert fork_t < 25, f"the fork bomb ended after {fork_t:.1f}s"

    # Stopping the bomb conversations ends every process they made.
    holders = []
    for name in bombs:
        holders += ku.find_file_holders(d.tree(), f"bomb-{name}")
    for name, c in bomb_convs.items():
        ctl.stop(c["id"])
    left = ku.wait_gone(holders, timeout=10)
    assert not left, f"bomb processes outlived their conversation: {ku.describe_procs(left)}"
    for i, t in enumerate(gt):
        assert t.run_ok("state").result_data()["text/plain"] == str(i)
    assert sorted(ctl.ids()) == sorted(c["id"] for c in good_convs)


def test_200_conversations_leak_nothing(daemon):
    d = daemon(["--max-conversations", "8"])
    ctl = d.control
    # Warm up (first-use allocations), then take the baseline.
    cid = ctl.start()["id"]
    kc = d.client(ctl.ok("connection_request", {"id": cid})["connection"])
    ku.Tracker(kc).run_ok("1")
    d.close_clients()
    ctl.stop(cid)
    base_procs = d.settle()
    base_fds = ku.fd_count(d.pid)
    base_all = ku.sandcell_cgroups()
    base_ours = ku.cgroups_of(base_all, {p.pid for p in base_procs} | set(d.seen))
    base_mounts = ku.mount_count()
    base_daemon_mounts = ku.mount_count(d.pid)
    seen = set()

    t0 = time.monotonic()
    for n in range(200):
        # Some with their own limits (not the daemon's defaults).
        started = ctl.start(memory=300) if n % 7 == 3 else ctl.start()
        if n % 20 == 0:
            # Every 20th conversation runs a cell, through a real client.
            kc = d.client(started["connection"])
            res = ku.Tracker(kc).run_ok(f"_m = open('/tmp/leak-{n}', 'w'); {n} * 2")
            assert res.result_data()["text/plain"] == str(n * 2)
            seen |= {p.pid for p in ku.find_file_holders(d.tree(), f"leak-{n}")}
            d.close_clients()
        ctl.stop(started["id"])
        assert time.monotonic() - t0 < 240, f"only {n} conversations in 240s"
    took = time.monotonic() - t0
    assert ctl.list() == []

    after = d.settle(quiet=1.5)
    assert len(after) == len(base_procs), (
        f"daemon's tree: {len(base_procs)} processes before, {len(after)} after "
        f"({took:.1f}s for 200): {ku.describe_procs(after)}"
    )
    still = [p for p in after if p.pid in seen]
    assert not still, f"interpreters of ended conversations still run: {ku.describe_procs(still)}"
    fds = ku.fd_count(d.pid)
    assert abs(fds - base_fds) <= 4, f"daemon fds: {base_fds} before, {fds} after"
    # Live interpreters (a refilled pool) have cgroups; as many as before,
    # and none of ours is empty.
    pids = {p.pid for p in after} | {p.pid for p in base_procs} | set(d.seen)
    deadline = time.monotonic() + 10
    while True:
        ours = ku.cgroups_of(ku.sandcell_cgroups(), pids)
        empty = ku.empty_cgroups(ours - base_all)
        if (len(ours) <= len(base_ours) and not empty) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not empty, f"empty cgroups left: {sorted(empty)[:10]} ({len(empty)})"
    assert len(ours) <= len(base_ours), (
        f"{len(base_ours)} cgroups before, {len(ours)} after: {sorted(ours)[:12]}"
    )
    assert ku.mount_count() == base_mounts, "host mounts changed"
    assert ku.mount_count(d.pid) == base_daemon_mounts, "the daemon's mounts changed"


def _sleeping_conversations(d, n):
    ctl = d.control
    convs = [ctl.start() for _ in range(n)]
    trackers = [ku.Tracker(d.client(c["connection"])) for c in convs]
    for i, t in enumerate(trackers):
        t.run_ok(f"_m = open('/tmp/end-marker', 'w'); v = {i}")
    sleeping = trackers[0].execute("import time\ntime.sleep(60)")
    trackers[0].wait_iopub(sleeping, "execute_input")
    interpreters = ku.wait_file_holders(d, "end-marker")
    deadline = time.monotonic() + ku.TIMEOUT
    while len(interpreters) < n and time.monotonic() < deadline:
        interpreters = ku.find_file_holders(d.tree(), "end-marker")
    assert len(interpreters) == n, ku.describe_procs(interpreters)
    return convs, interpreters


def test_sigterm_is_graceful(daemon):
    d = daemon()
    cgroups_before = ku.sandcell_cgroups()
    _, interpreters = _sleeping_conversations(d, 3)
    tree = d.tree()
    rc, took = d.terminate(timeout=10)
    assert rc == 0, f"exit status {rc} after SIGTERM; stderr:\n{d.stderr_text()}"
    assert took < 5, f"SIGTERM took {took:.1f}s"
    left = ku.wait_gone(tree + interpreters, timeout=5)
    assert not left, f"still running after SIGTERM: {ku.describe_procs(left)}"
    pids = {p.pid for p in tree} | set(d.seen)
    deadline = time.monotonic() + 5
    leaked = ku.cgroups_of(ku.sandcell_cgroups() - cgroups_before, pids)
    while leaked and time.monotonic() < deadline:
        time.sleep(0.2)
        leaked = ku.cgroups_of(ku.sandcell_cgroups() - cgroups_before, pids)
    assert not leaked, f"cgroups left after SIGTERM: {sorted(leaked)}"


def test_sigkill_leaves_no_interpreter(daemon):
    d = daemon()
    _, interpreters = _sleeping_conversations(d, 3)
    tree = d.tree()
    assert len(tree) > len(interpreters)
    pids = {p.pid for p in tree} | set(d.seen)
    cgroups = ku.cgroups_of(ku.sandcell_cgroups(), pids, strict=True)
    assert cgroups, "the interpreters have no cgroup"
    d.signal(signal.SIGKILL)
    d.proc.wait(timeout=5)
    d.stopped = True
    left = ku.wait_gone(tree, timeout=5)
    assert not left, f"still running 5s after SIGKILL of the daemon: {ku.describe_procs(left)}"
    # Nobody was left to remove the cgroups; the next daemon does. (Once the
    # orphans are reaped: until then a zombie zygote looks alive to kill(pid, 0).)
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(p.pid) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    d2 = daemon()
    assert d2.control.list() == []
    deadline = time.monotonic() + 10
    while {c for c in cgroups if os.path.exists(c)} and time.monotonic() < deadline:
        time.sleep(0.1)
    stale = sorted(c for c in cgroups if os.path.exists(c))
    assert not stale, f"the next daemon left the killed one's cgroups: {stale}"
