#!/usr/bin/env python3
"""Writes the vectors of tests/vectors/ws/ that come from Jupyter Server's
own code (Debian's python3-jupyter-server), so that the C codec is checked
against what jupyter_server sends and expects, byte for byte:

- encode/js-*.json: a kernel message as jupyter_server puts it on the
  WebSocket (serialize_msg_to_ws_v1 for v1; _reserialize_reply's JSON or
  serialize_binary_message for legacy);
- valid/js-*.json: payloads a client built the way jupyter_server's
  deserializers read them (serialize_msg_to_ws_v1 and
  serialize_binary_message used in the client's direction).

    /usr/bin/python3 tests/vectors/ws/make_vectors.py
"""
import json
import pathlib

from jupyter_server.base.zmqhandlers import (serialize_binary_message,
                                             serialize_msg_to_ws_v1)

HERE = pathlib.Path(__file__).resolve().parent


def compact(v):
    return json.dumps(v, separators=(",", ":"))


HEADER = {"msg_id": "a1b2", "msg_type": "execute_result", "session": "kernel-session",
          "username": "sandcell", "date": "2026-01-02T03:04:05.678901Z", "version": "5.3"}
PARENT = {"msg_id": "req-1", "msg_type": "execute_request", "session": "client",
          "username": "u", "date": "2026-01-02T03:04:05.000001Z", "version": "5.3"}
CONTENT = {"execution_count": 1, "data": {"text/plain": "0.1 caf\u00e9"}, "metadata": {},
           "pi": 3.14159}


def write(folder, name, vec):
    (HERE / folder / f"js-{name}.json").write_text(json.dumps(vec, indent=1, ensure_ascii=False) + "\n")


def encode_vectors():
    parts = [compact(HEADER), compact(PARENT), "{}", compact(CONTENT)]
    for nbuf, bufs in ((0, []), (2, [b"\x00\x01\x02", b""])):
        raw = [p.encode() for p in parts] + bufs
        write("encode", f"v1-iopub-{nbuf}-buffers", {
            "description": f"v1, iopub, {nbuf} buffers: serialize_msg_to_ws_v1's bytes",
            "framing": "v1", "channel": "iopub", "parts": parts,
            "buffers": [{"hex": b.hex()} for b in bufs],
            "expect_hex": serialize_msg_to_ws_v1(raw, "iopub").hex()})
        msg = {"header": HEADER, "msg_id": HEADER["msg_id"], "msg_type": HEADER["msg_type"],
               "parent_header": PARENT, "metadata": {}, "content": CONTENT,
               "buffers": bufs, "channel": "iopub"}
        if bufs:
            expect = {"expect_binary": True, "expect_hex": serialize_binary_message(msg).hex()}
        else:
            expect = {"expect_binary": False, "expect_json": msg}
        write("encode", f"legacy-iopub-{nbuf}-buffers", {
            "description": f"legacy, iopub, {nbuf} buffers: what jupyter_server writes",
            "framing": "legacy", "channel": "iopub", "parts": parts,
            "buffers": [{"hex": b.hex()} for b in bufs], **expect})


def decode_vectors():
    req = {"msg_id": "c-1", "msg_type": "comm_msg", "session": "s", "username": "u",
           "date": "2026-01-02T03:04:05.678901Z", "version": "5.3"}
    content = {"comm_id": "x", "data": {}}
    bufs = [b"\xff\xfe binary", b"second"]
    raw = [compact(req).encode(), b"{}", b"{}", compact(content).encode()] + bufs
    write("valid", "v1-buffers", {
        "description": "v1 from the client with two buffers, laid out by serialize_msg_to_ws_v1",
        "framing": "v1", "payload": {"hex": serialize_msg_to_ws_v1(raw, "shell").hex()},
        "expect": {"channel": "shell", "header": req, "parts": [req, {}, {}, content],
                   "buffers": [{"hex": b.hex()} for b in bufs], "header_raw": True}})
    msg = {"header": req, "parent_header": {}, "metadata": {}, "content": content,
           "buffers": bufs, "channel": "shell"}
    write("valid", "legacy-binary-buffers", {
        "description": "legacy binary from the client, laid out by serialize_binary_message",
        "framing": "legacy", "payload": {"hex": serialize_binary_message(msg).hex()},
        "expect": {"channel": "shell", "header": req, "parts": [req, {}, {}, content],
                   "buffers": [{"hex": b.hex()} for b in bufs]}})


encode_vectors()
decode_vectors()
