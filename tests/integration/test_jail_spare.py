"""The zygote's spare interpreters (kernel/zygote.c, docs/internals.md).

A spare is jailed before anyone asks for it, with the limits of the last
request; a conversation started with other limits must still get its own
(the zygote rewrites the spare's cgroup), never the spare's. Spares are no
interpreters: they are named sandcell-spare, run nothing of the user's and
end with the daemon (serve_daemons checks that nothing is left)."""

import os
import time

import pytest

import kernel_util as ku

pytestmark = [ku.requires_sandcell, ku.requires_cgroups]


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def _cgroup_file(pid, controller, name):
    """The value of |name| in |pid|'s cgroup of |controller| (cgroup v1),
    or of the v2 group when the v1 hierarchy is not mounted."""
    for line in open(f"/proc/{pid}/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        if controller in controllers.split(","):
            with open(f"/sys/fs/cgroup/{controller}{path}/{name}") as f:
                return f.read().strip()
    v2 = {"memory.limit_in_bytes": "memory.max"}.get(name, name)
    for line in open(f"/proc/{pid}/cgroup"):
        if line.startswith("0::"):
            with open(f"/sys/fs/cgroup{line[3:].strip()}/{v2}") as f:
                return f.read().strip()
    raise AssertionError(f"no {controller} cgroup for {pid}")


def test_conversations_get_their_own_limits_from_spares(daemon):
    """Limits alternate between conversations, so that spares made for one
    set of limits serve requests with the other."""
    d = daemon()
    ctl = d.control
    shapes = [(256, 40), (300, 50), (256, 40), (300, 50), (384, 60)]
    for i, (memory, pids) in enumerate(shapes):
        conv = ctl.start(memory=memory, pids=pids)
        kc = d.client(conv["connection"])
        t = ku.Tracker(kc)
        marker = f"spare-limits-{os.getpid()}-{i}"
        res = t.finish(t.execute(f"_m = open('/tmp/{marker}', 'w'); 1"), timeout=60)
        assert res.status == "ok", res.describe()
        holders = ku.find_file_holders(d.tree(), marker)
        assert len(holders) == 1, ku.describe_procs(holders)
        pid = holders[0].pid
        assert not ku.is_spare(holders[0]), "a spare ran user code"
        assert int(_cgroup_file(pid, "memory", "memory.limit_in_bytes")) == memory << 20, (
            f"conversation {i} asked for {memory} MiB")
        assert _cgroup_file(pid, "pids", "pids.max") == str(pids), (
            f"conversation {i} asked for {pids} processes")
        ctl.stop(conv["id"])


def test_spares_are_jailed_and_idle(daemon):
    """While the daemon waits, its spares exist, each in a cgroup of its own
    with the default limits, in its own pid and mount namespaces."""
    d = daemon()
    spares = []
    for _ in range(100):
        spares = [p for p in d.tree() if ku.is_spare(p)]
        if spares:
            break

        time.sleep(0.05)
    assert spares, f"no spare in {ku.describe_procs(d.tree())}"
    me = os.readlink("/proc/self/ns/pid"), os.readlink("/proc/self/ns/mnt")
    for p in spares:
        assert (os.readlink(f"/proc/{p.pid}/ns/pid"), os.readlink(f"/proc/{p.pid}/ns/mnt")) != me
        assert int(_cgroup_file(p.pid, "memory", "memory.limit_in_bytes")) == 512 << 20
        assert p.children() == [], "a spare started a process"
