"""The client commands against `sandcell serve`: start, ls, exec, put, get,
stop, each a separate process that finds the daemon through
$SANDCELL_RUNTIME_FILE (or --runtime-file). exec streams output as it comes,
writes images to files and exits non-zero when the cell fails. A
conversation started with --connection-file is an ordinary kernel for
`jupyter console --existing`."""

import os
import re
import select
import shlex
import subprocess
import time

import pytest

import kernel_util as ku
from test_console import ENV_VARS, IS_COMPLETE_TIMEOUT, Console

pytestmark = ku.requires_sandcell


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


@pytest.fixture
def d(daemon):
    return daemon(["--max-conversations", "10"])


def ok(res, what):
    assert res.returncode == 0, (
        f"{what}: exit status {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    )
    return res


def start(d, *args):
    res = ok(d.cli("start", *args), "sandcell start")
    cid = res.stdout.strip()
    assert cid and len(cid.split()) == 1, f"start did not print one id: {res.stdout!r}"
    return cid


def ls_ids(stdout):
    """The ids `sandcell ls` printed: the first word of every line, after
    one optional header line whose first word is ID."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if lines and lines[0].split()[0].upper() == "ID":
        lines = lines[1:]
    return [line.split()[0] for line in lines]


def listed(d):
    return ls_ids(ok(d.cli("ls"), "sandcell ls").stdout)


def exec_(d, cid, code, *options, **kw):
    return d.cli("exec", "-c", cid, *options, code, **kw)


def test_start_ls_stop(d, tmp_path):
    a, b = start(d), start(d)
    assert a != b
    assert sorted(listed(d)) == sorted([a, b])
    # The control endpoint agrees.
    assert sorted(d.control.ids()) == sorted([a, b])
    ok(d.cli("stop", a), "sandcell stop")
    assert listed(d) == [b]
    res = d.cli("stop", a)
    assert res.returncode != 0, f"stop of a stopped id succeeded: {res.stdout}{res.stderr}"
    assert res.stderr.strip(), "stop of an unknown id says nothing"
    # --runtime-file instead of the environment.
    env = dict(os.environ)
    env.pop("SANDCELL_RUNTIME_FILE", None)
    res = ok(d.cli("ls", "--runtime-file", d.runtime_file, env=env), "ls --runtime-file")
    assert ls_ids(res.stdout) == [b]
    ok(d.cli("stop", b), "sandcell stop")
    assert listed(d) == []


def test_exec_result_state_and_stdin(d):
    cid = start(d)
    res = ok(exec_(d, cid, "x = 20\nprint('hello from', 'the cell')"), "exec")
    assert "hello from the cell" in res.stdout
    res = ok(exec_(d, cid, "x * 2 + 2"), "exec")
    assert res.stdout.strip().splitlines()[-1] == "42", res.stdout
    res = ok(d.cli("exec", "-c", cid, "-", input="y = x + 1\nprint(y)\n"), "exec -")
    assert "21" in res.stdout.split()
    res = ok(exec_(d, cid, "import sys; print('to stderr', file=sys.stderr)"), "exec")
    assert "to stderr" in res.stdout + res.stderr


def test_exec_failing_cell(d):
    cid = start(d)
    res = exec_(d, cid, "def f():\n    return 1 / 0\nf()")
    assert res.returncode != 0, f"a failing cell exited 0: {res.stdout}"
    out = ku.strip_ansi(res.stdout + res.stderr)
    assert "ZeroDivisionError" in out and "division by zero" in out, out
    assert "return 1 / 0" in out, f"no traceback lines: {out}"
    # The conversation is fine afterwards.
    assert ok(exec_(d, cid, "'still' + ' here'"), "exec").stdout.strip().endswith("'still here'")


def test_exec_streams_output(d):
    cid = start(d)
    code = "import time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(1)\n"
    proc = subprocess.Popen(
        [ku.SANDCELL, "exec", "-c", cid, code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=d.cli_env(),
    )
    arrivals = {}
    buf = b""
    t0 = time.monotonic()
    try:
        fd = proc.stdout.fileno()
        while True:
            assert time.monotonic() - t0 < 30, f"exec did not finish: {buf!r}"
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            for n in range(3):
                if f"line {n}".encode() in buf and n not in arrivals:
                    arrivals[n] = time.monotonic()
        rc = proc.wait(timeout=10)
        ended = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err = proc.stderr.read()
    assert rc == 0, f"exit status {rc}: {buf!r} {err!r}"
    assert sorted(arrivals) == [0, 1, 2], buf
    assert ended - arrivals[0] > 1.5, (
        f"the first line came {ended - arrivals[0]:.2f}s before the end: not streamed"
    )
    assert arrivals[1] - arrivals[0] > 0.5, "lines arrived together"


CHART = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('cli')\nplt.show()"


def _png_paths(stdout, cwd):
    """Paths of .png files named in |stdout| (possibly in brackets or
    quotes), made absolute against |cwd|."""
    paths = []
    for word in re.findall(r"[^\s\[\]()<>'\"]+\.png\b", stdout):
        p = word if os.path.isabs(word) else os.path.join(cwd, word)
        paths.append(os.path.normpath(p))
    return paths


def test_exec_writes_images(d, tmp_path):
    cid = start(d)
    work = tmp_path / "cwd"
    work.mkdir()
    res = ok(exec_(d, cid, CHART, cwd=work), "exec of a chart")
    paths = _png_paths(res.stdout, work)
    assert len(paths) == 1, f"no image path printed: {res.stdout!r}"
    assert re.fullmatch(rf"sandcell-{re.escape(cid)}-\d+\.png", os.path.basename(paths[0])), paths
    assert os.path.dirname(paths[0]) == str(work)
    with open(paths[0], "rb") as f:
        assert f.read(8) == ku.PNG_SIGNATURE
    # --out-dir
    out = tmp_path / "images"
    out.mkdir()
    res = ok(exec_(d, cid, CHART, "--out-dir", out, cwd=work), "exec --out-dir")
    paths2 = _png_paths(res.stdout, work)
    assert len(paths2) == 1, res.stdout
    assert os.path.dirname(paths2[0]) == str(out)
    with open(paths2[0], "rb") as f:
        assert f.read(8) == ku.PNG_SIGNATURE
    assert paths2[0] != paths[0]


def test_put_get(d, tmp_path):
    cid = start(d)
    local = tmp_path / "input.csv"
    local.write_text("a,b\n1,2\n3,4\n")
    ok(d.cli("put", cid, local, "data.csv"), "put with a remote name")
    res = ok(exec_(d, cid, "import pandas as pd\ndf = pd.read_csv('data.csv')\n"
                           "df['c'] = df.a + df.b\ndf.to_csv('result.csv', index=False)\n"
                           "int(df.c.sum())"), "exec")
    assert res.stdout.strip().splitlines()[-1] == "10", res.stdout
    ok(d.cli("get", cid, "result.csv", tmp_path / "result.csv"), "get to a local name")
    assert (tmp_path / "result.csv").read_text() == "a,b,c\n1,2,3\n3,4,7\n"
    # Default names: the local basename for put, the remote basename for get.
    ok(d.cli("put", cid, local), "put without a remote name")
    assert ok(exec_(d, cid, "open('input.csv').read()"), "exec").stdout.strip().endswith(
        repr("a,b\n1,2\n3,4\n"))
    work = tmp_path / "getdir"
    work.mkdir()
    ok(d.cli("get", cid, "result.csv", cwd=work), "get without a local name")
    assert (work / "result.csv").read_text() == "a,b,c\n1,2,3\n3,4,7\n"
    # Refusals are errors.
    for args in (("get", cid, "../x"), ("get", cid, "/etc/passwd"),
                 ("get", cid, "missing.txt"), ("put", cid, local, "../evil.csv")):
        res = d.cli(*args, cwd=work)
        assert res.returncode != 0, f"sandcell {' '.join(map(str, args))} succeeded"
        assert res.stderr.strip(), f"sandcell {' '.join(map(str, args))}: no message"


def test_start_with_cap_and_limits(d):
    cid = start(d, "--max-executions", "2", "--timeout", "3")
    ok(exec_(d, cid, "1"), "exec 1")
    res = exec_(d, cid, "while True: pass", timeout=30)
    assert res.returncode != 0
    assert "TimeoutError" in res.stdout + res.stderr, res.stdout + res.stderr
    res = exec_(d, cid, "2")
    assert res.returncode != 0, "the third execution ran past --max-executions 2"
    assert "ExecutionLimitReached" in res.stdout + res.stderr, res.stdout + res.stderr
    entry = [c for c in d.control.list() if c["id"] == cid][0]
    assert entry["state"] == "capped" and entry["max_executions"] == 2, entry


# ---------------------------------------------------------------- jupyter console


class ExistingConsole(Console):
    """`jupyter console --existing FILE` in tmux (see test_console.py)."""

    def __init__(self, socket_path, connection_file):
        super().__init__(socket_path)
        self.connection_file = str(connection_file)

    def start(self):
        env = " ".join(
            f"{k}={shlex.quote(os.environ[k])}" for k in ENV_VARS if k in os.environ
        )
        command = (
            f"env {env} TERM=xterm-256color /usr/bin/python3 -m jupyter_console "
            f"--existing {shlex.quote(self.connection_file)} {IS_COMPLETE_TIMEOUT}"
        )
        self.tmux("new-session", "-d", "-s", self.name, "-x", "200", "-y", "50", command)
        self.tmux("set-option", "-t", self.name, "remain-on-exit", "on", check=False)
        self.server_pid = int(self.tmux("display-message", "-p", "-t", self.name, "#{pid}").stdout)


def test_jupyter_console_existing(d, tmp_path):
    conn = tmp_path / "conversation.json"
    cid = start(d, "--connection-file", conn)
    assert conn.exists()
    assert (os.stat(conn).st_mode & 0o777) == 0o600
    c = ExistingConsole(tmp_path / "tmux.sock", conn)
    try:
        c.start()
        c.wait_for(r"^In \[1\]: ", timeout=ku.TIMEOUT)
        c.line("1+1")
        pos = c.wait_for(r"^Out\[1\]: 2$")
        c.line("import os; os.getcwd()")
        c.wait_for(r"^Out\[2\]: '/workspace'$", after=pos)
        c.quit()
    finally:
        c.close()
    # Leaving the console does not end the conversation.
    assert cid in listed(d)
    ok(d.cli("stop", cid), "stop")
