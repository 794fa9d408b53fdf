"""The clients of the soak test (bench/soak.py): the well-behaved
conversations, each a random mix of requests whose every result is checked,
and the hostile ones, each doing one trick again and again; what they
count (the tally) and the flag that ends the run.

Imported by soak.py once it has parsed its options, set SANDCELL and put
tests/integration on the path (kernel_util reads SANDCELL when imported);
soak.py sets REPLY_TIMEOUT from --reply-timeout and calls start_clock()
once the daemon is ready.
"""

import hashlib
import os
import random
import sys
import threading
import time
import traceback

import zmq
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.session import Session

import kernel_util as ku

OPS = (  # (name, weight) of a well-behaved conversation's requests
    ("small", 6), ("pandas", 2), ("files", 2), ("input", 2), ("error", 2),
    ("interrupt", 1), ("restart", 1), ("restore", 1),
)
REPLY_TIMEOUT = 90.0  # seconds after which a reply counts as lost (--reply-timeout)


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


def start_clock():
    """The run's time 0 (log lines, the pacing of conversations): now."""
    global T0
    T0 = time.monotonic()


def log(text):
    print(f"[{time.monotonic() - T0:7.1f}s] {text}", file=sys.stderr, flush=True)


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
        reply = self.c.wait_reply(msg_id, REPLY_TIMEOUT)
        self.c.stray.clear()
        if reply is None:
            raise Lost(f"control {msg_type} {ku._short(content, 80)}: no reply in "
                       f"{REPLY_TIMEOUT:.0f} s")
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
        kc.wait_for_ready(timeout=REPLY_TIMEOUT)
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
            self.t.wait(lambda: self.t.replies.get(msg_id), REPLY_TIMEOUT, what)
        except AssertionError:
            raise Lost(f"{self.id}: {what}: no reply in {REPLY_TIMEOUT:.0f} s") from None
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
                        REPLY_TIMEOUT, "input_request")
        except AssertionError:
            raise Lost(f"{self.id}: input(): neither input_request nor reply in "
                       f"{REPLY_TIMEOUT:.0f} s") from None
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
                        REPLY_TIMEOUT, "the sleeping cell's output")
        except AssertionError:
            raise Lost(f"{self.id}: the cell to interrupt neither printed nor replied in "
                       f"{REPLY_TIMEOUT:.0f} s") from None
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
