"""`sandcell serve` at the edge of what its process can hold: under a low
RLIMIT_NOFILE (soft = hard, so the daemon cannot raise it) a start beyond
the open-file budget is refused at once with TooManyConversations naming
the limit, and the daemon keeps serving the conversations it has; when
clients eat the descriptors the budget counted on (many idle
connections), a start is refused too instead of libzmq aborting the
daemon; and more conversations than czmq's default socket limit (1024
sockets, about 200 conversations) start without an abort."""

import os
import resource
import socket
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def nofile(n):
    """A preexec_fn that sets the daemon's RLIMIT_NOFILE to n (soft and hard)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


def start_reply(ctl, timeout=ku.TIMEOUT):
    reply = ctl.request("start_request", {}, None, timeout)
    return reply["content"]


def test_start_beyond_open_file_limit_is_refused(daemon):
    d = daemon(["--max-conversations", "500", "--pool", "1"], preexec_fn=nofile(320))
    ctl = d.control
    started = []
    t_refused = None
    for _ in range(60):
        t0 = time.monotonic()
        content = start_reply(ctl)
        if content["status"] != "ok":
            t_refused = time.monotonic() - t0
            refused = content
            break
        started.append(content)
    else:
        pytest.fail("60 starts under RLIMIT_NOFILE 320 were all accepted")
    assert 3 <= len(started) <= 20, f"{len(started)} conversations under RLIMIT_NOFILE 320"
    assert refused["ename"] == "TooManyConversations", refused
    assert "open-file limit (320)" in refused["evalue"], refused
    assert t_refused < 2, f"the refusal took {t_refused:.2f}s"
    assert d.alive()
    assert "holds %d conversations" % len(started) in d.stderr_text(100000)

    # Every conversation it holds answers, each with a full client connected.
    trackers = [ku.Tracker(d.client(c["connection"])) for c in started]
    for i, t in enumerate(trackers):
        assert t.run_ok(f"{i} * 2").result_data()["text/plain"] == str(2 * i)
    # Still refused with every client connected, and still serving after.
    assert start_reply(ctl)["ename"] == "TooManyConversations"
    assert trackers[0].run_ok("'still here'").result_data()["text/plain"] == "'still here'"

    # Room again once one ends.
    ctl.stop(started[-1]["id"])
    deadline = time.monotonic() + ku.TIMEOUT
    while True:
        content = start_reply(ctl)
        if content["status"] == "ok":
            break
        assert time.monotonic() < deadline, content
        time.sleep(0.2)
    again = ku.Tracker(d.client(content["connection"]))
    assert again.run_ok("1+1").result_data()["text/plain"] == "2"
    assert d.alive()


def test_descriptors_eaten_by_clients_refuse_a_start(daemon):
    d = daemon(["--max-conversations", "4", "--pool", "0"], preexec_fn=nofile(400))
    ctl = d.control
    first = ctl.start()
    tracker = ku.Tracker(d.client(first["connection"]))
    tracker.run_ok("x = 41")
    port = first["connection"]["shell_port"]
    ip = first["connection"]["ip"]

    # Idle TCP connections to the shell port, each an fd in the daemon,
    # until the daemon stops accepting them (it is out of descriptors).
    conns = []
    try:
        fd_dir = f"/proc/{d.pid}/fd"
        for _ in range(600):
            if len(os.listdir(fd_dir)) >= 400:
                break
            try:
                conns.append(socket.create_connection((ip, port), timeout=3))
            except OSError:
                pass  # the listen backlog is full: the daemon accepts no more
        deadline = time.monotonic() + 10
        while len(os.listdir(fd_dir)) < 400 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(os.listdir(fd_dir)) >= 400, (
            f"the daemon holds {len(os.listdir(fd_dir))} descriptors after "
            f"{len(conns)} connections")
        content = start_reply(ctl)
        assert content["status"] == "error", content
        assert content["ename"] == "TooManyConversations", content
        assert "out of file descriptors" in content["evalue"], content
        assert d.alive()
        assert tracker.run_ok("x + 1").result_data()["text/plain"] == "42"
    finally:
        for c in conns:
            c.close()

    # The descriptors come back, and with them the room to start.
    deadline = time.monotonic() + ku.TIMEOUT
    while True:
        content = start_reply(ctl)
        if content["status"] == "ok":
            break
        assert time.monotonic() < deadline, content
        time.sleep(0.2)
    second = ku.Tracker(d.client(content["connection"]))
    assert second.run_ok("2+2").result_data()["text/plain"] == "4"
    assert tracker.run_ok("x").result_data()["text/plain"] == "41"


def test_more_conversations_than_czmq_default_socket_limit(daemon):
    # 240 conversations are 1200 sockets: past czmq's default of 1024,
    # which used to abort the daemon at about the 205th start.
    want = 240
    d = daemon(["--max-conversations", str(want), "--pool", "0", "--mock-interpreter"],
               preexec_fn=nofile(8192))
    ctl = d.control
    ids = [ctl.start()["id"] for _ in range(want)]
    assert len(set(ids)) == want
    refused = start_reply(ctl)
    assert refused["ename"] == "TooManyConversations", refused
    assert "--max-conversations 240" in refused["evalue"], refused
    assert d.alive()
    for cid in ids:
        ctl.stop(cid)
