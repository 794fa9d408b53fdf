"""Files the daemon opens for a client (issue 10, item 5): nothing a client
names may stall the daemon, reach a file outside the journal folder, leak a
file's content through an error message, or leave half a file behind.

- restore of a FIFO answers with an error, and the daemon answers others
  while it does;
- restore accepts a conversation id or a journal inside the journal folder,
  nothing else (an outside path, a symlink out of the folder, a FIFO a cell
  made in its workspace), without opening it;
- the reader's complaint about a file that is not a journal quotes none of
  its bytes;
- a put that fails part-way (the workspace is full) leaves nothing behind,
  and an earlier file of that name intact;
- a control request with a NUL in a string gets an error reply.
"""

import json
import os
import re
import shutil
import stat
import threading
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

SECRET = "hunter2-token-7c1f"


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def connect(d, conv):
    return ku.Tracker(d.client(conv["connection"]))


def restore_error(d, target, timeout=10):
    reply = d.control.error("start_request", {"restore": str(target)}, timeout=timeout)
    assert reply["ename"] in ("RestoreFailed", "BadRequest"), reply
    return reply["evalue"]


def assert_no_leak(evalue, secret=SECRET):
    assert secret not in evalue, f"the error quotes the file: {evalue}"
    assert "hunter" not in evalue, f"the error quotes the file: {evalue}"


def replies(ctl, ids, timeout=10):
    """{msg_id: reply} for each of |ids|, in the order they came (those
    that came within |timeout| s)."""
    got = {}
    for msg in list(ctl.stray):
        if msg["parent_header"].get("msg_id") in ids:
            ctl.stray.remove(msg)
            got[msg["parent_header"]["msg_id"]] = msg
    deadline = time.monotonic() + timeout
    while len(got) < len(ids):
        msg = ctl.recv(deadline - time.monotonic())
        if msg is None:
            break
        if msg["parent_header"].get("msg_id") in ids:
            got[msg["parent_header"]["msg_id"]] = msg
        else:
            ctl.stray.append(msg)
    return got


class Unblocker:
    """Opens |fifo| for writing if the daemon is stuck opening it for
    reading, so a failing test does not leave the daemon blocked."""

    def __init__(self, fifo):
        self.fifo = fifo

    def release(self):
        try:
            fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return  # no reader: nothing is stuck
        os.close(fd)


def test_restore_of_a_fifo_is_refused_and_the_daemon_answers_meanwhile(daemon, tmp_path):
    d = daemon()
    d.control.start()  # the journal folder exists once a conversation started
    for fifo in (d.journal_dir / "pipe.jsonl", tmp_path / "outside.fifo"):
        os.mkfifo(fifo)
        unblock = Unblocker(fifo)
        try:
            msg_id = d.control.send("start_request", {"restore": str(fifo)})
            listed = d.control.send("list_request")
            got = replies(d.control, [msg_id, listed], timeout=5)
            assert listed in got, f"list_request not answered while restoring {fifo}"
            assert msg_id in got, f"restore of the FIFO {fifo} got no reply"
            content = got[msg_id]["content"]
            assert content["status"] == "error", content
            assert re.search(r"regular|fifo|outside", content["evalue"], re.I), content
        finally:
            unblock.release()
    assert len(d.control.ids()) == 1


def test_restore_outside_the_journal_folder_is_refused(daemon, tmp_path):
    d = daemon()
    conv = d.control.start()
    t = connect(d, conv)
    t.run_ok("x = 41")
    journal = conv["journal"]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    copy = outside / "copy.jsonl"
    shutil.copy(journal, copy)
    secret = outside / "secret.txt"
    secret.write_text(f"{SECRET}:x:0:0::/root:/bin/sh\n")
    for target in (copy, secret, outside, "/etc/passwd"):
        evalue = restore_error(d, target)
        assert re.search(r"journal folder|conversation id", evalue), evalue
        assert_no_leak(evalue)
        assert "'root'" not in evalue and "near" not in evalue, evalue
    if os.path.exists("/etc/shadow"):
        evalue = restore_error(d, "/etc/shadow")
        assert "'root'" not in evalue and "near" not in evalue, evalue
    # ".." out of the folder is outside too, even where it lands on a journal.
    dotdot = d.journal_dir / ".." / "elsewhere-link.jsonl"
    shutil.copy(journal, dotdot)
    evalue = restore_error(d, str(d.journal_dir) + "/../elsewhere-link.jsonl")
    assert re.search(r"journal folder", evalue), evalue
    # What stays possible: the journal by path, and by conversation id.
    by_path = d.control.start(restore=journal)
    assert by_path["restored_from"]["executions"] == 1, by_path
    by_id = d.control.start(restore=conv["id"])
    assert by_id["restored_from"]["journal"] == journal, by_id
    assert by_id["restored_from"]["executions"] == 1, by_id
    res = connect(d, by_id).run_ok("x + 1")
    assert res.result_data()["text/plain"] == "42", res.describe()


