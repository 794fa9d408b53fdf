#!/usr/bin/python3
"""Soak test of `sandcell serve`: many well-behaved conversations with mixed
traffic while a few hostile ones flood, stall, fork and forge.

Not part of `make check` or CI; run it by hand (ten minutes by default):

    bench/soak.py                          # 10 minutes, 200 conversations
    bench/soak.py --minutes 2 --conversations 40

It starts its own daemon on loopback (a temporary runtime file and journal
folder), then, paced evenly over the run, opens --conversations
well-behaved conversations, each doing a random mix of small cells, pandas
cells, put and get of files, input(), errors, interrupts, restarts in place
and a stop followed by a restore. Meanwhile hostile conversations, each
started again and again, do one trick each: flood stdout, subscribe to
iopub and never read, fork a child that writes after the reply, forge
records on the interpreter's channel, stall (an unanswered input(), a busy
loop), and read slowly.

Every request of a well-behaved client must get its reply (a reply not in
within --reply-timeout s is lost) with the expected result. The daemon's
resident memory and open descriptors are sampled every 2 s; the end sample
is taken once every conversation has been stopped. Exit status 1 if a reply
was lost, a result was wrong, the daemon died, or its RSS or descriptors at
the end exceed the start by more than --rss-growth-mib / --fd-growth; 0
otherwise; 2 on a usage error. A progress line goes to stderr every 30 s,
the summary to stdout (bench/README.md, "soak").
"""

import argparse
import hashlib
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

HOSTILE_KINDS = ("flood", "deaf-iopub", "fork", "forge", "stall", "slow-reader")
OPS = (  # (name, weight) of a well-behaved conversation's requests
    ("small", 6), ("pandas", 2), ("files", 2), ("input", 2), ("error", 2),
    ("interrupt", 1), ("restart", 1), ("restore", 1),
)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10, help="length of the run (default 10)")
    p.add_argument("--conversations", type=int, default=200,
                   help="well-behaved conversations opened over the run (default 200; "
                        "restores come on top)")
    p.add_argument("--workers", type=int, default=8,
                   help="well-behaved conversations at most at once (default 8)")
    p.add_argument("--hostile", default=",".join(HOSTILE_KINDS),
                   help=f"hostile kinds, comma-separated (default {','.join(HOSTILE_KINDS)}; "
                        "'' for none)")
    p.add_argument("--reply-timeout", type=float, default=90,
                   help="seconds after which a reply counts as lost (default 90)")
    p.add_argument("--rss-growth-mib", type=float, default=64,
                   help="allowed growth of the daemon's RSS, start to end (default 64 MiB)")
    p.add_argument("--fd-growth", type=int, default=17,
                   help="allowed growth of the daemon's open descriptors, start to end "
                        "(default 17, one conversation's worth)")
    p.add_argument("--sandcell", help="the binary (default: ./sandcell of this checkout)")
    p.add_argument("--seed", type=int, help="random seed (default: from the clock; printed)")
    p.add_argument("--samples", metavar="FILE",
                   help="also write every sample of the daemon as CSV (t_s,rss_kib,fds,procs)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary folder (daemon log, journals)")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.conversations < 1 or args.workers < 1:
        p.error("--minutes, --conversations and --workers must be positive")
    kinds = [k for k in args.hostile.split(",") if k]
    bad = [k for k in kinds if k not in HOSTILE_KINDS]
    if bad:
        p.error(f"unknown hostile kind {bad[0]!r} (known: {', '.join(HOSTILE_KINDS)})")
    args.hostile = kinds
    return args


ARGS = parse_args(sys.argv[1:])
if ARGS.sandcell:
    os.environ["SANDCELL"] = os.path.abspath(ARGS.sandcell)

import zmq  # noqa: E402
from jupyter_client.blocking import BlockingKernelClient  # noqa: E402
from jupyter_client.session import Session  # noqa: E402

import kernel_util as ku  # noqa: E402


class Lost(Exception):
    """A request of a well-behaved client got no reply in time."""


class Wrong(Exception):
    """A reply came, but not the one expected."""


