"""Sandbox escape corpus: the network.

The interpreter is in a network namespace of its own (a loopback that is
down, nothing else) and seccomp allows socket() for AF_UNIX only. The
tests start listeners on the host (loopback TCP and UDP, abstract and
path-bound Unix sockets), let a cell, a subprocess of it and a shell tool
try to reach them, and check that the attempt failed with the expected
errno and that the listener received nothing.
"""

import errno
import socket
import uuid

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

EACCES = [errno.EACCES]


@pytest.fixture
def t(jail_kernel):
    return ku.Tracker(jail_kernel[1])


class Listener:
    """A host socket that records whether anything reached it."""

    def __init__(self, family, kind, address):
        self.sock = socket.socket(family, kind)
        self.sock.bind(address)
        self.kind = kind
        if kind == socket.SOCK_STREAM:
            self.sock.listen(8)
        self.address = self.sock.getsockname()

    def received(self, timeout=1.0):
        """What arrived within |timeout|: a description, or None."""
        self.sock.settimeout(timeout)
        try:
            if self.kind == socket.SOCK_STREAM:
                conn, peer = self.sock.accept()
                conn.close()
                return f"a connection from {peer!r}"
            data, peer = self.sock.recvfrom(65536)
            return f"a datagram {data[:40]!r} from {peer!r}"
        except (socket.timeout, BlockingIOError):
            return None

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    made = []

    def make(family, kind, address):
        lst = Listener(family, kind, address)
        made.append(lst)
        return lst

    yield make
    for lst in made:
        lst.close()


def test_tcp_to_a_host_listener(t, listener):
    lst = listener(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0))
    result, res = ku.attempt(t, f"""
import socket
s = socket.create_connection(('127.0.0.1', {lst.address[1]}), timeout=3)
s.sendall(b'escaped')
""")
    ku.assert_failed(result, res, ["PermissionError"], EACCES)
    assert lst.received() is None
    ku.assert_answers(t)


def test_tcp_over_ipv6_to_a_host_listener(t, listener):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        lst = listener(socket.AF_INET6, socket.SOCK_STREAM, ("::1", 0))
    except OSError as e:
        pytest.skip(f"cannot listen on ::1: {e}")
    result, res = ku.attempt(t, f"""
import socket
socket.create_connection(('::1', {lst.address[1]}), timeout=3).sendall(b'escaped')
""")
    ku.assert_failed(result, res, ["PermissionError"], EACCES)
    assert lst.received() is None
    ku.assert_answers(t)


def test_udp_to_a_host_listener(t, listener):
    lst = listener(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 0))
    result, res = ku.attempt(t, f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    s.sendto(b'escaped', ('127.0.0.1', {lst.address[1]}))
""")
    ku.assert_failed(result, res, ["PermissionError"], EACCES)
    assert lst.received() is None
    ku.assert_answers(t)


def test_tcp_from_a_subprocess(t, listener):
    lst = listener(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0))
    child = (f"import socket; socket.create_connection(('127.0.0.1', {lst.address[1]}), "
             f"timeout=3).sendall(b'escaped')")
    result, res = ku.attempt(t, f"""
import subprocess, sys
r = subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True, timeout=20)
return [r.returncode, r.stderr[-300:]]
""")
    assert result and result["ok"], res.describe()
    rc, stderr = result["value"]
    assert rc != 0 and "PermissionError: [Errno 13]" in stderr, result
    assert lst.received() is None
    ku.assert_answers(t)


def test_tcp_from_a_shell(t, listener):
    """bash's /dev/tcp, from a shell the cell starts."""
    lst = listener(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0))
    result, res = ku.attempt(t, f"""
import subprocess
r = subprocess.run(['bash', '-c', 'echo escaped > /dev/tcp/127.0.0.1/{lst.address[1]}'],
                   capture_output=True, text=True, timeout=20)
return [r.returncode, r.stderr[-300:]]
""")
    assert result and result["ok"], res.describe()
    rc, stderr = result["value"]
    assert rc != 0 and "Permission denied" in stderr, result
    assert lst.received() is None
    ku.assert_answers(t)


def test_udp_from_a_subprocess(t, listener):
    lst = listener(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 0))
    child = (f"import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
             f".sendto(b'escaped', ('127.0.0.1', {lst.address[1]}))")
    result, res = ku.attempt(t, f"""
import subprocess, sys
r = subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True, timeout=20)
return [r.returncode, r.stderr[-300:]]
""")
    assert result and result["ok"], res.describe()
    rc, stderr = result["value"]
    assert rc != 0 and "PermissionError: [Errno 13]" in stderr, result
    assert lst.received() is None
    ku.assert_answers(t)


def test_the_kernels_own_zmq_ports(t, jail_kernel):
    """The kernel listens on the host's loopback; the cell cannot reach
    its shell or control port (and so cannot talk to it behind the
    client's back)."""
    info = jail_kernel[0].get_connection_info()
    ports = [info["shell_port"], info["control_port"], info["iopub_port"]]
    result, res = ku.attempt(t, f"""
import socket
for port in {ports}:
    socket.create_connection(({info['ip']!r}, port), timeout=3)
""")
    ku.assert_failed(result, res, ["PermissionError"], EACCES)
    ku.assert_answers(t)