def test_a_symlink_out_of_the_journal_folder_is_refused(daemon, tmp_path):
    d = daemon()
    conv = d.control.start()
    connect(d, conv).run_ok("y = 1")
    copy = tmp_path / "outside-copy.jsonl"
    shutil.copy(conv["journal"], copy)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    for name, target in (("link-to-journal.jsonl", copy), ("link-to-secret.jsonl", secret),
                         ("link-inside.jsonl", conv["journal"])):
        link = d.journal_dir / name
        os.symlink(target, link)
        evalue = restore_error(d, link)
        assert re.search(r"symbolic link|journal folder", evalue), evalue
        assert_no_leak(evalue)
        evalue = restore_error(d, name[: -len(".jsonl")])  # as an id
        assert_no_leak(evalue)
    assert d.control.ids() == [conv["id"]]


def test_a_file_in_the_folder_that_is_no_journal_is_not_quoted(daemon):
    d = daemon()
    d.control.start()
    cases = {
        "plain.jsonl": f"{SECRET} and more\n",
        "object.jsonl": json.dumps({"format": SECRET, "version": 1}) + "\n",
        "typed.jsonl": json.dumps({"type": SECRET}) + "\n",
        "array.jsonl": json.dumps([SECRET]) + "\n",
        "nonl.jsonl": SECRET,
    }
    for name, text in cases.items():
        (d.journal_dir / name).write_text(text)
        evalue = restore_error(d, d.journal_dir / name)
        assert_no_leak(evalue)
        assert "journal" in evalue, evalue


def test_the_cli_names_no_content_of_a_non_journal_either(daemon, tmp_path):
    d = daemon()
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    for args in (["export", str(secret), "-o", str(tmp_path / "out.ipynb")],
                 ["replay", str(secret)]):
        out = d.cli(*args)
        assert out.returncode != 0, out
        assert_no_leak(out.stderr + out.stdout)
    fifo = tmp_path / "cli.fifo"
    os.mkfifo(fifo)
    unblock = Unblocker(fifo)
    try:
        out = d.cli("export", str(fifo), "-o", str(tmp_path / "fifo.ipynb"), timeout=10)
        assert out.returncode != 0 and re.search(r"regular", out.stderr), out
    finally:
        unblock.release()


