"""`jupyter console` driven through a real terminal (tmux): a user types
cells, answers input(), sees results and tracebacks, presses Ctrl-C, and
quits. Each test runs its own tmux server (socket in its tmp dir, no user
config) and kills it, and every process under it, at the end."""

import os
import re
import shlex
import subprocess
import time

import jupyter_console
import pytest

import kernel_util as ku

# jupyter_console up to at least 6.6.3 loses its SIGINT handler to
# prompt_toolkit, so Ctrl-C during a cell prints "KeyboardInterrupt escaped
# interact()" and never interrupts the kernel, whichever kernel it is
# (jupyter/jupyter_console#296, fix proposed in #295). Debian bookworm ships
# 6.4.4.
CONSOLE_CTRL_C_BROKEN = jupyter_console.__version__ in {"6.4.4"}

# The console asks the kernel whether each line is complete and, if one
# answer takes longer than its kernel_is_complete_timeout (1 s by default,
# passed on a loaded machine even by a ready interpreter), falls back for
# the rest of the session to "a blank line ends the cell", which every later
# step would trip on. A much longer wait is no better: the console waits
# inside prompt_toolkit's key handler, which then fails with "generator
# already executing". While the interpreter starts, sandcell answers at
# once ("unknown"), so only a slow ready interpreter needs the margin.
IS_COMPLETE_TIMEOUT = "--ZMQTerminalInteractiveShell.kernel_is_complete_timeout=5"

ENV_VARS = (
    "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
    "IPYTHONDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "PYDEVD_DISABLE_FILE_VALIDATION",
    ku.MARKER_VAR,
)


class Console:
    def __init__(self, socket_path):
        self.socket = str(socket_path)
        self.name = "console"
        self.server_tree = []

    def tmux(self, *args, check=True):
        return subprocess.run(
            ["tmux", "-S", self.socket, "-f", "/dev/null", *args],
            capture_output=True, text=True, timeout=10, check=check,
        )

    def start(self):
        env = " ".join(
            f"{k}={shlex.quote(os.environ[k])}" for k in ENV_VARS if k in os.environ
        )
        command = (
            f"env {env} TERM=xterm-256color /usr/bin/python3 -m jupyter_console "
            f"--kernel {shlex.quote(ku.KERNEL_NAME)} "
            f"{IS_COMPLETE_TIMEOUT}"
        )
        self.tmux("new-session", "-d", "-s", self.name, "-x", "200", "-y", "50", command)
        self.tmux("set-option", "-t", self.name, "remain-on-exit", "on", check=False)
        pid = int(self.tmux("display-message", "-p", "-t", self.name, "#{pid}").stdout)
        self.server_pid = pid

    def snapshot(self):
        """Remembers every process under the tmux server (console, kernel,
        and the kernel's own tree) so that close() can make sure they end."""
        seen = {p.pid: p for p in self.server_tree}
        for p in ku.process_tree(self.server_pid):
            seen.setdefault(p.pid, p)
        self.server_tree = list(seen.values())

    def keys(self, *keys):
        self.tmux("send-keys", "-t", self.name, *keys)

    def line(self, text):
        self.keys("-l", text)
        self.keys("Enter")

    def screen(self):
        res = self.tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", self.name, check=False)
        return res.stdout

    def wait_for(self, pattern, timeout=ku.TIMEOUT, after=0):
        """Waits until regex |pattern| matches the screen text past offset
        |after|; returns the match end as an absolute offset."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            m = regex.search(text, after)
            if m:
                self.snapshot()
                return m.end()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} not on screen within {timeout}s; screen:\n{text[-4000:]}"
                )
            time.sleep(0.2)

    def pane_dead(self):
        res = self.tmux("display-message", "-p", "-t", self.name, "#{pane_dead}", check=False)
        return res.returncode != 0 or res.stdout.strip() == "1"

    def quit(self):
        """Ctrl-D at an empty prompt, confirm, and wait for the console and
        its kernel to end."""
        self.snapshot()
        self.keys("C-d")
        try:
            self.wait_for(r"exit \(\[y\]/n\)\?", timeout=10)
            self.line("y")
        except AssertionError:
            pass  # confirm_exit may be off
        deadline = time.monotonic() + 20
        while not self.pane_dead():
            assert time.monotonic() < deadline, f"console did not exit:\n{self.screen()}"
            time.sleep(0.2)
        left = ku.wait_gone(self.server_tree_without_server(), timeout=10)
        assert not left, f"still running after console exit: {ku.describe_procs(left)}"

    def server_tree_without_server(self):
        return [p for p in self.server_tree if p.pid != self.server_pid]

    def close(self):
        try:
            self.snapshot()
        except Exception:
            pass
        self.tmux("kill-server", check=False)
        left = ku.wait_gone(self.server_tree, timeout=10)
        if left:
            ku.kill_all(left)
            ku.wait_gone(left, timeout=5)


@pytest.fixture
def console(jupyter_env, tmp_path):
    c = Console(tmp_path / "tmux.sock")
    try:
        c.start()
        c.wait_for(r"^In \[1\]: ", timeout=ku.TIMEOUT)
        yield c
    finally:
        c.close()


def test_console_session(console):
    c = console
    pos = 0
    c.line("1+1")
    pos = c.wait_for(r"^Out\[1\]: 2$", after=pos)

    c.line("1/0")
    pos = c.wait_for(r"ZeroDivisionError", after=pos)
    pos = c.wait_for(r"division by zero", after=pos - len("ZeroDivisionError"))
    pos = c.wait_for(r"^In \[3\]: ", after=pos)

    # The prompt text is built at run time so that seeing it proves input()
    # is waiting, not just that the typed code is echoed.
    c.line('print("hello " + input("na" + "me? ").upper())')
    pos = c.wait_for(r"^name\? ", after=pos)
    c.line("bob")
    pos = c.wait_for(r"^hello BOB$", after=pos)

    c.line("2+3")
    pos = c.wait_for(r"^Out\[\d+\]: 5$", after=pos)
    c.wait_for(r"^In \[\d+\]: $", after=pos)
    c.quit()


def test_console_prints_the_kernels_banner(console):
    """The console prints the first kernel_info_reply's banner, which comes
    before the interpreter ran anything: the Python version, as later."""
    import platform
    c = console
    assert f"Python {platform.python_version()}" in c.screen()
    c.quit()


@pytest.mark.xfail(
    CONSOLE_CTRL_C_BROKEN, strict=True,
    reason="jupyter_console 6.4.4 does not forward Ctrl-C to the kernel (jupyter_console#296)",
)
def test_console_ctrl_c_interrupts(console):
    c = console
    c.line("x = 42")
    pos = c.wait_for(r"^In \[2\]: ")
    c.line("while True: pass")
    time.sleep(1.5)
    if re.search(r"^\s*\.\.\.: $", c.screen()[pos:], re.MULTILINE):
        c.keys("Enter")  # the kernel asked for more input: end the block
        time.sleep(1)
    c.keys("C-c")
    pos = c.wait_for(r"KeyboardInterrupt", timeout=15, after=pos)
    c.line("x + 1")
    pos = c.wait_for(r"^Out\[\d+\]: 43$", timeout=20, after=pos)
    c.quit()
