"""Sandbox escape corpus: system calls.

The seccomp allowlist answers the calls a sandbox must never allow with
EPERM (clone3 with ENOSYS, so that libc falls back to clone, whose flags
the filter can check), anything it does not know with ENOSYS, and a call
through a foreign ABI (x32, i386) by killing the process. The tests make
each call from a cell with ctypes and assert the exact errno, then check
that the kernel still answers.
"""

import errno
import os

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

EPERM, ENOSYS = errno.EPERM, errno.ENOSYS

# name: (x86_64 number, arguments, expected errno). Arguments are zeros
# where the filter must answer before the kernel looks at them.
DENIED = {
    "ptrace PTRACE_TRACEME": (101, (0, 0, 0, 0), EPERM),
    "ptrace PTRACE_ATTACH 1": (101, (16, 1, 0, 0), EPERM),
    "ptrace PTRACE_SEIZE 1": (101, (0x4206, 1, 0, 0), EPERM),
    "process_vm_writev": (311, (1, 0, 0, 0, 0, 0), EPERM),
    "umount2 /proc": (166, (0, 2), EPERM),
    "pivot_root": (155, (0, 0), EPERM),
    "chroot": (161, (0,), EPERM),
    "unshare CLONE_NEWUSER": (272, (0x10000000,), EPERM),
    "unshare CLONE_NEWNS": (272, (0x00020000,), EPERM),
    "unshare CLONE_NEWNET": (272, (0x40000000,), EPERM),
    "unshare CLONE_NEWPID": (272, (0x20000000,), EPERM),
    "unshare CLONE_FS": (272, (0x200,), EPERM),
    "setns": (308, (0, 0), EPERM),
    "clone3": (435, (0, 0), ENOSYS),
    "io_uring_setup": (425, (8, 0), EPERM),
    "io_uring_enter": (426, (0, 0, 0, 0, 0, 0), EPERM),
    "io_uring_register": (427, (0, 0, 0, 0), EPERM),
    "io_setup": (206, (8, 0), EPERM),
    "io_submit": (209, (0, 0, 0), EPERM),
    "bpf": (321, (0, 0, 0), EPERM),
    "userfaultfd": (323, (0,), EPERM),
    "perf_event_open": (298, (0, 0, -1, -1, 0), EPERM),
    "keyctl": (250, (0, 0, 0, 0, 0), EPERM),
    "add_key": (248, (0, 0, 0, 0, 0), EPERM),
    "request_key": (249, (0, 0, 0, 0), EPERM),
    "init_module": (175, (0, 0, 0), EPERM),
    "finit_module": (313, (0, 0, 0), EPERM),
    "delete_module": (176, (0, 0), EPERM),
    "kexec_load": (246, (0, 0, 0, 0), EPERM),
    "kexec_file_load": (320, (0, 0, 0, 0, 0), EPERM),
    "open_by_handle_at": (304, (0, 0, 0), EPERM),
    "name_to_handle_at": (303, (0, 0, 0, 0, 0), EPERM),
    "kcmp": (312, (1, 1, 0, 0, 0), EPERM),
    "reboot": (169, (0, 0, 0, 0), EPERM),
    "swapon": (167, (0, 0), EPERM),
    "acct": (163, (0,), EPERM),
    "syslog": (103, (3, 0, 0), EPERM),
    "settimeofday": (164, (0, 0), EPERM),
    "clock_settime": (227, (0, 0), EPERM),
    "adjtimex": (159, (0,), EPERM),
    "sethostname": (170, (0, 0), EPERM),
    "setdomainname": (171, (0, 0), EPERM),
    "personality": (135, (0x0040000,), EPERM),  # ADDR_NO_RANDOMIZE
    "seccomp": (317, (1, 0, 0), EPERM),
    "iopl": (172, (3,), EPERM),
    "ioperm": (173, (0, 0x400, 1), EPERM),
    "quotactl": (179, (0, 0, 0, 0), EPERM),
    "fanotify_init": (300, (0, 0), EPERM),
    "open_tree": (428, (0, 0, 0), EPERM),
    "move_mount": (429, (0, 0, 0, 0, 0), EPERM),
    "fsopen": (430, (0, 0), EPERM),
    "fsmount": (432, (0, 0, 0), EPERM),
    "mount_setattr": (442, (0, 0, 0, 0, 0), EPERM),
    "landlock_create_ruleset": (444, (0, 0, 0), EPERM),
    "memfd_secret": (447, (0,), EPERM),
    "process_madvise": (440, (0, 0, 0, 0, 0), EPERM),
    # device nodes only: FIFOs, sockets and plain files may be made (os.mkfifo)
    "mknod of a character device": (133, (0, 0o20600, 0x103), EPERM),
    "mknodat of a block device": (259, (-100, 0, 0o60600, 0x800), EPERM),
    "unknown 1000": (1000, (), ENOSYS),
    "unknown 4095": (4095, (), ENOSYS),
}


