"""Debian's jupyter_server (1.23) with --gateway-url at sandcell's HTTP
front door: kernels created, listed, interrupted, restarted and deleted
through the notebook server's own /api/kernels, which turns each call into
a call of GatewayClient to sandcell. (Cells over its WebSocket come with
the WebSocket side of the front door.)"""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import kernel_util as ku
from http_util import Http, free_port, http_of

pytestmark = ku.requires_sandcell


def _has_jupyter_server():
    res = subprocess.run(["/usr/bin/python3", "-c", "import jupyter_server"],
                         capture_output=True)
    return res.returncode == 0


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


@pytest.fixture
def gateway_server(daemon, tmp_path):
    """(sandcell daemon, Http to a jupyter_server whose kernels are sandcell's)."""
    if not _has_jupyter_server():
        pytest.fail("jupyter_server is not installed (Debian: python3-jupyter-server)")
    d = daemon(["--http", "127.0.0.1:0", "--max-conversations", "20"])
    port = free_port()
    token = "jupyter-server-token"
    jdir = tmp_path / "jupyter"
    for sub in ("config", "data", "runtime", "root"):
        (jdir / sub).mkdir(parents=True)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(jdir / "config"),
               JUPYTER_DATA_DIR=str(jdir / "data"), JUPYTER_RUNTIME_DIR=str(jdir / "runtime"),
               HOME=str(jdir))
    log = open(tmp_path / "jupyter_server.log", "wb")
    proc = subprocess.Popen(
        ["/usr/bin/python3", "-m", "jupyter_server", "--no-browser",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={jdir / 'root'}",
         f"--gateway-url={d.runtime['http_url'].rstrip('/')}",
         f"--GatewayClient.auth_token={d.runtime['http_token']}",
         "--GatewayClient.request_timeout=30"] + (["--allow-root"] if os.geteuid() == 0 else []),
        stdout=log, stderr=log, env=env, start_new_session=True)
    js = Http(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "jupyter_server.log").read_text()
            try:
                if js.get("/api", timeout=2).status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            assert time.monotonic() < deadline, (tmp_path / "jupyter_server.log").read_text()
            time.sleep(0.2)
        yield d, js, tmp_path / "jupyter_server.log"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_jupyter_server_lists_sandcells_kernelspecs(gateway_server):
    d, js, log = gateway_server
    specs = js.ok("GET", "/api/kernelspecs")
    assert list(specs["kernelspecs"]) == ["sandcell-python"], (specs, log.read_text())
    spec = specs["kernelspecs"]["sandcell-python"]["spec"]
    assert spec["display_name"] == "Python (sandcell)" and spec["language"] == "python", spec
    # jupyter_server 1.23 keeps its own default name ("python3") in this answer;
    # it sends that name to the gateway, which sandcell takes (test below)
    assert specs["default"] in ("sandcell-python", "python3"), specs


def test_jupyter_server_kernels_are_sandcells(gateway_server):
    d, js, log = gateway_server
    sc = http_of(d)
    r = js.post("/api/kernels", {"name": "sandcell-python"})
    assert r.status == 201, (r, log.read_text()[-3000:])
    model = r.json()
    kid = model["id"]
    # the notebook server's kernel is sandcell's conversation: same id
    assert [k["id"] for k in sc.ok("GET", "/api/kernels")] == [kid]
    assert kid in d.control.ids()
    assert [k["id"] for k in js.ok("GET", "/api/kernels")] == [kid]
    assert js.ok("GET", f"/api/kernels/{kid}")["id"] == kid
    # a kernel started at sandcell directly: sandcell lists both (the
    # notebook server shows only the kernels it started, as it does for
    # any gateway)
    other = d.control.start()["id"]
    assert sorted(k["id"] for k in sc.ok("GET", "/api/kernels")) == sorted([kid, other])
    assert [k["id"] for k in js.ok("GET", "/api/kernels")] == [kid]
    r = js.post(f"/api/kernels/{kid}/interrupt")
    assert r.status == 204, (r, log.read_text()[-3000:])
    r = js.post(f"/api/kernels/{kid}/restart")
    assert r.status == 200 and r.json()["id"] == kid, (r, log.read_text()[-3000:])
    r = js.delete(f"/api/kernels/{kid}")
    assert r.status == 204, (r, log.read_text()[-3000:])
    assert kid not in d.control.ids()
    assert js.ok("GET", "/api/kernels") == []
    assert [k["id"] for k in sc.ok("GET", "/api/kernels")] == [other]
    # no body: the notebook server's default kernel name, "python3"
    r = js.post("/api/kernels")
    assert r.status == 201, (r, log.read_text()[-3000:])
    assert r.json()["id"] in d.control.ids()
    assert sc.ok("GET", f"/api/kernels/{r.json()['id']}")["name"] == "python3"


def test_jupyter_server_runs_cells_through_its_websocket(gateway_server):
    """A cell over the notebook server's own WebSocket: jupyter_server
    relays it to sandcell's /api/kernels/{id}/channels (GatewayWebSocketClient)
    and the outputs back, as a browser's notebook would see them."""
    import uuid

    import websocket  # Debian: python3-websocket

    d, js, log = gateway_server
    kid = js.ok("POST", "/api/kernels", 201, body={"name": "sandcell-python"})["id"]
    url = js.url.replace("http://", "ws://") + \
        f"/api/kernels/{kid}/channels?session_id={uuid.uuid4().hex}&token={js.token}"
    ws = websocket.create_connection(url, timeout=30)
    try:
        # jupyter_server 1.23 drops what a client sends before its own
        # connection to the gateway is made (GatewayWebSocketClient waits on
        # a future that _connect replaces); so, as a frontend does, ask for
        # kernel_info until something answers
        ws.settimeout(0.5)
        for _ in range(60):
            ws.send(json.dumps({
                "channel": "shell",
                "header": {"msg_id": uuid.uuid4().hex, "msg_type": "kernel_info_request",
                           "session": "nb", "username": "u", "version": "5.3",
                           "date": "2026-01-02T03:04:05.000000Z"},
                "parent_header": {}, "metadata": {}, "content": {}}))
            try:
                ws.recv()
                break
            except websocket.WebSocketTimeoutException:
                continue
        ws.settimeout(30)
        mid = uuid.uuid4().hex
        ws.send(json.dumps({
            "channel": "shell",
            "header": {"msg_id": mid, "msg_type": "execute_request", "session": "nb",
                       "username": "u", "date": "2026-01-02T03:04:05.000000Z",
                       "version": "5.3"},
            "parent_header": {}, "metadata": {},
            "content": {"code": "import sys\nprint('via', 'jupyter_server')\n6 * 7",
                        "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        reply, stream, result, idle = None, "", None, False
        deadline = time.monotonic() + 60
        while reply is None or not idle:
            assert time.monotonic() < deadline, (reply, stream, result, log.read_text()[-3000:])
            msg = json.loads(ws.recv())
            if msg["parent_header"].get("msg_id") != mid:
                continue
            t = msg["header"]["msg_type"]
            if msg["channel"] == "shell" and t == "execute_reply":
                reply = msg["content"]
            elif t == "stream":
                stream += msg["content"]["text"]
            elif t == "execute_result":
                result = msg["content"]["data"]["text/plain"]
            elif t == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        assert reply["status"] == "ok", reply
        assert stream == "via jupyter_server\n" and result == "42", (stream, result)
    finally:
        ws.close()
    assert js.delete(f"/api/kernels/{kid}").status == 204
