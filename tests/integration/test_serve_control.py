"""The control endpoint of `sandcell serve`: the runtime file, start / list /
stop / connection, admission (--max-conversations), hostile control input,
file transfer into and out of a conversation's workspace and what it
refuses, per-conversation keys and jails, idle timeout and lifetime.

Every daemon is started by the `daemon` fixture (runtime file in the test's
tmp dir, stderr to a file) and stopped with SIGTERM at the end, which must
exit 0 and leave no process of its tree."""

import hashlib
import hmac
import json
import os
import re
import socket
import stat
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

DELIM = ku.SERVE_DELIM
MIB = 1024 * 1024
CONNECTION_FIELDS = ("transport", "ip", "shell_port", "iopub_port", "stdin_port",
                     "control_port", "hb_port", "key", "signature_scheme", "kernel_name")
PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


@pytest.fixture
def d(daemon):
    """One daemon with default flags."""
    return daemon(["--max-conversations", "20"])


def run(kc, code, timeout=ku.TIMEOUT):
    """Runs a cell; returns the CellResult."""
    return ku.Tracker(kc).run(code, timeout=timeout)


def run_ok(kc, code, timeout=ku.TIMEOUT):
    return ku.Tracker(kc).run_ok(code, timeout=timeout)


def value(kc, expr):
    return run_ok(kc, expr).result_data()["text/plain"]


# ---------------------------------------------------------------- runtime file


def test_runtime_file_mode_and_fields(d):
    st = os.stat(d.runtime_file)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == os.getuid()
    rt = d.runtime
    assert rt["transport"] == "tcp"
    assert rt["ip"] == "127.0.0.1"
    assert isinstance(rt["control_port"], int) and 0 < rt["control_port"] < 65536
    assert rt["signature_scheme"] == "hmac-sha256"
    assert isinstance(rt["key"], str) and re.fullmatch(r"[0-9a-f]{32,}", rt["key"]), rt["key"]
    assert rt["pid"] == d.pid
    # The control port listens on loopback and answers a signed request.
    assert d.control.list() == []


def test_runtime_file_from_environment(daemon, tmp_path):
    """Without --runtime-file: $SANDCELL_RUNTIME_FILE, else
    $XDG_RUNTIME_DIR/sandcell-serve.json."""
    env = dict(os.environ)
    env.pop("XDG_RUNTIME_DIR", None)
    env["SANDCELL_RUNTIME_FILE"] = str(tmp_path / "from-env.json")
    d1 = daemon(runtime_file=tmp_path / "from-env.json", env=env)
    assert stat.S_IMODE(os.stat(d1.runtime_file).st_mode) == 0o600
    assert d1.runtime["pid"] == d1.pid
    assert d1.control.list() == []

    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    env = dict(os.environ)
    env.pop("SANDCELL_RUNTIME_FILE", None)
    env["XDG_RUNTIME_DIR"] = str(xdg)
    d2 = daemon(runtime_file=xdg / "sandcell-serve.json", env=env)
    assert stat.S_IMODE(os.stat(d2.runtime_file).st_mode) == 0o600
    assert d2.runtime["pid"] == d2.pid
    assert d2.control.list() == []


def test_control_endpoint_flag(daemon):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = daemon(["--control", f"tcp://127.0.0.1:{port}"])
    assert d.runtime["control_port"] == port
    assert d.runtime["ip"] == "127.0.0.1"
    assert d.control.list() == []


# ---------------------------------------------------------------- start, list, stop