@pytest.fixture
def t(jail_kernel):
    return ku.Tracker(jail_kernel[1])


@pytest.mark.parametrize("name", list(DENIED))
def test_denied_syscall(t, name):
    nr, args, expected = DENIED[name]
    rc, err = ku.syscall(t, nr, *args)
    assert (rc, err) == (-1, expected), (
        f"{name}: returned {rc}, errno {errno.errorcode.get(err, err)}; "
        f"expected -1 {errno.errorcode[expected]}")
    ku.assert_answers(t)


def _addr(expr):
    """Cell code: the address of a NUL-terminated bytes constant."""
    return f"_sc_ctypes.cast(_sc_ctypes.c_char_p({expr}), _sc_ctypes.c_void_p).value"


def test_mount_a_tmpfs(t):
    """mount(2) with real arguments: a tmpfs over /workspace."""
    result, res = ku.attempt(t, f"""
return _sc_syscall(165, {_addr("b'none'")}, {_addr("b'/workspace'")}, {_addr("b'tmpfs'")}, 0, 0)
""", ku.SYSCALL_SETUP)
    assert result and result["ok"], res.describe()
    assert result["value"] == [-1, EPERM], result
    ku.assert_answers(t)


def test_setns_into_a_namespace(t):
    """setns(2) with a real namespace descriptor."""
    result, res = ku.attempt(t, """
import os
fd = os.open('/proc/self/ns/net', os.O_RDONLY)
try:
    return _sc_syscall(308, fd, 0)
finally:
    os.close(fd)
""", ku.SYSCALL_SETUP)
    assert result and result["ok"], res.describe()
    assert result["value"] == [-1, EPERM], result
    ku.assert_answers(t)


@pytest.mark.parametrize("flags", [0x10000000, 0x20000000, 0x40000000, 0x00020000,
                                   0x08000000, 0x04000000, 0x02000000, 0x00000080])
def test_clone_with_a_namespace_flag(t, flags):
    """clone(2) with CLONE_NEWUSER, NEWPID, NEWNET, NEWNS, NEWIPC, NEWUTS,
    NEWCGROUP or NEWTIME (plus SIGCHLD). A child, should there ever be one,
    exits at once."""
    result, res = ku.attempt(t, f"""
import os
r = _sc_syscall(56, {flags} | 17, 0, 0, 0, 0)
if r[0] == 0:
    os._exit(0)
if r[0] > 0:
    os.waitpid(r[0], 0)
return r
""", ku.SYSCALL_SETUP)
    assert result and result["ok"], res.describe()
    assert result["value"] == [-1, EPERM], result
    ku.assert_answers(t)


def test_plain_fork_still_works(t):
    """The clone rule lets ordinary forks through (the allowlist must not
    break subprocess)."""
    result, res = ku.attempt(t, "import subprocess; return subprocess.run(['true']).returncode")
    assert result and result["ok"] and result["value"] == 0, res.describe()
    ku.assert_answers(t)


def test_ptrace_attach_to_a_host_process(t):
    """The test process's own pid, seen from inside the jail."""
    rc, err = ku.syscall(t, 101, 16, os.getpid(), 0, 0)
    assert (rc, err) in [(-1, EPERM), (-1, errno.ESRCH)], (rc, err)
    ku.assert_answers(t)