# --------------------------------------------------------------- the tally


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = {}
        self.lost = []  # descriptions
        self.wrong = []
        self.rtt = []  # seconds, the small cells of well-behaved clients
        self.samples = []  # (t, rss_kib, fds, procs)

    def add(self, key, k=1):
        with self.lock:
            self.n[key] = self.n.get(key, 0) + k

    def get(self, key):
        return self.n.get(key, 0)

    def note_lost(self, what):
        with self.lock:
            self.lost.append(what)
        log(f"LOST: {what}")

    def note_wrong(self, what):
        with self.lock:
            self.wrong.append(what)
        log(f"WRONG: {what}")


T = Tally()
STOP = threading.Event()  # the run is over: hostile loops end
T0 = time.monotonic()


def log(text):
    print(f"[{time.monotonic() - T0:7.1f}s] {text}", file=sys.stderr, flush=True)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


# ------------------------------------------------------- control endpoint


class Control:
    """One thread's DEALER on the control endpoint; every request counts, and
    one not answered within the reply timeout is lost."""

    def __init__(self, runtime, counted=True):
        self.c = ku.Control(runtime)
        self.counted = counted

    def close(self):
        self.c.close()

    def request(self, msg_type, content=None, buffers=None):
        if self.counted:
            T.add("requests")
        msg_id = self.c.send(msg_type, content, buffers)
        reply = self.c.wait_reply(msg_id, ARGS.reply_timeout)
        self.c.stray.clear()
        if reply is None:
            raise Lost(f"control {msg_type} {ku._short(content, 80)}: no reply in "
                       f"{ARGS.reply_timeout:.0f} s")
        if self.counted:
            T.add("replies")
        return reply

    def ok(self, msg_type, content=None, buffers=None):
        reply = self.request(msg_type, content, buffers)
        if reply["content"].get("status") != "ok":
            raise Wrong(f"control {msg_type} {ku._short(content, 80)}: {reply['content']}")
        return reply


# ------------------------------------------------------ one conversation


def open_client(connection):
    kc = BlockingKernelClient()
    kc.load_connection_info(connection)
    kc.start_channels(hb=False)
    try:
        kc.wait_for_ready(timeout=ARGS.reply_timeout)
    except RuntimeError as e:
        kc.stop_channels()
        raise Lost(f"kernel_info on a new conversation: {e}") from None
    return kc


