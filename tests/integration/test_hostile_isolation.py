"""One conversation may not stall another (issue 10, item 3).

Conversation A misbehaves through a frontend of its own, in another
process (hostile_frontend.py): its channel is read slowly, it floods
output, it has an iopub subscriber that never reads, or it forges records.
Meanwhile conversation B runs `1 + 1` again and again.

What is checked, and why two bounds: a daemon blocked on A stops B for
seconds (19.7 s in the issue), so no round trip of B may take
MAX_ROUND_TRIP_S. The issue's bound, 10 ms at the 99th percentile, is
checked when the machine has a core to spare (its load average below its
cores minus one at the start, and B's own p99 with A idle within the
bound); on a shared, loaded machine B's figures are set by what else runs
(A's interpreter and frontend take CPU too), and the test prints B's
median and p99 with A idle and with A misbehaving instead of failing on
them. A client that pipelines thousands of requests without reading gets
every reply, in order. The stalled subscriber costs the daemon a bounded
amount of memory."""

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from queue import Empty

import kernel_util as ku

pytestmark = ku.requires_sandcell

HERE = Path(__file__).resolve().parent
FRONTEND = HERE / "hostile_frontend.py"
P99_BOUND_S = 0.010
MAX_ROUND_TRIP_S = 2.0
ROUND_TRIPS = 300


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def round_trips(kc, n=ROUND_TRIPS):
    """Seconds from each `1 + 1` sent to its execute_reply read."""
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        msg_id = kc.execute("1 + 1", store_history=False)
        while True:
            reply = kc.get_shell_msg(timeout=ku.TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        times.append(time.monotonic() - t0)
        assert reply["content"]["status"] == "ok", reply["content"]
        while True:  # B's own iopub is read, so it is never B that stalls
            try:
                ku._get_now(kc.iopub_channel)
            except Empty:
                break
    return times


def p99(times):
    return sorted(times)[max(0, int(len(times) * 0.99) - 1)]


def describe(times):
    return (f"median {statistics.median(times) * 1000:.2f} ms, "
            f"p99 {p99(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms")


class Frontend:
    """hostile_frontend.py MODE on conversation |conv|'s connection."""

    def __init__(self, tmp_path, mode, conv):
        path = tmp_path / f"a-{mode}.json"
        path.write_text(json.dumps(conv["connection"]))
        self.proc = subprocess.Popen(
            [sys.executable, str(FRONTEND), mode, str(path)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            err = self.proc.stderr.read()[-2000:]
            self.stop()
            pytest.fail(f"the {mode} frontend did not start: {line!r} {err}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


def two_conversations(d, **a_limits):
    ctl = d.control
    a = ctl.start(**a_limits)
    b = ctl.start(max_executions=100000)  # B runs thousands of cells
    kc = d.client(b["connection"])
    round_trips(kc, 20)  # warm
    return a, kc


def machine_has_room():
    return os.getloadavg()[0] < (os.cpu_count() or 1) - 1


def assert_b_kept_its_round_trip(mode, idle, busy, quiet):
    print(f"\nB with A idle: {describe(idle)}\nB with A {mode}: {describe(busy)}"
          f"\n(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    assert max(busy) < MAX_ROUND_TRIP_S, (
        f"B waited for A: while A is {mode}: {describe(busy)}; with A idle: {describe(idle)}")
    if quiet and p99(idle) <= P99_BOUND_S:
        assert p99(busy) <= P99_BOUND_S, (
            f"B's round trip while A is {mode}: {describe(busy)}; with A idle: {describe(idle)}")


@pytest.mark.parametrize("mode", ["slow-reader", "flood", "forge"])
def test_b_keeps_its_round_trip(daemon, tmp_path, mode):
    d = daemon(["--max-conversations", "4"])
    quiet = machine_has_room()
    a, kc = two_conversations(d, timeout=120)
    idle = round_trips(kc)
    front = Frontend(tmp_path, mode, a)
    try:
        time.sleep(0.5)  # under way
        busy = round_trips(kc)
        assert front.proc.poll() is None, front.proc.stderr.read()
    finally:
        front.stop()
    assert d.alive()
    assert_b_kept_its_round_trip(mode, idle, busy, quiet)


def test_stalled_iopub_subscriber(daemon, tmp_path):
    """An iopub subscriber that never reads, next to cells that flood:
    the daemon holds at most its high-water mark for it, and B goes on."""
    d = daemon(["--max-conversations", "4"])
    quiet = machine_has_room()
    a, kc = two_conversations(d, timeout=120)
    daemon_proc = psutil.Process(d.pid)
    idle = round_trips(kc)
    rss_before = daemon_proc.memory_info().rss
    front = Frontend(tmp_path, "stall-iopub", a)
    try:
        peak = rss_before
        end = time.monotonic() + 15
        busy = []
        while time.monotonic() < end:
            busy += round_trips(kc, 50)
            peak = max(peak, daemon_proc.memory_info().rss)
        assert front.proc.poll() is None, front.proc.stderr.read()
    finally:
        front.stop()
    growth = (peak - rss_before) / (1 << 20)
    print(f"\ndaemon RSS {rss_before / (1 << 20):.1f} MiB, peak {peak / (1 << 20):.1f} MiB "
          f"(+{growth:.1f} MiB)")
    assert growth < 48, f"the daemon grew by {growth:.1f} MiB for a subscriber that never reads"
    assert d.alive()
    assert_b_kept_its_round_trip("stall-iopub", idle, busy, quiet)


PIPELINED = 10000


def test_pipelined_requests_all_replied_in_order(daemon):
    """A client that sends thousands of requests before reading any reply
    gets every reply, in order: none is dropped at ZeroMQ's high-water
    mark (a reply that does not fit waits in the daemon). The client's
    socket takes one message and a few KiB at a time, so what does not fit
    must wait in the daemon, not in the kernel's TCP buffers."""
    import zmq
    from jupyter_client.session import Session

    d = daemon(["--max-conversations", "2"])
    conv = d.control.start(max_executions=PIPELINED + 10)
    info = conv["connection"]
    session = Session(key=info["key"].encode(), signature_scheme=info["signature_scheme"])
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    try:
        sock.linger = 0
        sock.rcvhwm = 1
        sock.setsockopt(zmq.RCVBUF, 4096)
        sock.sndhwm = 0  # the client's own queue holds whatever it sends
        sock.connect(f"{info['transport']}://{info['ip']}:{info['shell_port']}")
        sent = []
        for i in range(PIPELINED):
            msg = session.send(sock, "execute_request",
                               {"code": f"{i}", "silent": False, "store_history": False,
                                "user_expressions": {}, "allow_stdin": False,
                                "stop_on_error": False})
            sent.append(msg["header"]["msg_id"])
        time.sleep(5)  # the daemon runs what it can meanwhile; nothing is read
        got = []
        deadline = time.monotonic() + 180
        while len(got) < PIPELINED:
            assert time.monotonic() < deadline, f"{len(got)} of {PIPELINED} replies in 180 s"
            if not sock.poll(10000):
                pytest.fail(f"no reply for 10 s after {len(got)} of {PIPELINED} replies "
                            f"(the first missing answers {sent[len(got)]})")
            _, frames = session.feed_identities(sock.recv_multipart())
            reply = session.deserialize(frames)
            if reply["msg_type"] == "execute_reply":
                got.append(reply["parent_header"]["msg_id"])
                assert reply["content"]["status"] == "ok", reply["content"]
        assert got == sent, "replies out of order"
    finally:
        sock.close()
        ctx.term()
    assert d.alive()


CONTROL_PIPELINED = 12000
OUTBOX_MAX_MESSAGES = 4096  # session/serve/outbox.h


def control_dealer(rt):
    """A control client whose socket takes one message and a few KiB at a
    time, so what it does not read waits in the daemon."""
    import zmq
    from jupyter_client.session import Session

    session = Session(key=rt["key"].encode(), signature_scheme="hmac-sha256")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.rcvhwm = 1
    sock.setsockopt(zmq.RCVBUF, 4096)
    sock.sndhwm = 0
    sock.connect(f"tcp://{rt['ip']}:{rt['control_port']}")
    return session, ctx, sock


def test_control_replies_not_read_kept_in_order_then_error(daemon):
    """A control client that sends thousands of list_requests and reads
    none, then reads: every reply arrives in order up to the bound of
    replies kept for it, then one error (RepliesDropped) in place of the
    first discarded reply, naming the bound and how many were lost, then
    the replies to the later requests, in order: no reply is missing
    without a word. Another client is served meanwhile."""
    d = daemon(["--max-conversations", "2"])
    session, ctx, sock = control_dealer(d.runtime)
    try:
        sent = [session.send(sock, "list_request", {})["header"]["msg_id"]
                for _ in range(CONTROL_PIPELINED)]
        assert d.control.list() == []  # another client is answered meanwhile
        deadline = time.monotonic() + 15  # the daemon answers what it can meanwhile
        while ("replies (or 256 MiB) unread" not in d.stderr_text(100000)
               and time.monotonic() < deadline):
            time.sleep(0.2)
        time.sleep(1)
        accounted, errors, first_error_at = 0, 0, None
        while accounted < CONTROL_PIPELINED:
            if not sock.poll(30000):
                pytest.fail(f"no reply for 30 s: the reply to request {accounted} is missing")
            _, frames = session.feed_identities(sock.recv_multipart())
            reply = session.deserialize(frames)
            assert reply["parent_header"]["msg_id"] == sent[accounted], \
                f"reply {accounted} out of order or missing: {reply['content']}"
            content = reply["content"]
            assert reply["msg_type"] == "list_reply", reply["msg_type"]
            if content.get("status") == "error":
                assert content["ename"] == "RepliesDropped", content
                assert f"more than {OUTBOX_MAX_MESSAGES} replies" in content["evalue"], content
                lost = int(re.match(r"(\d+) replies", content["evalue"]).group(1))
                assert lost > OUTBOX_MAX_MESSAGES, content
                errors += 1
                first_error_at = accounted if first_error_at is None else first_error_at
                accounted += lost
            else:
                assert content["status"] == "ok", content
                accounted += 1
        print(f"\n{first_error_at} replies, then {errors} RepliesDropped error(s)")
        assert accounted == CONTROL_PIPELINED, "an error counts more replies than were asked"
        assert errors >= 1 and first_error_at >= OUTBOX_MAX_MESSAGES, (errors, first_error_at)
        assert not sock.poll(500), "a reply more than the requests"
    finally:
        sock.close()
        ctx.term()
    log = d.stderr_text(1000000)
    assert log.count("replies (or 256 MiB) unread") == errors  # one line per episode
    assert "dropped list_reply" not in log
    assert d.alive()


def test_control_client_gone_drops_kept_replies_with_one_line(daemon):
    """A control client that leaves with replies kept for it: they are
    dropped with one log line, and the daemon goes on answering others."""
    d = daemon(["--max-conversations", "2", "--verbose"])
    session, ctx, sock = control_dealer(d.runtime)
    try:
        # More than the kernel's socket buffers and the high-water marks
        # hold, whatever TCP's autotuning makes of them.
        for _ in range(CONTROL_PIPELINED):
            session.send(sock, "list_request", {})
        assert d.control.list() == []
        # The client leaves only once the daemon keeps replies for it: on a
        # loaded machine the daemon may not have read that far yet.
        deadline = time.monotonic() + 30
        while "its replies are kept" not in d.stderr_text(100000):
            assert time.monotonic() < deadline, "the daemon kept no reply for a client not reading"
            time.sleep(0.2)
    finally:
        sock.close()
        ctx.term()
    deadline = time.monotonic() + 30
    while "kept for control client" not in d.stderr_text(100000):
        assert time.monotonic() < deadline, "no log line for the replies of a client gone"
        time.sleep(0.2)
    time.sleep(0.5)
    log = d.stderr_text(1000000)
    assert re.search(r"dropped \d+ replies kept for control client \w+: the client is gone", log)
    assert log.count("the client is gone") == 1, log[-2000:]
    assert d.control.list() == []
    assert d.alive()
