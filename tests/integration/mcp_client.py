"""A small MCP client over stdio for the tests: it starts `sandcell mcp`,
speaks newline-delimited JSON-RPC 2.0 on its pipes, and checks on every
line that stdout carries nothing but protocol messages."""

import json
import os
import select
import subprocess
import time

import kernel_util as ku

LATEST = "2025-11-25"


class McpError(AssertionError):
    pass


class McpServer:
    def __init__(self, tmp_path, *args, journal=True, argv=None, env=None):
        self.tmp = tmp_path
        if argv is None:
            argv = [ku.SANDCELL, "mcp"]
            if journal:
                argv += ["--journal-dir", str(tmp_path / "journals")]
            else:
                argv += ["--no-journal"]
            argv += [str(a) for a in args]
        env = dict(env or os.environ, TMPDIR=str(tmp_path))
        self.stderr = open(tmp_path / "mcp-stderr.log", "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env)
        self.next_id = 1
        self.notifications = []
        self.buf = b""

    # -- raw lines ------------------------------------------------------
    def write(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, msg):
        self.write(json.dumps(msg).encode() + b"\n")

    def read_line(self, timeout=30):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message from sandcell mcp in {timeout} s; "
                                   f"stderr: {self.stderr_text()[-2000:]}")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise EOFError(f"sandcell mcp closed stdout; stderr: "
                                   f"{self.stderr_text()[-2000:]}")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def read(self, timeout=30):
        """The next message; every line must be one JSON-RPC 2.0 object."""
        line = self.read_line(timeout)
        msg = json.loads(line)  # a stray byte on stdout fails here
        assert isinstance(msg, dict) and msg.get("jsonrpc") == "2.0", line
        return msg

    def response(self, id, timeout=30):
        """Reads until the response to |id|, keeping notifications."""
        while True:
            msg = self.read(timeout)
            if "method" in msg and "id" not in msg:
                self.notifications.append(msg)
                continue
            assert msg.get("id") == id, f"expected the response to {id}, got {msg}"
            return msg

    def request(self, method, params=None, timeout=60, meta=None):
        id = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.response(id, timeout)

    def notify(self, method, params=None):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    # -- protocol -------------------------------------------------------
    def initialize(self, version=LATEST):
        r = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                        "clientInfo": {"name": "sandcell-tests",
                                                       "version": "1"}})
        assert "result" in r, r
        self.notify("notifications/initialized")
        return r["result"]

    def call(self, name, arguments=None, timeout=60, token=None):
        params = {"name": name, "arguments": arguments or {}}
        if token is not None:
            params["_meta"] = {"progressToken": token}
        r = self.request("tools/call", params, timeout)
        if "error" in r:
            raise McpError(f"{name}: {r['error']}")
        return r["result"]

    def run(self, code, **kw):
        return self.call("execute_code", {"code": code, **kw})

    def stderr_text(self):
        self.stderr.flush()
        return (self.tmp / "mcp-stderr.log").read_text(errors="replace")

    def close(self, timeout=30):
        """Ends the session by closing stdin, as an MCP host does; returns
        the exit status. Nothing may be left on stdout."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        rest = self.buf + self.proc.stdout.read()
        self.proc.stdout.close()
        self.stderr.close()
        assert rest == b"", f"stray bytes on stdout: {rest[:200]!r}"
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:
                pass
        self.stderr.close()


def text_of(result):
    return "".join(b.get("text", "") for b in result["content"] if b["type"] == "text")