def test_start_list_connection_stop(d):
    ctl = d.control
    t0 = time.monotonic()
    started = ctl.start()
    start_time = time.monotonic() - t0
    cid, conn = started["id"], started["connection"]
    for field in CONNECTION_FIELDS:
        assert field in conn, f"connection lacks {field}: {conn}"
    assert conn["transport"] == "tcp" and conn["ip"] == "127.0.0.1"
    assert conn["signature_scheme"] == "hmac-sha256"
    ports = [conn[p] for p in PORTS]
    assert all(isinstance(p, int) and 0 < p < 65536 for p in ports), conn
    assert len(set(ports)) == len(ports), f"ports are not distinct: {conn}"
    assert conn["key"] and conn["key"] != d.runtime["key"]
    assert start_time < 10, f"start_request took {start_time:.1f}s"

    # An ordinary Jupyter kernel, with state kept between cells.
    kc = d.client(conn)
    info = kc.kernel_info(reply=True, timeout=ku.TIMEOUT)
    assert info["content"]["status"] == "ok"
    assert info["content"]["language_info"]["name"] == "python"
    run_ok(kc, "kept = 6 * 7")
    assert value(kc, "kept") == "42"

    listed = {c["id"]: c for c in ctl.list()}
    assert list(listed) == [cid]
    entry = listed[cid]
    for field in ("id", "state", "executions", "max_executions", "started", "last_activity"):
        assert field in entry, f"list entry lacks {field}: {entry}"
    assert entry["state"] == "running"
    assert entry["executions"] == 2, entry

    again = ctl.ok("connection_request", {"id": cid})
    assert again["connection"] == conn

    # Mark the interpreter so that its end can be seen.
    run_ok(kc, "marker = open('marker-stop-test', 'w')")
    holders = ku.wait_file_holders(d, "marker-stop-test")

    assert ctl.stop(cid)["status"] == "ok"
    assert cid not in ctl.ids()
    left = ku.wait_gone(holders, timeout=10)
    assert not left, f"the stopped conversation's interpreter still runs: {ku.describe_procs(left)}"
    err = ctl.error("connection_request", {"id": cid})
    assert err.get("ename") == "UnknownConversation", err


def test_unknown_id(d):
    ctl = d.control
    for msg_type in ("stop_request", "connection_request"):
        err = ctl.error(msg_type, {"id": "no-such-conversation"})
        assert err.get("ename") == "UnknownConversation", (msg_type, err)
    err = ctl.error("get_file_request", {"id": "no-such-conversation", "path": "x"})
    assert err.get("ename") == "UnknownConversation", err
    err = ctl.error("put_file_request", {"id": "no-such-conversation", "path": "x"},
                    buffers=[b"data"])
    assert err.get("ename") == "UnknownConversation", err
    # A stopped id is unknown too.
    cid = ctl.start()["id"]
    ctl.stop(cid)
    err = ctl.error("stop_request", {"id": cid})
    assert err.get("ename") == "UnknownConversation", err


