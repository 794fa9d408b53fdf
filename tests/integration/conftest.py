"""Fixtures for the integration tests: a private Jupyter environment with the
sandcell kernelspec installed in it, the kernel under test, and a final check
that the session left no process behind.

Everything Jupyter or IPython would write (kernelspecs, connection files,
config, IPython history, caches) goes under one pytest temporary directory;
the user's real Jupyter and IPython directories are never touched. The kernel
under test is SANDCELL_TEST_KERNEL (default "sandcell-python"); with
"python3" the same tests run against Debian's ipykernel, skipping the
sandcell-only ones.
"""

import os
import subprocess
import uuid

import psutil
import pytest

import kernel_util as ku


@pytest.fixture(scope="session")
def session_root(tmp_path_factory):
    return tmp_path_factory.mktemp("sandcell-it")


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes(session_root):
    """At the end of the session, no process started by these tests may be
    left: nothing whose command line names our temporary directory, and
    nothing that carries this session's marker in its environment or runs the
    sandcell binary as a descendant of this test process. Processes that
    existed before the session (e.g. another engineer's kernels running the
    same binary) are not ours and are ignored."""
    marker = f"{ku.MARKER_VAR}={uuid.uuid4().hex}"
    name, value = marker.split("=", 1)
    old_marker = os.environ.get(name)
    os.environ[name] = value
    before = {_key(p) for p in psutil.process_iter()}
    yield
    if old_marker is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = old_marker

    def leftovers():
        me = os.getpid()
        found = []
        for p in psutil.process_iter():
            if p.pid == me or _key(p) in before or not ku.is_live(p):
                continue
            try:
                cmdline = " ".join(p.cmdline())
                ours = str(session_root) in cmdline
                if not ours:
                    try:
                        ours = marker.encode() in open(f"/proc/{p.pid}/environ", "rb").read()
                    except OSError:
                        pass
                if not ours and ku.SANDCELL in cmdline:
                    ours = any(a.pid == me for a in _ancestors(p))
            except psutil.NoSuchProcess:
                continue
            if ours:
                found.append(p)
        return found

    left = ku.wait_gone(leftovers(), timeout=10)
    if left:
        report = ku.describe_procs(left)
        ku.kill_all(left)
        pytest.fail(f"integration tests left processes running: {report}")


def _key(p):
    try:
        return (p.pid, p.create_time())
    except psutil.NoSuchProcess:
        return (p.pid, None)


def _ancestors(p):
    try:
        return p.parents()
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="session")
def jupyter_env(session_root):
    """Points Jupyter and IPython at private directories and, for sandcell,
    installs the kernelspec with `sandcell install --prefix`. Returns the
    prefix."""
    prefix = session_root / "prefix"
    env = {
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(session_root / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(session_root / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(session_root / "jupyter-runtime"),
        "IPYTHONDIR": str(session_root / "ipython"),
        "XDG_CACHE_HOME": str(session_root / "cache"),
        "XDG_CONFIG_HOME": str(session_root / "config"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        if not ku.IS_IPYKERNEL:
            if not os.access(ku.SANDCELL, os.X_OK):
                pytest.fail(f"sandcell binary not found or not executable: {ku.SANDCELL}")
            proc = subprocess.run(
                [ku.SANDCELL, "install", "--prefix", str(prefix)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert proc.returncode == 0, (
                f"sandcell install failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
            )
        yield prefix
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def kernel(jupyter_env):
    """A fresh kernel for one test: yields (km, kc). Afterwards the kernel is
    shut down and every process of its tree must be gone."""
    km, kc = ku.start_new_kernel(kernel_name=ku.KERNEL_NAME, startup_timeout=ku.TIMEOUT)
    try:
        yield km, kc
    finally:
        stop_kernel(km, kc)


def stop_kernel(km, kc):
    """Shuts a kernel down; fails if its processes do not all exit."""
    procs = []
    popen = None
    if km.has_kernel:
        popen = km.provisioner.process
        procs = ku.process_tree(popen.pid)
    kc.stop_channels()
    if km.has_kernel:
        km.shutdown_kernel(now=False)
    left = ku.wait_gone(procs, timeout=10, popen=popen)
    if left:
        report = ku.describe_procs(left)
        ku.kill_all(left)
        pytest.fail(f"kernel processes still running after shutdown: {report}")



# ------------------------------------------------ kernels for the jail corpus


@pytest.fixture
def start_kernel(jupyter_env):
    """For the jail tests: returns start(*flags, env=None, **kwargs), which
    starts a sandcell kernel with extra command-line flags (through a
    kernelspec of its own; --no-cgroups is added where this user cannot have
    cgroups) and returns (km, kc). Each kernel is shut down at the end of the
    test, and its processes must be gone, as with `kernel`."""
    started = []

    def start(*flags, env=None, **kwargs):
        name = ku.install_kernelspec(jupyter_env, ku.jail_flags(flags))
        if env is not None:
            kwargs["env"] = env
        km, kc = ku.start_new_kernel(kernel_name=name, startup_timeout=ku.TIMEOUT, **kwargs)
        started.append((km, kc))
        return km, kc

    yield start
    for km, kc in reversed(started):
        stop_kernel(km, kc)


@pytest.fixture(scope="module")
def jail_kernel(jupyter_env):
    """One kernel with the default limits shared by a module's jail tests
    (each test checks that it still answers): yields (km, kc)."""
    name = ku.install_kernelspec(jupyter_env, ku.jail_flags())
    km, kc = ku.start_new_kernel(kernel_name=name, startup_timeout=ku.TIMEOUT)
    try:
        yield km, kc
    finally:
        stop_kernel(km, kc)
