"""The HTTP front door's REST half (`sandcell serve --http`): the Jupyter
Server kernels API through a real HTTP client (urllib) against a real
daemon: models, status codes and error bodies, every form of token, the
limits on bad input, tenants, and the one list shared with the control
endpoint and the CLI."""

import json
import os
import re
import socket
import subprocess
import time

import pytest

import kernel_util as ku
from http_util import free_port, http_of, raw_exchange

pytestmark = ku.requires_sandcell

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
MODEL_KEYS = {"id", "name", "last_activity", "execution_state", "connections"}


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


@pytest.fixture
def d(daemon):
    return daemon(["--http", "127.0.0.1:0", "--max-conversations", "20"])


@pytest.fixture
def h(d):
    return http_of(d)


def assert_error(r, status, message_part=None):
    assert r.status == status, r
    assert r.headers["Content-Type"] == "application/json", r.headers
    body = r.json()
    assert set(body) == {"message", "reason"}, body
    assert isinstance(body["message"], str) and body["message"], body
    if message_part:
        assert message_part in body["message"], body


def wait_state(h, kid, state, timeout=ku.TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        model = h.ok("GET", f"/api/kernels/{kid}")
        if model["execution_state"] == state:
            return model
        assert time.monotonic() < deadline, model
        time.sleep(0.05)


# ------------------------------------------------------------- the daemon


def test_runtime_file_and_log_name_the_url(d):
    rt = d.runtime
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", rt["http_url"])
    assert m and int(m.group(1)) > 0, rt
    assert re.fullmatch(r"[0-9a-f]{48}", rt["http_token"]), rt
    assert oct(os.stat(d.runtime_file).st_mode & 0o777) == "0o600"
    log = d.stderr_text()
    assert f"{rt['http_url']}?token={rt['http_token']}" in log, log


def test_http_is_off_unless_asked(daemon):
    d = daemon([])
    assert "http_url" not in d.runtime and "http_token" not in d.runtime, d.runtime


def test_fixed_port_and_given_token(daemon):
    port = free_port()
    d = daemon(["--http", str(port), "--http-token", "s3cret-token"])
    assert d.runtime["http_url"] == f"http://127.0.0.1:{port}/"
    assert d.runtime["http_token"] == "s3cret-token"
    assert "s3cret-token" not in d.stderr_text()  # a token given is never logged
    assert http_of(d).ok("GET", "/api")["version"]


def test_token_from_the_environment(daemon):
    env = dict(os.environ, SANDCELL_HTTP_TOKEN="from-env-123")
    d = daemon(["--http", "127.0.0.1:0"], env=env)
    assert d.runtime["http_token"] == "from-env-123"
    assert http_of(d).get("/api").status == 200
    assert http_of(d, token="other").get("/api").status == 401


@pytest.mark.parametrize("args, message", [
    (["--http", "0.0.0.0:0"], "give it a token"),
    (["--http", "0.0.0.0:0", "--no-http-auth"], "loopback"),
    (["--http", "127.0.0.1:0", "--no-http-auth", "--http-token", "x"], "exclude"),
    (["--http", "127.0.0.1:0", "--http-token", "a b"], "printable"),
    (["--http", "127.0.0.1:99999"], "port"),
    (["--http", "nonsense:0"], "address"),
    (["--http", "::1:0"], "brackets"),
    (["--http", "127.0.0.1:0", "--http-token-file", "/nonexistent/tokens"], "No such file"),
])
def test_bad_http_options_exit_2(daemon, args, message):
    d = daemon(args, ready=False)
    rc = d.proc.wait(timeout=ku.TIMEOUT)
    d.stopped = True
    assert rc == 2, (rc, d.stderr_text())
    assert message in d.stderr_text(), d.stderr_text()


def test_no_http_auth_on_loopback(daemon):
    d = daemon(["--http", "127.0.0.1:0", "--no-http-auth"])
    assert "http_token" not in d.runtime
    h = http_of(d, token=None)
    assert h.get("/api/kernels").json() == []
    host = d.runtime["http_url"].split("/")[2]
    assert h.get("/api", headers={"Origin": f"http://{host}"}).status == 200
    # a page of another origin in the user's browser gets nothing
    assert_error(h.get("/api/kernels", headers={"Origin": "http://evil.example"}), 401)
    assert_error(h.post("/api/kernels", headers={"Origin": "null"}), 401)
    assert h.get("/api/kernels").json() == []


def test_ipv6_loopback(daemon):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 here")
    d = daemon(["--http", "[::1]:0"])
    assert d.runtime["http_url"].startswith("http://[::1]:"), d.runtime
    assert http_of(d).get("/api").status == 200


def test_port_in_use_fails_cleanly(daemon):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        d = daemon(["--http", f"127.0.0.1:{port}"], ready=False)
        rc = d.proc.wait(timeout=ku.TIMEOUT)
        d.stopped = True
    assert rc != 0 and "cannot listen" in d.stderr_text(), d.stderr_text()


# ------------------------------------------------------------------ auth


def test_every_endpoint_needs_the_token(h):
    for method, path in [("GET", "/api"), ("GET", "/api/status"), ("GET", "/api/kernels"),
                         ("POST", "/api/kernels"), ("GET", "/api/kernelspecs"),
                         ("GET", "/kernelspecs/sandcell-python/kernel.json"),
                         ("GET", "/no/such/route"),
                         ("DELETE", "/api/kernels/00000000-0000-4000-8000-000000000000")]:
        assert_error(h.request(method, path, token=None, raw=b"" if method == "POST" else None),
                     401, "Unauthorized")
    assert h.ok("GET", "/api/kernels") == []  # nothing was started


def test_token_forms(h):
    t = h.token
    assert h.get("/api", token=None, headers={"Authorization": f"token {t}"}).status == 200
    assert h.get("/api", token=None, headers={"Authorization": f"Bearer {t}"}).status == 200
    assert h.get("/api", token=None, headers={"Authorization": f"TOKEN   {t}  "}).status == 200
    assert h.get(f"/api?token={t}", token=None).status == 200
    # wrong ones
    assert_error(h.get("/api", token="nope"), 401)
    assert_error(h.get("/api", token=t[:-1]), 401)
    assert_error(h.get("/api", token=t + "x"), 401)
    assert_error(h.get("/api", token=None, headers={"Authorization": f"Basic {t}"}), 401)
    assert_error(h.get(f"/api?token={t[:10]}", token=None), 401)
    # an empty "token " header means no token: the query's counts
    assert_error(h.get("/api", token=None, headers={"Authorization": "token "}), 401)
    assert h.get(f"/api?token={t}", token=None,
                 headers={"Authorization": "token "}).status == 200


# ------------------------------------------------------------- read-only API


def test_api_status_and_kernelspecs(h):
    assert h.ok("GET", "/api")["version"] == "1.23.3"
    status = h.ok("GET", "/api/status")
    assert ISO.match(status["started"]) and ISO.match(status["last_activity"]), status
    assert status["kernels"] == 0 and status["connections"] == 0
    specs = h.ok("GET", "/api/kernelspecs")
    assert specs["default"] == "sandcell-python"
    spec = specs["kernelspecs"]["sandcell-python"]
    assert spec["name"] == "sandcell-python" and spec["spec"]["language"] == "python", spec
    assert spec["spec"]["display_name"] == "Python (sandcell)"
    assert h.ok("GET", "/api/kernelspecs/sandcell-python") == spec
    assert h.ok("GET", "/api/kernelspecs/sandcell-python/") == spec  # one trailing slash
    assert h.ok("GET", "/kernelspecs/sandcell-python/kernel.json") == spec["spec"]
    assert_error(h.get("/api/kernelspecs/nope"), 404, "nope")
    assert_error(h.get("/kernelspecs/sandcell-python/logo-64x64.png"), 404)


def test_unknown_routes_methods_and_ids(h):
    assert_error(h.get("/"), 404)
    assert_error(h.get("/api/nothing"), 404)
    assert_error(h.get("/api//kernels"), 404)
    assert_error(h.get("/api/kernels/not-a-uuid"), 404, "Not Found")
    assert_error(h.get("/api/kernels/00000000-0000-4000-8000-00000000000g"), 404)
    r = h.request("PUT", "/api/kernels", raw=b"{}")
    assert_error(r, 405)
    assert r.headers["Allow"] == "GET, POST"
    r = h.post("/api/kernels/00000000-0000-4000-8000-000000000000")
    assert_error(r, 405)
    assert r.headers["Allow"] == "GET, DELETE"
    assert_error(h.get("/api/kernels/00000000-0000-4000-8000-000000000000/interrupt"), 405)
    kid = "00000000-0000-4000-8000-000000000000"
    for method, path in [("GET", f"/api/kernels/{kid}"), ("DELETE", f"/api/kernels/{kid}"),
                         ("POST", f"/api/kernels/{kid}/interrupt"),
                         ("POST", f"/api/kernels/{kid}/restart"),
                         ("GET", f"/api/kernels/{kid}/channels")]:
        assert_error(h.request(method, path, raw=b"" if method == "POST" else None), 404,
                     f"Kernel does not exist: {kid}")


# ---------------------------------------------------------------- kernels


def test_start_without_body_get_and_delete(d, h):
    r = h.post("/api/kernels")
    assert r.status == 201, r
    model = r.json()
    assert set(model) == MODEL_KEYS, model
    assert UUID.match(model["id"]), model
    assert r.headers["Location"] == f"/api/kernels/{model['id']}"
    assert model["name"] == "sandcell-python"
    assert ISO.match(model["last_activity"]), model
    assert model["execution_state"] in ("starting", "idle"), model
    assert model["connections"] == 0
    kid = model["id"]
    assert [k["id"] for k in h.ok("GET", "/api/kernels")] == [kid]
    assert h.ok("GET", f"/api/kernels/{kid}")["id"] == kid
    assert h.ok("GET", f"/api/kernels/{kid}/")["id"] == kid
    wait_state(h, kid, "idle")
    assert h.ok("GET", "/api/status")["kernels"] == 1
    r = h.delete(f"/api/kernels/{kid}")
    assert r.status == 204 and r.body == b"", r
    assert_error(h.get(f"/api/kernels/{kid}"), 404, kid)
    assert_error(h.delete(f"/api/kernels/{kid}"), 404, kid)
    assert h.ok("GET", "/api/kernels") == []


def test_start_bodies(d, h):
    assert h.start({})["name"] == "sandcell-python"
    assert h.start({"name": "sandcell-python", "env": {"KERNEL_USERNAME": "x"},
                    "path": "nb.ipynb"})["name"] == "sandcell-python"
    assert h.start({"name": "python3"})["name"] == "python3"  # what ipykernel clients send
    assert_error(h.post("/api/kernels", {"name": "ir"}), 400, "No such kernel named ir")
    assert_error(h.post("/api/kernels", {"name": 3}), 400, "name")
    assert_error(h.post("/api/kernels", {"env": ["x"]}), 400, "env")
    assert_error(h.post("/api/kernels", {"env": {"A": 1}}), 400, "env")
    assert_error(h.post("/api/kernels", [1]), 400, "object")
    assert_error(h.post("/api/kernels", raw=b"{not json"), 400, "Invalid JSON")
    assert_error(h.post("/api/kernels", raw=b'{"name": "a", "name": "b"}'), 400, "Invalid JSON")
    assert_error(h.post("/api/kernels", {"sandcell": 5}), 400, "sandcell")
    assert_error(h.post("/api/kernels", {"sandcell": {"timeout": "x"}}), 400, "timeout")
    assert_error(h.post("/api/kernels", {"sandcell": {"memory": 1}}), 400, "memory")
    assert_error(h.post("/api/kernels", {"sandcell": {"tiemout": 5}}), 400, "timeout")
    assert len(h.ok("GET", "/api/kernels")) == 3


def test_sandcell_limits_are_the_control_endpoints(d, h):
    kid = h.start({"sandcell": {"timeout": 7, "memory": 300, "max_executions": 5,
                                "idle_timeout": 99}})["id"]
    (conv,) = [c for c in d.control.list() if c["id"] == kid]
    assert conv["max_executions"] == 5, conv
    assert conv["limits"]["timeout"] == 7 and conv["limits"]["memory"] == 300, conv
    assert conv["limits"]["idle_timeout"] == 99, conv


def test_the_cap_applies_to_http_starts(daemon):
    d = daemon(["--http", "127.0.0.1:0", "--max-conversations", "2", "--pool", "0"])
    h = http_of(d)
    h.start()
    d.control.start()
    assert_error(h.post("/api/kernels"), 503, "conversations")
    assert len(h.ok("GET", "/api/kernels")) == 2


def test_one_list_with_the_cli_and_the_control_endpoint(d, h):
    kid = h.start()["id"]
    ls = json.loads(d.cli("ls", "--json").stdout)
    assert kid in [c["id"] for c in ls], ls
    cli_id = d.cli("start").stdout.strip()
    assert UUID.match(cli_id), cli_id
    assert sorted(k["id"] for k in h.ok("GET", "/api/kernels")) == sorted([kid, cli_id])
    assert d.cli("stop", kid).returncode == 0
    assert [k["id"] for k in h.ok("GET", "/api/kernels")] == [cli_id]
    assert h.delete(f"/api/kernels/{cli_id}").status == 204
    assert json.loads(d.cli("ls", "--json").stdout) == []
    # the journal of a conversation started over HTTP is the same journal
    kid = h.start()["id"]
    kc = d.client(d.control.ok("connection_request", {"id": kid})["connection"])
    ku.Tracker(kc).run_ok("x = 41 + 1")
    journal = d.journal_dir / f"{kid}.jsonl"
    assert journal.exists(), list(d.journal_dir.iterdir())


def test_interrupt_and_restart(d, h):
    kid = h.start()["id"]
    conn = d.control.ok("connection_request", {"id": kid})["connection"]
    kc = d.client(conn)
    t = ku.Tracker(kc)
    t.run_ok("x = 42")
    msg_id = kc.execute("import time; print('sleeping', flush=True); time.sleep(60)")
    while True:  # the cell runs (not merely sent) when its print arrives
        msg = kc.get_iopub_msg(timeout=ku.TIMEOUT)
        if msg["msg_type"] == "stream" and "sleeping" in msg["content"]["text"]:
            break
    assert h.ok("GET", f"/api/kernels/{kid}")["execution_state"] == "busy"
    r = h.post(f"/api/kernels/{kid}/interrupt")
    assert r.status == 204 and r.body == b"", r
    reply = kc.get_shell_msg(timeout=ku.TIMEOUT)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=ku.TIMEOUT)
    assert reply["content"]["status"] == "error", reply["content"]
    assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
    assert ku.Tracker(kc).run_ok("x").result_data()["text/plain"] == "42"
    r = h.post(f"/api/kernels/{kid}/restart")
    assert r.status == 200, r
    assert set(r.json()) == MODEL_KEYS and r.json()["id"] == kid
    wait_state(h, kid, "idle")
    res = ku.Tracker(kc).run("x")
    assert res.reply["content"]["status"] == "error", res.reply
    assert res.reply["content"]["ename"] == "NameError", res.reply


