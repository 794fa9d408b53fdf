#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ from the project's test
vectors (tests/vectors: wire messages, tests/journals: journals) and from
the hand-written seeds below. Run from anywhere; rewrites only seed-*
files, never the regression inputs (regress-*) nor what a fuzzer merged.

    /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import hashlib
import hmac
import json
import pathlib

TOP = pathlib.Path(__file__).resolve().parents[2]
CORPUS = TOP / "tests" / "fuzz" / "corpus"
SEP = b"\n--\n"
KEY = b"fuzz-key"  # the key of fuzz_wire.c


def frame_bytes(f, key, rest):
    if isinstance(f, str):
        return f.encode()
    if "json" in f:
        return json.dumps(f["json"], separators=(",", ":")).encode()
    if "hex" in f:
        return bytes.fromhex(f["hex"])
    if "repeat" in f:
        if "count" in f:
            return f["repeat"].encode() * min(f["count"], 16)  # seeds stay small
        return f["repeat"].encode() * 16
    if "sign" in f:
        over = f.get("over")
        parts = [frame_bytes(x, key, []) for x in over] if over else rest[:4]
        k = f["key"].encode() if "key" in f else key
        mac = hmac.new(k, digestmod=hashlib.sha256)
        for p in parts:
            mac.update(p)
        d = mac.hexdigest()
        if f.get("upper"):
            d = d.upper()
        if "length" in f:
            d = d[: f["length"]]
        return (d + f.get("append", "")).encode()
    raise ValueError(f)


def wire_seed(vector):
    frames = vector["frames"]
    out = [None] * len(frames)
    for i in reversed(range(len(frames))):  # a signature covers the frames after it
        f = frames[i]
        if isinstance(f, dict) and "sign" in f:
            continue
        out[i] = frame_bytes(f, KEY, [])
    plain_sign = False
    for i, f in enumerate(frames):
        if isinstance(f, dict) and "sign" in f:
            rest = [x for x in out[i + 1 : i + 5] if x is not None]
            out[i] = frame_bytes(f, KEY, rest)
            plain_sign |= set(f) == {"sign"}
    # 's': the harness signs it (mutations then reach the parser); else as is.
    flag = b"s" if plain_sign else b"-"
    return flag + SEP.join(out)


def write(harness, name, data):
    d = CORPUS / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def clear_seeds(harness):
    d = CORPUS / harness
    if d.is_dir():
        for p in d.glob("seed-*"):
            p.unlink()


HEADER = {"msg_id": "m1", "msg_type": "execute_request", "session": "s1",
          "username": "u", "date": "2026-01-02T03:04:05.678901Z", "version": "5.3"}

CONNFILES = {
    "tcp": {"transport": "tcp", "ip": "127.0.0.1", "shell_port": 5555, "iopub_port": 5556,
            "stdin_port": 5557, "control_port": 5558, "hb_port": 5559, "key": "abc",
            "signature_scheme": "hmac-sha256", "kernel_name": "sandcell-python"},
    "ipc": {"transport": "ipc", "ip": "/tmp/kernel-1", "shell_port": 1, "iopub_port": 2,
            "stdin_port": 3, "control_port": 4, "hb_port": 5, "key": "k"},
    "no-key": {"ip": "127.0.0.1", "shell_port": 1, "iopub_port": 2, "stdin_port": 3,
               "control_port": 4, "hb_port": 5, "key": ""},
    "long-ip": {"ip": "x" * 255, "shell_port": 65535, "iopub_port": 0, "stdin_port": 3,
                "control_port": 4, "hb_port": 5, "key": "k"},
    "bad-port": {"ip": "127.0.0.1", "shell_port": 70000, "iopub_port": -1, "stdin_port": 3,
                 "control_port": 4, "hb_port": 5, "key": "k"},
    "md5": {"ip": "::1", "shell_port": 1, "iopub_port": 2, "stdin_port": 3,
            "control_port": 4, "hb_port": 5, "key": "k", "signature_scheme": "hmac-md5"},
}

