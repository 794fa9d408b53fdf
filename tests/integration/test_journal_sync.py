"""The journal's records are written and synced off the daemon's event loop
(docs/journal.md, "Crash safety"): with many conversations running cells
at once, every execute_reply still comes after its record is in the file,
each cell's iopub is busy ... outputs ... idle with the reply before idle,
and the cells of one conversation do not interleave; a conversation
stopped, or a daemon terminated, while records are in flight leaves whole
journals whose end record is last."""

import json
import signal
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def read_records(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n"), f"{path} ends with a torn line: {data[-200:]!r}"
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


class Conv:
    """One conversation's client, keeping its iopub messages in arrival
    order (one socket: the order the daemon sent them in)."""

    def __init__(self, d, conv):
        self.conv = conv
        self.path = conv["journal"]
        self.kc = d.client(conv["connection"])
        self.iopub = []
        self.replies = {}
        self.sent = []

    def execute(self, code):
        msg_id = self.kc.execute(code)
        self.sent.append((msg_id, code))
        return msg_id

    def pump(self):
        """Reads what arrived; returns the msg_ids of new replies."""
        new = []
        while True:
            try:
                msg = ku._get_now(self.kc.shell_channel)
            except ku.Empty:
                break
            self.replies[msg["parent_header"]["msg_id"]] = msg
            new.append(msg["parent_header"]["msg_id"])
        while True:
            try:
                self.iopub.append(ku._get_now(self.kc.iopub_channel))
            except ku.Empty:
                break
        return new

    def idle_count(self):
        return sum(1 for m in self.iopub if m["msg_type"] == "status"
                   and m["content"]["execution_state"] == "idle"
                   and m["parent_header"].get("msg_type") == "execute_request")


def check_cell_order(c):
    """Each execute_request's iopub is one contiguous run: busy,
    execute_input, its outputs, idle; its reply was sent before its idle."""
    cells = [m for m in c.iopub if m["parent_header"].get("msg_type") == "execute_request"]
    runs = []
    for m in cells:
        parent = m["parent_header"]["msg_id"]
        if not runs or runs[-1][0] != parent:
            runs.append((parent, []))
        runs[-1][1].append(m)
    assert [p for p, _ in runs] == [msg_id for msg_id, _ in c.sent], (
        "cells interleave on iopub or come out of order")
    for parent, msgs in runs:
        kinds = [m["msg_type"] if m["msg_type"] != "status"
                 else m["content"]["execution_state"] for m in msgs]
        assert kinds[0] == "busy" and kinds[-1] == "idle", kinds
        assert kinds[1] == "execute_input" and "stream" in kinds, kinds
        assert kinds.count("busy") == 1 and kinds.count("idle") == 1, kinds
        reply_date = c.replies[parent]["header"]["date"]
        idle_date = msgs[-1]["header"]["date"]
        assert reply_date <= idle_date, (parent, reply_date, idle_date)


def test_many_conversations_reply_after_their_records(daemon):
    d = daemon(["--max-executions", "0"])
    convs = [Conv(d, d.control.start()) for _ in range(8)]
    per_conv = 12
    # Every conversation gets all its cells at once: they queue, records of
    # several conversations are in flight together.
    for c in convs:
        for i in range(per_conv):
            c.execute(f"print('{c.conv['id']} {i}')\n{i} + 1000")
    deadline = time.monotonic() + ku.TIMEOUT
    while any(len(c.replies) < per_conv or c.idle_count() < per_conv for c in convs):
        assert time.monotonic() < deadline, [len(c.replies) for c in convs]
        got = False
        for c in convs:
            new = c.pump()
            got = got or bool(new)
            if not new:
                continue
            # Read at once: every cell answered so far has its record.
            records = [r for r in read_records(c.path) if r["type"] == "execution"]
            answered = {mid for mid, _ in c.sent if mid in c.replies}
            codes = {r["code"] for r in records}
            for mid, code in c.sent:
                if mid in answered:
                    assert code in codes, f"the reply of {code!r} came before its record"
        if not got:
            time.sleep(0.005)
    for c in convs:
        check_cell_order(c)
        records = [r for r in read_records(c.path) if r["type"] == "execution"]
        assert [r["code"] for r in records] == [code for _, code in c.sent]
        assert [r["execution_count"] for r in records] == list(range(1, per_conv + 1))
        hist = c.kc.history(hist_access_type="tail", n=per_conv, reply=True, timeout=ku.TIMEOUT)
        assert len(hist["content"]["history"]) == per_conv, hist["content"]


def check_complete(path, reason, answered_codes):
    records = read_records(path)
    assert records[0]["type"] == "header", records[0]
    assert records[-1]["type"] == "end" and records[-1]["reason"] == reason, records[-1]
    assert all(r["type"] == "execution" for r in records[1:-1]), [r["type"] for r in records]
    codes = [r["code"] for r in records[1:-1]]
    assert set(answered_codes) <= set(codes), "an answered cell has no record"
    counts = [r["execution_count"] for r in records[1:-1]]
    assert counts == list(range(1, len(counts) + 1)), counts


def test_stop_while_records_are_in_flight(daemon):
    d = daemon(["--max-executions", "0"])
    c = Conv(d, d.control.start())
    for i in range(40):
        c.execute(f"print({i})")
    deadline = time.monotonic() + ku.TIMEOUT
    while len(c.replies) < 3:
        assert time.monotonic() < deadline
        c.pump()
        time.sleep(0.001)
    d.control.stop(c.conv["id"])
    end = time.monotonic() + 1
    while time.monotonic() < end:
        c.pump()
        time.sleep(0.01)
    answered = [code for mid, code in c.sent if mid in c.replies]
    check_complete(c.path, "stop", answered)
    # Whatever was answered came in order, each cell whole.
    c.sent = [(mid, code) for mid, code in c.sent if mid in c.replies]
    c.iopub = [m for m in c.iopub if m["parent_header"].get("msg_id") in c.replies]
    check_cell_order(c)


def test_sigterm_while_records_are_in_flight(daemon):
    d = daemon(["--max-executions", "0"])
    convs = [Conv(d, d.control.start()) for _ in range(6)]
    for c in convs:
        for i in range(40):
            c.execute(f"print({i})")
    deadline = time.monotonic() + ku.TIMEOUT
    while sum(len(c.replies) for c in convs) < 12:
        assert time.monotonic() < deadline
        for c in convs:
            c.pump()
        time.sleep(0.001)
    for c in convs:
        c.pump()
    answered = {c.path: [code for mid, code in c.sent if mid in c.replies] for c in convs}
    rc, _ = d.terminate()
    assert rc == 0, d.stderr_text()
    for c in convs:
        check_complete(c.path, "daemon-exit", answered[c.path])


def test_refused_start_leaves_no_journal(daemon):
    # A refused start leaves no journal file behind. (Here it is refused
    # before anything is made; a start undone after its journal was
    # created, when descriptors run out in the middle of it, removes the
    # file too: conversation_discard. That case is not provoked here.)
    d = daemon(["--max-conversations", "1", "--pool", "0"])
    first = d.control.start()
    before = sorted(p.name for p in d.journal_dir.iterdir())
    assert before == [f"{first['id']}.jsonl"]
    with pytest.raises(Exception):
        d.control.start()
    assert sorted(p.name for p in d.journal_dir.iterdir()) == before
