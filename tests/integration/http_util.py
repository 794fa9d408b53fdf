"""A small HTTP client for sandcell's front door (urllib, nothing else),
and the daemon fixture the HTTP tests share."""

import json
import socket
import urllib.error
import urllib.request

import kernel_util as ku


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Http:
    """Requests to one daemon's front door; |token| goes in the header
    (`token T`) unless |auth| says otherwise."""

    def __init__(self, url, token=None):
        self.url = url.rstrip("/")
        self.token = token

    def request(self, method, path, body=None, token=..., headers=None, raw=None, timeout=30):
        token = self.token if token is ... else token
        h = dict(headers or {})
        if token is not None and "Authorization" not in h:
            h["Authorization"] = f"token {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        if body is None and "raw" not in kw:
            kw["raw"] = b""
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def ok(self, method, path, status=200, **kw):
        r = self.request(method, path, **kw)
        assert r.status == status, (method, path, r)
        return r.json() if r.body else None

    def start(self, body=None, **kw):
        r = self.post("/api/kernels", body, **kw)
        assert r.status == 201, r
        return r.json()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_of(daemon, token=...):
    rt = daemon.runtime
    assert "http_url" in rt, rt
    return Http(rt["http_url"], rt.get("http_token") if token is ... else token)


def raw_exchange(port, data, timeout=10):
    """Sends |data| on a fresh connection; returns what came back until
    the server closed (or |timeout|)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        return got


__all__ = ["Http", "Response", "free_port", "http_of", "raw_exchange", "ku"]
