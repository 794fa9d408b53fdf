"""Shared helpers for the integration tests: configuration, a message tracker
that timestamps every message on arrival, and process-tree utilities.

The tracker reads all channels of one BlockingKernelClient and files every
message under its parent msg_id, so a test can have several requests in
flight and still ask "what did request X produce, and when". Arrival times
are the client's monotonic clock at the moment the message was read; the
reader spins on all sockets with a 10 ms nap, which is plenty for the
second-scale comparisons made by the tests.
"""

import base64
import functools
import hashlib
import json
import os
import re
import struct
import subprocess
import time
import zlib
from collections import defaultdict
from pathlib import Path
from queue import Empty

import psutil
import pytest
from jupyter_client.utils import run_sync

REPO = Path(__file__).resolve().parents[2]
SANDCELL = os.path.abspath(os.environ.get("SANDCELL") or str(REPO / "sandcell"))
KERNEL_NAME = os.environ.get("SANDCELL_TEST_KERNEL", "sandcell-python")
IS_IPYKERNEL = KERNEL_NAME == "python3"

# Set in os.environ (with a per-session value) by conftest; every process the
# tests start inherits it, which is how leftovers are recognised at the end.
MARKER_VAR = "SANDCELL_TEST_SESSION"

# Upper bound for any single wait on the kernel.
TIMEOUT = 30

requires_sandcell = pytest.mark.skipif(
    IS_IPYKERNEL, reason="sandcell-only behaviour; ipykernel (python3) differs here"
)

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text):
    return ANSI_RE.sub("", text)


