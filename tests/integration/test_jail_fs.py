"""Sandbox escape corpus: the filesystem.

Each test makes one attempt from a cell against the real kernel, asserts
the error the cell saw, that nothing changed on the host, and that the
kernel answers the next cell. Every attempt is harmless even against an
unjailed kernel: the host paths it goes after are canaries under pytest's
temporary directory, and everything else is read or opened, not destroyed.
"""

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

ENOENT = ("FileNotFoundError",)


@pytest.fixture
def t(jail_kernel):
    return ku.Tracker(jail_kernel[1])


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def canary(tmp_path):
    """A host directory with a few files; returns (dir, {path: content})."""
    d = tmp_path / "canary"
    (d / "sub").mkdir(parents=True)
    files = {d / "a.txt": "alpha", d / "sub" / "b.txt": "beta"}
    for p, text in files.items():
        p.write_text(text)
    return d, files


def _assert_canary_intact(canary):
    d, files = canary
    assert d.is_dir(), "the host canary directory is gone"
    for p, text in files.items():
        assert p.read_text() == text, f"host canary {p} changed"


# ------------------------------------------------------------ host files


def test_rmtree_of_a_host_directory(t, canary):
    result, res = ku.attempt(t, f"import shutil; shutil.rmtree({str(canary[0])!r})")
    ku.assert_failed(result, res, ENOENT, [errno.ENOENT])
    _assert_canary_intact(canary)
    ku.assert_answers(t)


def test_remove_of_a_host_file(t, canary):
    target = str(next(iter(canary[1])))
    result, res = ku.attempt(t, f"import os; os.remove({target!r})")
    ku.assert_failed(result, res, ENOENT, [errno.ENOENT])
    _assert_canary_intact(canary)
    ku.assert_answers(t)


def test_overwrite_of_a_host_file(t, canary):
    target = str(next(iter(canary[1])))
    result, res = ku.attempt(t, f"_sc_write({target!r}, 'pwned', 'w')")
    # The jail's /tmp is its own tmpfs: the host path's directories are not
    # there, so the file cannot even be created.
    ku.assert_failed(result, res, ENOENT, [errno.ENOENT])
    _assert_canary_intact(canary)
    ku.assert_answers(t)


@pytest.mark.parametrize("path", [
    "/usr/sandcell-canary",
    "/usr/lib/python3/dist-packages/sandcell_canary.py",
    "/usr/local/bin/sandcell-canary",
])
def test_create_under_usr(t, path):
    result, res = ku.attempt(t, f"_sc_write({path!r}, 'x', 'w')")
    ku.assert_failed(result, res, errnos=[errno.EROFS, errno.EACCES])
    assert not os.path.exists(path), f"{path} appeared on the host"
    ku.assert_answers(t)


def test_modify_a_usr_binary(t):
    path = os.path.realpath("/usr/bin/python3")
    before = _sha(path)
    result, res = ku.attempt(t, f"_sc_write({path!r}, b'\\0', 'r+b')")
    ku.assert_failed(result, res, errnos=[errno.EROFS, errno.EACCES, errno.ETXTBSY])
    assert _sha(path) == before
    ku.assert_answers(t)


def test_chmod_a_usr_binary(t):
    path = os.path.realpath("/usr/bin/python3")
    mode = os.stat(path).st_mode
    result, res = ku.attempt(t, f"import os; os.chmod({path!r}, 0o6777)")
    ku.assert_failed(result, res, errnos=[errno.EROFS, errno.EPERM])
    assert os.stat(path).st_mode == mode
    ku.assert_answers(t)


