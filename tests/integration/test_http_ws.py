"""The WebSocket channels of sandcell's HTTP front door
(/api/kernels/{id}/channels) with a real client (python3-websocket),
messages framed by Jupyter Server's own functions (legacy JSON, its binary
variant with buffers, and v1.kernel.websocket.jupyter.org): cells, both
framings, buffers, routing between connections, a client that leaves
mid-cell and comes back with its session_id, many connections at once, a
client that does not read, and bad input answered with close codes."""

import json
import socket
import threading
import time
import uuid

import pytest

import kernel_util as ku
from http_util import http_of

websocket = pytest.importorskip("websocket")  # Debian: python3-websocket
from jupyter_server.base.zmqhandlers import (  # noqa: E402  Debian: python3-jupyter-server
    deserialize_binary_message, deserialize_msg_from_ws_v1, serialize_binary_message,
    serialize_msg_to_ws_v1)

pytestmark = ku.requires_sandcell

V1 = "v1.kernel.websocket.jupyter.org"


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


@pytest.fixture
def served(daemon):
    d = daemon(["--http", "127.0.0.1:0", "--max-conversations", "20", "--max-output", "64"])
    return d, http_of(d)


def header(msg_type, session="test-session", **extra):
    h = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session,
         "username": "test", "date": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
         "version": "5.3"}
    h.update(extra)
    return h