def test_max_conversations(daemon):
    d = daemon(["--max-conversations", "3"])
    ctl = d.control
    ids = [ctl.start()["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    t0 = time.monotonic()
    err = ctl.error("start_request", {})
    took = time.monotonic() - t0
    assert err.get("ename") == "TooManyConversations", err
    assert err.get("evalue"), err
    assert took < 1.0, f"refusal took {took:.2f}s"
    assert sorted(ctl.ids()) == sorted(ids)
    # Room again after a stop.
    ctl.stop(ids[0])
    new = ctl.start()
    kc = d.client(new["connection"])
    assert value(kc, "1+1") == "2"


def test_daemon_limit_flags(daemon):
    """--max-executions and the limit flags of serve are every
    conversation's defaults; start_request overrides them."""
    d = daemon(["--max-executions", "2", "--timeout", "2"])
    ctl = d.control
    plain = ctl.start()
    more = ctl.start(max_executions=3, timeout=30)
    t = ku.Tracker(d.client(plain["connection"]))
    t0 = time.monotonic()
    res = t.run("while True: pass", timeout=20)
    took = time.monotonic() - t0
    assert res.content.get("ename") == "TimeoutError", res.describe()
    assert took < 10, f"--timeout 2 stopped the cell after {took:.1f}s"
    assert t.run_ok("1 + 1").result_data()["text/plain"] == "2"
    capped = t.run("3")
    assert capped.content.get("ename") == "ExecutionLimitReached", capped.describe()
    assert re.search(r"\b2\b", capped.content.get("evalue", "")), capped.content
    ku.assert_framed(capped)
    entry = [c for c in ctl.list() if c["id"] == plain["id"]][0]
    assert entry["state"] == "capped", entry
    assert entry["executions"] == 2 and entry["max_executions"] == 2, entry

    t2 = ku.Tracker(d.client(more["connection"]))
    assert t2.run_ok("import time; time.sleep(3); 'slept'").result_data()["text/plain"] == \
        "'slept'"
    t2.run_ok("1")
    t2.run_ok("2")
    assert t2.run("3").content.get("ename") == "ExecutionLimitReached"
    entry = [c for c in ctl.list() if c["id"] == more["id"]][0]
    assert entry["state"] == "capped" and entry["max_executions"] == 3, entry


def test_keys_differ_and_are_enforced(d):
    ctl = d.control
    convs = [ctl.start() for _ in range(3)]
    keys = [c["connection"]["key"] for c in convs]
    assert len(set(keys)) == 3, keys
    assert d.runtime["key"] not in keys
    # A request to conversation B signed with A's key is not answered;
    # one signed with B's key is.
    import zmq
    from jupyter_client.session import Session

    a, b = convs[0]["connection"], convs[1]["connection"]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"tcp://127.0.0.1:{b['shell_port']}")
    try:
        wrong = Session(key=a["key"].encode(), signature_scheme="hmac-sha256")
        wrong.send(sock, "kernel_info_request", {})
        assert not sock.poll(1500), "a request signed with another conversation's key got a reply"
        right = Session(key=b["key"].encode(), signature_scheme="hmac-sha256")
        right.send(sock, "kernel_info_request", {})
        assert sock.poll(ku.TIMEOUT * 1000), "no reply to a correctly signed request"
        _, msg_list = right.feed_identities(sock.recv_multipart())
        assert right.deserialize(msg_list)["msg_type"] == "kernel_info_reply"
    finally:
        sock.close()
        ctx.term()


def test_conversations_have_separate_jails(d):
    ctl = d.control
    a, b = ctl.start(), ctl.start()
    ka, kb = d.client(a["connection"]), d.client(b["connection"])
    run_ok(ka, "open('secret-a.txt', 'w').write('only for a'); secret = 'a'")
    assert value(ka, "open('/workspace/secret-a.txt').read()") == "'only for a'"
    assert value(kb, "import os; os.path.exists('/workspace/secret-a.txt')") == "False"
    assert value(kb, "'secret-a.txt' in os.listdir('/workspace')") == "False"
    assert value(kb, "'secret' in globals()") == "False"
    err = ctl.get(b["id"], "secret-a.txt")["content"]
    assert err["status"] == "error", err
    got = ctl.get(a["id"], "secret-a.txt")
    assert got["content"]["status"] == "ok", got["content"]
    assert got["buffers"][0] == b"only for a"


# ---------------------------------------------------------------- hostile control input


def _sign(key, parts):
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for p in parts:
        mac.update(p)
    return mac.hexdigest().encode()


def bad_unsigned(ctl):
    msg_id, f = ctl.message("list_request")
    f[1] = b""
    return msg_id, [f]


def bad_wrong_signature(ctl):
    msg_id, f = ctl.message("list_request")
    f[1] = f[1][:-1] + (b"0" if f[1][-1:] != b"0" else b"1")
    return msg_id, [f]


def bad_other_key(ctl):
    msg_id, f = ctl.message("list_request")
    f[1] = _sign(b"not-the-key", f[2:6])
    return msg_id, [f]


def bad_tampered(ctl):
    msg_id, f = ctl.message("stop_request", {"id": "x"})
    f[5] = json.dumps({"id": "y"}).encode()
    return msg_id, [f]


def bad_not_json(ctl):
    msg_id, f = ctl.message("list_request")
    parts = [f[2], f[3], f[4], b"{not json"]
    return msg_id, [[DELIM, _sign(ctl.key, parts)] + parts]


def bad_header_not_json(ctl):
    msg_id, f = ctl.message("list_request")
    parts = [b'{"msg_id": "x", "msg_type": ', f[3], f[4], f[5]]
    return msg_id, [[DELIM, _sign(ctl.key, parts)] + parts]


def bad_too_few_frames(ctl):
    msg_id, f = ctl.message("list_request")
    parts = f[2:5]
    return msg_id, [[DELIM, _sign(ctl.key, parts)] + parts]


def bad_no_delimiter(ctl):
    msg_id, f = ctl.message("list_request")
    return msg_id, [f[1:]]


def bad_empty(ctl):
    return None, [[b""], [DELIM]]


BAD_INPUT = {f.__name__[4:]: f for f in (
    bad_unsigned, bad_wrong_signature, bad_other_key, bad_tampered, bad_not_json,
    bad_header_not_json, bad_too_few_frames, bad_no_delimiter, bad_empty,
)}


def _no_ok_reply(ctl, msg_id, wait=0.5):
    """Whatever came back in |wait| s is at most an error reply."""
    deadline = time.monotonic() + wait
    while True:
        msg = ctl.recv(deadline - time.monotonic())
        if msg is None:
            return
        if msg_id is None or msg["parent_header"].get("msg_id") == msg_id:
            assert msg["content"].get("status") == "error", (
                f"bad input was served: {msg['msg_type']} {msg['content']}"
            )


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_control_input_is_refused(d, case):
    ctl = d.control
    cid = ctl.start()["id"]
    msg_id, frames_list = BAD_INPUT[case](ctl)
    for frames in frames_list:
        ctl.send_raw(frames)
    _no_ok_reply(ctl, msg_id)
    # The daemon keeps serving, and the tampered stop did not stop anything.
    assert d.alive()
    assert ctl.ids() == [cid]


def test_replayed_control_request(d):
    ctl = d.control
    keep = ctl.start()["id"]
    victim = ctl.start()["id"]
    msg_id, frames = ctl.message("stop_request", {"id": victim})
    ctl.send_raw(frames)
    first = ctl.wait_reply(msg_id, timeout=ku.TIMEOUT)
    assert first is not None and first["content"]["status"] == "ok", first
    # Replayed: dropped or refused, never served a second time.
    ctl.send_raw(frames)
    _no_ok_reply(ctl, msg_id, wait=1.0)
    assert ctl.ids() == [keep]


def test_unknown_and_malformed_requests_get_error_replies(d):
    ctl = d.control
    reply = ctl.request("foo_request", {})
    assert reply["msg_type"] == "foo_reply"
    assert reply["content"]["status"] == "error"
    # Requests with missing or wrongly typed fields: refused or dropped.
    cid = ctl.start()["id"]
    for msg_type, content, buffers in [
        ("stop_request", {}, None),
        ("stop_request", {"id": 42}, None),
        ("connection_request", {"id": None}, None),
        ("put_file_request", {"id": cid, "path": "x"}, None),  # no buffer
        ("put_file_request", {"id": cid}, [b"x"]),
        ("get_file_request", {"id": cid, "path": 7}, None),
        ("start_request", {"memory": "lots"}, None),
        ("start_request", {"max_executions": -1}, None),
    ]:
        msg_id = ctl.send(msg_type, content, buffers)
        _no_ok_reply(ctl, msg_id)
        assert d.alive(), f"the daemon died on {msg_type} {content}"
    assert ctl.ids() == [cid]
    # Still serving, with a fresh socket too.
    other = d.new_control()
    try:
        assert other.ids() == [cid]
    finally:
        other.close()


# ---------------------------------------------------------------- files


@pytest.fixture
def conv(d):
    started = d.control.start()
    kc = d.client(started["connection"])
    return started["id"], kc


def test_put_and_get_roundtrip(d, conv):
    cid, kc = conv
    ctl = d.control
    data = os.urandom(MIB) + b"end"
    put = ctl.put(cid, "blob.bin", data)["content"]
    assert put["status"] == "ok", put
    assert put["size"] == len(data) and put["path"] == "blob.bin", put
    digest = hashlib.sha256(data).hexdigest()
    assert value(kc, "import hashlib; hashlib.sha256(open('/workspace/blob.bin', 'rb')"
                     ".read()).hexdigest()") == repr(digest)
    # The cell writes, we read.
    run_ok(kc, "open('made.txt', 'w').write('made in the cell\\n' * 1000)")
    got = ctl.get(cid, "made.txt")
    assert got["content"]["status"] == "ok", got["content"]
    assert got["buffers"][0] == b"made in the cell\n" * 1000
    assert got["content"]["size"] == len(got["buffers"][0])
    # Overwriting, an empty file, a name in a subdirectory the cell made.
    assert ctl.put(cid, "blob.bin", b"short")["content"]["status"] == "ok"
    assert value(kc, "open('blob.bin', 'rb').read()") == "b'short'"
    assert ctl.put(cid, "empty", b"")["content"]["size"] == 0
    assert value(kc, "import os; os.path.getsize('empty')") == "0"
    run_ok(kc, "os.mkdir('sub')")
    assert ctl.put(cid, "sub/in.txt", b"nested")["content"]["status"] == "ok"
    assert value(kc, "open('sub/in.txt').read()") == "'nested'"
    got = ctl.get(cid, "sub/in.txt")
    assert got["buffers"][0] == b"nested"
    assert got["content"]["path"] == "sub/in.txt"
    # Files put there belong to the cell: it can change and remove them.
    run_ok(kc, "open('blob.bin', 'ab').write(b'!'); os.remove('empty'); "
               "os.rename('sub/in.txt', 'sub/moved.txt')")
    assert ctl.get(cid, "blob.bin")["buffers"][0] == b"short!"
    # A file of exactly the size limit passes.
    big = b"b" * ku.SERVE_FILE_LIMIT
    assert ctl.put(cid, "limit.bin", big, timeout=60)["content"]["status"] == "ok"
    got = ctl.get(cid, "limit.bin", timeout=60)
    assert got["content"]["status"] == "ok" and got["buffers"][0] == big


SETUP_CELL = """
import os
os.symlink('/etc/hostname', 'link')
os.symlink('/etc', 'etcdir')
os.mkdir('adir')
with open('big.bin', 'wb') as f:
    f.write(b'x' * (16 * 1024 * 1024 + 1))
open('ok.txt', 'w').write('fine')
"""

# (path, what the evalue should mention)
REFUSED_PATHS = {
    "dotdot": ("../outside.txt", r"\.\.|outside|parent|relative|escape"),
    "dotdot_inner": ("adir/../../outside.txt", r"\.\.|outside|parent|relative|escape"),
    "absolute": ("/etc/hostname", r"absolute|relative"),
    "absolute_workspace": ("/workspace/ok.txt", r"absolute|relative"),
    "symlink": ("link", r"link"),
    "symlink_dir": ("etcdir/hostname", r"link"),
    "directory": ("adir", r"regular|directory"),
    "empty": ("", r"."),
}


@pytest.fixture
def refusing(d, conv):
    cid, kc = conv
    run_ok(kc, SETUP_CELL)
    return cid, kc


def _file_error(reply, what):
    content = reply["content"]
    assert content["status"] == "error", f"{what} was not refused: {content}"
    assert content.get("ename") == "FileError", f"{what}: {content}"
    assert isinstance(content.get("evalue"), str) and content["evalue"], content
    return content["evalue"]


def test_get_refusals(d, refusing):
    cid, kc = refusing
    ctl = d.control
    for case, (path, says) in REFUSED_PATHS.items():
        t0 = time.monotonic()
        reply = ctl.get(cid, path, timeout=10)
        took = time.monotonic() - t0
        evalue = _file_error(reply, f"get {path!r} ({case})")
        assert re.search(says, evalue, re.I), f"get {path!r}: evalue does not say why: {evalue!r}"
        assert took < 5, f"get {path!r} took {took:.1f}s"
        assert reply["buffers"] == [], f"get {path!r} refused but sent bytes"
    reply = ctl.get(cid, "big.bin", timeout=60)
    evalue = _file_error(reply, "get of a file over 16 MiB")
    assert re.search(r"16|large|limit|size|big", evalue, re.I), evalue
    reply = ctl.get(cid, "no-such-file", timeout=10)
    _file_error(reply, "get of a missing file")
    # And a plain file still comes back.
    ok = ctl.get(cid, "ok.txt")
    assert ok["content"]["status"] == "ok" and ok["buffers"][0] == b"fine"


def test_put_refusals(d, refusing):
    cid, kc = refusing
    ctl = d.control
    with open("/etc/hostname", "rb") as f:
        host_hostname = f.read()
    for case, (path, says) in REFUSED_PATHS.items():
        if case == "dotdot":
            path = f"../outside-{cid}.txt"
        t0 = time.monotonic()
        reply = ctl.put(cid, path, b"written by put", timeout=10)
        took = time.monotonic() - t0
        evalue = _file_error(reply, f"put {path!r} ({case})")
        assert re.search(says, evalue, re.I), f"put {path!r}: evalue does not say why: {evalue!r}"
        assert took < 5, f"put {path!r} took {took:.1f}s"
    # Nothing was written through the links, on the host or in the jail.
    with open("/etc/hostname", "rb") as f:
        assert f.read() == host_hostname
    assert not os.path.exists("/etc/evil")
    assert value(kc, "open('/etc/hostname', 'rb').read() != b'written by put'") == "True"
    assert value(kc, "os.path.isdir('adir') and os.listdir('adir')") == "[]"
    assert value(kc, "os.path.islink('link')") == "True"
    reply = ctl.put(cid, "etcdir/evil", b"x", timeout=10)
    _file_error(reply, "put through a symlinked directory")
    assert not os.path.exists("/etc/evil")
    reply = ctl.put(cid, "too-big.bin", b"y" * (ku.SERVE_FILE_LIMIT + 1), timeout=60)
    evalue = _file_error(reply, "put of a file over 16 MiB")
    assert re.search(r"16|large|limit|size|big", evalue, re.I), evalue
    assert value(kc, "os.path.exists('too-big.bin')") == "False"
    # The conversation is fine afterwards.
    after = ctl.put(cid, "after.txt", b"after")["content"]
    assert after["status"] == "ok", after
    assert value(kc, "open('after.txt').read()") == "'after'"


def test_fifo_refused(d, conv):
    """A FIFO made by the cell: refused at once, both ways (opening it
    would block until someone opens the other end)."""
    cid, kc = conv
    made = run(kc, "import os; os.mkfifo('fifo')")
    if made.status != "ok":
        pytest.skip(f"the jail does not let a cell make a FIFO: {made.content.get('evalue')}")
    ctl = d.control
    for reply, what in ((lambda: ctl.get(cid, "fifo", timeout=10), "get"),
                        (lambda: ctl.put(cid, "fifo", b"into the pipe", timeout=10), "put")):
        t0 = time.monotonic()
        evalue = _file_error(reply(), f"{what} of a FIFO")
        took = time.monotonic() - t0
        assert re.search(r"regular|special|fifo|pipe", evalue, re.I), evalue
        assert took < 5, f"{what} of a FIFO took {took:.1f}s"
    assert value(kc, "import stat; stat.S_ISFIFO(os.lstat('fifo').st_mode)") == "True"
    assert d.control.ids() == [cid]


# ---------------------------------------------------------------- idle timeout, lifetime


def _wait_gone_from_list(ctl, cid, timeout):
    deadline = time.monotonic() + timeout
    while cid in ctl.ids():
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)
    return time.monotonic()