@pytest.mark.parametrize("path,mode", [
    ("/etc/passwd", "a"),
    ("/etc/ld.so.cache", "r+b"),
    ("/etc/sandcell-canary", "w"),
    ("/sandcell-canary", "w"),
])
def test_write_to_etc_and_root(t, path, mode):
    before = _sha(path) if os.path.exists(path) else None
    result, res = ku.attempt(t, f"_sc_write({path!r}, {'b' if 'b' in mode else ''}'x', {mode!r})")
    ku.assert_failed(result, res, errnos=[errno.EROFS, errno.EACCES])
    if before is None:
        assert not os.path.exists(path), f"{path} appeared on the host"
    else:
        assert _sha(path) == before, f"host {path} changed"
    ku.assert_answers(t)


# ---------------------------------------------------------- host secrets


def test_read_etc_shadow(t):
    result, res = ku.attempt(t, "return open('/etc/shadow').read()")
    ku.assert_failed(result, res, ENOENT)
    ku.assert_answers(t)


def test_read_etc_shadow_through_a_symlink(t):
    result, res = ku.attempt(t, """
import os
if os.path.lexists('/workspace/shadow-link'):
    os.remove('/workspace/shadow-link')
os.symlink('/etc/shadow', '/workspace/shadow-link')
return open('/workspace/shadow-link').read()
""")
    ku.assert_failed(result, res, ENOENT)
    ku.assert_answers(t)


def test_read_etc_shadow_through_proc_root(t):
    result, res = ku.attempt(t, "return open('/proc/1/root/etc/shadow').read()")
    ku.assert_failed(result, res, ENOENT)
    ku.assert_answers(t)


def test_hard_link_to_a_system_file(t):
    result, res = ku.attempt(t, "import os; os.link('/etc/passwd', '/workspace/passwd-link')")
    ku.assert_failed(result, res, errnos=[errno.EXDEV, errno.EPERM])
    ku.assert_answers(t)


def test_the_jail_passwd_is_generated(t):
    """/etc/passwd inside is the generated one, not the host's."""
    result, res = ku.attempt(t, "return open('/etc/passwd').read()")
    assert result and result["ok"], res.describe()
    assert result["value"] != open("/etc/passwd").read()
    assert "sandbox:x:1000:1000" in result["value"]
    ku.assert_answers(t)


@pytest.mark.parametrize("path", ["/root", "/home", "/var", "/run", "/srv", "/opt"])
def test_host_directories_are_absent(t, path):
    result, res = ku.attempt(t, f"import os; return os.listdir({path!r})")
    ku.assert_failed(result, res, ENOENT)
    ku.assert_answers(t)


def test_home_is_the_workspace(t):
    result, res = ku.attempt(t, "import os; return [os.path.expanduser('~'), os.getcwd()]")
    assert result and result["ok"], res.describe()
    assert result["value"] == ["/workspace", "/workspace"]
    ku.assert_answers(t)


def test_only_the_jail_tree_is_visible(t):
    """The root holds the jail's own entries, nothing of the host's."""
    result, res = ku.attempt(t, "import os; return sorted(os.listdir('/'))")
    assert result and result["ok"], res.describe()
    allowed = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev",
               "proc", "tmp", "workspace", "data"}
    assert set(result["value"]) <= allowed, f"unexpected entries in /: {result['value']}"
    ku.assert_answers(t)


def test_jail_tmp_is_not_the_host_tmp(t):
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="sandcell-host-tmp-marker-") as marker:
        result, res = ku.attempt(t, "import os; return sorted(os.listdir('/tmp'))")
        assert result and result["ok"], res.describe()
        assert os.path.basename(marker.name) not in result["value"], result
        assert not any(name.startswith("pytest-of-") for name in result["value"]), result
    ku.assert_answers(t)


# ------------------------------------------------ devices, /proc and /sys


@pytest.mark.parametrize("path", ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/vda",
                                  "/dev/sda", "/dev/nvme0n1", "/dev/tty", "/dev/ptmx",
                                  "/dev/kvm", "/dev/fuse", "/dev/net/tun"])
def test_open_a_device(t, path):
    result, res = ku.attempt(t, f"return open({path!r}, 'rb').read(1)")
    ku.assert_failed(result, res, ENOENT)
    ku.assert_answers(t)