def _workspace_path(d, name):
    """The host path of |name| in the workspace of the one interpreter
    that has it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for p in d.tree():
            for base in (f"/proc/{p.pid}/root/workspace", f"/proc/{p.pid}/cwd"):
                path = os.path.join(base, name)
                try:
                    if stat.S_ISFIFO(os.lstat(path).st_mode):
                        return path
                except OSError:
                    pass
        time.sleep(0.1)
    pytest.fail(f"no interpreter of the daemon has {name} in its workspace")


def test_a_fifo_a_cell_made_is_refused_as_a_restore_path(daemon):
    d = daemon()
    conv = d.control.start()
    t = connect(d, conv)
    made = t.run("import os; os.mkfifo('trap.jsonl')")
    if made.status != "ok":
        pytest.skip(f"the jail does not let a cell make a FIFO: {made.content.get('evalue')}")
    path = _workspace_path(d, "trap.jsonl")
    unblock = Unblocker(path)
    try:
        msg_id = d.control.send("start_request", {"restore": path})
        listed = d.control.send("list_request")
        got = replies(d.control, [msg_id, listed], timeout=5)
        assert listed in got, "the daemon stopped answering"
        reply = got.get(msg_id)
        assert reply is not None and reply["content"]["status"] == "error", reply
        assert re.search(r"journal folder", reply["content"]["evalue"]), reply
    finally:
        unblock.release()
    assert t.run_ok("1 + 1").result_data()["text/plain"] == "2"


def test_a_put_that_fails_part_way_leaves_nothing_behind(daemon):
    d = daemon()
    conv = d.control.start(disk=1)
    t = connect(d, conv)
    ok = d.control.put(conv["id"], "keep.txt", b"the first version")["content"]
    assert ok["status"] == "ok", ok
    big = b"z" * (3 << 20)  # under put's 16 MiB limit, over the 1 MiB workspace
    for name in ("keep.txt", "new.bin"):
        reply = d.control.put(conv["id"], name, big, timeout=30)["content"]
        assert reply["status"] == "error", reply
        assert re.search(r"space|disk|quota|full", reply["evalue"], re.I), reply
    res = t.run_ok("import os; sorted(os.listdir('.')), open('keep.txt').read()")
    assert res.result_data()["text/plain"] == "(['keep.txt'], 'the first version')", \
        res.describe()
    # The space is free again: a small put still works.
    again = d.control.put(conv["id"], "small.txt", b"fits")["content"]
    assert again["status"] == "ok", again


def test_a_put_into_a_missing_folder_names_it(daemon):
    d = daemon()
    conv = d.control.start()
    connect(d, conv).run_ok("import os; os.mkdir('present')")
    reply = d.control.put(conv["id"], "present/absent/deeper/f.txt", b"x")["content"]
    assert reply["status"] == "error", reply
    assert "present/absent/deeper" in reply["evalue"] and re.search(
        r"folder|director", reply["evalue"]), reply


def test_a_nul_in_a_string_gets_an_error_reply(daemon):
    d = daemon()
    conv = d.control.start()
    cases = [
        ("start_request", {"restore": "abc\u0000def"}),
        ("start_request", {"restore": conv["journal"] + "\u0000/etc/passwd"}),
        ("put_file_request", {"id": conv["id"], "path": "a\u0000b"}),
        ("get_file_request", {"id": conv["id"], "path": "a\u0000b"}),
        ("get_file_request", {"id": conv["id"] + "\u0000", "path": "a"}),
        ("stop_request", {"id": conv["id"] + "\u0000x"}),
        ("start_request", {"limits": ["x\u0000"]}),
    ]
    for msg_type, content in cases:
        buffers = [b"data"] if msg_type == "put_file_request" else None
        reply = d.control.request(msg_type, content, buffers, timeout=10)["content"]
        assert reply["status"] == "error", (msg_type, content, reply)
        assert re.search(r"NUL|\\u0000", reply["evalue"]), (msg_type, reply)
    assert d.control.ids() == [conv["id"]]
    # On a conversation's own channels too: an answer, never silence.
    t = connect(d, conv)
    res = t.run("x = 'a\u0000b'")
    assert res.status == "error" and "NUL" in res.content.get("evalue", ""), res.describe()
    assert t.run_ok("1 + 1").result_data()["text/plain"] == "2"


def test_list_is_answered_while_a_big_journal_is_restored(daemon):
    """A journal of about 100 MiB takes the daemon a second or more to read;
    a list_request sent just after the restore is answered before it."""
    d = daemon()
    d.control.start()
    big = d.journal_dir / "big.jsonl"
    header = {"type": "header", "format": "sandcell-journal", "version": 1, "limits": {}}
    cell = json.dumps({"type": "execution", "code": "#" + "x" * 2000,
                       "execution_count": None, "status": "aborted"}) + "\n"
    with open(big, "w") as f:
        f.write(json.dumps(header) + "\n")
        chunk = cell * 1000
        for _ in range(50):
            f.write(chunk)
    restore_id = d.control.send("start_request", {"restore": str(big)})
    time.sleep(0.05)
    list_id = d.control.send("list_request")
    got = replies(d.control, [restore_id, list_id], timeout=120)
    order = [m["msg_type"] for m in got.values()]
    assert order == ["list_reply", "start_reply"], order
    big.unlink()


def test_a_journal_over_the_size_bound_is_refused_unread(daemon):
    """1 GiB (sparse: it takes no disk) is over the 256 MiB a journal may
    have: refused at once, from its size."""
    d = daemon()
    d.control.start()
    huge = d.journal_dir / "huge.jsonl"
    with open(huge, "wb") as f:
        f.truncate(1 << 30)
    t0 = time.monotonic()
    evalue = restore_error(d, huge, timeout=30)
    assert "256 MiB" in evalue, evalue
    assert time.monotonic() - t0 < 10


def test_the_cli_restores_a_journal_from_elsewhere_as_its_user(daemon, tmp_path):
    """Outside the journal folder a journal is read by `sandcell start
    --restore`, which sends it; the daemon parses what it is sent and
    follows no path in it."""
    d = daemon()
    conv = d.control.start()
    connect(d, conv).run_ok("w = 7")
    d.control.stop(conv["id"])
    copy = tmp_path / "carried.jsonl"
    shutil.copy(conv["journal"], copy)
    assert "journal folder" in restore_error(d, copy)
    out = d.cli("start", "--restore", str(copy))
    assert out.returncode == 0, out.stderr
    cid = out.stdout.strip()
    res = d.cli("exec", "-c", cid, "w * 6")
    assert res.returncode == 0 and res.stdout.strip() == "42", (res.stdout, res.stderr)
    listed = [c for c in d.control.list() if c["id"] == cid][0]
    header = json.loads(open(listed["journal"]).readline())
    assert header["restored_from"]["journal"] == str(copy), header

    # What a client sends is parsed, never followed: a chain link to a
    # file elsewhere is ignored, and a non-journal is not quoted.
    lines = open(conv["journal"]).read().splitlines(keepends=True)
    first = json.loads(lines[0])
    first["restored_from"] = {"journal": "/etc/shadow", "executions": 1}
    forged = (json.dumps(first) + "\n" + "".join(lines[1:])).encode()
    ok = d.control.ok("start_request", {"restore": "anything"}, [forged])
    assert ok["restored_from"]["journal"] == "anything", ok
    bad = d.control.error("start_request", {"restore": "x"}, [f"{SECRET}\n".encode()])
    assert_no_leak(bad["evalue"])
    two = d.control.error("start_request", {"restore": "x"}, [forged, forged])
    assert two["ename"] == "BadRequest", two