def test_idle_timeout(daemon):
    d = daemon(["--idle-timeout", "2"])
    ctl = d.control
    idle = ctl.start()
    # The busy one has its own, longer limit (start_request's idle_timeout):
    # on a loaded machine a client may take more than 2 s to connect.
    busy = ctl.start(idle_timeout=5)
    t0 = time.monotonic()
    kc = d.client(busy["connection"])
    run_ok(kc, "marker = open('marker-busy', 'w')")
    # Keep it active for longer than its limit: it must stay.
    while time.monotonic() - t0 < 8:
        run_ok(kc, "1")
        t_idle = time.monotonic()  # the daemon saw the last activity before this
        time.sleep(0.5)
    ids = ctl.ids()
    assert busy["id"] in ids, f"an active conversation ended: {ids}"
    assert idle["id"] not in ids, f"an idle conversation outlived --idle-timeout 2: {ids}"
    holders = ku.wait_file_holders(d, "marker-busy")
    # Then idle: it ends within the timeout plus some slack.
    gone = _wait_gone_from_list(ctl, busy["id"], 12)
    assert gone is not None, "the idle conversation did not end"
    assert gone - t_idle >= 4.5, f"ended after only {gone - t_idle:.1f}s idle"
    assert not ku.wait_gone(holders, timeout=10), "its interpreter still runs"
    err = ctl.error("connection_request", {"id": busy["id"]})
    assert err.get("ename") == "UnknownConversation"