class Client:
    """One WebSocket to a kernel, in one framing."""

    def __init__(self, http, kid, session_id=None, v1=False, token_in_query=True, **kw):
        q = [f"token={http.token}"] if token_in_query else []
        if session_id:
            q.append(f"session_id={session_id}")
        url = http.url.replace("http://", "ws://") + f"/api/kernels/{kid}/channels"
        if q:
            url += "?" + "&".join(q)
        hdr = [] if token_in_query else [f"Authorization: token {http.token}"]
        self.ws = websocket.create_connection(url, subprotocols=[V1] if v1 else None,
                                              header=hdr, timeout=30, **kw)
        self.v1 = v1
        assert (self.ws.subprotocol == V1) == v1, self.ws.subprotocol

    def send(self, channel, msg_type, content, buffers=(), hdr=None):
        h = hdr or header(msg_type)
        if self.v1:
            parts = [json.dumps(x).encode() for x in (h, {}, {}, content)] + list(buffers)
            self.ws.send_binary(serialize_msg_to_ws_v1(parts, channel))
        elif buffers:
            msg = {"channel": channel, "header": h, "parent_header": {}, "metadata": {},
                   "content": content, "buffers": list(buffers)}
            self.ws.send_binary(serialize_binary_message(msg))
        else:
            self.ws.send(json.dumps({"channel": channel, "header": h, "parent_header": {},
                                     "metadata": {}, "content": content}))
        return h["msg_id"]

    def recv(self):
        """The next message: (channel, msg dict with header, parent_header,
        content, buffers)."""
        opcode, data = self.ws.recv_data()
        if self.v1:
            assert opcode == websocket.ABNF.OPCODE_BINARY, opcode
            channel, parts = deserialize_msg_from_ws_v1(data)
            msg = {k: json.loads(p) for k, p in
                   zip(("header", "parent_header", "metadata", "content"), parts[:4])}
            msg["buffers"] = parts[4:]
            return channel, msg
        if opcode == websocket.ABNF.OPCODE_BINARY:
            msg = deserialize_binary_message(data)
        else:
            msg = json.loads(data)
            # jupyter_server's top-level copies of the header's fields
            assert msg["msg_type"] == msg["header"]["msg_type"], msg
            assert msg["msg_id"] == msg["header"]["msg_id"], msg
        return msg.pop("channel"), msg

    def run(self, code, timeout=30):
        """Runs |code|; returns (reply content, iopub messages of the cell)
        once both the reply and idle have come."""
        mid = self.send("shell", "execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        return self.collect(mid, timeout)

    def collect(self, mid, timeout=30):
        reply, iopub, idle = None, [], False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            assert time.monotonic() < deadline, (reply, iopub)
            channel, msg = self.recv()
            if msg["parent_header"].get("msg_id") != mid:
                continue
            if channel == "shell":
                reply = msg
            elif channel == "iopub":
                iopub.append(msg)
                idle = idle or (msg["header"]["msg_type"] == "status" and
                                msg["content"]["execution_state"] == "idle")
        return reply, iopub

    def close(self):
        self.ws.close()


def outputs(iopub, kind):
    return [m for m in iopub if m["header"]["msg_type"] == kind]


@pytest.mark.parametrize("v1", [False, True], ids=["legacy", "v1"])
def test_cell_round_trip(served, v1):
    d, http = served
    kid = http.start()["id"]
    c = Client(http, kid, session_id=uuid.uuid4().hex, v1=v1)
    reply, iopub = c.run("x = 41\nprint('hello')\nx + 1")
    assert reply["content"]["status"] == "ok", reply
    assert outputs(iopub, "stream")[0]["content"]["text"] == "hello\n"
    assert outputs(iopub, "execute_result")[0]["content"]["data"]["text/plain"] == "42"
    # state is kept; the kernel's session stays the same
    reply2, iopub2 = c.run("x")
    assert outputs(iopub2, "execute_result")[0]["content"]["data"]["text/plain"] == "41"
    sessions = {m["header"]["session"] for m in iopub + iopub2 + [reply, reply2]}
    assert len(sessions) == 1, sessions
    # control and kernel_info
    mid = c.send("control", "kernel_info_request", {})
    while True:
        channel, msg = c.recv()
        if msg["parent_header"].get("msg_id") == mid and channel == "control":
            break
    assert msg["header"]["msg_type"] == "kernel_info_reply"
    assert msg["content"]["language_info"]["name"] == "python"
    c.close()


def test_what_real_clients_send(served):
    """No channel (shell), "buffers": {}, an empty header.session, a naive
    or float date, no date at all: each is answered."""
    d, http = served
    kid = http.start()["id"]
    c = Client(http, kid)
    variants = [
        lambda h: {"header": h, "parent_header": {}, "metadata": {},
                   "content": {"code": "1"}, "buffers": {}},
        lambda h: {"channel": "shell", "header": dict(h, session=""), "parent_header": {},
                   "metadata": {}, "content": {"code": "2"}},
        lambda h: {"channel": "shell", "header": dict(h, date="2026-01-02T03:04:05.123456"),
                   "parent_header": None, "metadata": {}, "content": {"code": "3"}},
        lambda h: {"channel": "shell", "header": dict(h, date=time.time()),
                   "parent_header": {}, "metadata": {}, "content": {"code": "4"}},
        lambda h: {"channel": "shell", "header": {k: v for k, v in h.items() if k != "date"},
                   "parent_header": {}, "metadata": {}, "content": {"code": "5"}},
    ]
    for i, make in enumerate(variants, 1):
        h = header("execute_request")
        c.ws.send(json.dumps(make(h)))
        reply, iopub = c.collect(h["msg_id"])
        assert reply["content"]["status"] == "ok", (i, reply)
        assert outputs(iopub, "execute_result")[0]["content"]["data"]["text/plain"] == str(i)
    c.close()


@pytest.mark.parametrize("v1", [False, True], ids=["legacy-binary", "v1"])
def test_buffers_reach_the_kernel(served, v1):
    """A message with buffers (legacy: the binary frame with its big-endian
    table) is taken and answered."""
    d, http = served
    kid = http.start()["id"]
    c = Client(http, kid, v1=v1)
    mid = c.send("shell", "execute_request", {"code": "6 * 7", "silent": False},
                 buffers=[b"\x00\x01\x02", b"binary \xff"])
    reply, iopub = c.collect(mid)
    assert reply["content"]["status"] == "ok", reply
    assert outputs(iopub, "execute_result")[0]["content"]["data"]["text/plain"] == "42"
    c.close()


def test_iopub_to_all_replies_to_the_asker(served):
    d, http = served
    kid = http.start()["id"]
    a = Client(http, kid, session_id="a")
    b = Client(http, kid, session_id="b", v1=True)
    reply, iopub = a.run("print('for everyone')")
    assert reply["content"]["status"] == "ok"
    seen_stream, seen_reply = False, False
    deadline = time.monotonic() + 10
    b.ws.settimeout(1)
    while time.monotonic() < deadline:
        try:
            channel, msg = b.recv()
        except websocket.WebSocketTimeoutException:
            break
        if msg["parent_header"].get("msg_id") != reply["parent_header"]["msg_id"]:
            continue
        seen_reply = seen_reply or channel != "iopub"
        if msg["header"]["msg_type"] == "stream":
            seen_stream = msg["content"]["text"] == "for everyone\n"
    assert seen_stream and not seen_reply
    assert http.ok("GET", f"/api/kernels/{kid}")["connections"] == 2
    a.close()
    b.close()


def test_reconnect_mid_cell_gets_what_it_missed(served):
    d, http = served
    kid = http.start()["id"]
    session = uuid.uuid4().hex
    c = Client(http, kid, session_id=session)
    mid = c.send("shell", "execute_request", {
        "code": "import time\nprint('before', flush=True)\ntime.sleep(1.5)\nprint('after')\n7",
        "silent": False})
    # wait until the cell runs, then drop the connection mid-cell
    while True:
        channel, msg = c.recv()
        if msg["header"]["msg_type"] == "stream":
            break
    c.ws.sock.shutdown(socket.SHUT_RDWR)
    c.ws.sock.close()
    time.sleep(2.5)  # the cell ends while nobody is connected
    back = Client(http, kid, session_id=session, v1=True)
    reply, iopub = back.collect(mid, timeout=10)
    assert reply["content"]["status"] == "ok", reply
    texts = "".join(m["content"]["text"] for m in outputs(iopub, "stream"))
    assert "after" in texts, iopub
    assert outputs(iopub, "execute_result")[0]["content"]["data"]["text/plain"] == "7"
    back.close()


def test_same_session_id_replaces_the_stale_connection(served):
    d, http = served
    kid = http.start()["id"]
    old = Client(http, kid, session_id="same")
    new = Client(http, kid, session_id="same")
    # the old one is closed by the server with 1000 and a reason
    old.ws.settimeout(10)
    while True:
        op, data = old.ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
    assert int.from_bytes(data[:2], "big") == 1000, data
    assert b"session_id" in data[2:], data
    reply, _ = new.run("'new'")
    assert reply["content"]["status"] == "ok"
    new.close()


def test_many_connections(served):
    """120 connections on four kernels at once: every one gets its own
    replies and every kernel's iopub reaches all of its connections."""
    d, http = served
    kids = [http.start()["id"] for _ in range(4)]
    clients = [Client(http, kids[i % 4], session_id=f"s{i}", v1=bool(i % 2))
               for i in range(120)]
    mids = [c.send("shell", "kernel_info_request", {}) for c in clients]
    for c, mid in zip(clients, mids):
        while True:
            channel, msg = c.recv()
            if channel == "shell" and msg["parent_header"].get("msg_id") == mid:
                break
    for k, kid in enumerate(kids):
        assert http.ok("GET", f"/api/kernels/{kid}")["connections"] == 30
    # one cell per kernel; all 30 connections of that kernel see its output
    firsts = clients[:4]
    runs = [c.send("shell", "execute_request", {"code": f"print('kernel {i}')"})
            for i, c in enumerate(firsts)]
    for i, c in enumerate(clients):
        k = i % 4
        while True:
            channel, msg = c.recv()
            if (channel == "iopub" and msg["header"]["msg_type"] == "stream" and
                    msg["parent_header"].get("msg_id") == runs[k]):
                assert msg["content"]["text"] == f"kernel {k}\n"
                break
    for c in clients:
        c.close()


def test_stalled_reader_slows_nobody(served):
    """A connection that stops reading while its kernel prints 24 MB: the
    kernel's other connection and another kernel answer meanwhile; the
    stalled one, when it reads again, is told that output was dropped."""
    d, http = served
    kid, other_kid = http.start()["id"], http.start()["id"]
    stalled = Client(http, kid, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    watcher = Client(http, kid, v1=True)
    other = Client(http, other_kid)
    stalled.run("1")
    mid = watcher.send("shell", "execute_request", {
        "code": "for i in range(24000):\n    print('x' * 1000)\n", "silent": False})
    # while the flood goes on, another kernel answers at once
    t0 = time.monotonic()
    reply, _ = other.run("1 + 1")
    assert reply["content"]["status"] == "ok"
    assert time.monotonic() - t0 < 5
    reply, iopub = watcher.collect(mid, timeout=120)
    assert reply["content"]["status"] == "ok", reply
    # the watcher got all of it (up to what the kernel's output limit keeps)
    text = "".join(m["content"]["text"] for m in outputs(iopub, "stream"))
    assert len(text) > 20_000_000
    # the stalled one reads now: some output, then the note
    stalled.ws.settimeout(5)
    notes, got = [], 0
    try:
        while True:
            channel, msg = stalled.recv()
            if msg["header"]["msg_type"] == "stream":
                if "sandcell: iopub output" in msg["content"]["text"]:
                    notes.append(msg["content"]["text"])
                else:
                    got += len(msg["content"]["text"])
    except websocket.WebSocketTimeoutException:
        pass
    assert any("being dropped" in n for n in notes), notes
    assert got < len(text)
    for c in (stalled, watcher, other):
        c.close()


@pytest.mark.parametrize("frame,opcode,code", [
    (b'{"channel": "nosuch", "header": {"msg_id": "a", "msg_type": "b"}}',
     websocket.ABNF.OPCODE_TEXT, 1008),
    (b'{"channel": "shell", "header": ', websocket.ABNF.OPCODE_TEXT, 1008),
    (b'{"channel": "shell", "header": "\xff"}', websocket.ABNF.OPCODE_TEXT, 1007),
    (b"\x00\x00\x00\x05\x00\x00\x00\x08", websocket.ABNF.OPCODE_BINARY, 1008),
], ids=["unknown-channel", "bad-json", "bad-utf8", "bad-table"])
def test_bad_input_closes_with_a_code(served, frame, opcode, code):
    d, http = served
    kid = http.start()["id"]
    c = Client(http, kid)
    c.ws.send(frame, opcode)
    c.ws.settimeout(10)
    op, data = c.ws.recv_data(control_frame=True)
    assert op == websocket.ABNF.OPCODE_CLOSE, (op, data)
    assert int.from_bytes(data[:2], "big") == code, data
    # the daemon keeps serving
    again = Client(http, kid)
    reply, _ = again.run("'still here'")
    assert reply["content"]["status"] == "ok"
    again.close()


def test_oversized_message_closes_with_1009(served):
    d, http = served
    kid = http.start()["id"]
    c = Client(http, kid)
    c.ws.settimeout(5)
    try:  # the server stops reading once the frame's length is known
        c.ws.send_binary(b"\x00" * (33 << 20))
    except (BrokenPipeError, ConnectionResetError, websocket.WebSocketException):
        pass
    c.ws.settimeout(10)
    op, data = c.ws.recv_data(control_frame=True)
    assert op == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1009, data


@pytest.mark.parametrize("v1", [False, True], ids=["legacy", "v1"])
def test_round_trip_is_not_held_back(served, v1):
    """A reply goes out at once: the upgraded socket has TCP_NODELAY, so a
    frame's header and payload do not wait for the client's delayed ACK
    (about 40 ms each round trip without it)."""
    d, http = served
    kid = http.start()["id"]
    c = Client(http, kid, v1=v1)
    c.run("1")
    times = []
    for _ in range(30):
        t0 = time.monotonic()
        mid = c.send("shell", "kernel_info_request", {})
        while True:
            channel, msg = c.recv()
            if channel == "shell" and msg["parent_header"].get("msg_id") == mid:
                break
        times.append(time.monotonic() - t0)
    times.sort()
    assert times[len(times) // 2] < 0.02, times
    c.close()