CONTROL = {
    "start-empty": ("start_request", {}),
    "start-all": ("start_request", {"max_executions": 10, "idle_timeout": 60, "lifetime": 3600,
                                    "timeout": 5, "memory": 256, "pids": 32, "cpus": 0.5,
                                    "disk": 50, "open_files": 64, "max_output": 4}),
    "start-bad-memory": ("start_request", {"memory": "lots"}),
    "start-negative": ("start_request", {"max_executions": -1}),
    "start-nulls": ("start_request", {"timeout": None, "restore": None}),
    "start-restore": ("start_request", {"restore": "/var/lib/sandcell/journals/abc.jsonl"}),
    "start-restore-number": ("start_request", {"restore": 5}),
    "start-huge": ("start_request", {"cpus": 1e308, "disk": 1.5e-300}),
    "list": ("list_request", {}),
    "stop": ("stop_request", {"id": "0123456789ab"}),
    "stop-no-id": ("stop_request", {}),
    "stop-id-number": ("stop_request", {"id": 42}),
    "connection-null": ("connection_request", {"id": None}),
    "put": ("put_file_request", {"id": "0123456789ab", "path": "data/x.csv"}),
    "put-no-path": ("put_file_request", {"id": "0123456789ab"}),
    "get": ("get_file_request", {"id": "0123456789ab", "path": "out.png"}),
    "get-path-number": ("get_file_request", {"id": "0123456789ab", "path": 7}),
    "unknown": ("foo_request", {}),
    "not-a-request": ("execute_reply", {}),
    "short": ("_request", {}),
}

READY = {"type": "ready", "content": {"implementation": "sandcell", "python": "3.11.2"},
         "preload": {"numpy": "1.24.2"}, "usage": {"cpu_s": 0.25, "peak_memory_bytes": 1 << 20}}
REPLY = {"type": "reply", "content": {"status": "ok", "execution_count": 1},
         "usage": {"cpu_s": 0.5, "peak_memory_bytes": 2 << 20}}
CHANNEL = {
    "ready-reply": [b"." + json.dumps(READY).encode(), b"." + json.dumps(REPLY).encode()],
    "chunked": [b'+{"type":"stream","con', b'+tent":{"name":"stdout",', b'."text":"hi\\n"}}'],
    "outputs": [b"." + json.dumps({"type": t, "content": c}).encode() for t, c in [
        ("stream", {"name": "stderr", "text": "x"}),
        ("display_data", {"data": {"image/png": "iVBORw0KGgo="}, "metadata": {}}),
        ("update_display_data", {"data": {}, "metadata": {}, "transient": {"display_id": "d"}}),
        ("clear_output", {"wait": True}),
        ("execute_result", {"data": {"text/plain": "2"}, "metadata": {}}),
        ("error", {"ename": "E", "evalue": "v", "traceback": ["t"]}),
        ("input_request", {"prompt": "? ", "password": False}),
        ("jail_failed", {"error": "mount: EPERM"}),
        ("comm_open", {}),
    ]],
    "malformed": [b".not json", b'.{"type":1,"content":{}}', b'.{"type":"reply","content":[]}',
                  b".", b"", b'.{"type":"ready"}'],
    "usage-backwards": [b"." + json.dumps(READY).encode(),
                        b'.{"type":"reply","content":{},"usage":{"cpu_s":0.1,'
                        b'"peak_memory_bytes":-5}}',
                        b'.{"type":"ready","content":{}}'],
    "many-values": [b"." + b"[" + b"0," * 300 + b"0]"],
    "big": [b"+" + b"a" * 4000, b"+" + b"b" * 4000, b'.{"type":"stream"}'],
    "no-marker": [b'{"type":"stream","content":{}}', b'x{"type":"stream","content":{}}'],
}


