"""Messages name the real problem: every limit error names its limit
(disk, open files, processes, output, the time limit's kill), an oversized
single write keeps its first part, a conversation that ended says when and
why, and numbers read as people write them (2.5 s)."""

import re
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


@pytest.fixture
def d(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start(ku.jail_flags(["--max-conversations", "4", "--pool", "0"]))


def start(d, *args):
    res = d.cli("start", *args)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def run(d, cid, code):
    res = d.cli("exec", "-c", cid, code)
    return res, ku.strip_ansi(res.stdout + res.stderr)


def test_disk_and_open_file_limits_are_named(d):
    cid = start(d, "--disk", "5", "--open-files", "32")
    res, out = run(d, cid, "open('big', 'wb').write(b'x' * (6 << 20))")
    assert res.returncode == 1
    assert "File too large (the cell reached the 5 MiB disk limit" in out, out
    res, out = run(d, cid, "fs = [open('/dev/null') for i in range(40)]")
    assert res.returncode == 1
    assert "Too many open files: '/dev/null' (the cell reached the limit of 32 open files)" in out
    res, out = run(d, cid, "import os; os.read(os.open('/dev/zero', os.O_RDONLY), 1)")
    assert res.returncode == 0, out


def test_process_limit_is_named(d):
    cid = start(d, "--pids", "16")
    res, out = run(d, cid, "import subprocess\n"
                           "ps = [subprocess.Popen(['sleep', '3']) for i in range(24)]")
    assert res.returncode == 1
    assert "(the cell reached the limit of 16 processes and threads)" in out, out
    time.sleep(3)
    res, out = run(d, cid, "import threading, time\n"
                           "ts = [threading.Thread(target=time.sleep, args=(2,)) for i in range(30)]\n"
                           "[t.start() for t in ts]")
    assert res.returncode == 1
    assert "can't start new thread (the cell reached the limit of 16 processes" in out, out


def test_oversized_write_keeps_its_beginning(d):
    cid = start(d, "--max-output", "1")
    res = d.cli("exec", "-c", cid, "print('ab' * (1 << 20))")
    assert res.stdout.startswith("abab"), res.stdout[:100]
    assert len(res.stdout) > 900_000, len(res.stdout)
    assert "reached the output limit of 1 MiB" in res.stdout + res.stderr


def test_timeout_kill_note_names_the_limit(d):
    cid = start(d, "--timeout", "2.5")
    res, out = run(d, cid, "import signal, time\n"
                           "signal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)")
    assert res.returncode == 1
    assert "exceeded the 2.5 s time limit" in out, out
    res, out = run(d, cid, "1 + 1")
    assert res.returncode == 0
    assert "the previous one exceeded the 2.5 s time limit" in out, out


def test_ended_conversation_says_when_and_why(d):
    cid = start(d, "--idle-timeout", "1.5")
    deadline = time.monotonic() + 30
    while cid in d.control.ids():
        assert time.monotonic() < deadline, "the idle conversation did not end"
        time.sleep(0.2)
    reply = d.control.error("connection_request", {"id": cid})
    assert reply["ename"] == "UnknownConversation", reply
    assert f"conversation {cid} ended at 20" in reply["evalue"], reply
    assert "idle for more than 1.5 s" in reply["evalue"], reply
    res, out = run(d, cid, "1 + 1")
    assert res.returncode == 1 and "idle for more than 1.5 s" in out, out
    other = start(d)
    assert d.cli("stop", other).returncode == 0
    res = d.cli("stop", other)
    assert "it was stopped" in res.stderr, res.stderr
    assert "no conversation with id nosuch" in d.cli("stop", "nosuch").stderr


def test_numbers_as_people_write_them(d):
    res = d.cli("start", "--lifetime", "20000000")
    assert res.returncode == 1
    assert "'lifetime' must be a number between 0 and 10000000" in res.stderr, res.stderr
    cid = start(d)
    time.sleep(0.3)
    res = d.cli("ls", "--json")
    assert res.returncode == 0, res.stderr
    long_numbers = re.findall(r"\d+\.\d{16,}", res.stdout)
    assert not long_numbers, f"ls --json printed {long_numbers}:\n{res.stdout}"
    d.control.stop(cid)


def test_exec_says_when_its_conversation_ended(d):
    cid = start(d, "--lifetime", "3")
    res, out = run(d, cid, "import time; time.sleep(20)")
    assert res.returncode == 1
    assert f"sandcell exec: conversation {cid} ended at 20" in out, out
    assert "it reached its lifetime of 3 s (lifetime)" in out, out