class Conversation:
    """A well-behaved client: a started conversation, its Tracker, checks."""

    def __init__(self, control, content, restored=False):
        self.control = control
        self.id = content["id"]
        T.add("conversations")
        if restored:
            T.add("restores")
        self.kc = open_client(content["connection"])
        self.t = ku.Tracker(self.kc)

    def close(self, stop=True):
        try:
            self.kc.stop_channels()
        except Exception:
            pass
        if stop:
            self.control.ok("stop_request", {"id": self.id})

    # --- requests

    def _wait_reply(self, msg_id, what):
        try:
            self.t.wait(lambda: self.t.replies.get(msg_id), ARGS.reply_timeout, what)
        except AssertionError:
            raise Lost(f"{self.id}: {what}: no reply in {ARGS.reply_timeout:.0f} s") from None
        T.add("replies")
        return self.t.replies[msg_id][1]

    def finish(self, msg_id, what):
        """The reply (a lost one raises), then the idle status (a missing one
        is wrong); returns a CellResult and forgets the request's messages."""
        self._wait_reply(msg_id, what)
        try:
            self.t.wait(lambda: self.t.is_idle(msg_id), 15, f"idle of {what}")
        except AssertionError:
            raise Wrong(f"{self.id}: {what}: reply but no idle status within 15 s") from None
        at, reply = self.t.replies.pop(msg_id)
        res = ku.CellResult(msg_id, reply, at, self.t.iopub.pop(msg_id, []),
                            self.t.sent.pop(msg_id, None))
        self.t.stdin.pop(msg_id, None)
        return res

    def execute(self, code, **kw):
        T.add("requests")
        return self.t.execute(code, **kw)

    def run(self, code, **kw):
        return self.finish(self.execute(code, **kw), f"execute {code[:40]!r}")

    def expect(self, res, cond, what):
        if not cond:
            raise Wrong(f"{self.id}: {what}: {res.describe()[:400]}")

    def result_text(self, res):
        data = [m["content"]["data"] for m in res.of_type("execute_result")]
        return data[0].get("text/plain") if len(data) == 1 else None

    def control_request(self, msg_type, content=None):
        T.add("requests")
        msg_id = self.t.request(msg_type, content, channel="control")
        reply = self._wait_reply(msg_id, msg_type)
        self.t.replies.pop(msg_id, None)
        self.t.sent.pop(msg_id, None)
        return reply

    # --- the mix

    def op_small(self):
        a, b = random.randint(1, 999), random.randint(1, 999)
        res = self.run(f"{a} + {b}")
        self.expect(res, res.status == "ok" and self.result_text(res) == str(a + b), "small cell")
        with T.lock:
            T.rtt.append(res.reply_time - res.sent_time)

    def op_pandas(self):
        n = random.randint(10, 5000)
        res = self.run(f"import pandas as pd\ndf = pd.DataFrame({{'a': range({n})}})\n"
                       f"df['b'] = df.a * 2\nint(df.b.sum())")
        self.expect(res, res.status == "ok" and self.result_text(res) == str(n * (n - 1)),
                    "pandas cell")

    def op_files(self):
        data = os.urandom(random.randint(1, 512 * 1024))
        name = f"soak-{random.randrange(1 << 30):x}.bin"
        self.control.ok("put_file_request", {"id": self.id, "path": name}, [data])
        res = self.run(f"import hashlib\ndata = open({name!r}, 'rb').read()\n"
                       f"print(hashlib.sha256(data).hexdigest())\n"
                       f"open('rev-' + {name!r}, 'wb').write(data[::-1])")
        self.expect(res, res.status == "ok" and
                    res.stream_text().strip() == hashlib.sha256(data).hexdigest(),
                    "the put file, read in the cell")
        got = self.control.ok("get_file_request", {"id": self.id, "path": "rev-" + name})
        if got["buffers"] != [data[::-1]]:
            raise Wrong(f"{self.id}: get_file of rev-{name}: other bytes")

    def op_input(self):
        word = f"w{random.randrange(1 << 30):x}"
        msg_id = self.execute("x = input('name? ')\nprint(x[::-1])", allow_stdin=True)
        try:
            self.t.wait(lambda: self.t.stdin[msg_id] or msg_id in self.t.replies,
                        ARGS.reply_timeout, "input_request")
        except AssertionError:
            raise Lost(f"{self.id}: input(): neither input_request nor reply in "
                       f"{ARGS.reply_timeout:.0f} s") from None
        if not self.t.stdin[msg_id]:
            res = self.finish(msg_id, "execute input()")
            raise Wrong(f"{self.id}: input(): replied without an input_request: "
                        f"{res.describe()[:300]}")
        self.kc.input(word)
        res = self.finish(msg_id, "execute input()")
        self.expect(res, res.status == "ok" and res.stream_text() == word[::-1] + "\n",
                    "input() answered")

    def op_error(self):
        res = self.run("1 / 0")
        self.expect(res, res.status == "error" and res.content.get("ename") == "ZeroDivisionError",
                    "1 / 0")

    def op_interrupt(self):
        # Sleeps until a wall-clock deadline, so that a restore that runs
        # this cell again later does not sleep the whole time again.
        msg_id = self.execute(f"import time\nprint('sleeping', flush=True)\n"
                              f"time.sleep(max(0, {time.time() + 20:.3f} - time.time()))")
        try:  # interrupt once the cell runs (its first output is out)
            self.t.wait(lambda: self.t.iopub_of(msg_id, "stream") or msg_id in self.t.replies,
                        ARGS.reply_timeout, "the sleeping cell's output")
        except AssertionError:
            raise Lost(f"{self.id}: the cell to interrupt neither printed nor replied in "
                       f"{ARGS.reply_timeout:.0f} s") from None
        self.control_request("interrupt_request")
        res = self.finish(msg_id, "execute time.sleep(20), interrupted")
        self.expect(res, res.status == "error" and res.content.get("ename") == "KeyboardInterrupt",
                    "interrupted sleep")

    def op_restart(self):
        self.run("soak_gone = 1")
        reply = self.control_request("shutdown_request", {"restart": True})
        if reply["content"].get("status") != "ok":
            raise Wrong(f"{self.id}: shutdown_request restart: {reply['content']}")
        res = self.run("'soak_gone' in globals()")
        self.expect(res, res.status == "ok" and self.result_text(res) == "False",
                    "a variable after a restart")

    def op_restore(self):
        """Stop this conversation and continue it in a restored one; returns it."""
        v = random.randrange(1 << 40)
        self.run(f"soak_kept = {v}")
        self.close()
        content = self.control.ok("start_request", {"restore": self.id})["content"]
        conv = Conversation(self.control, content, restored=True)
        res = conv.run("soak_kept")
        conv.expect(res, res.status == "ok" and conv.result_text(res) == str(v),
                    "a variable after stop and restore")
        return conv