def journal_seeds():
    """Hand-written journals: a restored one, display updates, a torn tail."""
    basic = (TOP / "tests" / "journals" / "basic.jsonl").read_text().splitlines()
    header = json.loads(basic[0])
    header["restored_from"] = {"journal": "/nonexistent/older.jsonl", "executions": 2}
    cell = {"type": "execution", "execution_count": 7, "code": "d = display('a', display_id=True)",
            "silent": False, "store_history": True, "interpreter": 2, "status": "ok",
            "started": "2026-11-26T10:00:07.000000Z", "duration_s": 0.5, "cpu_s": 0.1,
            "peak_memory_bytes": 1024, "outputs": [
                {"msg_type": "display_data", "content": {
                    "data": {"text/plain": "'a'", "application/json": {"k": [1, 2]}},
                    "metadata": {}, "transient": {"display_id": "d1"}}},
                {"msg_type": "update_display_data", "content": {
                    "data": {"text/plain": "'b' at 0x7f3a12"}, "metadata": {},
                    "transient": {"display_id": "d1"}}},
                {"msg_type": "stream", "content": {"name": "stderr",
                                                   "text": "[sandcell] note\nreal\n"}},
                {"msg_type": "error", "content": {"ename": "TimeoutError", "evalue": "30 s",
                                                  "traceback": []}}],
            "reply": {"status": "error", "ename": "TimeoutError", "evalue": "30 s",
                      "traceback": []}}
    died = dict(cell, execution_count=8, interpreter=3, outputs=[],
                reply={"status": "error", "ename": "InterpreterDied", "evalue": "killed"})
    lines = [json.dumps(header)] + basic[1:3] + [json.dumps(cell), json.dumps(died)]
    write("journal", "restored-displays", ("\n".join(lines) + "\n").encode())
    write("journal", "torn-after-cells", ("\n".join(lines) + "\n" + lines[-1][:40]).encode())
    write("journal", "header-only", (basic[0] + "\n").encode())


def _rec(t, c, **extra):
    return json.dumps(dict({"type": t, "content": c}, **extra)).encode()


CONTENT = {
    "stream": _rec("stream", {"name": "stdout", "text": "a\u0000b\n"}),
    "stream-bad-name": _rec("stream", {"name": "stdin", "text": "x"}),
    "display": _rec("display_data", {"data": {"text/plain": "1", "image/png": "iVBORw0KGgo=",
                                              "application/json": {"a": [1, None]},
                                              "application/vnd.x+json": [1]},
                                     "metadata": {"image/png": {"width": 10}},
                                     "transient": {"display_id": "d1"}}),
    "display-data-string": _rec("display_data", {"data": "text", "metadata": {}}),
    "display-metadata-number": _rec("display_data", {"data": {}, "metadata": 5}),
    "display-value-number": _rec("display_data", {"data": {"text/plain": 5}, "metadata": {}}),
    "update": _rec("update_display_data", {"data": {}, "metadata": {},
                                           "transient": {"display_id": "d1"}}),
    "result": _rec("execute_result", {"data": {"text/html": "<b>x</b>"}, "metadata": {},
                                      "execution_count": 3}),
    "error": _rec("error", {"ename": "E", "evalue": "v", "traceback": ["a", "b"]}),
    "error-bad": _rec("error", {"ename": 1, "evalue": None, "traceback": "tb"}),
    "clear": _rec("clear_output", {"wait": True}),
    "clear-bad": _rec("clear_output", {"wait": "yes"}),
    "input": _rec("input_request", {"prompt": "? ", "password": False}),
    "reply-ok": _rec("reply", {"status": "ok", "execution_count": 1, "user_expressions": {},
                               "matches": ["a"], "cursor_start": 0, "cursor_end": 1,
                               "metadata": {}, "found": True, "data": {}}),
    "reply-error": _rec("reply", {"status": "error", "ename": "E", "evalue": "v",
                                  "traceback": []}),
    "ready": _rec("ready", {}, preload={"numpy": "1.24.2"}),
    "unknown": _rec("comm_open", {}),
    "bad-utf8": b'{"type": "stream", "content": {"name": "stdout", "text": "\xff\xc3(\xed\xa0\x80"}}',
    "surrogate-escape": b'{"type": "stream", "content": {"name": "stdout", "text": "\\ud800 \\\\ud800 \\udfff\\ud83d\\ude00"}}',
    "not-json": b"{not json",
    "deep": b'{"type": "display_data", "content": {"data": {"application/json": ' + b"[" * 70 + b"]" * 70 + b'}, "metadata": {}}}',
    "many-mimes": _rec("display_data", {"data": {f"text/x-{i}": "v" for i in range(70)},
                                        "metadata": {}}),
}