def test_mknod_a_block_device(t):
    result, res = ku.attempt(t, """
import os, stat
os.mknod('/workspace/vda', 0o600 | stat.S_IFBLK, os.makedev(254, 0))
return open('/workspace/vda', 'rb').read(512)
""")
    ku.assert_failed(result, res, errnos=[errno.EPERM])
    ku.assert_answers(t)


def test_write_proc_sysrq_trigger(t):
    result, res = ku.attempt(t, "_sc_write('/proc/sysrq-trigger', 'h', 'w')")
    # Absent where the host kernel has no magic SysRq; denied otherwise.
    ku.assert_failed(result, res, errnos=[errno.ENOENT, errno.EACCES, errno.EROFS])
    ku.assert_answers(t)


@pytest.mark.parametrize("path,text", [
    ("/proc/sys/kernel/core_pattern", "|/bin/sh -c true"),
    ("/proc/sys/kernel/hostname", "pwned"),
    ("/proc/sys/vm/drop_caches", "3"),
    ("/proc/sys/kernel/modprobe", "/workspace/x"),
])
def test_write_proc_sys(t, path, text):
    before = open(path).read() if os.access(path, os.R_OK) and "drop_caches" not in path else None
    result, res = ku.attempt(t, f"_sc_write({path!r}, {text!r}, 'w')")
    ku.assert_failed(result, res, errnos=[errno.EACCES, errno.EROFS, errno.EPERM, errno.ENOENT])
    if before is not None:
        assert open(path).read() == before, f"host {path} changed"
    ku.assert_answers(t)


@pytest.mark.parametrize("path", ["/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                  "/sys/fs/cgroup/pids/pids.max",
                                  "/sys/fs/cgroup/cgroup.procs",
                                  "/sys/kernel/uevent_helper"])
def test_write_sys(t, path):
    result, res = ku.attempt(t, f"_sc_write({path!r}, '-1', 'w')")
    ku.assert_failed(result, res, ENOENT)
    ku.assert_answers(t)


def test_sys_is_not_mounted(t):
    result, res = ku.attempt(t, "import os; return os.listdir('/sys')")
    ku.assert_failed(result, res, ENOENT)
    ku.assert_answers(t)


def test_write_the_worker_binary_through_proc_self_exe(t):
    """/proc/self/exe leads to the host's sandcell-worker: it must not be
    writable from inside."""
    worker = os.path.join(os.path.dirname(ku.SANDCELL), "sandcell-worker")
    before = _sha(worker)
    result, res = ku.attempt(t, "_sc_write('/proc/self/exe', b'\\0', 'r+b')")
    ku.assert_failed(result, res, errnos=[errno.ETXTBSY, errno.EACCES, errno.EROFS, errno.EPERM])
    assert _sha(worker) == before
    ku.assert_answers(t)


def test_no_host_descriptor_is_inherited(t):
    """Only /dev/null (stdio) and the channel socket are open: an inherited
    directory descriptor would be a way out of the new root."""
    result, res = ku.attempt(t, """
import os
fds = {}
for fd in range(1024):
    try:
        os.fstat(fd)
    except OSError:
        continue
    try:
        fds[fd] = os.readlink(f'/proc/self/fd/{fd}')
    except OSError as e:
        fds[fd] = repr(e)
return fds
""")
    assert result and result["ok"], res.describe()
    fds = {int(k): v for k, v in result["value"].items()}
    assert {0, 1, 2} <= set(fds), fds
    for fd, target in fds.items():
        assert target == "/dev/null" or target.startswith("socket:["), (
            f"fd {fd} leads to {target}: {fds}")
    assert sum(v.startswith("socket:[") for v in fds.values()) == 1, fds
    ku.assert_answers(t)


# ------------------------------------------------------- privileges, data