def good_conversation(control, index):
    """One well-behaved conversation, start to stop, with 4-10 requests."""
    conv = None
    try:
        content = control.ok("start_request", {})["content"]
        conv = Conversation(control, content)
        names = [n for n, _ in OPS]
        weights = [w for _, w in OPS]
        for _ in range(random.randint(4, 10)):
            op = random.choices(names, weights)[0]
            T.add(f"op {op}")
            if op == "restore":
                conv = conv.op_restore()
            else:
                getattr(conv, f"op_{op}")()
        conv.close()
        conv = None
        T.add("conversations done")
    except Lost as e:
        T.note_lost(str(e))
    except Wrong as e:
        T.note_wrong(str(e))
    except Exception as e:
        T.note_wrong(f"conversation {index}: {type(e).__name__}: {e}\n{traceback.format_exc()}")
    finally:
        if conv is not None:  # after a failure: stop it, without counting
            try:
                conv.kc.stop_channels()
                quiet_stop(control.c.runtime, conv.id)
            except Exception:
                pass


def quiet_stop(runtime, cid):
    c = ku.Control(runtime)
    try:
        msg_id = c.send("stop_request", {"id": cid})
        c.wait_reply(msg_id, 30)
    finally:
        c.close()


class Pacer:
    """Hands out conversation numbers, number i not before T0 + i * step."""

    def __init__(self, count, seconds):
        self.lock = threading.Lock()
        self.next = 0
        self.count = count
        self.step = seconds / count
        self.last_start = T0 + seconds  # none begins after the run's end

    def take(self):
        with self.lock:
            if self.next >= self.count:
                return None
            i = self.next
            self.next += 1
        at = T0 + i * self.step
        while time.monotonic() < at:
            time.sleep(min(0.2, at - time.monotonic()))
        if time.monotonic() > self.last_start:
            return None
        return i


def good_worker(runtime, pacer):
    control = Control(runtime)
    try:
        while True:
            i = pacer.take()
            if i is None:
                return
            good_conversation(control, i)
    finally:
        control.close()


# ------------------------------------------------------ hostile clients

HOSTILE_LIMITS = {"timeout": 5, "input_timeout": 5, "max_output": 4}

