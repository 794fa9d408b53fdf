"""Every input checked: a control request with a key it does not take is
refused naming the key (a misspelt limit must not leave the default in
force); `--preload` of a module that does not import stops `serve` and
`kernel` at start (exit 2) with the module's error; a `--journal-dir` that
cannot hold journals (a file, a folder the daemon's user cannot write)
stops `serve` at start, and a missing one is still created; a runtime file
path too long stops `serve` saying so."""

import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def test_unknown_keys_are_named(daemon):
    d = daemon(["--max-conversations", "4", "--pool", "0"])
    reply = d.control.error("start_request", {"memroy": 100})
    assert reply["ename"] == "BadRequest", reply
    assert "'memroy'" in reply["evalue"] and "did you mean 'memory'" in reply["evalue"], reply
    reply = d.control.error("start_request", {"max_executions": 3, "colour": "red"})
    assert "'colour'" in reply["evalue"] and "max_executions" in reply["evalue"], reply
    assert d.control.ids() == [], "a refused start left a conversation"
    reply = d.control.error("list_request", {"verbose": True})
    assert "'verbose'" in reply["evalue"] and "takes none" in reply["evalue"], reply
    cid = d.control.start(memory=256)["id"]
    for msg_type, content in [("stop_request", {"id": cid, "force": True}),
                              ("connection_request", {"id": cid, "key": "x"}),
                              ("get_file_request", {"id": cid, "path": "a", "mode": "r"}),
                              ("put_file_request", {"id": cid, "path": "a", "mode": "w"})]:
        buffers = [b"x"] if msg_type == "put_file_request" else None
        reply = d.control.error(msg_type, content, buffers)
        extra = (set(content) - {"id", "path"}).pop()
        assert reply["ename"] == "BadRequest" and f"'{extra}'" in reply["evalue"], reply
    assert d.control.ids() == [cid], "stop_request with an unknown key stopped anyway"
    d.control.stop(cid)


def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=ku.TIMEOUT, **kw)


def test_serve_preload_that_does_not_import(jupyter_env, tmp_path):
    rt = tmp_path / "rt.json"
    res = _run([ku.SANDCELL, "serve", "--runtime-file", rt, "--no-journal", "--pool", "0",
                "--preload", "json,no_such_module_xyz"])
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "no_such_module_xyz" in res.stderr and "ModuleNotFoundError" in res.stderr, res.stderr
    assert not rt.exists(), "a daemon that refused to start left its runtime file"


def test_kernel_preload_that_does_not_import(jupyter_env, tmp_path):
    conn = tmp_path / "kernel.json"
    from jupyter_client.connect import write_connection_file
    write_connection_file(str(conn), key=b"k" * 16)
    res = _run([ku.SANDCELL, "kernel", "-f", conn, "--preload", "no_such_module_xyz"])
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "no_such_module_xyz" in res.stderr and "ModuleNotFoundError" in res.stderr, res.stderr


def test_journal_dir_that_is_a_file(jupyter_env, tmp_path):
    afile = tmp_path / "not-a-folder"
    afile.write_text("x")
    for where in (afile, afile / "sub"):
        res = _run([ku.SANDCELL, "serve", "--runtime-file", tmp_path / "rt.json", "--pool", "0",
                    "--journal-dir", where])
        assert res.returncode == 2, (where, res.returncode, res.stderr)
        assert str(where) in res.stderr, res.stderr



def test_runtime_file_path_too_long(jupyter_env, tmp_path):
    too_long = tmp_path / ("r" * 200) / ("u" * 200) / ("n" * 4000)
    res = _run([ku.SANDCELL, "serve", "--runtime-file", too_long, "--pool", "0"])
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert res.stderr.strip().endswith("sandcell serve: the runtime file's path is too long"), \
        res.stderr

def _unprivileged():
    """setpriv argv prefix running as nobody, or None if that cannot work here."""
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"):
        return None
    return ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]


def test_journal_dir_without_write_access(jupyter_env, tmp_path):
    as_nobody = _unprivileged()
    if as_nobody is None:
        pytest.skip("needs root to run sandcell as an unprivileged user (setpriv)")
    probe = _run([*as_nobody, ku.SANDCELL, "--version"])
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run {ku.SANDCELL}: {probe.stderr.strip()}")
    # pytest's tmp_path lies under a 0700 folder of root's: use one that
    # nobody can reach.
    base = pathlib.Path(tempfile.mkdtemp(prefix="sandcell-nobody-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        top = base / "home"
        top.mkdir()
        os.chown(top, 65534, 65534)
        locked = base / "locked"
        locked.mkdir(mode=0o755)  # root's: nobody may read it, not write it
        env = {"PATH": "/usr/bin:/bin", "HOME": str(top)}
        res = _run([*as_nobody, ku.SANDCELL, "serve", "--runtime-file", top / "rt.json",
                    "--pool", "0", "--no-cgroups", "--journal-dir", locked], env=env)
        assert res.returncode == 2, (res.returncode, res.stderr)
        assert "cannot write journals in" in res.stderr and str(locked) in res.stderr, res.stderr
        assert "Permission denied" in res.stderr, res.stderr
        assert os.listdir(locked) == [], "the failed check left a file behind"
        assert not (top / "rt.json").exists()
    finally:
        shutil.rmtree(base)


def test_missing_journal_dir_is_created(daemon, tmp_path):
    where = tmp_path / "new" / "deeper" / "journals"
    d = daemon(["--journal-dir", where, "--pool", "0"])
    assert where.is_dir()
    cid = d.control.start()["id"]
    d.control.stop(cid)
