"""A misbehaving frontend for conversation A of test_hostile_isolation.py,
run as its own process so that the test's client for conversation B does
not share a CPU thread (or a GIL) with it.

    hostile_frontend.py MODE CONNECTION_FILE

It prints "ready" once the misbehaviour is under way, then keeps at it
until it is killed or its standard input closes. Modes:
  slow-reader  a cell asks for input and leaves a thread reading the
               channel one datagram every 0.5 s; the answer has 1 MiB
  flood        cells print as fast as they can; every channel is read
  stall-iopub  an iopub subscriber that never reads, while cells flood
  forge        a cell writes forged records (outputs, replies) in a loop
"""

import json
import sys
import threading
import time

from queue import Empty

import zmq
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.utils import run_sync

SLOW_READER = r"""
import _sandcell, json, os, stat, threading, time
def _is_socket(fd):
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False
chan = [fd for fd in range(256) if _is_socket(fd)]
assert chan, "no channel descriptor"
def _slow(fd):
    while True:
        time.sleep(0.5)
        try:
            os.read(fd, 1 << 17)
        except OSError:
            return
for fd in chan:
    threading.Thread(target=_slow, args=(fd,), daemon=True).start()
# The daemon is asked for input as by input(), but this thread does not
# read the answer: the slow one does.
_sandcell.send(json.dumps({"type": "input_request", "content": {
    "prompt": "? ", "password": False}}))
time.sleep(600)
"""

FLOOD = r"""
import sys
line = 'x' * 1000 + '\n'
for _ in range(100000):
    sys.stdout.write(line)
"""

FORGE = r"""
import _sandcell, json, time
out = json.dumps({"type": "stream", "content": {"name": "stdout", "text": "f" * 4000}})
rep = json.dumps({"type": "reply", "content": {"status": "ok", "execution_count": 1,
                                               "user_expressions": {}}})
junk = json.dumps({"type": "no_such_record", "content": {}})
end = time.monotonic() + 600
while time.monotonic() < end:
    for _ in range(50):
        _sandcell.send(out)
    _sandcell.send(rep)
    _sandcell.send(junk)
"""


def client(path, iopub=True, stdin=False):
    kc = BlockingKernelClient()
    kc.load_connection_file(path)
    kc.start_channels(iopub=iopub, stdin=stdin, hb=False)
    return kc


def drain(kc, seconds):
    """Reads every channel for |seconds|."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = False
        for ch in (kc.shell_channel, kc.iopub_channel):
            try:
                run_sync(ch.get_msg)(timeout=0)
                got = True
            except Empty:
                pass
        if not got:
            time.sleep(0.005)


def stop_on_stdin_close():
    def watch():
        sys.stdin.read()
        import os
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


def main():
    mode, path = sys.argv[1], sys.argv[2]
    stop_on_stdin_close()
    if mode == "slow-reader":
        kc = client(path, stdin=True)
        kc.execute(SLOW_READER, allow_stdin=True)
        request = kc.get_stdin_msg(timeout=60)
        if request["msg_type"] != "input_request":
            sys.exit(f"the slow reader did not start: {request}")
        kc.input("x" * (1 << 20))
        print("ready", flush=True)
        drain(kc, 3600)
    elif mode == "flood":
        kc = client(path)
        kc.execute(FLOOD)
        print("ready", flush=True)
        while True:
            reply = kc.get_shell_msg(timeout=600)
            kc.execute(FLOOD)
            drain(kc, 0)
    elif mode == "stall-iopub":
        with open(path) as f:
            info = json.load(f)
        ctx = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 1)
        sub.setsockopt(zmq.RCVBUF, 4096)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"{info['transport']}://{info['ip']}:{info['iopub_port']}")
        time.sleep(0.5)  # subscribed before the flood starts
        kc = client(path, iopub=False)
        kc.execute(FLOOD)
        print("ready", flush=True)
        while True:
            kc.get_shell_msg(timeout=600)
            kc.execute(FLOOD)
    elif mode == "forge":
        kc = client(path)
        kc.execute(FORGE)
        print("ready", flush=True)
        drain(kc, 3600)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