FLOOD = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
MANY_LINES = "for i in range(200000):\n    print(i)\n"
FORK = """
import os, time
if os.fork() == 0:
    time.sleep(0.5)
    for _ in range(192):
        print('y' * 65535)
    os._exit(0)
"""
FORGES = [
    # a reply without the request's number, then a busy loop: the time limit
    "import _sandcell, json\n_sandcell.send(json.dumps({'type': 'reply', 'content': "
    "{'status': 'ok', 'execution_count': 1, 'user_expressions': {}, 'payload': []}}))\n"
    "while True: pass\n",
    # an input_request the request did not allow, then a busy loop
    "import _sandcell, json\n_sandcell.send(json.dumps({'type': 'input_request', 'content': "
    "{'prompt': 'forged> ', 'password': False}}))\nwhile True: pass\n",
    # outputs that are no valid Jupyter content
    "import _sandcell, json\nfor _ in range(200):\n"
    "    _sandcell.send(json.dumps({'type': 'display_data', 'content': {'data': 'x', "
    "'metadata': 3}}))\n"
    "    _sandcell.send(json.dumps({'type': 'error', 'content': {'ename': 1, 'evalue': 2, "
    "'traceback': [3]}}))\n"
    "    _sandcell.send(json.dumps({'type': 'status', 'content': {'execution_state': 'idle'}}))\n"
    "    _sandcell.send('{\"type\": \"stream\", ')\n",
    # raw datagrams on the channel socket, a zero-length one among them
    "import os, stat\nfor fd in map(int, os.listdir('/proc/self/fd')):\n"
    "    try:\n        if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
    "            for _ in range(100):\n                os.write(fd, b'.{\"type\": \"nonsense\"}')\n"
    "                os.write(fd, b'')\n                os.write(fd, b'garbage')\n"
    "    except OSError:\n        pass\n",
]
STALLS = [
    ("x = input('never answered> ')", True),
    ("while True: pass", False),
    ("import time\ntime.sleep(3600)", False),
]