def test_process_vm_readv_of_a_host_process(t):
    """Reads this test process's memory at the address of a marker."""
    marker = f"sandcell-secret-{os.getpid()}".encode()
    import ctypes
    buf = ctypes.create_string_buffer(marker)
    address = ctypes.addressof(buf)
    result, res = ku.attempt(t, f"""
class iovec(_sc_ctypes.Structure):
    _fields_ = [('base', _sc_ctypes.c_void_p), ('len', _sc_ctypes.c_size_t)]
local_buf = _sc_ctypes.create_string_buffer({len(marker)})
local = iovec(_sc_ctypes.addressof(local_buf), {len(marker)})
remote = iovec({address}, {len(marker)})
r = _sc_syscall(310, {os.getpid()}, _sc_ctypes.addressof(local), 1, _sc_ctypes.addressof(remote), 1, 0)
return r + [local_buf.raw.hex()]
""", ku.SYSCALL_SETUP)
    assert result and result["ok"], res.describe()
    rc, err, got = result["value"]
    assert (rc, err) in [(-1, EPERM), (-1, errno.ESRCH)], result
    assert bytes.fromhex(got) != marker
    del buf
    ku.assert_answers(t)


def test_strace_cannot_trace(t):
    """A tracer from /usr (strace or gdb) is refused by the filter."""
    tool = next((p for p in ["/usr/bin/strace", "/usr/bin/gdb"] if os.path.exists(p)), None)
    if tool is None:
        pytest.skip("neither strace nor gdb is installed")
    argv = ([tool, "-f", "true"] if tool.endswith("strace")
            else [tool, "-batch", "-ex", "run", "--args", "/usr/bin/true"])
    result, res = ku.attempt(t, f"""
import subprocess
r = subprocess.run({argv!r}, capture_output=True, text=True, timeout=20)
return [r.returncode, r.stdout[-300:] + r.stderr[-300:]]
""")
    assert result and result["ok"], res.describe()
    rc, out = result["value"]
    assert "Operation not permitted" in out, result
    if tool.endswith("strace"):
        assert rc != 0, result
    ku.assert_answers(t)


TIOCSTI, TIOCLINUX = 0x5412, 0x541C


@pytest.mark.parametrize("cmd", [TIOCSTI, TIOCSTI | (1 << 32), TIOCLINUX],
                         ids=["TIOCSTI", "TIOCSTI-high-bits", "TIOCLINUX"])
def test_tty_injection_ioctls(t, cmd):
    """TIOCSTI (push characters into a terminal's input) and TIOCLINUX are
    refused by the filter, whatever the descriptor (here stdin). The
    command is 32 bits wide for the kernel, so the filter must also catch it
    with garbage in the upper half."""
    result, res = ku.attempt(t, f"""
c = _sc_ctypes.c_char(b'x')
return _sc_syscall(16, 0, {cmd}, _sc_ctypes.addressof(c))
""", ku.SYSCALL_SETUP)
    assert result and result["ok"], res.describe()
    assert result["value"] == [-1, EPERM], (
        f"ioctl {cmd:#x} on fd 0 gave errno {errno.errorcode.get(result['value'][1])}, "
        f"not EPERM from the filter")
    ku.assert_answers(t)


def _foreign_abi_attempt(t, body):
    res = t.run(ku.attempt_code(body, ku.SYSCALL_SETUP))
    result = ku.attempt_result(res)
    if result is None:
        # The filter's bad-architecture action: the process is killed.
        err = res.error()
        assert err["ename"] == "InterpreterDied" and "SIGSYS" in err["evalue"], res.describe()
    else:
        assert result["ok"], result
        assert result["value"] < 0, f"a foreign-ABI socket() returned fd {result['value']}"
    ku.assert_answers(t)


def test_x32_abi_socket(t):
    """socket(AF_INET) through the x32 ABI (syscall number | 0x40000000),
    an old way around filters that check numbers only."""
    _foreign_abi_attempt(t, "return _sc_libc.syscall(_sc_ctypes.c_long(0x40000000 | 41), 2, 1, 0)")


def test_i386_abi_socket(t):
    """socket(AF_INET) through int 0x80 (the i386 ABI, syscall 359): a
    few bytes of machine code in an executable mapping."""
    _foreign_abi_attempt(t, """
import mmap
code = bytes.fromhex('B867010000' 'BB02000000' 'B901000000' '31D2' 'CD80' 'C3')
buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
buf.write(code)
fn = _sc_ctypes.CFUNCTYPE(_sc_ctypes.c_int)(_sc_ctypes.addressof(_sc_ctypes.c_char.from_buffer(buf)))
return fn()
""")


