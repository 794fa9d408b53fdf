"""Bad input on `sandcell mcp`'s stdin: every line gets the JSON-RPC error
the specification names (or, for a notification or a response, nothing),
the server keeps running, and stdout never carries anything but JSON-RPC
messages, one per line."""

import json
import time

import pytest

import kernel_util as ku
from mcp_client import McpServer, text_of

pytestmark = ku.requires_sandcell

PARSE, INVALID, NO_METHOD, PARAMS = -32700, -32600, -32601, -32602


@pytest.fixture
def server(tmp_path):
    s = McpServer(tmp_path, journal=False)
    yield s
    s.kill()


def error_of(s, line, id=None):
    s.write(line if isinstance(line, bytes) else line.encode())
    m = s.read()
    assert "error" in m and "result" not in m, m
    assert m["id"] == id, m
    assert isinstance(m["error"]["message"], str) and m["error"]["message"]
    return m["error"]["code"]


def test_before_initialize(server):
    s = server
    assert error_of(s, '{"jsonrpc":"2.0","id":1,"method":"tools/list"}\n', 1) == INVALID
    assert error_of(s, '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":'
                       '{"name":"execute_code","arguments":{"code":"1"}}}\n', 2) == INVALID
    # ping is allowed before initialize
    s.send({"jsonrpc": "2.0", "id": 3, "method": "ping"})
    assert s.read() == {"jsonrpc": "2.0", "id": 3, "result": {}}
    # initialize needs a protocolVersion
    assert error_of(s, '{"jsonrpc":"2.0","id":4,"method":"initialize","params":{}}\n', 4) == PARAMS
    assert error_of(s, '{"jsonrpc":"2.0","id":5,"method":"initialize"}\n', 5) == PARAMS
    s.initialize()
    assert error_of(s, '{"jsonrpc":"2.0","id":6,"method":"initialize","params":'
                       '{"protocolVersion":"2025-06-18"}}\n', 6) == INVALID
    assert s.close() == 0


LINES = [
    (b"{not json\n", PARSE, None),
    (b'{"jsonrpc":"2.0","id":1,"method":"ping"\n', PARSE, None),
    (b"\xff\xfe\xfd\n", PARSE, None),
    (b'{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}\n', PARSE, None),
    (b'{"jsonrpc":"2.0","id":7,"method":"p\\u0000ng"}\n', PARSE, None),
    (b"42\n", INVALID, None),
    (b'"hello"\n', INVALID, None),
    (b"null\n", INVALID, None),
    (b"[]\n", INVALID, None),
    (b'{"id":8,"method":"ping"}\n', INVALID, 8),
    (b'{"jsonrpc":"1.0","id":9,"method":"ping"}\n', INVALID, 9),
    (b'{"jsonrpc":"2.0","id":null,"method":"ping"}\n', INVALID, None),
    (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n', INVALID, None),
    (b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}\n', INVALID, None),
    (b'{"jsonrpc":"2.0","id":10,"method":12}\n', INVALID, 10),
    (b'{"jsonrpc":"2.0","id":11,"method":""}\n', INVALID, 11),
    (b'{"jsonrpc":"2.0","id":12,"method":"ping","params":"x"}\n', INVALID, 12),
    (b'{"jsonrpc":"2.0","id":13}\n', INVALID, 13),
    (b'{"jsonrpc":"2.0","id":14,"result":1,"error":{"code":1}}\n', INVALID, 14),
    (b'{"jsonrpc":"2.0","id":15,"method":"resources/list"}\n', NO_METHOD, 15),
    (b'{"jsonrpc":"2.0","id":"s","method":"no/such"}\n', NO_METHOD, "s"),
    (b'{"jsonrpc":"2.0","id":16,"method":"ping","params":[1]}\n', PARAMS, 16),
    (b'{"jsonrpc":"2.0","id":17,"method":"tools/call"}\n', PARAMS, 17),
    (b'{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":3}}\n', PARAMS, 18),
    (b'{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"name":"rm_rf"}}\n', PARAMS,
     19),
    (b'{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"execute_code",'
     b'"arguments":[1]}}\n', PARAMS, 20),
    (b'{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"execute_code",'
     b'"_meta":{"progressToken":[1]}}}\n', PARAMS, 21),
    (b"[" * 5000 + b"]" * 5000 + b"\n", PARSE, None),
    (b"[" + b"0," * 300000 + b"0]\n", INVALID, None),
]


def test_every_bad_line_gets_its_error(server):
    s = server
    s.initialize()
    for line, code, id in LINES:
        assert error_of(s, line, id) == code, line[:80]
    # the server still works after all of them
    r = s.run("6 * 7")
    assert text_of(r) == "42"
    assert s.close() == 0


def test_bad_tool_arguments_are_tool_errors(server):
    s = server
    s.initialize()
    for args in [{}, {"code": 3}, {"code": "1", "timeout": -1}, {"code": "1", "timeout": "x"},
                 {"code": "1", "timeout": 0}]:
        r = s.call("execute_code", args)
        assert r["isError"] is True and r["content"][0]["type"] == "text", (args, r)
    r = s.call("upload_file", {"content": "x"})
    assert r["isError"] is True
    r = s.call("download_file", {"path": 7})
    assert r["isError"] is True
    r = s.call("list_files", {"path": ["x"]})
    assert r["isError"] is True
    assert s.close() == 0


def test_quiet_lines(server):
    """Notifications, responses and blank lines get no answer."""
    s = server
    s.initialize()
    for line in [b"\n", b"   \r\n", b'{"jsonrpc":"2.0","method":"notifications/whatever"}\n',
                 b'{"jsonrpc":"2.0","id":99,"result":{}}\n',
                 b'{"jsonrpc":"2.0","id":98,"error":{"code":1,"message":"m"}}\n',
                 b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}\n',
                 b'{"jsonrpc":"2.0","method":"notifications/cancelled"}\n']:
        s.write(line)
    s.send({"jsonrpc": "2.0", "id": 1000, "method": "ping"})
    assert s.read() == {"jsonrpc": "2.0", "id": 1000, "result": {}}
    assert s.close() == 0