class RawClient:
    """Shell DEALER and iopub SUB of a conversation on raw sockets, for
    clients that read iopub slowly or never."""

    def __init__(self, connection, rcvhwm):
        self.session = Session(key=connection["key"].encode(),
                               signature_scheme=connection["signature_scheme"])
        self.ctx = zmq.Context()
        base = f"{connection['transport']}://{connection['ip']}:"
        self.shell = self.ctx.socket(zmq.DEALER)
        self.shell.linger = 0
        self.shell.connect(base + str(connection["shell_port"]))
        self.iopub = self.ctx.socket(zmq.SUB)
        self.iopub.linger = 0
        self.iopub.rcvhwm = rcvhwm
        self.iopub.setsockopt(zmq.RCVBUF, 4096)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.iopub.connect(base + str(connection["iopub_port"]))

    def execute(self, code):
        msg = self.session.send(self.shell, "execute_request",
                                {"code": code, "silent": False, "store_history": True,
                                 "user_expressions": {}, "allow_stdin": False,
                                 "stop_on_error": False})
        return msg["header"]["msg_id"]

    def shell_reply(self, msg_id, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not STOP.is_set():
            if self.shell.poll(200):
                _, frames = self.session.feed_identities(self.shell.recv_multipart())
                msg = self.session.deserialize(frames)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg
        return None

    def read_iopub_slowly(self, seconds, pause):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not STOP.is_set():
            if self.iopub.poll(100):
                self.iopub.recv_multipart()
                T.add("hostile iopub read slowly")
            time.sleep(pause)

    def close(self):
        self.shell.close()
        self.iopub.close()
        self.ctx.term()


def hostile_cell(kind, kc, t, raw, i):
    """One hostile request; returns True if its reply came."""
    if kind in ("deaf-iopub", "slow-reader"):
        code = MANY_LINES if kind == "slow-reader" or i % 2 else FLOOD
        msg_id = raw.execute(code)
        if kind == "slow-reader":
            # read the flood a message at a time while the cell runs
            done = []

            def reader():
                raw.read_iopub_slowly(8, 0.05)
                done.append(1)
            th = threading.Thread(target=reader, daemon=True)
            th.start()
            reply = raw.shell_reply(msg_id, 60)
            th.join()
        else:
            reply = raw.shell_reply(msg_id, 60)
        return reply is not None
    if kind == "flood":
        code = FLOOD if i % 3 else MANY_LINES
    elif kind == "fork":
        code = FORK if i % 2 == 0 else "import time\ntime.sleep(3)"
    elif kind == "forge":
        code = FORGES[i % len(FORGES)]
    else:  # stall
        code, stdin = STALLS[i % len(STALLS)]
        msg_id = t.execute(code, allow_stdin=stdin)
        return s_hostile_wait(t, msg_id)
    return s_hostile_wait(t, t.execute(code))


def s_hostile_wait(t, msg_id):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not STOP.is_set():
        t.pump()
        if msg_id in t.replies:
            break
    got = msg_id in t.replies
    t.replies.clear()
    t.iopub.clear()  # a flood's messages are not kept
    t.stdin.clear()
    return got


def hostile_worker(runtime, kind):
    """Starts a conversation, misbehaves in it for 30-90 s, stops it; again
    until the run ends."""
    control = Control(runtime, counted=False)
    try:
        while not STOP.is_set():
            cid = kc = raw = None
            try:
                content = control.ok("start_request", dict(HOSTILE_LIMITS))["content"]
                cid = content["id"]
                T.add("hostile conversations")
                if kind in ("deaf-iopub", "slow-reader"):
                    raw = RawClient(content["connection"], rcvhwm=1 if kind == "deaf-iopub" else 10)
                    t = None
                else:
                    kc = open_client(content["connection"])
                    t = ku.Tracker(kc)
                until = time.monotonic() + random.uniform(30, 90)
                i = 0
                while time.monotonic() < until and not STOP.is_set():
                    T.add("hostile requests")
                    if hostile_cell(kind, kc, t, raw, i):
                        T.add("hostile replies")
                    elif STOP.is_set():
                        T.add("hostile in flight at the end")
                    else:
                        T.add(f"hostile unanswered ({kind})")
                        log(f"hostile {kind} in {cid}: no reply within 60 s")
                    i += 1
                    STOP.wait(random.uniform(0.5, 2))
            except (Lost, Wrong) as e:
                T.add(f"hostile failures ({kind})")
                log(f"hostile {kind}: {e}")
                STOP.wait(2)
            except Exception as e:
                T.add(f"hostile failures ({kind})")
                log(f"hostile {kind}: {type(e).__name__}: {e}")
                STOP.wait(2)
            finally:
                if kc is not None:
                    kc.stop_channels()
                if raw is not None:
                    raw.close()
                if cid is not None:
                    try:
                        quiet_stop(runtime, cid)
                    except Exception:
                        pass
    finally:
        control.close()


# --------------------------------------------------------------- sampling


def sample(pid):
    """(rss KiB, open fds, processes in the tree) of the daemon, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None
    return rss, fds, len(ku.process_tree(pid))


def sampler(daemon):
    last_progress = time.monotonic()
    while not STOP.is_set() or not SAMPLER_DONE.is_set():
        s = sample(daemon.pid)
        if s is None or not daemon.alive():
            if not daemon.alive():
                log(f"the daemon died (status {daemon.proc.poll()})")
                return
        else:
            with T.lock:
                T.samples.append((time.monotonic() - T0,) + s)
        if time.monotonic() - last_progress >= 30:
            last_progress = time.monotonic()
            progress()
        if SAMPLER_DONE.wait(2):
            return


SAMPLER_DONE = threading.Event()


def progress():
    with T.lock:
        last = T.samples[-1] if T.samples else (0, 0, 0, 0)
        max_rss = max((s[1] for s in T.samples), default=0)
        max_fds = max((s[2] for s in T.samples), default=0)
        rtt = list(T.rtt)
        n = dict(T.n)
        lost, wrong = len(T.lost), len(T.wrong)
    log(f"conversations {n.get('conversations', 0)} opened ({n.get('conversations done', 0)} "
        f"done), requests {n.get('requests', 0)}, replies {n.get('replies', 0)}, lost {lost}, "
        f"wrong {wrong}; hostile {n.get('hostile conversations', 0)} conversations, "
        f"{n.get('hostile requests', 0)} requests; daemon RSS {last[1] / 1024:.1f} MiB "
        f"(max {max_rss / 1024:.1f}), fds {last[2]} (max {max_fds}), processes {last[3]}; "
        f"small cell p50 {pct(rtt, 50) * 1e3:.0f} ms p99 {pct(rtt, 99) * 1e3:.0f} ms")


# ------------------------------------------------------------------- main


def settle_sample(daemon, start, seconds=30):
    """The end sample: the daemon's figures once its descriptors and the
    processes of its tree are back to the start's (libzmq's reaper closes a
    stopped conversation's sockets a moment after the stop, interpreters are
    reaped, the pool refills), or after |seconds| s."""
    last = None
    deadline = time.monotonic() + seconds
    while True:
        s = sample(daemon.pid)
        if s is None:
            return last
        last = s
        if (s[1] <= start[1] and s[2] <= start[2]) or time.monotonic() > deadline:
            return last
        time.sleep(1)


def main():
    global T0
    seed = ARGS.seed if ARGS.seed is not None else int(time.time())
    random.seed(seed)
    if not ku.serve_supported():
        print(f"soak: {ku.SANDCELL} has no working `serve` command", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="sandcell-soak-"))
    seconds = ARGS.minutes * 60
    daemon = ku.Daemon(root, ["--max-conversations", str(4 * (ARGS.workers + len(ARGS.hostile))
                                                       + 64)])
    log(f"sandcell serve pid {daemon.pid} ({ku.SANDCELL}), folder {root}, seed {seed}; "
        f"{ARGS.conversations} conversations over {ARGS.minutes:g} min, {ARGS.workers} at once, "
        f"hostile: {', '.join(ARGS.hostile) or 'none'}")
    failures = []
    try:
        runtime = daemon.wait_ready(timeout=60)
        daemon.settle(quiet=2.0, timeout=60)  # the pool has filled
        start = sample(daemon.pid)
        log(f"start: daemon RSS {start[0] / 1024:.1f} MiB, {start[1]} fds, {start[2]} processes")
        T0 = time.monotonic()
        with T.lock:
            T.samples.append((0.0,) + start)
        sth = threading.Thread(target=sampler, args=(daemon,), daemon=True)
        sth.start()
        hostile = [threading.Thread(target=hostile_worker, args=(runtime, k), daemon=True,
                                    name=f"hostile-{k}") for k in ARGS.hostile]
        for th in hostile:
            th.start()
        pacer = Pacer(ARGS.conversations, seconds)
        good = [threading.Thread(target=good_worker, args=(runtime, pacer), daemon=True,
                                 name=f"good-{i}") for i in range(ARGS.workers)]
        for th in good:
            th.start()
        for th in good:  # the last conversations finish after the run's end
            th.join(timeout=max(1, T0 + seconds + 600 - time.monotonic()))
        if any(th.is_alive() for th in good):
            failures.append("well-behaved clients still busy 10 minutes after the run's end")
        STOP.wait(max(0, T0 + seconds - time.monotonic()))  # the hostile ones go on to the end
        STOP.set()
        for th in hostile:
            th.join(timeout=120)
        elapsed = time.monotonic() - T0
        SAMPLER_DONE.set()
        sth.join(timeout=10)
        alive = daemon.alive()
        if not alive:
            failures.append(f"the daemon died (status {daemon.proc.poll()}); log:\n"
                            f"{daemon.stderr_text(3000)}")
            end = None
        else:
            listed = Control(runtime, counted=False)
            try:
                left = listed.ok("list_request")["content"]["conversations"]
            finally:
                listed.close()
            if left:
                failures.append(f"{len(left)} conversations still listed at the end: "
                                f"{[c.get('id') for c in left][:10]}")
            end = settle_sample(daemon, start)
        report(start, end, elapsed, failures, seed)
    except KeyboardInterrupt:
        failures.append("interrupted")
        STOP.set()
    except Exception as e:
        failures.append(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        STOP.set()
    finally:
        STOP.set()
        SAMPLER_DONE.set()
        rc, took = daemon.terminate(timeout=30)
        if rc != 0 and not failures:
            failures.append(f"the daemon exited with status {rc} on SIGTERM ({took:.1f} s)")
        leftover = daemon.leftovers(timeout=10)
        if leftover:
            failures.append(f"processes left running: {ku.describe_procs(leftover)}")
            ku.kill_all(leftover)
        daemon._stderr.close()
        if ARGS.keep or failures:
            print(f"daemon log and journals kept in {root}", file=sys.stderr)
        else:
            import shutil
            shutil.rmtree(root, ignore_errors=True)
    with T.lock:
        failures = [f"{len(T.lost)} lost replies"] * bool(T.lost) + \
                   [f"{len(T.wrong)} wrong results"] * bool(T.wrong) + failures
    if failures:
        print("FAIL: " + "\n      ".join(failures))
        return 1
    print("PASS")
    return 0


def report(start, end, elapsed, failures, seed):
    with T.lock:
        n = dict(T.n)
        rtt = list(T.rtt)
        samples = list(T.samples)
    if end:
        samples.append((elapsed,) + tuple(end))
    max_rss = max(s[1] for s in samples)
    max_fds = max(s[2] for s in samples)
    max_procs = max(s[3] for s in samples)
    print(f"soak: {elapsed / 60:.1f} min, seed {seed}")
    print(f"well-behaved: {n.get('conversations', 0)} conversations opened "
          f"({n.get('restores', 0)} of them restores, {n.get('conversations done', 0)} of "
          f"{ARGS.conversations} ran to the end), {n.get('requests', 0)} requests, "
          f"{n.get('replies', 0)} replies, {len(T.lost)} lost, {len(T.wrong)} wrong")
    print("  requests by kind: " + ", ".join(f"{k[3:]} {v}" for k, v in sorted(n.items())
                                             if k.startswith("op ")))
    print(f"  small cell round trip: p50 {pct(rtt, 50) * 1e3:.1f} ms, p99 "
          f"{pct(rtt, 99) * 1e3:.1f} ms, max {max(rtt, default=float('nan')) * 1e3:.1f} ms "
          f"({len(rtt)} cells)")
    hk = sorted(k for k in n if k.startswith("hostile"))
    print("hostile: " + ", ".join(f"{k[8:]} {n[k]}" for k in hk))
    print(f"daemon RSS MiB: start {start[0] / 1024:.1f}, max {max_rss / 1024:.1f}, end "
          f"{end[0] / 1024:.1f}" if end else f"daemon RSS MiB: start {start[0] / 1024:.1f}, "
          f"max {max_rss / 1024:.1f}, end -")
    print(f"daemon fds: start {start[1]}, max {max_fds}, end {end[1] if end else '-'}; "
          f"processes in its tree: start {start[2]}, max {max_procs}, "
          f"end {end[2] if end else '-'}")
    minutes = []
    for s in samples:
        if s[0] >= 60 * len(minutes):
            minutes.append(s)
    print("  by minute (RSS MiB/fds): " + ", ".join(f"{s[0] / 60:.0f}: {s[1] / 1024:.1f}/{s[2]}"
                                                    for s in minutes))
    if ARGS.samples:
        with open(ARGS.samples, "w") as f:
            f.write("t_s,rss_kib,fds,procs\n")
            for s in samples:
                f.write(f"{s[0]:.1f},{s[1]},{s[2]},{s[3]}\n")
    if n.get("conversations", 0) - n.get("restores", 0) < ARGS.conversations:
        print(f"  note: only {n.get('conversations', 0) - n.get('restores', 0)} of "
              f"{ARGS.conversations} conversations were opened in the run's time")
    if end:
        if end[0] > start[0] + ARGS.rss_growth_mib * 1024:
            failures.append(f"daemon RSS grew {(end[0] - start[0]) / 1024:.1f} MiB "
                            f"(bound {ARGS.rss_growth_mib:g} MiB)")
        if end[1] > start[1] + ARGS.fd_growth:
            failures.append(f"daemon descriptors grew by {end[1] - start[1]} "
                            f"(bound {ARGS.fd_growth})")
    with T.lock:
        for what in T.lost[:20]:
            print(f"  lost: {what}")
        for what in T.wrong[:20]:
            print(f"  wrong: {what[:600]}")


if __name__ == "__main__":
    sys.exit(main())
