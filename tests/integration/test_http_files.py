"""sandcell's per-kernel HTTP endpoints: files in and out of a kernel's
workspace (PUT/GET /api/sandcell/kernels/{id}/files/{path}, the control
endpoint's put_file/get_file rules), its journal as JSON Lines and as a
notebook, and the tenant rule (another token's kernel is 404)."""

import json
import time

import pytest

import kernel_util as ku
from http_util import http_of, raw_exchange

pytestmark = ku.requires_sandcell
websocket = pytest.importorskip("websocket")  # Debian: python3-websocket
from test_http_ws import Client  # noqa: E402  the WebSocket client of the channel tests

UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def put(h, kid, path, data, **kw):
    """PUT, retried while the kernel's interpreter starts (503)."""
    deadline = time.monotonic() + ku.TIMEOUT
    while True:
        r = h.request("PUT", f"/api/sandcell/kernels/{kid}/files/{path}", raw=data, **kw)
        if r.status != 503:
            return r
        assert "starting" in r.json()["message"], r
        assert time.monotonic() < deadline, r
        time.sleep(0.05)


def get(h, kid, path, **kw):
    return h.get(f"/api/sandcell/kernels/{kid}/files/{path}", **kw)


def test_files_in_and_out(daemon):
    d = daemon(["--http", "127.0.0.1:0"])
    h = http_of(d)
    kid = h.start()["id"]
    data = bytes(range(256)) * 40
    r = put(h, kid, "in.bin", data)
    assert r.status == 201, r
    assert r.json() == {"path": "in.bin", "size": len(data)}, r
    c = Client(h, kid)
    reply, iopub = c.run("import hashlib\n"
                         "print(hashlib.sha256(open('in.bin','rb').read()).hexdigest())\n"
                         "open('out.txt', 'w').write('made in the kernel\\n')")
    assert reply["content"]["status"] == "ok", reply
    import hashlib
    printed = "".join(m["content"].get("text", "") for m in iopub
                      if m["header"]["msg_type"] == "stream")
    assert hashlib.sha256(data).hexdigest() in printed, iopub
    c.close()
    r = get(h, kid, "out.txt")
    assert r.status == 200, r
    assert r.headers["Content-Type"] == "application/octet-stream", r.headers
    assert r.body == b"made in the kernel\n"
    r = get(h, kid, "in.bin")
    assert r.status == 200 and r.body == data, r
    assert put(h, kid, "empty", b"").status == 201
    r = get(h, kid, "empty")
    assert r.status == 200 and r.body == b"", r


def test_bad_paths_and_sizes(daemon):
    d = daemon(["--http", "127.0.0.1:0"])
    h = http_of(d)
    kid = h.start()["id"]
    assert put(h, kid, "ok.txt", b"x").status == 201
    for path in ("../escape", "a/../../b", "%2Fetc%2Fpasswd"):
        r = put(h, kid, path, b"x")
        assert r.status in (400, 404), (path, r)
        assert r.json()["message"], r
        r = get(h, kid, path)
        assert r.status in (400, 404), (path, r)
    r = get(h, kid, "no-such-file")
    assert r.status == 404 and r.json()["message"], r
    r = get(h, kid, "/etc/passwd")
    assert r.status in (400, 404), r
    assert b"root:" not in r.body
    port = int(h.url.rsplit(":", 1)[1])
    got = raw_exchange(port, (f"PUT /api/sandcell/kernels/{kid}/files/big HTTP/1.1\r\n"
                              f"Host: x\r\nAuthorization: token {h.token}\r\n"
                              f"Content-Length: {(16 << 20) + 1}\r\n\r\n").encode())
    assert got.startswith(b"HTTP/1.1 413") and b"16777216" in got, got[:300]
    r = put(h, kid, "just-below", b"y" * (2 << 20))  # over the 1 MiB of JSON bodies
    assert r.status == 201, r
    assert get(h, kid, "just-below").body == b"y" * (2 << 20)
    r = put(h, kid, "missing-folder/x", b"x")
    assert r.status == 400 and "does not exist" in r.json()["message"], r
    assert put(h, kid, "a.txt", b"still serving").status == 201
    assert h.post(f"/api/sandcell/kernels/{kid}/files/a.txt").status == 405
    assert h.request("PUT", f"/api/sandcell/kernels/{UNKNOWN}/files/a", raw=b"x").status == 404
    assert get(h, UNKNOWN, "a").status == 404
    assert h.get(f"/api/sandcell/kernels/{UNKNOWN}/journal").status == 404
    assert h.get(f"/api/sandcell/kernels/{UNKNOWN}/notebook").status == 404
    assert get(h, kid, "a.txt", token=None).status == 401


def test_journal_and_notebook(daemon):
    d = daemon(["--http", "127.0.0.1:0"])
    h = http_of(d)
    kid = h.start()["id"]
    c = Client(h, kid)
    c.run("x = 6 * 7")
    c.run("print(x)")
    c.close()
    deadline = time.monotonic() + ku.TIMEOUT
    while True:  # the journal is written off the loop
        r = h.get(f"/api/sandcell/kernels/{kid}/journal")
        assert r.status == 200, r
        records = [json.loads(line) for line in r.body.decode().splitlines()]
        if sum(rec.get("type") == "execution" for rec in records) == 2:
            break
        assert time.monotonic() < deadline, records
        time.sleep(0.05)
    assert r.headers["Content-Type"] == "application/jsonl", r.headers
    assert records[0]["type"] == "header", records[0]
    codes = [rec["code"] for rec in records if rec.get("type") == "execution"]
    assert codes == ["x = 6 * 7", "print(x)"], codes
    r = h.get(f"/api/sandcell/kernels/{kid}/notebook")
    assert r.status == 200, r
    nb = r.json()
    assert nb["nbformat"] == 4, nb
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells] == ["x = 6 * 7", "print(x)"], cells
    assert "42" in json.dumps(cells[1]["outputs"]), cells[1]


def test_no_journal_is_404(daemon):
    d = daemon(["--http", "127.0.0.1:0", "--no-journal"])
    h = http_of(d)
    kid = h.start()["id"]
    r = h.get(f"/api/sandcell/kernels/{kid}/journal")
    assert r.status == 404 and "no journals" in r.json()["message"], r
    assert h.get(f"/api/sandcell/kernels/{kid}/notebook").status == 404


def test_another_tenants_kernel_is_404(daemon, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("alice aaaaaaaaaaaaaaaa\nbob bbbbbbbbbbbbbbbb\n")
    tokens.chmod(0o600)
    d = daemon(["--http", "127.0.0.1:0", "--http-token-file", str(tokens)])
    alice = http_of(d, token="aaaaaaaaaaaaaaaa")
    bob = http_of(d, token="bbbbbbbbbbbbbbbb")
    kid = alice.start()["id"]
    assert put(alice, kid, "secret.txt", b"alice's").status == 201
    r = get(bob, kid, "secret.txt")
    assert r.status == 404 and kid in r.json()["message"], r
    assert b"alice's" not in r.body
    assert put(bob, kid, "secret.txt", b"bob's").status == 404
    assert bob.get(f"/api/sandcell/kernels/{kid}/journal").status == 404
    assert bob.get(f"/api/sandcell/kernels/{kid}/notebook").status == 404
    r = get(alice, kid, "secret.txt")
    assert r.status == 200 and r.body == b"alice's", r
