"""sandcell_runtime._channel: what goes to the manager and comes from it.

Records out through the builtin ``_sandcell`` module (JSON as Jupyter
expects it), sys.stdout and sys.stderr as ``stream`` records, input() and
getpass() as input requests, and the state one request shares with the
next (``_session``).  Part of the runtime the worker embeds (runtime.py).
"""

import codecs
import io
import json
import math
import time
import types

import _sandcell

STREAM_INTERVAL = 0.05      # seconds between two sends of one stream at newlines
STREAM_MAX = 8192           # characters buffered before a stream is sent anyway
STREAM_RECORD_MAX = 1 << 17  # characters a stream record carries at most (JSON: < 1 MiB)

_session = types.SimpleNamespace(allow_stdin=False, loop=None, streams={}, prepared=False,
                                 kernel_info=None, warm_up_count=0, saved_streams=None,
                                 ran=None, payload=[])


# ---------------------------------------------------------------- records

def _finite(obj):
    """`obj` with NaN and infinities replaced by None (JSON has neither)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


# What json.dumps(obj, ensure_ascii=False, allow_nan=..., default=repr) would
# build on every call, built once.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=repr)
_ENCODER_NAN = json.JSONEncoder(ensure_ascii=False, default=repr)


def _surrogates_to_fffd(exc):
    """Encoding error handler: each character UTF-8 cannot hold (a lone
    surrogate from a user string) becomes U+FFFD, the character a client
    gets for a byte that is not UTF-8."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    # as bytes: CPython's UTF-8 encoder takes only ASCII text from a handler
    return "\ufffd".encode("utf-8") * (exc.end - exc.start), exc.end


codecs.register_error("sandcell.fffd", _surrogates_to_fffd)


def _dumps(obj):
    """JSON text of `obj` that the C side can always encode and parse.

    NUL and other control characters are escaped by the encoder
    (\u0000); lone surrogates become U+FFFD."""
    try:
        text = _ENCODER.encode(obj)
    except ValueError:
        text = _ENCODER_NAN.encode(_finite(obj))
    return text.encode("utf-8", "sandcell.fffd").decode("utf-8")


def _send(msg_type, content):
    """Send one iopub event.  Buffered streams go first, so output keeps its order."""
    if msg_type != "stream":
        _flush_streams()
    _sandcell.send(_dumps({"type": msg_type, "content": content}))


# ---------------------------------------------------------------- streams

class _NotAFile:
    """What the streams and their buffers answer as file objects: writable,
    never a terminal, no descriptor."""

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("fileno: sandcell streams are not files")


class _StreamBuffer(_NotAFile, io.RawIOBase):
    """sys.stdout.buffer / sys.stderr.buffer: bytes written here reach the
    stream as UTF-8 text, a sequence that is not UTF-8 as U+FFFD (a
    character cut between two writes is joined first)."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data):
        data = memoryview(data).cast("B")
        text = self._decoder.decode(data.tobytes())
        if text:
            self._stream.write(text)
        return len(data)

    def flush(self):
        self._stream.flush()

    def close(self):
        pass  # sys.stdout stays usable, as its buffer does under ipykernel's stream

    def drain(self):
        """The end of a partial character, as U+FFFD (end of a request)."""
        return self._decoder.decode(b"", final=True)


class _Stream(_NotAFile, io.TextIOBase):
    """sys.stdout / sys.stderr of a cell: buffers text, sends `stream` events."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name):
        super().__init__()
        self.name = name
        self._parts = []
        self._size = 0
        self._last_send = -math.inf
        self.buffer = _StreamBuffer(self)

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not text:
            return 0
        for other in _session.streams.values():
            if other is not self:
                other.flush()
        self._parts.append(text)
        self._size += len(text)
        if self._size > STREAM_MAX or (
                "\n" in text and time.monotonic() - self._last_send >= STREAM_INTERVAL):
            self.flush()
        return len(text)

    def flush(self):
        if not self._parts:
            return
        text = "".join(self._parts)
        self._parts, self._size = [], 0
        self._last_send = time.monotonic()
        # One write may be larger than a record the daemon accepts: sent in
        # slices, the output limit keeps its beginning rather than nothing.
        for start in range(0, len(text), STREAM_RECORD_MAX):
            _send("stream", {"name": self.name,
                             "text": text[start:start + STREAM_RECORD_MAX]})


def _flush_streams(final=False):
    """Sends what the streams hold; with `final` (the end of a request),
    a character left unfinished in a stream's buffer too."""
    for stream in _session.streams.values():
        if final:
            tail = stream.buffer.drain()
            if tail:
                stream.write(tail)
        stream.flush()


# ---------------------------------------------------------------- input

class StdinNotImplementedError(NotImplementedError):
    """input() or getpass() was called but the client does not take input requests."""


StdinNotImplementedError.__module__ = "sandcell"


def _ask(prompt, password):
    """Ask the client for a line of input; an interrupt while waiting raises KeyboardInterrupt."""
    if not _session.allow_stdin:
        caller = "getpass" if password else "raw_input"
        raise StdinNotImplementedError(
            f"{caller} was called, but this frontend does not support input requests.")
    _send("input_request", {"prompt": str(prompt), "password": password})
    value = json.loads(_sandcell.recv()).get("value", "")
    if value == "\x04":
        raise EOFError("EOF when reading a line")
    return value


def _input(prompt=""):
    return _ask(prompt, False)


def _getpass(prompt="Password: ", stream=None):
    return _ask(prompt, True)