def test_restore_over_http(d, h):
    kid = h.start()["id"]
    kc = d.client(d.control.ok("connection_request", {"id": kid})["connection"])
    ku.Tracker(kc).run_ok("x = 6 * 7")
    assert h.delete(f"/api/kernels/{kid}").status == 204
    t0 = time.monotonic()
    r = h.post("/api/kernels", {"sandcell": {"restore": kid, "max_executions": 9}})
    assert r.status == 201, r
    new = r.json()["id"]
    assert new != kid and r.headers["Location"] == f"/api/kernels/{new}"
    assert time.monotonic() - t0 < 20
    (conv,) = [c for c in d.control.list() if c["id"] == new]
    assert conv["max_executions"] == 9, conv
    kc2 = d.client(d.control.ok("connection_request", {"id": new})["connection"])
    assert ku.Tracker(kc2).run_ok("x").result_data()["text/plain"] == "42"
    assert_error(h.post("/api/kernels", {"sandcell": {"restore": "no-such-journal"}}), 400,
                 "no-such-journal")
    assert_error(h.post("/api/kernels", {"sandcell": {"restore": 5}}), 400, "restore")
    assert len(h.ok("GET", "/api/kernels")) == 1


def test_restore_over_http_needs_journals(daemon):
    d = daemon(["--http", "127.0.0.1:0", "--no-journal"])
    assert_error(http_of(d).post("/api/kernels", {"sandcell": {"restore": "x"}}), 400,
                 "--no-journal")


