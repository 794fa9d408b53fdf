"""`sandcell serve --journal-retention DAYS --journal-max-size MIB`: at start
the daemon removes journals not written to for DAYS, then the oldest while
the folder's journals pass MIB; other files stay. (The hourly pass and the
rule that a live conversation's journal is never removed are in
tests/unit/test_journal_retention.c.)"""

import os
import subprocess
import time

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell
DAY = 86400


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def _journal(folder, name, size, age_s):
    path = folder / name
    path.write_bytes(b"x" * size)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def test_old_and_oversized_journals_are_removed_at_start(daemon, tmp_path):
    folder = tmp_path / "journals"
    folder.mkdir(mode=0o700)
    old = _journal(folder, "old.jsonl", 100, 31 * DAY)
    older_big = _journal(folder, "big1.jsonl", 700 << 10, 2 * DAY)
    newer_big = _journal(folder, "big2.jsonl", 700 << 10, 1 * DAY)
    recent = _journal(folder, "recent.jsonl", 100, 29 * DAY)
    notes = _journal(folder, "notes.txt", 100, 90 * DAY)
    d = daemon(["--journal-dir", folder, "--journal-max-size", "1"])
    assert not old.exists(), "a journal past the 30-day default stayed"
    assert not older_big.exists(), "the oldest journal past the size cap stayed"
    # 29 days is within the age, but it is the oldest left when the cap
    # applies; then the older big one goes, and 700 KiB fit in 1 MiB.
    assert not recent.exists()
    assert newer_big.exists() and notes.exists()
    # The daemon still journals its own conversations.
    started = d.control.start()
    journal = folder / f"{started['id']}.jsonl"
    deadline = time.monotonic() + ku.TIMEOUT
    while not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert journal.exists()


def test_zero_keeps_everything(daemon, tmp_path):
    folder = tmp_path / "journals"
    folder.mkdir(mode=0o700)
    old = _journal(folder, "old.jsonl", 2 << 20, 400 * DAY)
    daemon(["--journal-dir", folder, "--journal-retention", "0", "--journal-max-size", "0"])
    assert old.exists()


def test_retention_flags_in_help():
    out = subprocess.run([ku.SANDCELL, "serve", "--help"], capture_output=True, text=True,
                            timeout=30)
    text = out.stdout + out.stderr
    assert "--journal-retention" in text and "--journal-max-size" in text
    assert "30 days" in text and "1024 MiB" in text