HISTORY = {
    "tail": {"hist_access_type": "tail", "n": 3, "output": True, "raw": True},
    "tail-zero": {"hist_access_type": "tail", "n": 0},
    "tail-negative": {"hist_access_type": "tail", "n": -5},
    "range": {"hist_access_type": "range", "session": 0, "start": 2, "stop": 5},
    "range-other-session": {"hist_access_type": "range", "session": 7},
    "search": {"hist_access_type": "search", "pattern": "x*", "unique": True, "n": 2},
    "search-glob": {"hist_access_type": "search", "pattern": "*[a-c]*?\\*", "output": True},
    "search-stars": {"hist_access_type": "search", "pattern": "*a*a*a*a*a*a*a*a*a*b*"},
    "bad-type": {"hist_access_type": "all"},
    "no-type": {"n": 1},
    "n-real": {"hist_access_type": "tail", "n": 1.5},
}

TERMINAL = {
    "osc52-clipboard": b"\x1b]52;c;aGVsbG8=\x07",
    "osc-title": b"before\x1b]0;owned\x07after\x1b]2;x\x1b\\",
    "clear": b"\x1b[2J\x1b[H\x1bc",
    "sgr": b"\x1b[1;31mred\x1b[0m \x1b[38:5:196mx\x1b[m\n",
    "dcs": b"\x1bP1$r0m\x1b\\",
    "c1-utf8": "\u009b2J \u009d0;t\u0007 \u0085".encode(),
    "c1-8bit": b"\x9b2J\x9d0;t\x07",
    "controls": bytes(range(0, 32)) + b"\x7f\x08\x08",
    "utf8": "caf\u00e9 \u2603 \U0001f600 \ufeff".encode(),
    "bad-utf8": b"\xc3\x28 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf \xff",
    "progress": b"10%\r20%\r\t100%\n",
    "long-sgr": b"\x1b[" + b"1;" * 40 + b"m",
}

# fuzz_http: token file, Authorization header, path, Sec-WebSocket-Key.
HTTP = {
    "single": [b"tok-1\n", b"token tok-1", b"/api/kernels", b"dGhlIHNhbXBsZSBub25jZQ=="],
    "tenants": [b"# users\nalice a-1\r\nbob\tb-2\n", b"Bearer b-2",
                b"/api/kernels/0f8fad5b-d9cb-469f-a165-70867728950e/channels",
                b"v1.kernel.websocket.jupyter.org"],
    "unnamed": [b"a x\nb\n", b"token ", b"/api//kernels", b"YWJj"],
    "dup": [b"a x\na x\n", b"Basic abc", b"/kernelspecs/python3/..", b""],
    "nul": [b"a x\x00y\n", b"tokenabc", b"/api/kernels/0f8fad5b-d9cb-469f-a165-70867728950g",
            b"dGhlIHNhbXBsZSBub25jZQ=!"],
}


def _ws_part(spec):
    if isinstance(spec, str):
        return spec.encode()
    if "json" in spec:
        return json.dumps(spec["json"], separators=(",", ":")).encode()
    return bytes.fromhex(spec["hex"])


def jupyter_ws_seed(vector):
    """A vector of tests/vectors/ws as fuzz_jupyter_ws reads it: a flag byte
    (1: v1, 2: binary, 4: parts the harness puts behind a table), then the
    payload; None for a payload too large to keep."""
    flag = 1 if vector.get("framing") == "v1" else 0
    p = vector["payload"]
    if "v1" in p or "legacy_binary" in p:
        parts = p.get("v1") or p.get("legacy_binary")
        return bytes([flag | 6]) + SEP.join(_ws_part(x) for x in parts)
    if "fill" in p:
        return None
    if "hex" in p:
        binary = p.get("binary", True)
        return bytes([flag | (2 if binary else 0)]) + bytes.fromhex(p["hex"])
    data = p["text"].encode() if "text" in p else _ws_part(p)
    return bytes([flag | (2 if p.get("binary") else 0)]) + data