# ----------------------------------------------------------------- tenants


def test_tenants_see_only_their_kernels(daemon, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("# who may use this daemon\nalice alice-token-1\n\nbob   bob-token-2\n")
    d = daemon(["--http", "127.0.0.1:0", "--http-token-file", tokens])
    assert "http_token" not in d.runtime  # each tenant holds their own
    alice = http_of(d, token="alice-token-1")
    bob = http_of(d, token="bob-token-2")
    a = alice.start()["id"]
    b = bob.start()["id"]
    zmq_id = d.control.start()["id"]
    assert [k["id"] for k in alice.ok("GET", "/api/kernels")] == [a]
    assert [k["id"] for k in bob.ok("GET", "/api/kernels")] == [b]
    for other in (b, zmq_id):
        assert_error(alice.get(f"/api/kernels/{other}"), 404, other)
        assert_error(alice.delete(f"/api/kernels/{other}"), 404, other)
        assert_error(alice.post(f"/api/kernels/{other}/interrupt"), 404, other)
        assert_error(alice.post(f"/api/kernels/{other}/restart"), 404, other)
    assert alice.ok("GET", "/api/status")["kernels"] == 1
    assert sorted(d.control.ids()) == sorted([a, b, zmq_id])  # the control key sees all
    tenants = {c["id"]: c.get("tenant") for c in d.control.list()}
    assert tenants == {a: "alice", b: "bob", zmq_id: None}, tenants
    assert bob.delete(f"/api/kernels/{b}").status == 204
    assert sorted(d.control.ids()) == sorted([a, zmq_id])
    assert_error(http_of(d, token="carol").get("/api/kernels"), 401)


def test_one_token_in_a_file_is_single_user(daemon, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("only-token-xyz\n")
    d = daemon(["--http", "127.0.0.1:0", "--http-token-file", tokens])
    assert d.runtime["http_token"] == "only-token-xyz"
    zmq_id = d.control.start()["id"]
    assert [k["id"] for k in http_of(d).ok("GET", "/api/kernels")] == [zmq_id]


@pytest.mark.parametrize("text, message", [
    ("", "no token"),
    ("a b c\n", "expected NAME TOKEN"),
    ("one\ntwo\n", "without a name"),
    ("al/ice tok\n", "a name is"),
    ("alice tok\nalice tok2\n", "given twice"),
    ("alice tok\nbob tok\n", "same token"),
])
def test_bad_token_files(daemon, tmp_path, text, message):
    tokens = tmp_path / "tokens"
    tokens.write_text(text)
    d = daemon(["--http", "127.0.0.1:0", "--http-token-file", tokens], ready=False)
    rc = d.proc.wait(timeout=ku.TIMEOUT)
    d.stopped = True
    assert rc == 2 and message in d.stderr_text(), (rc, d.stderr_text())
    assert "tok2" not in d.stderr_text()


# ------------------------------------------------------------ bad input


def test_bodies_over_the_limit(d, h):
    port = int(h.url.rsplit(":", 1)[1])
    auth = b"Authorization: token " + h.token.encode() + b"\r\n"
    # refused from its Content-Length, before a byte of it is sent
    got = raw_exchange(port, b"POST /api/kernels HTTP/1.1\r\nHost: x\r\n" + auth
                       + b"Content-Length: 1048577\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 413"), got[:200]
    body = json.loads(got.split(b"\r\n\r\n", 1)[1])
    assert "1048576" in body["message"] and body["reason"] is None, body
    # exactly at the limit it is read (and is then a body like any other)
    at_limit = b"{" + b" " * (1024 * 1024 - 2) + b"}"
    assert h.start(raw=at_limit)["name"] == "sandcell-python"
    # chunked: no Content-Length to refuse it by
    chunk = b" " * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    got = raw_exchange(port, b"POST /api/kernels HTTP/1.1\r\nHost: x\r\nAuthorization: token "
                       + h.token.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert got.startswith(b"HTTP/1.1 413"), got[:200]
    assert len(h.ok("GET", "/api/kernels")) == 1  # only the one at the limit; still serving


def test_malformed_http_and_oversized_headers(d, h):
    port = int(h.url.rsplit(":", 1)[1])
    got = raw_exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    assert got == b"" or got.startswith(b"HTTP/1.1 400"), got[:200]
    got = raw_exchange(port, b"GET /api HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000
                       + b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.1 4(31|13|00)", got), got[:200]
    got = raw_exchange(port, b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert re.match(rb"HTTP/1\.1 4(14|31|00)", got), got[:200]
    assert h.ok("GET", "/api/kernels") == []


def test_a_stalled_client_blocks_nobody(d, h):
    port = int(h.url.rsplit(":", 1)[1])
    stalled = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /api/kernels HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        stalled.append(s)
    try:
        t0 = time.monotonic()
        kid = h.start()["id"]
        assert h.ok("GET", f"/api/kernels/{kid}")["id"] == kid
        assert time.monotonic() - t0 < 5
        kc = d.client(d.control.ok("connection_request", {"id": kid})["connection"])
        assert ku.Tracker(kc).run_ok("1+1").result_data()["text/plain"] == "2"
    finally:
        for s in stalled:
            s.close()


def test_a_silent_client_is_dropped_after_30_s(d, h):
    """HTTP_CONNECTION_TIMEOUT_S: a slowloris client holds its connection
    30 s of silence, no longer."""
    port = int(h.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n")  # and never the end of it
        t0 = time.monotonic()
        got = s.recv(65536)
        waited = time.monotonic() - t0
    assert got == b"", got[:200]
    assert 25 <= waited <= 45, waited
    assert h.ok("GET", "/api/kernels") == []


def test_channels_upgrade(d, h):
    """The channels route: no Upgrade is 400, a bad token 401, a good
    upgrade 101 with RFC 6455's accept key (the WebSocket itself:
    test_http_ws.py)."""
    kid = h.start()["id"]
    assert_error(h.get(f"/api/kernels/{kid}/channels"), 400, "Upgrade")
    ws = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert_error(h.get(f"/api/kernels/{kid}/channels", headers=ws, token="bad"), 401)
    port = int(h.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((f"GET /api/kernels/{kid}/channels HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: token {h.token}\r\n" +
                   "".join(f"{k}: {v}\r\n" for k, v in ws.items()) + "\r\n").encode())
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
    assert got.startswith(b"HTTP/1.1 101"), got
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in got, got


# -------------------------------------------------------- the README's tour


def http_tour_blocks():
    readme = os.path.join(os.path.dirname(ku.SANDCELL), "README.md")
    with open(readme) as f:
        text = f.read()
    start = text.index("## Quick tour over HTTP")
    end = text.index("\n## ", start + 1)
    return re.findall(r"^```(\w+)\n(.*?)^```$", text[start:end], re.S | re.M)


def test_readme_http_tour_runs_as_written(jupyter_env, tmp_path):
    blocks = http_tour_blocks()
    assert [lang for lang, _ in blocks] == ["sh", "python", "sh"], blocks
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the daemon binds
        try:
            s.bind(("127.0.0.1", 8888))
        except OSError:
            pytest.skip("port 8888 is taken on this machine")
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(ku.SANDCELL, work / "sandcell")
    # a failing line must not leave the daemon behind (nor the test waiting for it)
    (work / "ws_tour.py").write_text(blocks[1][1])
    script = ("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
              + blocks[0][1] + "\n/usr/bin/python3 ws_tour.py > ws_tour.out\n"
              + blocks[2][1] + "\nwait\n")
    env = dict(os.environ, SANDCELL_RUNTIME_FILE=str(tmp_path / "serve.json"),
               XDG_STATE_HOME=str(tmp_path / "state"))
    res = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                         text=True, timeout=180)
    out = res.stdout
    assert res.returncode == 0, (res.returncode, out, res.stderr)
    lines = out.splitlines()
    assert json.loads(lines[0])["default"] == "sandcell-python", out
    model = json.loads(lines[1])
    assert UUID.match(model["id"]) and model["name"] == "python3", out
    assert model["id"] in out.split("\n", 2)[2], out  # sandcell ls lists it
    assert "204" in lines and "401" not in lines, out
    restart = next(json.loads(x) for x in lines[3:] if x.startswith("{\"id\""))
    assert restart["id"] == model["id"], out
    assert json.loads(lines[-1])["message"].startswith("Unauthorized"), out
    # the WebSocket cell: numpy's output, then the result
    assert (work / "ws_tour.out").read_text() == "[0 1 2]\n42\n", res.stderr