# ------------------------------------------------------- ids and limits


def test_become_root(t):
    result, res = ku.attempt(t, """
import os
out = {}
for name, call in [('setuid', lambda: os.setuid(0)), ('setgid', lambda: os.setgid(0)),
                   ('seteuid', lambda: os.seteuid(0)), ('setgroups', lambda: os.setgroups([0])),
                   ('setresuid', lambda: os.setresuid(0, 0, 0))]:
    try:
        call()
        out[name] = 'ok'
    except OSError as e:
        out[name] = e.errno
out['ids'] = [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()]
return out
""")
    assert result and result["ok"], res.describe()
    out = result["value"]
    assert out.pop("ids") == [1000, 1000, 1000, 1000, []], result
    for name, err in out.items():
        assert err in (errno.EPERM, errno.EINVAL), f"{name}: {err}"
    ku.assert_answers(t)


@pytest.mark.parametrize("limit", ["RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_NOFILE",
                                   "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_RTPRIO"])
def test_raise_a_hard_rlimit(t, limit):
    result, res = ku.attempt(t, f"""
import resource
before = resource.getrlimit(resource.{limit})
try:
    resource.setrlimit(resource.{limit}, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    return ['raised', before, resource.getrlimit(resource.{limit})]
except (ValueError, OSError) as e:
    return ['refused', before, resource.getrlimit(resource.{limit})]
""")
    assert result and result["ok"], res.describe()
    verdict, before, after = result["value"]
    assert verdict == "refused" and before == after, result
    assert before[1] != -1, f"{limit} has no hard limit: {before}"
    ku.assert_answers(t)


def test_realtime_priority_and_negative_nice(t):
    result, res = ku.attempt(t, """
import os
out = {}
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    out['fifo'] = 'ok'
except OSError as e:
    out['fifo'] = e.errno
try:
    os.setpriority(os.PRIO_PROCESS, 0, -10)
    out['nice'] = 'ok'
except OSError as e:
    out['nice'] = e.errno
out['policy'] = os.sched_getscheduler(0)
return out
""")
    assert result and result["ok"], res.describe()
    assert result["value"] == {"fifo": EPERM, "nice": errno.EACCES, "policy": os.SCHED_OTHER}, result
    ku.assert_answers(t)


def test_the_filter_and_no_new_privs_are_inherited(t):
    """A child started with exec (where a filter-less process would show
    Seccomp 0) is filtered, has no_new_privs and no capabilities."""
    result, res = ku.attempt(t, """
import subprocess
out = subprocess.run(['cat', '/proc/self/status'], capture_output=True, text=True).stdout
return [l for l in out.splitlines() if l.split(':')[0] in ('Seccomp', 'NoNewPrivs', 'CapEff', 'CapBnd', 'CapPrm')]
""")
    assert result and result["ok"], res.describe()
    assert sorted(result["value"]) == sorted([
        "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"]), result
    ku.assert_answers(t)


@pytest.mark.parametrize("path,text", [
    ("/proc/self/uid_map", "0 0 4294967295"),
    ("/proc/self/gid_map", "0 0 4294967295"),
    ("/proc/self/setgroups", "allow"),
    ("/proc/self/oom_score_adj", "-1000"),
    ("/proc/1/oom_score_adj", "-1000"),
])
def test_rewrite_own_identity_or_oom_protection(t, path, text):
    """Remap the user namespace to the host's root, or make the interpreter
    unkillable by the OOM killer."""
    result, res = ku.attempt(t, f"_sc_write({path!r}, {text!r}, 'w')")
    ku.assert_failed(result, res, errnos=[errno.EPERM, errno.EACCES])
    result, res = ku.attempt(t, """
import os
return [os.getuid(), open('/proc/self/uid_map').read().split(), open('/proc/self/oom_score_adj').read().strip()]
""")
    assert result and result["ok"], res.describe()
    uid, uid_map, oom = result["value"]
    assert uid == 1000 and uid_map[:3] != ["0", "0", "4294967295"] and int(oom) >= 0, result
    ku.assert_answers(t)