def test_lifetime(daemon):
    d = daemon(["--lifetime", "3"])
    ctl = d.control
    started = ctl.start()
    t0 = time.monotonic()
    kc = d.client(started["connection"])
    t = ku.Tracker(kc)
    # Busy the whole time: the lifetime ends it regardless.
    gone = None
    while time.monotonic() - t0 < 10:
        msg_id = t.execute("1")
        try:
            t.finish(msg_id, timeout=2)
        except AssertionError:
            pass  # the conversation may end under the cell
        if started["id"] not in ctl.ids():
            gone = time.monotonic()
            break
        time.sleep(0.2)
    assert gone is not None, "the conversation outlived --lifetime 3 by 7 s"
    assert gone - t0 >= 2.5, f"ended after {gone - t0:.1f}s, before its lifetime"


def test_per_conversation_idle_timeout_and_lifetime(d):
    ctl = d.control
    idle = ctl.start(idle_timeout=2)
    life = ctl.start(lifetime=2)
    plain = ctl.start()
    t0 = time.monotonic()
    kc = d.client(life["connection"])
    while time.monotonic() - t0 < 7:
        ids = ctl.ids()
        if idle["id"] not in ids and life["id"] not in ids:
            break
        try:
            ku.Tracker(kc).run("1", timeout=2)
        except AssertionError:
            pass
        time.sleep(0.2)
    ids = ctl.ids()
    assert idle["id"] not in ids, "idle_timeout=2 did not end the conversation"
    assert life["id"] not in ids, "lifetime=2 did not end the conversation"
    assert ids == [plain["id"]]
