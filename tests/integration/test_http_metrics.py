"""sandcell's own HTTP endpoints beside the Jupyter API: GET /metrics
(Prometheus text format, checked by promtool) after real activity over
REST and WebSocket, its token rule and --metrics-public, and GET
/api/sandcell/health (ready, and 503 at capacity)."""

import re
import shutil
import subprocess
import time

import pytest

import kernel_util as ku
from http_util import http_of

pytestmark = ku.requires_sandcell
websocket = pytest.importorskip("websocket")  # Debian: python3-websocket
from test_http_ws import Client  # noqa: E402  the WebSocket client of the channel tests

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def parse(text):
    """{(name, labels): value} of an exposition; checks every line's form."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        assert m, line
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def scrape(h, **kw):
    r = h.get("/metrics", **kw)
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    return r.body.decode()


def promtool_check(text):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool is not installed (Debian: prometheus; listed in .ci/deps)")
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, (p.stdout.decode(), p.stderr.decode())


def wait_for(h, pred, timeout=ku.TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        m = parse(scrape(h))
        if pred(m):
            return m
        assert time.monotonic() < deadline, m
        time.sleep(0.05)


def test_metrics_move_with_activity_and_pass_promtool(daemon):
    d = daemon(["--http", "127.0.0.1:0", "--max-conversations", "7"])
    h = http_of(d)
    text = scrape(h)
    promtool_check(text)
    before = parse(text)
    names = {n for n, _ in before}
    assert all(n.startswith("sandcell_") for n in names), names
    assert before[("sandcell_capacity_conversations", "")] == 7
    assert before[("sandcell_websocket_connections", "")] == 0
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text)

    kid = h.start({"sandcell": {"max_executions": 2, "timeout": 1}})["id"]
    c = Client(h, kid)
    reply, _ = c.run("1+1")
    assert reply["content"]["status"] == "ok", reply
    mid = wait_for(h, lambda m: m[("sandcell_websocket_connections", "")] == 1)
    assert mid[("sandcell_conversations", '{state="idle"}')] == 1, mid
    reply, _ = c.run("import time\ntime.sleep(30)", timeout=60)
    assert reply["content"]["ename"] == "TimeoutError", reply  # the second cell: the cap
    c.close()
    assert h.delete(f"/api/kernels/{kid}").status == 204
    assert h.get("/api/kernels/00000000-0000-4000-8000-000000000000").status == 404

    after = wait_for(h, lambda m: m[("sandcell_conversation_stops_total", '{reason="stop"}')]
                     > before[("sandcell_conversation_stops_total", '{reason="stop"}')] and
                     m[("sandcell_websocket_connections", "")] == 0)
    text = scrape(h)
    promtool_check(text)
    after = parse(text)

    def moved(key, by=1):
        assert after[key] - before.get(key, 0) == by, (key, before.get(key), after[key])

    moved(("sandcell_conversation_starts_total", ""))
    moved(("sandcell_caps_reached_total", ""))
    moved(("sandcell_limit_hits_total", '{limit="time"}'))
    moved(("sandcell_limit_hits_total", '{limit="memory"}'), 0)
    moved(("sandcell_start_duration_seconds_count", ""))
    moved(("sandcell_cell_duration_seconds_count", ""), 2)
    assert after[("sandcell_cell_duration_seconds_sum", "")] >= 1.0, after  # the timed-out cell
    assert after[("sandcell_cell_duration_seconds_bucket", '{le="0.5"}')] >= 1, after
    assert after[("sandcell_journal_fsync_duration_seconds_count", "")] > 0, after
    moved(("sandcell_http_requests_total", '{method="POST",code="2xx"}'))
    moved(("sandcell_http_requests_total", '{method="DELETE",code="2xx"}'))
    moved(("sandcell_http_requests_total", '{method="GET",code="1xx"}'))  # the upgrade
    moved(("sandcell_http_requests_total", '{method="GET",code="4xx"}'))
    assert after[("sandcell_http_requests_total", '{method="GET",code="2xx"}')] > \
        before[("sandcell_http_requests_total", '{method="GET",code="2xx"}')] + 2
    assert sum(v for (n, _), v in after.items() if n == "sandcell_conversations") == 0, after
    # histograms are cumulative and end in +Inf == _count
    for hist in ("start", "cell", "journal_fsync"):
        name = f"sandcell_{hist}_duration_seconds"
        buckets = [v for (n, lab), v in after.items() if n == name + "_bucket"]
        assert buckets == sorted(buckets), (name, buckets)
        assert after[(name + "_bucket", '{le="+Inf"}')] == after[(name + "_count", "")]


def test_metrics_need_the_token_unless_public(daemon):
    d = daemon(["--http", "127.0.0.1:0"])
    h = http_of(d)
    r = h.get("/metrics", token=None)
    assert r.status == 401, r
    assert h.get("/metrics", token="wrong").status == 401
    assert h.post("/metrics").status == 405

    p = daemon(["--http", "127.0.0.1:0", "--metrics-public"])
    hp = http_of(p)
    promtool_check(scrape(hp, token=None))
    assert hp.get("/api/kernels", token=None).status == 401  # only /metrics is open
    assert hp.get("/api/sandcell/health", token=None).status == 401


def test_help_names_metrics_public(jupyter_env):
    p = subprocess.run([ku.SANDCELL, "serve", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert "--metrics-public" in p.stdout + p.stderr
    p = subprocess.run([ku.SANDCELL, "serve", "--metrics-public"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "--metrics-public" in p.stderr and "--http" in p.stderr, p.stderr


def test_health_ready_then_at_capacity(daemon):
    d = daemon(["--http", "127.0.0.1:0", "--max-conversations", "1", "--pool", "1"])
    h = http_of(d)
    assert h.get("/api/sandcell/health", token=None).status == 401
    deadline = time.monotonic() + ku.TIMEOUT
    while True:  # the pool warms after the daemon says it is ready
        r = h.get("/api/sandcell/health")
        if r.status == 200:
            break
        assert r.status == 503 and "pool" in r.json()["message"], r
        assert time.monotonic() < deadline, r
        time.sleep(0.05)
    body = r.json()
    assert body["status"] == "ready", body
    assert body["capacity"] == 1 and body["conversations"] == 0, body
    assert body["pool"]["size"] == 1 and body["pool"]["ready"] == 1, body

    kid = h.start()["id"]
    r = h.get("/api/sandcell/health")
    assert r.status == 503, r
    body = r.json()
    assert body["status"] == "unavailable" and "at capacity" in body["message"], body
    assert body["conversations"] == 1, body
    assert h.post("/api/kernels").status == 503  # what health foretold
    assert h.delete(f"/api/kernels/{kid}").status == 204
    deadline = time.monotonic() + ku.TIMEOUT
    while h.get("/api/sandcell/health").status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