def test_batch_members_answered_one_by_one(server):
    s = server
    s.initialize()
    s.write(b'[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"},7,'
            b'{"jsonrpc":"2.0","id":2,"method":"nope"}]\n')
    got = [s.read(), s.read(), s.read()]
    assert got[0] == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert got[1]["error"]["code"] == INVALID and got[1]["id"] is None
    assert got[2]["error"]["code"] == NO_METHOD and got[2]["id"] == 2
    assert s.close() == 0


def test_duplicate_id_in_flight(server):
    s = server
    s.initialize()
    call = {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "execute_code", "arguments": {"code": "import time; time.sleep(1)"}}}
    s.send(call)
    s.send(call)
    first = s.read()
    assert first["id"] == 5 and first["error"]["code"] == INVALID
    second = s.read()
    assert second["id"] == 5 and second["result"]["isError"] is False
    assert s.close() == 0


def test_oversized_line_is_refused_and_skipped(server):
    s = server
    s.initialize()
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * (33 << 20) + b'"}}\n'
    s.write(big + b'{"jsonrpc":"2.0","id":2,"method":"ping"}\n')
    m = s.read(timeout=60)
    assert m["error"]["code"] == INVALID and "too large" in m["error"]["message"]
    assert s.read(timeout=60) == {"jsonrpc": "2.0", "id": 2, "result": {}}
    assert s.close() == 0


def test_stdout_is_protocol_only(server):
    """What the interpreter, the zygote or a library writes to the process's
    own stdout never reaches the protocol's stream."""
    s = server
    s.initialize()
    r = s.run("import os, sys\nos.write(1, b'raw fd 1\\n')\nsys.__stdout__.write('dunder\\n')\n"
              "sys.__stdout__.flush()\nprint('via print')")
    assert "via print" in text_of(r)
    s.send({"jsonrpc": "2.0", "id": 77, "method": "ping"})
    assert s.read() == {"jsonrpc": "2.0", "id": 77, "result": {}}
    assert s.close() == 0  # close() fails on any byte left on stdout


def test_client_gone_mid_call(tmp_path):
    """The host dies while a cell runs: stdin reaches EOF, the session ends
    and the server exits without waiting for the cell."""
    s = McpServer(tmp_path, journal=False)
    try:
        s.initialize()
        s.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "execute_code", "arguments": {"code": "import time\ntime.sleep(60)"}}})
        time.sleep(0.5)
        t = time.monotonic()
        s.proc.stdin.close()
        assert s.proc.wait(20) == 0
        assert time.monotonic() - t < 15
    finally:
        s.kill()


def test_conversation_that_cannot_begin():
    """No folder for the ipc sockets: every call is a tool error naming
    why, the same each time, and the server keeps answering."""
    import os
    import subprocess
    import uuid
    # A TMPDIR that does not exist, short enough to be used: a longer one
    # (over 70 bytes, too long for the ipc socket paths below it) would be
    # passed over for /tmp.
    missing = f"/tmp/sandcell-missing-{uuid.uuid4().hex[:12]}"
    assert not os.path.exists(missing)
    env = dict(os.environ, TMPDIR=missing)
    p = subprocess.Popen([ku.SANDCELL, "mcp", "--no-journal"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        def ask(msg):
            p.stdin.write((json.dumps(msg) + "\n").encode())
            p.stdin.flush()
            return json.loads(p.stdout.readline())
        ask({"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"}}})
        texts = []
        for i in (2, 3):
            r = ask({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                     "params": {"name": "execute_code", "arguments": {"code": "1"}}})
            assert r["result"]["isError"] is True
            texts.append(r["result"]["content"][0]["text"])
        assert texts[0] == texts[1] and "socket folder" in texts[0]
        assert ask({"jsonrpc": "2.0", "id": 4, "method": "ping"})["result"] == {}
        p.stdin.close()
        assert p.wait(30) == 0
        assert p.stdout.read() == b""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