def test_setuid_binary_gives_no_privilege(t, tmp_path):
    """/usr is nosuid and no_new_privs is set: the setuid mount(8) runs as
    the sandbox user and fails."""
    mount = "/usr/bin/mount"
    if not os.path.exists(mount):
        pytest.skip("no /usr/bin/mount on this machine")
    result, res = ku.attempt(t, """
import subprocess, os
os.makedirs('/workspace/mnt', exist_ok=True)
r = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/workspace/mnt'],
                   capture_output=True, text=True)
status = subprocess.run(['grep', '-E', '^(Uid|NoNewPrivs|CapEff)', '/proc/self/status'],
                        capture_output=True, text=True).stdout
mounts = [l.split()[3] for l in open('/proc/self/mounts') if l.split()[1] == '/usr']
return [r.returncode, r.stderr, status, mounts]
""")
    assert result and result["ok"], res.describe()
    rc, stderr, status, usr_opts = result["value"]
    assert rc != 0, f"mount succeeded inside the jail: {stderr}"
    assert "NoNewPrivs:\t1" in status, status
    assert "CapEff:\t0000000000000000" in status, status
    assert "Uid:\t1000\t1000\t1000\t1000" in status, status
    assert usr_opts and all("nosuid" in o.split(",") and "ro" in o.split(",")
                            for o in usr_opts), usr_opts
    ku.assert_answers(t)


def test_no_core_dump_is_written(t):
    """A crashing child writes no core file, and the core limit (0) cannot
    be raised."""
    result, res = ku.attempt(t, """
import subprocess, sys, os, resource
r = subprocess.run([sys.executable, '-c', 'import os; os.chdir("/workspace"); os.abort()'])
cores = [n for n in os.listdir('/workspace') if n.startswith('core')]
try:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    raised = True
except (ValueError, OSError):
    raised = False
return [r.returncode, cores, raised, resource.getrlimit(resource.RLIMIT_CORE)]
""")
    assert result and result["ok"], res.describe()
    rc, cores, raised, limit = result["value"]
    assert rc == -6, result
    assert cores == [], f"a core file was written: {cores}"
    assert not raised and limit == [0, 0], result
    ku.assert_answers(t)


@pytest.fixture
def data_dir():
    """A directory for --data that the jail can open: the interpreter opens
    it as its outer user (nobody when the kernel runs as root), which cannot
    traverse pytest's private temporary directory."""
    d = Path(tempfile.mkdtemp(prefix="sandcell-data-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_data_dir_is_read_only_and_its_links_stay_inside(start_kernel, data_dir, canary):
    data = data_dir
    (data / "input.csv").write_text("a,b\n1,2\n")
    target = next(iter(canary[1]))
    (data / "link-to-host").symlink_to(target)
    (data / "dir-link-to-host").symlink_to(canary[0])
    km, kc = start_kernel("--data", str(data))
    t = ku.Tracker(kc)
    result, res = ku.attempt(t, "return open('/data/input.csv').read()")
    assert result and result["ok"] and result["value"] == "a,b\n1,2\n", res.describe()
    for body in ["_sc_write('/data/input.csv', 'x', 'a')",
                 "import os; os.remove('/data/input.csv')",
                 "_sc_write('/data/new.txt', 'x', 'w')",
                 "import os; os.chmod('/data/input.csv', 0o777)",
                 "import os; os.rename('/data/input.csv', '/data/moved.csv')"]:
        result, res = ku.attempt(t, body)
        ku.assert_failed(result, res, errnos=[errno.EROFS, errno.EACCES])
    for body in ["return open('/data/link-to-host').read()",
                 "_sc_write('/data/link-to-host', 'pwned', 'w')",
                 "import os; return os.listdir('/data/dir-link-to-host')"]:
        result, res = ku.attempt(t, body)
        ku.assert_failed(result, res, ENOENT)
    assert sorted(os.listdir(data)) == ["dir-link-to-host", "input.csv", "link-to-host"]
    assert (data / "input.csv").read_text() == "a,b\n1,2\n"
    _assert_canary_intact(canary)
    ku.assert_answers(t)