# Lines an MCP client (or anyone on the pipe) may write to `sandcell mcp`.
_INIT = {"protocolVersion": "2025-11-25", "capabilities": {},
         "clientInfo": {"name": "c", "version": "1"}}
MCP = {
    "initialize": json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                              "params": _INIT}).encode(),
    "initialized": b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
    "tools-list": b'{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{}}',
    "call-execute": json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "execute_code", "arguments": {"code": "print(1)", "timeout": 3},
        "_meta": {"progressToken": "t"}}}).encode(),
    "call-upload": json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "upload_file", "arguments": {"path": "a.csv", "content_base64": "YSxi"}}}).encode(),
    "cancelled": b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}',
    "response": b'{"jsonrpc":"2.0","id":9,"result":{}}',
    "batch": b'[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"},1]',
    "invalid-not-json": b'{"jsonrpc":"2.0",',
    "invalid-version": b'{"jsonrpc":"1.0","id":1,"method":"ping"}',
    "invalid-id-null": b'{"jsonrpc":"2.0","id":null,"method":"ping"}',
    "invalid-id-float": b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
    "invalid-params": b'{"jsonrpc":"2.0","id":1,"method":"ping","params":3}',
    "invalid-both": b'{"jsonrpc":"2.0","id":1,"result":1,"error":{}}',
    "invalid-duplicate": b'{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}',
    "invalid-nul-method": b'{"jsonrpc":"2.0","id":1,"method":"p\\u0000ing"}',
    "deep": b"[" * 3000 + b"]" * 3000,
    "ansi-html": b"\x1b[31mred\x1b[0m \x1b]0;title\x07<table><tr><td>a &amp; b</td></tr></table>"
                 b"<style>x{}</style><script>s</script>&nbsp;",
}


def main():
    for h in ("wire", "connfile", "control", "channel", "content", "history", "journal",
              "term_filter", "jupyter_ws", "http", "mcp"):
        clear_seeds(h)
    for kind in ("valid", "invalid"):
        for p in sorted((TOP / "tests" / "vectors" / kind).glob("*.json")):
            write("wire", f"{kind}-{p.stem}", wire_seed(json.loads(p.read_text())))
    for p in sorted((TOP / "tests" / "journals").glob("*.jsonl")):
        write("journal", p.stem, p.read_bytes())
    journal_seeds()
    for kind in ("valid", "invalid"):
        for p in sorted((TOP / "tests" / "vectors" / "ws" / kind).glob("*.json")):
            seed = jupyter_ws_seed(json.loads(p.read_text()))
            if seed is not None:
                write("jupyter_ws", f"{kind}-{p.stem}", seed)
    for name, obj in CONNFILES.items():
        write("connfile", name, json.dumps(obj, indent=2).encode())
    write("connfile", "not-object", b"[1, 2]")
    write("connfile", "duplicate", b'{"ip": "a", "ip": "b"}')
    for name, (t, content) in CONTROL.items():
        write("control", name, t.encode() + b"\n" + json.dumps(content).encode())
    write("control", "content-array", b"start_request\n[]")
    for name, data in CONTENT.items():
        write("content", name, data)
    cells = [b"x = 1", b"print(x)", b"x = 1", b"import numpy as np", b"", b"a\nb*c?[d]"]
    for name, req in HISTORY.items():
        write("history", name, SEP.join([json.dumps(req).encode()] + cells))
    for name, text in TERMINAL.items():
        for chunk in (0, 2, 255):  # chunks of 1, 3 and 256 bytes
            write("term_filter", f"{name}-{chunk + 1}", bytes([chunk]) + text)
    for name, parts in HTTP.items():
        write("http", name, SEP.join(parts))
    for name, line in MCP.items():
        write("mcp", name, line)
    for name, grams in CHANNEL.items():
        for limit in (3, 7, 0x87):  # 512 bytes, 8 KiB, 8 KiB and the writer closes
            tag = f"{64 << (limit & 7)}" + ("-eof" if limit & 0x80 else "")
            write("channel", f"{name}-{tag}", bytes([limit]) + SEP.join(grams))


if __name__ == "__main__":
    main()
