"""Hostile or broken wire messages sent straight to the shell socket with
pyzmq. The kernel is launched by hand (`sandcell kernel -f CONN`, stderr to a
file) and must: drop what is unsigned, wrongly signed, replayed, truncated,
oversized or not JSON, with exactly ONE stderr line containing "dropped" per
dropped message and no reply; answer an unknown request type and a malformed
execute_request with an error reply; and keep serving kernel_info after every
case.

With SANDCELL_TEST_KERNEL=python3 the same plumbing runs against ipykernel
for the cases where it behaves alike (no reply), without the log-line checks,
which are sandcell's."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
import uuid

import pytest
import zmq
from jupyter_client.connect import write_connection_file
from jupyter_client.session import Session

import kernel_util as ku

DELIM = b"<IDS|MSG>"
MIB = 1024 * 1024


class RawKernel:
    """A kernel process we launched ourselves, with DEALER sockets on its
    shell and control ports and a Session holding its key."""

    def __init__(self, root):
        self.key = uuid.uuid4().hex.encode()
        self.conn_file, self.cfg = write_connection_file(
            fname=str(root / f"raw-kernel-{uuid.uuid4().hex[:8]}.json"),
            ip="127.0.0.1",
            transport="tcp",
            key=self.key,
            signature_scheme="hmac-sha256",
        )
        self.stderr_path = root / f"raw-kernel-{uuid.uuid4().hex[:8]}.stderr"
        if ku.IS_IPYKERNEL:
            argv = ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", self.conn_file]
        else:
            argv = [ku.SANDCELL, "kernel", "-f", self.conn_file]
        self.stderr_file = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr_file,
            start_new_session=True,
        )
        self.session = Session(key=self.key, signature_scheme="hmac-sha256", username="tester")
        self.ctx = zmq.Context()
        self.shell = self._connect(self.cfg["shell_port"])
        self.control = self._connect(self.cfg["control_port"])

    def _connect(self, port):
        sock = self.ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(f"tcp://127.0.0.1:{port}")
        return sock

    # --- building messages

    def message(self, msg_type="kernel_info_request", content=None):
        """A well-formed, correctly signed message: (msg_id, frames)."""
        msg = self.session.msg(msg_type, {} if content is None else content)
        return msg["header"]["msg_id"], self.session.serialize(msg)

    def sign(self, parts, key=None):
        mac = hmac.new(key or self.key, digestmod=hashlib.sha256)
        for p in parts:
            mac.update(p)
        return mac.hexdigest().encode()

    def header(self, msg_type="kernel_info_request"):
        return self.session.msg_header(msg_type)

    # --- talking

    def send(self, frames, socket=None):
        (socket or self.shell).send_multipart(frames, copy=True)

    def recv_all(self, timeout):
        """Every reply arriving on shell within timeout seconds (parsed and
        signature-checked)."""
        replies = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.shell.poll(int(left * 1000)):
                return replies
            replies.append(self.parse(self.shell.recv_multipart()))

    def parse(self, frames):
        _, msg_list = self.session.feed_identities(frames, copy=True)
        return self.session.deserialize(msg_list, content=True)

    def roundtrip(self, timeout=ku.TIMEOUT):
        """Sends kernel_info_request and waits for its reply. Returns the
        other replies that arrived first."""
        msg_id, frames = self.message()
        self.send(frames)
        others = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0 and self.shell.poll(int(left * 1000)), (
                f"no kernel_info_reply within {timeout}s: kernel stopped serving "
                f"(exit status {self.proc.poll()})"
            )
            reply = self.parse(self.shell.recv_multipart())
            if reply["parent_header"].get("msg_id") == msg_id:
                assert reply["msg_type"] == "kernel_info_reply"
                return others
            others.append(reply)

    def dropped_lines(self):
        with open(self.stderr_path, "rb") as f:
            return [line for line in f.read().decode(errors="replace").splitlines()
                    if "dropped" in line.lower()]

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")[-3000:]

    def close(self):
        tree = ku.process_tree(self.proc.pid)
        try:
            if self.proc.poll() is None:
                msg = self.session.msg("shutdown_request", {"restart": False})
                self.send(self.session.serialize(msg), socket=self.control)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
            left = ku.wait_gone(tree, timeout=10, popen=self.proc)
            if left:
                ku.kill_all(left)
                pytest.fail(f"raw kernel left processes: {ku.describe_procs(left)}")
        finally:
            self.shell.close()
            self.control.close()
            self.ctx.term()
            self.stderr_file.close()


@pytest.fixture(scope="module")
def rk(jupyter_env, session_root):
    kernel = RawKernel(session_root)
    try:
        kernel.roundtrip(timeout=ku.TIMEOUT)
        yield kernel
    finally:
        kernel.close()


# ---------------------------------------------------------------- dropped


def unsigned(rk):
    _, f = rk.message()
    f[1] = b""
    return [f]


def wrong_signature(rk):
    _, f = rk.message()
    f[1] = f[1][:-1] + (b"0" if f[1][-1:] != b"0" else b"1")
    return [f]


def short_signature(rk):
    _, f = rk.message()
    f[1] = f[1][:16]
    return [f]


def other_key(rk):
    _, f = rk.message()
    f[1] = rk.sign(f[2:6], key=b"not-the-key")
    return [f]


def tampered_content(rk):
    _, f = rk.message("execute_request", {"code": "1", "silent": False})
    f[5] = json.dumps({"code": "2", "silent": False}).encode()
    return [f]


def four_frames(rk):
    _, f = rk.message()
    parts = f[2:5]  # header, parent, metadata; no content
    return [[DELIM, rk.sign(parts)] + parts]


def delimiter_only(rk):
    return [[DELIM]]


def no_delimiter(rk):
    _, f = rk.message()
    return [f[1:]]


def oversized_content(rk):
    _, f = rk.message(content={"pad": "x" * (33 * MIB)})
    return [f]


def oversized_buffers(rk):
    _, f = rk.message()
    return [f + [b"\0" * (11 * MIB)] * 3]


def bad_json_header(rk):
    _, f = rk.message()
    parts = [b'{"msg_id": "abc", "msg_type": ', f[3], f[4], f[5]]
    return [[DELIM, rk.sign(parts)] + parts]


def bad_json_content(rk):
    _, f = rk.message()
    parts = [f[2], f[3], f[4], b"{not json"]
    return [[DELIM, rk.sign(parts)] + parts]


DROPPED = {
    f.__name__: f
    for f in (
        unsigned, wrong_signature, short_signature, other_key, tampered_content,
        four_frames, delimiter_only, no_delimiter, oversized_content, oversized_buffers,
        bad_json_header, bad_json_content,
    )
}

IPYKERNEL_ACCEPTS = {"oversized_content", "oversized_buffers"}


@pytest.mark.parametrize("case", list(DROPPED))
def test_dropped(rk, case):
    if ku.IS_IPYKERNEL and case in IPYKERNEL_ACCEPTS:
        pytest.skip("ipykernel has no message size limit")
    before = len(rk.dropped_lines())
    for frames in DROPPED[case](rk):
        rk.send(frames)
    others = rk.roundtrip()
    others += rk.recv_all(0.3)
    assert others == [], f"a dropped message got a reply: {[m['msg_type'] for m in others]}"
    expect_dropped_lines(rk, before, 1)


def test_replayed_message_is_dropped(rk):
    before = len(rk.dropped_lines())
    msg_id, frames = rk.message()
    rk.send(frames)
    rk.send(frames)
    others = rk.roundtrip()
    others += rk.recv_all(0.3)
    ids = [m["parent_header"].get("msg_id") for m in others]
    assert ids == [msg_id], f"expected exactly one reply to the replayed message, got {ids}"
    expect_dropped_lines(rk, before, 1)


def expect_dropped_lines(rk, before, grew_by):
    if ku.IS_IPYKERNEL:
        return  # ipykernel's log lines are its own
    deadline = time.monotonic() + 3
    while len(rk.dropped_lines()) < before + grew_by and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    lines = rk.dropped_lines()
    assert len(lines) == before + grew_by, (
        f"expected {grew_by} new 'dropped' line(s), got {len(lines) - before}; "
        f"stderr tail:\n{rk.stderr_text()}"
    )


# ---------------------------------------------------------------- answered


def answered(rk, msg_type, content):
    before = len(rk.dropped_lines())
    msg_id, frames = rk.message(msg_type, content)
    rk.send(frames)
    others = rk.roundtrip()
    others += rk.recv_all(0.3)
    replies = [m for m in others if m["parent_header"].get("msg_id") == msg_id]
    assert len(replies) == 1, f"expected one reply, got {[m['msg_type'] for m in others]}"
    expect_dropped_lines(rk, before, 0)
    return replies[0]


@pytest.mark.skipif(ku.IS_IPYKERNEL, reason="ipykernel ignores unknown message types")
def test_unknown_request_type_gets_error_reply(rk):
    reply = answered(rk, "foo_request", {})
    assert reply["msg_type"] == "foo_reply"
    assert reply["content"]["status"] == "error"


EXECUTE_DEFAULTS = {"silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}


@pytest.mark.skipif(ku.IS_IPYKERNEL, reason="ipykernel logs and does not reply")
@pytest.mark.parametrize("code", ["missing", 42, None, ["print(1)"]], ids=repr)
def test_malformed_execute_request_gets_error_reply(rk, code):
    content = dict(EXECUTE_DEFAULTS)
    if code != "missing":
        content["code"] = code
    reply = answered(rk, "execute_request", content)
    assert reply["msg_type"] == "execute_reply"
    assert reply["content"]["status"] == "error"
    # And a good one still runs.
    good = answered(rk, "execute_request", dict(EXECUTE_DEFAULTS, code="1+1"))
    assert good["content"]["status"] == "ok"


def test_large_message_under_the_limit_is_served(rk):
    reply = answered(rk, "kernel_info_request", {"pad": "x" * (30 * MIB)})
    assert reply["msg_type"] == "kernel_info_reply"


def test_kernel_still_alive_after_everything(rk):
    assert rk.proc.poll() is None
    assert rk.roundtrip() == []