def tiny_png():
    """A valid 1x1 RGB PNG, built by hand. Returns its bytes."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY_PNG_B64 = base64.b64encode(tiny_png()).decode("ascii")


def decode_png(data):
    """image/png values are base64 text; returns the bytes and checks the signature."""
    raw = base64.b64decode(data)
    assert raw.startswith(PNG_SIGNATURE), f"not a PNG: {raw[:16]!r}"
    return raw


class CellResult:
    """Everything one request produced: its reply and its iopub messages."""

    def __init__(self, msg_id, reply, reply_time, iopub, sent_time):
        self.msg_id = msg_id
        self.reply = reply
        self.content = reply["content"]
        self.status = self.content.get("status")
        self.reply_time = reply_time
        self.sent_time = sent_time
        self.iopub_timed = iopub  # [(t, msg)] in arrival order
        self.msgs = [m for _, m in iopub]

    @property
    def outputs(self):
        return [m for m in self.msgs if m["msg_type"] not in ("status", "execute_input")]

    def of_type(self, msg_type):
        return [m for m in self.msgs if m["msg_type"] == msg_type]

    def stream_text(self, name="stdout"):
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == name
        )

    def result_data(self):
        results = self.of_type("execute_result")
        assert len(results) == 1, f"expected one execute_result, got {self.describe()}"
        return results[0]["content"]["data"]

    def error(self):
        errors = self.of_type("error")
        assert len(errors) == 1, f"expected one error output, got {self.describe()}"
        return errors[0]["content"]

    def describe(self):
        parts = []
        for m in self.msgs:
            c = m["content"]
            if m["msg_type"] == "status":
                parts.append(f"status:{c['execution_state']}")
            elif m["msg_type"] == "stream":
                parts.append(f"stream:{c['name']}:{c['text'][:60]!r}")
            elif m["msg_type"] == "error":
                parts.append(f"error:{c.get('ename')}:{c.get('evalue')!r}")
            elif m["msg_type"] in ("execute_result", "display_data"):
                parts.append(f"{m['msg_type']}:{sorted(c.get('data', {}))}")
            else:
                parts.append(m["msg_type"])
        summary = {k: v for k, v in self.content.items() if k != "traceback"}
        return f"reply={summary} iopub=[{', '.join(parts)}]"


class Tracker:
    """Reads the shell, control, iopub and stdin channels of a
    BlockingKernelClient and files messages by parent msg_id."""

    def __init__(self, kc):
        self.kc = kc
        self.iopub = defaultdict(list)  # parent msg_id -> [(t, msg)]
        self.replies = {}  # parent msg_id -> (t, msg), shell and control
        self.stdin = defaultdict(list)  # parent msg_id -> [(t, msg)]
        self.sent = {}

    def _channels(self):
        kc = self.kc
        return (
            (kc.iopub_channel, self.iopub, False),
            (kc.shell_channel, self.replies, True),
            (kc.control_channel, self.replies, True),
            (kc.stdin_channel, self.stdin, False),
        )

    def pump(self):
        """Read whatever has arrived; nap briefly when nothing did."""
        got = False
        for channel, store, is_reply in self._channels():
            if channel is None:
                continue
            while True:
                try:
                    msg = _get_now(channel)
                except Empty:
                    break
                got = True
                now = time.monotonic()
                parent = msg["parent_header"].get("msg_id")
                if is_reply:
                    store[parent] = (now, msg)
                else:
                    store[parent].append((now, msg))
        if not got:
            time.sleep(0.01)

    def wait(self, predicate, timeout=TIMEOUT, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def drain(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump()

    def iopub_of(self, msg_id, msg_type=None):
        return [m for _, m in self.iopub[msg_id] if msg_type is None or m["msg_type"] == msg_type]

    def is_idle(self, msg_id):
        return any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
            for m in self.iopub_of(msg_id)
        )

    def wait_iopub(self, msg_id, msg_type, timeout=TIMEOUT):
        return self.wait(
            lambda: self.iopub_of(msg_id, msg_type), timeout, f"{msg_type} for {msg_id}"
        )[0]

    def wait_stdin(self, msg_id, timeout=TIMEOUT):
        return self.wait(lambda: self.stdin[msg_id], timeout, f"stdin request for {msg_id}")[0][1]

    def wait_reply(self, msg_id, timeout=TIMEOUT):
        return self.wait(lambda: self.replies.get(msg_id), timeout, f"reply to {msg_id}")[1]

    def finish(self, msg_id, timeout=TIMEOUT):
        """Waits for the reply and the idle status of msg_id; returns a CellResult."""
        try:
            self.wait(
                lambda: msg_id in self.replies and self.is_idle(msg_id),
                timeout,
                f"reply and idle for {msg_id}",
            )
        except AssertionError:
            got = self.replies.get(msg_id)
            raise AssertionError(
                f"no reply+idle within {timeout}s; reply={'yes' if got else 'no'}, "
                f"iopub={[m['msg_type'] for m in self.iopub_of(msg_id)]}"
            ) from None
        t, reply = self.replies[msg_id]
        return CellResult(msg_id, reply, t, list(self.iopub[msg_id]), self.sent.get(msg_id))

    def execute(self, code, **kwargs):
        msg_id = self.kc.execute(code, **kwargs)
        self.sent[msg_id] = time.monotonic()
        return msg_id

    def run(self, code, timeout=TIMEOUT, **kwargs):
        return self.finish(self.execute(code, **kwargs), timeout)

    def run_ok(self, code, timeout=TIMEOUT, **kwargs):
        res = self.run(code, timeout, **kwargs)
        assert res.status == "ok", f"cell {code!r} failed: {res.describe()}"
        return res

    def request(self, msg_type, content=None, channel="shell"):
        """Sends an arbitrary request; returns its msg_id."""
        msg = self.kc.session.msg(msg_type, content or {})
        getattr(self.kc, f"{channel}_channel").send(msg)
        self.sent[msg["header"]["msg_id"]] = time.monotonic()
        return msg["header"]["msg_id"]


def _get_now(channel):
    return run_sync(channel.get_msg)(timeout=0)


# ---------------------------------------------------------------- processes


def kernel_pid(km):
    return km.provisioner.process.pid


def process_tree(pid):
    """The process and all its descendants (psutil.Process list); [] if gone."""
    try:
        root = psutil.Process(pid)
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def is_live(proc):
    """Running and not a zombie (a zombie has exited; only its entry is left)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(procs, timeout=10, popen=None):
    """Waits until none of procs is live; returns those still live. |popen|,
    if given, is polled so that our own child gets reaped."""
    deadline = time.monotonic() + timeout
    while True:
        if popen is not None:
            popen.poll()
        alive = [p for p in procs if is_live(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def describe_procs(procs):
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} (ppid {p.ppid()}, {p.status()}): {' '.join(p.cmdline())[:200]}")
        except psutil.NoSuchProcess:
            out.append(f"{p.pid} (gone)")
    return "; ".join(out) or "none"


def kill_all(procs):
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def interpreter_process(kpid):
    """The interpreter of a sandcell kernel: the process whose parent is the
    zygote, the zygote being a child of the kernel process."""
    tree = process_tree(kpid)
    zygotes = {p.pid for p in tree if _ppid(p) == kpid}
    found = [p for p in tree if _ppid(p) in zygotes]
    assert len(found) == 1, (
        f"expected exactly one grandchild of kernel {kpid}, tree: {describe_procs(tree)}"
    )
    return found[0]


def _ppid(p):
    try:
        return p.ppid()
    except psutil.NoSuchProcess:
        return None


# ------------------------------------------------------ the jail's corpus
#
# Helpers for the sandbox escape tests (test_jail_*.py): kernels with extra
# command-line flags, cells that try something and report what happened as
# JSON, and the machine's sandbox layers as `sandcell doctor` sees them.


@functools.lru_cache(maxsize=None)
def doctor_layers():
    """{layer name: True/False} from `sandcell doctor` (empty if the command
    is missing or prints nothing usable)."""
    try:
        proc = subprocess.run([SANDCELL, "doctor"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    layers = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"\s+(\S.*?)\s{2,}(yes|MISSING)\b", line)
        if m:
            layers[m.group(1)] = m.group(2) == "yes"
    return layers


def cgroups_available():
    """Whether this user can give interpreters cgroup limits (root, or a
    delegated cgroup); without them, the corpus runs its kernels with
    --no-cgroups and skips the tests of the cgroup limits."""
    return doctor_layers().get("cgroups", False)


requires_cgroups = pytest.mark.skipif(
    "not __import__('kernel_util').cgroups_available()",
    reason="needs cgroup write access (run as root or with a delegated cgroup); "
    "`sandcell doctor` reports the cgroups layer missing",
)


def jail_flags(flags=()):
    """|flags| plus --no-cgroups when this user cannot have cgroups (the
    kernel refuses to run code without them otherwise)."""
    flags = list(flags)
    if not cgroups_available() and "--no-cgroups" not in flags and "--no-jail" not in flags:
        flags.append("--no-cgroups")
    return flags


def install_kernelspec(prefix, flags=(), wrapper=None):
    """Writes a kernelspec next to sandcell-python in |prefix| whose argv is
    sandcell-python's plus |flags| (and, with |wrapper|, a command that runs
    before sandcell: its argv, where "{connection_file}" is substituted).
    Returns the kernel name, derived from the flags."""
    base = Path(prefix) / "share" / "jupyter" / "kernels" / "sandcell-python" / "kernel.json"
    spec = json.loads(base.read_text())
    argv = list(spec["argv"]) + [str(f) for f in flags]
    if wrapper:
        argv = list(wrapper) + argv
    digest = hashlib.sha1(json.dumps(argv).encode()).hexdigest()[:10]
    name = f"sandcell-jail-{digest}"
    spec["argv"] = argv
    spec["display_name"] = f"sandcell {' '.join(map(str, flags))}".strip()
    d = base.parent.parent / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "kernel.json").write_text(json.dumps(spec, indent=1))
    return name


RESULT_MARK = "@@sandcell-attempt@@"

ATTEMPT_PRELUDE = f"""
import json as _sc_json
def _sc_write(path, data, mode="w"):
    # Unbuffered, so that a failing write raises here, not in a finaliser
    # that swallows the error.
    with open(path, mode.replace("b", "") + "b", buffering=0) as f:
        return f.write(data.encode() if isinstance(data, str) else data)
def _sc_attempt(body):
    try:
        value = body()
        out = {{"ok": True, "value": value if isinstance(value, (int, float, str, bool, list, dict, type(None))) else repr(value)}}
    except BaseException as exc:
        out = {{"ok": False, "exc": type(exc).__name__, "errno": getattr(exc, "errno", None),
               "msg": str(exc)[:500]}}
    print({RESULT_MARK!r} + _sc_json.dumps(out, default=repr))
"""


def attempt_code(body, setup=""):
    """A cell that runs |body| (statements of a function; `return` gives the
    value) and prints what happened as one JSON line."""
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return f"{setup}\n{ATTEMPT_PRELUDE}\ndef _sc_body():\n{indented}\n_sc_attempt(_sc_body)\n"


def attempt_result(res):
    """The JSON line of an attempt_code cell, or None if the cell did not
    get to print it (e.g. the interpreter died)."""
    for line in res.stream_text().splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    return None


def attempt(tracker, body, setup="", timeout=TIMEOUT):
    """Runs attempt_code(body, setup); returns (result dict or None, CellResult)."""
    res = tracker.run(attempt_code(body, setup), timeout)
    return attempt_result(res), res


def assert_failed(result, res, excs=None, errnos=None):
    """The attempt raised (one of |excs|, with one of |errnos| if given)."""
    assert result is not None, f"the attempt printed no result: {res.describe()}"
    assert not result["ok"], f"the attempt succeeded: {result}"
    if excs is not None:
        assert result["exc"] in excs, f"expected one of {excs}, got {result}"
    if errnos is not None:
        assert result["errno"] in errnos, f"expected errno in {errnos}, got {result}"


def assert_answers(tracker):
    """The kernel runs the next cell: `1+1` gives 2."""
    res = tracker.run("1+1")
    assert res.status == "ok", f"the kernel does not answer after the attempt: {res.describe()}"
    assert res.result_data()["text/plain"] == "2", res.describe()


SYSCALL_SETUP = """
import ctypes as _sc_ctypes
_sc_libc = _sc_ctypes.CDLL(None, use_errno=True)
_sc_libc.syscall.restype = _sc_ctypes.c_long
def _sc_syscall(nr, *args):
    _sc_ctypes.set_errno(0)
    r = _sc_libc.syscall(_sc_ctypes.c_long(nr), *[_sc_ctypes.c_long(a) for a in args])
    return [r, _sc_ctypes.get_errno()]
"""


def syscall(tracker, nr, *args):
    """Calls syscall |nr| in the interpreter; returns (return value, errno)."""
    body = f"return _sc_syscall({nr}, {', '.join(map(str, args))})"
    result, res = attempt(tracker, body, SYSCALL_SETUP)
    assert result is not None and result["ok"], f"syscall {nr}: {res.describe()}"
    return tuple(result["value"])


# A function for cells: does any readable mapping of this process hold
# |a| immediately followed by |b|? The needle is passed in two halves so
# that the cell's own source and objects never hold it whole.
MEMSCAN_SETUP = """
import ctypes as _sc_ctypes
def _sc_memscan(a, b):
    hits = []
    for line in open('/proc/self/maps'):
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split('-'))
        name = parts[5] if len(parts) > 5 else ''
        if parts[1][0] != 'r' or name.startswith('[v'):
            continue
        try:
            data = _sc_ctypes.string_at(lo, hi - lo)
        except Exception:
            continue
        i = data.find(a)
        while i >= 0:
            if data[i + len(a):i + len(a) + len(b)] == b:
                hits.append(name or hex(lo))
                break
            i = data.find(a, i + 1)
        del data
    return hits
"""


def halves(secret):
    """|secret| (str) as two bytes literals for MEMSCAN_SETUP's _sc_memscan."""
    raw = secret.encode()
    mid = len(raw) // 2
    return repr(raw[:mid]), repr(raw[mid:])