@pytest.mark.parametrize("host", ["example.com", "pypi.org", "localhost.localdomain"])
def test_dns_resolution(t, host):
    result, res = ku.attempt(t, f"import socket; return socket.getaddrinfo({host!r}, 80)")
    ku.assert_failed(result, res, ["gaierror"])
    ku.assert_answers(t)


def test_name_service_sees_only_the_jail_hosts_file(t):
    result, res = ku.attempt(t, "return [open('/etc/hosts').read(), "
                                "open('/etc/resolv.conf').read() if __import__('os')"
                                ".path.exists('/etc/resolv.conf') else None]")
    assert result and result["ok"], res.describe()
    hosts, resolv = result["value"]
    assert resolv is None, "the host's resolv.conf is visible"
    assert hosts.split() == ["127.0.0.1", "localhost", "sandcell", "::1", "localhost"], hosts
    ku.assert_answers(t)


# Address families by number (Python lacks constants for some of them).
FAMILIES = {
    "AF_INET raw": (2, socket.SOCK_RAW, 1),
    "AF_INET stream": (2, socket.SOCK_STREAM, 0),
    "AF_INET dgram": (2, socket.SOCK_DGRAM, 0),
    "AF_INET6": (10, socket.SOCK_STREAM, 0),
    "AF_INET6 raw": (10, socket.SOCK_RAW, 58),
    "AF_PACKET": (17, socket.SOCK_RAW, 0x0300),
    "AF_NETLINK route": (16, socket.SOCK_RAW, 0),
    "AF_NETLINK audit": (16, socket.SOCK_RAW, 9),
    "AF_NETLINK uevent": (16, socket.SOCK_DGRAM, 15),
    "AF_ALG": (38, socket.SOCK_SEQPACKET, 0),
    "AF_VSOCK": (40, socket.SOCK_STREAM, 0),
    "AF_KEY": (15, socket.SOCK_RAW, 2),
    "AF_BLUETOOTH": (31, socket.SOCK_RAW, 0),
    "AF_CAN": (29, socket.SOCK_RAW, 1),
    "AF_TIPC": (30, socket.SOCK_RDM, 0),
    "AF_XDP": (44, socket.SOCK_RAW, 0),
    "AF_RDS": (21, socket.SOCK_SEQPACKET, 0),
    "AF_PPPOX": (24, socket.SOCK_STREAM, 0),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_socket_family_is_refused(t, name):
    family, kind, proto = FAMILIES[name]
    result, res = ku.attempt(t, f"import socket; return repr(socket.socket({family}, {kind}, {proto}))")
    ku.assert_failed(result, res, ["PermissionError"], EACCES)
    ku.assert_answers(t)


def test_raw_socket_from_a_subprocess(t):
    """The filter holds for children too (it is inherited across exec)."""
    child = "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)"
    result, res = ku.attempt(t, f"""
import subprocess, sys
r = subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True, timeout=20)
return [r.returncode, r.stderr[-300:]]
""")
    assert result and result["ok"], res.describe()
    rc, stderr = result["value"]
    assert rc != 0 and "PermissionError: [Errno 13]" in stderr, result
    ku.assert_answers(t)


def test_only_a_loopback_interface(t):
    result, res = ku.attempt(t, """
lines = open('/proc/net/dev').read().splitlines()[2:]
return [l.split(':')[0].strip() for l in lines]
""")
    assert result and result["ok"], res.describe()
    assert result["value"] == ["lo"], result
    ku.assert_answers(t)


def test_abstract_unix_socket_on_the_host(t, listener):
    """Abstract Unix sockets belong to the network namespace: a host
    listener (like an X server's or a D-Bus daemon's) is out of reach."""
    name = f"\0sandcell-test-{uuid.uuid4().hex}"
    lst = listener(socket.AF_UNIX, socket.SOCK_STREAM, name)
    result, res = ku.attempt(t, f"""
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
s.connect({name!r})
s.sendall(b'escaped')
""")
    ku.assert_failed(result, res, ["ConnectionRefusedError"], [errno.ECONNREFUSED])
    assert lst.received() is None
    ku.assert_answers(t)


def test_abstract_unix_datagram_to_the_host(t, listener):
    name = f"\0sandcell-test-{uuid.uuid4().hex}"
    lst = listener(socket.AF_UNIX, socket.SOCK_DGRAM, name)
    result, res = ku.attempt(t, f"""
import socket
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'escaped', {name!r})
""")
    ku.assert_failed(result, res, ["ConnectionRefusedError"], [errno.ECONNREFUSED])
    assert lst.received() is None
    ku.assert_answers(t)


def test_unix_socket_paths_on_the_host(t, listener, tmp_path):
    """Path-bound host sockets (a test one, Docker's, D-Bus's, systemd's)
    are not in the jail's tree."""
    path = str(tmp_path / "host.sock")
    lst = listener(socket.AF_UNIX, socket.SOCK_STREAM, path)
    targets = [path, "/run/docker.sock", "/var/run/docker.sock",
               "/run/dbus/system_bus_socket", "/run/systemd/private",
               "/run/containerd/containerd.sock"]
    result, res = ku.attempt(t, f"""
import socket
out = {{}}
for p in {targets!r}:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(p)
        out[p] = 'connected'
    except OSError as e:
        out[p] = e.errno
return out
""")
    assert result and result["ok"], res.describe()
    assert result["value"] == {p: errno.ENOENT for p in targets}, result
    assert lst.received() is None
    ku.assert_answers(t)
