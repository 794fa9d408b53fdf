"""sandcell_runtime: the pure-Python half of a sandcell interpreter.

The C worker embeds this file, runs it as module ``sandcell_runtime`` and uses
three entry points: ``preload()`` in the zygote before it forks,
``child_init()`` once in every forked interpreter, and ``handle()`` for each
request from the manager (a JSON text in, a reply JSON text out).  Output made
while a request runs (streams, rich display, errors, input prompts) goes to the
manager at once through the builtin ``_sandcell`` module, as records
``{"type": <iopub msg_type>, "content": <Jupyter content>}``; the manager signs
them and sets the parent header.

Design choices that are not obvious:
- Cells run in the real ``__main__`` dict, like IPython, so pickle and
  ``if __name__ == "__main__":`` behave as users expect.
- A cell is compiled as ``<cell N>`` and its source put in ``linecache``, so
  tracebacks and ``inspect.getsource`` show its lines.  Tracebacks keep the
  frames from the first ``<cell ...>`` frame on and never this module's own
  frames, recognised by ``__name__`` because the module may have no __file__.
- IPython itself is not used.  A small shim registered as ``IPython.display``
  and friends gives code written for Jupyter the display API it expects;
  ``get_ipython()`` returns None so libraries take their plain-Python path.
- Magics and shell escapes cannot work in the jail.  Lines starting with
  ``%`` or ``!`` are only looked at when a cell does not parse as Python;
  ``%matplotlib`` is accepted as a no-op, anything else fails the cell before
  any of it runs.
- No thread is used.  A stream is sent at a newline when its previous send is
  at least 50 ms old (a slow loop shows each line as it comes, a fast loop is
  batched), on flush(), past 8 KiB, before any other output and at the end of
  every request.
- matplotlib draws through the ``sandcell_inline`` backend (an Agg canvas),
  built on first import by a meta-path finder so that the zygote does not
  import matplotlib unless asked to.  Open figures are sent as PNG by
  ``plt.show()`` and at the end of every cell, then closed, as ipykernel's
  inline backend does.
"""

import ast
import asyncio
import base64
import builtins
import codecs
import codeop
import gc
import getpass
import html
import importlib
import importlib.abc
import importlib.util
import inspect
import io
import json
import keyword
import linecache
import math
import os
import pkgutil
import platform
import random
import re
import resource
import sys
import time
import tokenize
import traceback
import types
import urllib.parse
import uuid

import _sandcell

__version__ = "0.1.0"

BACKEND = "module://sandcell_inline"
STREAM_INTERVAL = 0.05      # seconds between two sends of one stream at newlines
STREAM_MAX = 8192           # characters buffered before a stream is sent anyway
STREAM_RECORD_MAX = 1 << 17  # characters a stream record carries at most (JSON: < 1 MiB)
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_MISSING = object()

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

class _StreamBuffer(io.RawIOBase):
    """sys.stdout.buffer / sys.stderr.buffer: bytes written here reach the
    stream as UTF-8 text, a sequence that is not UTF-8 as U+FFFD (a
    character cut between two writes is joined first)."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("fileno: sandcell streams are not files")

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


class _Stream(io.TextIOBase):
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

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("fileno: sandcell streams are not files")

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


# ---------------------------------------------------------------- rich display

_REPR_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"),
    ("application/pdf", "_repr_pdf_"),
)

# What each repr method may return, as IPython's formatters check it
# (others: str).
_REPR_RETURN_TYPES = {
    "image/svg+xml": (str, bytes),
    "image/png": (str, bytes),
    "image/jpeg": (str, bytes),
    "application/pdf": (str, bytes),
    "application/json": (dict, list, str),
}


def _method(obj, name):
    """Formatter method `name` of an instance, or None.

    Looked up on the type first: classes have no formatter methods, and proxy
    objects whose __getattr__ claims every name must not be called."""
    if isinstance(obj, type) or not hasattr(type(obj), name):
        return None
    method = getattr(obj, name, None)
    return method if callable(method) else None


def _encode(mime, value):
    """Binary payloads travel as base64 text, as in Jupyter."""
    if isinstance(value, (bytes, bytearray)):
        if mime == "application/pdf" or (mime.startswith("image/") and mime != "image/svg+xml"):
            return base64.b64encode(value).decode("ascii")
        return bytes(value).decode("utf-8", "replace")
    return value


def _call_repr(obj, name, **kwargs):
    """(value, metadata) from one repr method; a failing method is reported and skipped."""
    try:
        result = _method(obj, name)(**kwargs)
    except Exception as exc:
        print(f"{type(obj).__name__}.{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None, None
    if isinstance(result, tuple) and len(result) == 2:
        return result
    return result, None


def _figure_png(obj):
    """Base64 PNG of a matplotlib figure that has something on it, else None."""
    figure_class = getattr(sys.modules.get("matplotlib.figure"), "Figure", None)
    if figure_class is None or not isinstance(obj, figure_class):
        return None
    if not obj.axes and not obj.lines:
        return None
    buffer = io.BytesIO()
    obj.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# Built-in types whose instances have no formatter methods and are no
# figures: their bundle is their repr. Exact types only (a subclass may add
# _repr_html_); these types are immutable, so no method can be added later.
_PLAIN_TYPES = frozenset({int, float, complex, bool, str, bytes, type(None), list, tuple, dict,
                          set, frozenset, range})


def _format(obj, include=None, exclude=None):
    """(data, metadata) mime bundle of `obj`, built the way IPython's formatter does."""
    if type(obj) in _PLAIN_TYPES:
        data = {"text/plain": repr(obj)}
        if (include and "text/plain" not in include) or (exclude and "text/plain" in exclude):
            data = {}
        return data, {}
    data, metadata = {}, {}
    if _method(obj, "_repr_mimebundle_"):
        bundle, bundle_md = _call_repr(obj, "_repr_mimebundle_", include=include, exclude=exclude)
        data.update({mime: _encode(mime, value) for mime, value in (bundle or {}).items()})
        metadata.update(bundle_md or {})
    for mime, name in _REPR_METHODS:
        if mime in data or not _method(obj, name):
            continue
        value, value_md = _call_repr(obj, name)
        if value is None:
            continue
        expected = _REPR_RETURN_TYPES.get(mime, (str,))
        if not isinstance(value, expected):
            # IPython's formatters warn and skip such a value; sent, it
            # would make the whole display an InvalidOutput error.
            print(f"{type(obj).__name__}.{name} returned {type(value).__name__}, not "
                  f"{' or '.join(t.__name__ for t in expected)}; ignored", file=sys.stderr)
            continue
        data[mime] = _encode(mime, value)
        if value_md:
            metadata[mime] = value_md
    png = _figure_png(obj)
    if png is not None:
        data.setdefault("image/png", png)
    if "text/plain" not in data:
        data["text/plain"] = repr(obj)
    if include:
        data = {mime: value for mime, value in data.items() if mime in include}
    if exclude:
        data = {mime: value for mime, value in data.items() if mime not in exclude}
    return data, metadata


def display(*objs, include=None, exclude=None, metadata=None, transient=None,
            display_id=None, raw=False, clear=False, update=False, **kwargs):
    """IPython's display(): send each object as display_data (or update_display_data).

    Returns a DisplayHandle when display_id is given (True makes a new id)."""
    if clear:
        clear_output(wait=True)
    if display_id is True:
        display_id = uuid.uuid4().hex
    if update and not display_id:
        raise TypeError("display_id required for update_display")
    transient = dict(transient or {})
    if display_id:
        transient["display_id"] = display_id
    msg_type = "update_display_data" if update else "display_data"
    for obj in objs:
        if raw:
            data, md = dict(obj), {}
        elif _method(obj, "_ipython_display_"):
            obj._ipython_display_()
            continue
        else:
            data, md = _format(obj, include, exclude)
        if metadata:
            md = {**md, **metadata}
        _send(msg_type, {"data": data, "metadata": md, "transient": transient})
    return DisplayHandle(display_id) if display_id else None


def update_display(obj, *, display_id, **kwargs):
    display(obj, display_id=display_id, update=True, **kwargs)


def clear_output(wait=False):
    _send("clear_output", {"wait": bool(wait)})


def publish_display_data(data, metadata=None, source=None, *, transient=None, **kwargs):
    _send("display_data", {"data": data, "metadata": metadata or {}, "transient": transient or {}})


def get_ipython():
    """There is no IPython shell in sandcell."""
    return None


class DisplayHandle:
    """A display that can be shown again or updated in place."""

    def __init__(self, display_id=None):
        self.display_id = display_id or uuid.uuid4().hex

    def __repr__(self):
        return f"<{type(self).__name__} display_id={self.display_id}>"

    def display(self, obj, **kwargs):
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        display(obj, display_id=self.display_id, update=True, **kwargs)


def _display_mime(mime):
    """IPython's display_html, display_png, ...: display one mime type only."""
    def display_mime(*objs, raw=False, metadata=None):
        if raw:
            objs = [{mime: _encode(mime, obj)} for obj in objs]
        display(*objs, raw=raw, include=[mime], metadata={mime: metadata} if metadata else None)
    display_mime.__name__ = "display_" + mime.split("/")[1].split("+")[0]
    return display_mime


def _is_file(text):
    try:
        return len(text) < 4096 and "\n" not in text and os.path.isfile(text)
    except (OSError, ValueError):
        return False


class DisplayObject:
    """Base of the IPython.display objects: data given directly or read from a file."""

    _binary = False

    def __init__(self, data=None, url=None, filename=None, metadata=None):
        if isinstance(data, (str, os.PathLike)) and url is None and filename is None:
            text = os.fspath(data)
            if text.startswith(("http://", "https://")):
                url, data = text, None
            elif _is_file(text):
                filename, data = text, None
        if filename is not None:
            mode = "rb" if self._binary else "r"
            with open(filename, mode, encoding=None if self._binary else "utf-8") as file:
                data = file.read()
        self.data, self.url, self.filename = data, url, filename
        self.metadata = dict(metadata or {})

    def __repr__(self):
        return f"<{type(self).__module__}.{type(self).__name__} object>"

    def _with_metadata(self, value):
        return (value, self.metadata) if self.metadata else value


class HTML(DisplayObject):
    def _repr_html_(self):
        return self._with_metadata(self.data)


class Markdown(DisplayObject):
    def _repr_markdown_(self):
        return self._with_metadata(self.data)


class Latex(DisplayObject):
    def _repr_latex_(self):
        return self._with_metadata(self.data)


class Math(DisplayObject):
    def _repr_latex_(self):
        return self._with_metadata(r"$\displaystyle %s$" % (self.data or "").strip("$"))


class SVG(DisplayObject):
    def _repr_svg_(self):
        return self._with_metadata(_encode("text/plain", self.data))


class Javascript(DisplayObject):
    def _repr_javascript_(self):
        return self._with_metadata(self.data)


class JSON(DisplayObject):
    def __init__(self, data=None, url=None, filename=None, expanded=False, metadata=None,
                 root="root"):
        super().__init__(data, url, filename, metadata)
        if isinstance(self.data, str):
            self.data = json.loads(self.data)
        self.metadata.update(expanded=expanded, root=root)

    def _repr_json_(self):
        return self.data, self.metadata


class Pretty(DisplayObject):
    def __repr__(self):
        return str(self.data)


class Code(DisplayObject):
    def __init__(self, data=None, url=None, filename=None, language=None):
        super().__init__(data, url, filename)
        self.language = language

    def __repr__(self):
        return self.data or ""

    def _repr_html_(self):
        return f"<pre>{html.escape(self.data or '')}</pre>"


class Image(DisplayObject):
    """An image embedded as base64 (from bytes or a file) or linked by URL."""

    _binary = True
    _MIMES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg",
              "gif": "image/gif", "webp": "image/webp"}
    _MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpeg"), (b"GIF8", "gif"), (b"RIFF", "webp"))

    def __init__(self, data=None, url=None, filename=None, format=None, embed=None,
                 width=None, height=None, unconfined=False, metadata=None, alt=None):
        super().__init__(data, url, filename, metadata)
        self.format = (format or self._guess_format()).lower()
        if self.format not in self._MIMES:
            raise ValueError(f"Cannot embed the {self.format!r} image format")
        self.embed = self.data is not None if embed is None else embed
        self.width, self.height, self.alt, self.unconfined = width, height, alt, unconfined

    def _guess_format(self):
        name = (self.filename or self.url or "").lower().split("?")[0]
        extension = os.path.splitext(name)[1].lstrip(".")
        if extension in self._MIMES:
            return extension
        data = self.data if isinstance(self.data, bytes) else b""
        return next((fmt for magic, fmt in self._MAGIC if data.startswith(magic)), "png")

    def _repr_mimebundle_(self, include=None, exclude=None):
        md = {key: value for key, value in
              (("width", self.width), ("height", self.height), ("alt", self.alt)) if value}
        if self.unconfined:
            md["unconfined"] = True
        md.update(self.metadata)
        if self.embed and self.data is not None:
            mime = self._MIMES[self.format]
            data = self.data if isinstance(self.data, str) else _encode(mime, self.data)
            return {mime: data}, ({mime: md} if md else {})
        attributes = "".join(f' {key}="{html.escape(str(value))}"'
                             for key, value in md.items() if key in ("width", "height", "alt"))
        return {"text/html": f'<img src="{html.escape(self.url or "")}"{attributes}/>'}, {}


class FileLink:
    def __init__(self, path, url_prefix="", result_html_prefix="", result_html_suffix="<br>"):
        self.path, self.url_prefix = os.fspath(path), url_prefix
        self.html_prefix, self.html_suffix = result_html_prefix, result_html_suffix

    def __repr__(self):
        return os.path.abspath(self.path)

    def _repr_html_(self):
        path = html.escape(self.path)
        return (f"{self.html_prefix}<a href='{html.escape(self.url_prefix)}{path}' "
                f"target='_blank'>{path}</a>{self.html_suffix}")


class IFrame:
    def __init__(self, src, width, height, extras=None, **kwargs):
        self.src, self.width, self.height = src, width, height
        self.extras, self.params = list(extras or []), kwargs

    def __repr__(self):
        return f"<{type(self).__module__}.{type(self).__name__} object>"

    def _repr_html_(self):
        query = "?" + urllib.parse.urlencode(self.params) if self.params else ""
        return (f'<iframe width="{self.width}" height="{self.height}" '
                f'src="{html.escape(self.src + query)}" frameborder="0" allowfullscreen '
                f'{" ".join(self.extras)}></iframe>')


_DISPLAY_CLASSES = (DisplayObject, HTML, Markdown, Latex, Math, SVG, Javascript, JSON,
                    Pretty, Code, Image, FileLink, IFrame)
_MIME_FUNCTIONS = [_display_mime(mime) for mime in (
    "text/html", "text/markdown", "text/latex", "text/plain", "image/svg+xml", "image/png",
    "image/jpeg", "application/json", "application/javascript", "application/pdf")]
for _cls in _DISPLAY_CLASSES:
    _cls.__module__ = "IPython.core.display"
DisplayHandle.__module__ = "IPython.core.display_functions"


def _install_ipython_shim():
    """Register the IPython modules that code written for Jupyter imports."""
    functions = {"display": display, "clear_output": clear_output, "update_display": update_display,
                 "publish_display_data": publish_display_data, "DisplayHandle": DisplayHandle}
    api = dict(functions, **{cls.__name__: cls for cls in _DISPLAY_CLASSES},
               **{function.__name__: function for function in _MIME_FUNCTIONS})
    api["display_pretty"] = api.pop("display_plain")
    contents = {"IPython": {"get_ipython": get_ipython, "__version__": "8.0.0-sandcell",
                            "version_info": (8, 0, 0, "sandcell")},
                "IPython.core": {}, "IPython.display": api, "IPython.core.display": api,
                "IPython.core.display_functions": functions,
                "IPython.core.getipython": {"get_ipython": get_ipython}}
    for name, attributes in contents.items():
        module = types.ModuleType(name, "sandcell's stand-in for IPython's display API")
        vars(module).update(attributes)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


# ---------------------------------------------------------------- matplotlib

def _show_figures(*args, **kwargs):
    """Backend show() and end of cell: send every open figure as display_data, close them."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    managers = sys.modules["matplotlib._pylab_helpers"].Gcf.get_all_fig_managers()
    try:
        for manager in managers:
            display(manager.canvas.figure)
    finally:
        if managers:
            pyplot.close("all")


class _BackendFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Builds the `sandcell_inline` matplotlib backend when matplotlib imports it."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "sandcell_inline" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from matplotlib.backend_bases import FigureManagerBase
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        class FigureManager(FigureManagerBase):
            def show(self):
                display(self.canvas.figure)

        class FigureCanvas(FigureCanvasAgg):
            manager_class = FigureManager

        module.FigureCanvas, module.FigureManager = FigureCanvas, FigureManager
        module.show = _show_figures


def _use_inline_backend():
    if not any(isinstance(finder, _BackendFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _BackendFinder())
    os.environ["MPLBACKEND"] = BACKEND
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use(BACKEND)


# ---------------------------------------------------------------- errors

class UnsupportedMagic(Exception):
    """A %magic or !shell line: neither can run inside the sandbox."""


UnsupportedMagic.__module__ = "sandcell"


def _own_frame(tb):
    return tb.tb_frame.f_globals.get("__name__") == __name__


def _user_tb(tb):
    """`tb` without this module's frames and without the frames above the first cell frame."""
    entries = []
    while tb is not None:
        if not _own_frame(tb):
            entries.append(tb)
        tb = tb.tb_next
    cells = [i for i, entry in enumerate(entries)
             if entry.tb_frame.f_code.co_filename.startswith("<cell ")]
    if cells:
        entries = entries[cells[0]:]
    result = None
    for entry in reversed(entries):
        result = types.TracebackType(result, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return result


def _traceback_lines(exc):
    """Python's traceback text, one line per entry: joined with newlines, as
    Jupyter frontends do, it reads exactly as Python prints it."""
    return "".join(traceback.format_exception(exc)).rstrip("\n").split("\n")


def _error_content(exc):
    """ename, evalue and traceback of a user error, showing only the user's frames."""
    pending, seen = [exc], set()
    while pending:
        chained = pending.pop()
        if chained is not None and id(chained) not in seen:
            seen.add(id(chained))
            chained.__traceback__ = _user_tb(chained.__traceback__)
            pending += [chained.__cause__, chained.__context__]
    if isinstance(exc, SyntaxError) and exc.text is None and exc.filename and exc.lineno:
        exc.text = linecache.getline(exc.filename, exc.lineno) or None
    try:
        evalue = str(exc)
    except Exception:
        evalue = f"<unprintable {type(exc).__name__} object>"
    return {"ename": type(exc).__name__, "evalue": evalue, "traceback": _traceback_lines(exc)}


# ---------------------------------------------------------------- cells

_MAGIC_LINE = re.compile(r"([ \t]*)([%!]\S*)")
_PACKAGE_TOOLS = ("pip", "conda", "mamba", "apt", "apt-get")


def _namespace():
    return vars(sys.modules["__main__"])


def _lines(code):
    """Lines split at "\n" only, as the compiler and linecache count them."""
    return io.StringIO(code).readlines()


def _magic_lines(lines):
    return {i: match for i, line in enumerate(lines) if (match := _MAGIC_LINE.match(line))}


def _without(lines, magics):
    """Source of `lines` with each magic line replaced by `pass` at its indentation."""
    return "".join(magics[i].group(1) + "pass\n" if i in magics else line
                   for i, line in enumerate(lines))


def _parse(source, filename):
    return compile(source, filename, "exec", ast.PyCF_ONLY_AST | _FLAGS, dont_inherit=True)


def _parse_cell(code, filename):
    """AST of a cell; raises SyntaxError, or UnsupportedMagic for any magic but %matplotlib."""
    try:
        return _parse(code, filename)
    except SyntaxError as exc:
        error = exc
    lines = _lines(code)
    magics = _magic_lines(lines)
    if not magics:
        raise error
    # A candidate line that is not a statement once replaced was inside a string.
    statements = {node.lineno - 1 for node in ast.walk(_parse(_without(lines, magics), filename))
                  if isinstance(node, ast.Pass)}
    magics = {i: match for i, match in magics.items() if i in statements}
    tree = _parse(_without(lines, magics), filename)
    for i, match in sorted(magics.items()):
        word = match.group(2)
        if word != "%matplotlib":
            hint = (" Packages cannot be installed here; use the ones already available."
                    if word.lstrip("%!") in _PACKAGE_TOOLS else "")
            raise UnsupportedMagic(
                f"line {i + 1}: {word}: shell commands and IPython magics are not available "
                f"in sandcell (only %matplotlib is accepted, as a no-op).{hint}")
    return tree


def _tokens(text):
    """Tokens of `text`, stopping quietly where it stops being valid Python."""
    try:
        yield from tokenize.generate_tokens(io.StringIO(text).readline)
    except (tokenize.TokenError, SyntaxError):
        return


def _ends_with_semicolon(code):
    if ";" not in code:  # the common case, without tokenizing
        return False
    skip = (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENDMARKER)
    last = None
    for token in _tokens(code):
        if token.type not in skip:
            last = token
    return last is not None and last.string == ";"


def _event_loop():
    if _session.loop is None or _session.loop.is_closed():
        _session.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_session.loop)
    return _session.loop


def _run(code, namespace):
    """Evaluate a code object; top-level await makes it a coroutine, run on our loop."""
    result = eval(code, namespace)
    if code.co_flags & inspect.CO_COROUTINE:
        result = _event_loop().run_until_complete(result)
    return result


def _cell_filename(count):
    filename, n = f"<cell {count}>", 1
    while filename in linecache.cache:
        n += 1
        filename = f"<cell {count}.{n}>"
    return filename


def _show_result(value, count, store_history, namespace):
    """execute_result for the value of a cell's last expression, and `_`, `__`, `___`, `_N`."""
    if type(value) not in _PLAIN_TYPES and _method(value, "_ipython_display_"):
        value._ipython_display_()
    else:
        data, metadata = _format(value)
        _send("execute_result", {"execution_count": count, "data": data, "metadata": metadata})
    namespace["___"], namespace["__"] = namespace.get("__", ""), namespace.get("_", "")
    namespace["_"] = value
    if store_history:
        namespace[f"_{count}"] = value


class _ExitAutocall:
    """`exit` and `quit` as IPython has them in a kernel: `exit`, `exit()` and
    `quit()` ask the frontend to end the session (an ask_exit payload in the
    execute_reply; jupyter_console then exits and shuts the kernel down)
    instead of raising SystemExit; `exit(keep_kernel=True)` asks it to leave
    the kernel running.  The rest of the cell still runs, as in IPython."""

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return f"Use {self._name}() or Ctrl-D (i.e. EOF) to exit"

    def __call__(self, keep_kernel=False):
        payload = {"source": "ask_exit", "keepkernel": bool(keep_kernel)}
        _session.payload[:] = [p for p in _session.payload if p.get("source") != "ask_exit"]
        _session.payload.append(payload)


def _run_cell(code, count, silent, store_history):
    filename = _cell_filename(count)
    linecache.cache[filename] = (len(code), None, _lines(code), filename)
    tree = _parse_cell(code, filename)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    namespace = _namespace()
    if tree.body:  # a cell that is one expression has nothing else to run
        _run(compile(tree, filename, "exec", _FLAGS, dont_inherit=True), namespace)
    if last is None:
        return
    expression = ast.Expression(last.value)
    value = _run(compile(expression, filename, "eval", _FLAGS, dont_inherit=True), namespace)
    if isinstance(value, _ExitAutocall) and isinstance(last.value, ast.Name):
        value()     # a bare `exit` calls it, as IPython's autocall does
        return
    if value is not None and not silent and not _ends_with_semicolon(code):
        _show_result(value, count, store_history, namespace)


def _user_expression(expression):
    try:
        code = compile(str(expression), "<user_expression>", "eval", dont_inherit=True)
        data, metadata = _format(eval(code, _namespace()))
        return {"status": "ok", "data": data, "metadata": metadata}
    except BaseException as exc:
        return {"status": "error", **_error_content(exc)}


def _execute(request):
    count = int(request.get("execution_count") or 0)
    silent = bool(request.get("silent", False))
    _session.allow_stdin = bool(request.get("allow_stdin", False))
    _session.payload = []
    error = None
    try:
        _run_cell(str(request.get("code", "")), count, silent,
                  bool(request.get("store_history", not silent)))
    except BaseException as exc:    # KeyboardInterrupt and SystemExit too
        error = _error_content(exc)
    # Figures go out before the error, so a failing cell still shows its plot.
    try:
        _show_figures()
    except BaseException as exc:
        error = error or _error_content(exc)
    payload, _session.payload = _session.payload, []
    if error is not None:
        _send("error", error)
        return {"status": "error", "execution_count": count, **error,
                **({"payload": payload} if payload else {})}
    return {"status": "ok", "execution_count": count, "payload": payload,
            "user_expressions": _user_expressions(request.get("user_expressions") or {})}


def _user_expressions(expressions):
    """Each expression's result.  Once one is interrupted (the manager's time
    limit, which it reports as TimeoutError), the rest are not run: they get
    the same error."""
    results, stopped = {}, None
    for name, expression in expressions.items():
        if stopped is None:
            results[name] = _user_expression(expression)
            if results[name].get("ename") == "KeyboardInterrupt":
                stopped = results[name]
        else:
            results[name] = dict(stopped)
    return results


# ---------------------------------------------------------------- complete, inspect

_FROM_IMPORT = re.compile(r"\s*from\s+([\w.]+)\s+import\s+(?:.*,\s*)?(\w*)$")
_IMPORT = re.compile(r"\s*(?:import|from)\s+(?:.*,\s*)?([\w.]*)$")


def _resolve(dotted):
    """The object `a.b.c` names in the user's namespace or builtins, by lookup and getattr only."""
    head, *rest = dotted.split(".")
    namespace = _namespace()
    if head in namespace:
        obj = namespace[head]
    elif head and hasattr(builtins, head):
        obj = getattr(builtins, head)
    else:
        return _MISSING
    for part in rest:
        try:
            obj = getattr(obj, part)
        except Exception:
            return _MISSING
    return obj


def _submodules(package):
    """Names of the modules that can follow `import package.`, or top-level ones."""
    if not package:
        names = {name.split(".")[0] for name in sys.modules}
        return names | set(sys.builtin_module_names) | {m.name for m in pkgutil.iter_modules()}
    prefix = package + "."
    names = {name[len(prefix):].split(".")[0] for name in sys.modules if name.startswith(prefix)}
    path = getattr(sys.modules.get(package), "__path__", None)
    if path:
        names |= {m.name for m in pkgutil.iter_modules(path)}
    return names


def _module_members(name):
    try:
        module = sys.modules.get(name) or importlib.import_module(name)
    except Exception:
        return _submodules(name)
    return set(dir(module)) | _submodules(name)


def _attributes(expression):
    obj = _resolve(expression)
    if obj is _MISSING:
        return set()
    try:
        return set(dir(obj))
    except Exception:
        return set()


def _complete(request):
    code = str(request.get("code", ""))
    cursor = request.get("cursor_pos")
    cursor = len(code) if cursor is None else max(0, min(int(cursor), len(code)))
    line = code[:cursor].rsplit("\n", 1)[-1]
    if match := _FROM_IMPORT.match(line):
        prefix, names = match.group(2), _module_members(match.group(1))
    elif match := _IMPORT.match(line):
        package, _, prefix = match.group(1).rpartition(".")
        names = _submodules(package)
    else:
        expression, dot, prefix = re.search(r"[\w.]*$", line).group().rpartition(".")
        if dot:
            names = _attributes(expression)
        else:
            names = set(_namespace()) | set(dir(builtins)) | set(keyword.kwlist)
    matches = sorted(name for name in names if isinstance(name, str) and name.startswith(prefix)
                     and (prefix.startswith("_") or not name.startswith("_")))
    return {"status": "ok", "matches": matches, "cursor_start": cursor - len(prefix),
            "cursor_end": cursor, "metadata": {}}


def _dotted_before(text):
    """The dotted name that ends `text`, or None when it is not a plain name."""
    name = re.search(r"[\w.]*$", text).group()
    if not name or name[0] == "." or name[0].isdigit() or keyword.iskeyword(name):
        return None
    return name


def _name_at(code, cursor):
    """Name to inspect: the innermost call around the cursor (IPython's rule), else the name under it."""
    before = code[:cursor]
    starts = [0]
    for line in before.splitlines(True):
        starts.append(starts[-1] + len(line))
    calls = []
    for token in _tokens(before):
        if token.type != tokenize.OP:
            continue
        if token.string in ("(", "[", "{"):
            offset = starts[token.start[0] - 1] + token.start[1]
            calls.append(_dotted_before(before[:offset]) if token.string == "(" else None)
        elif token.string in (")", "]", "}") and calls:
            calls.pop()
    callee = next((name for name in reversed(calls) if name), None)
    word = _dotted_before(before + re.match(r"\w*", code[cursor:]).group())
    return callee or (word and word.rstrip("."))


def _describe(name, obj, detail_level):
    """IPython-like `obj?` text (`obj??` with source when detail_level is 1)."""
    lines = []
    if callable(obj):
        try:
            lines.append(f"Signature: {name}{inspect.signature(obj)}")
        except (TypeError, ValueError):
            pass
    elif not isinstance(obj, types.ModuleType):
        try:
            text = repr(obj)
        except Exception as exc:
            text = f"<repr failed: {type(exc).__name__}: {exc}>"
        lines.append("String form: " + (text if len(text) <= 500 else text[:500] + " ..."))
    source = None
    if detail_level:
        try:
            source = inspect.getsource(obj)
        except (TypeError, OSError):
            pass
    if source:
        lines.append("Source:\n" + source.rstrip("\n"))
    else:
        lines.append("Docstring:\n" + (inspect.getdoc(obj) or "<no docstring>"))
    try:
        lines.append(f"File:      {inspect.getsourcefile(obj) or inspect.getfile(obj)}")
    except TypeError:
        pass
    lines.append(f"Type:      {type(obj).__name__}")
    return "\n".join(lines)


def _inspect(request):
    code = str(request.get("code", ""))
    cursor = request.get("cursor_pos")
    cursor = len(code) if cursor is None else max(0, min(int(cursor), len(code)))
    name = _name_at(code, cursor)
    obj = _resolve(name) if name else _MISSING
    if obj is _MISSING:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    text = _describe(name, obj, int(request.get("detail_level") or 0))
    return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}


def _is_complete(request):
    """codeop's answer, plus IPython's rule that an indented block waits for a blank line."""
    code = str(request.get("code", ""))
    lines = _lines(code)
    compiler = codeop.CommandCompiler()
    compiler.compiler.flags |= _FLAGS
    try:
        compiled = compiler(_without(lines, _magic_lines(lines)), "<input>", "exec")
    except (SyntaxError, OverflowError, ValueError):
        return {"status": "invalid"}
    last = lines[-1] if lines else ""
    indent = re.match(r"[ \t]*", last).group()
    if compiled is None:
        return {"status": "incomplete",
                "indent": indent + ("    " if last.rstrip().endswith(":") else "")}
    if _open_block(code) and not code.endswith("\n"):
        return {"status": "incomplete", "indent": indent}
    return {"status": "complete"}


def _open_block(code):
    """True if the last statement sits inside an indented block (a loop
    body, say), which IPython completes only after a blank line; a line
    merely continued inside brackets does not count."""
    depth = depth_at_newline = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.INDENT:
                depth += 1
            elif tok.type == tokenize.DEDENT:
                depth -= 1
            elif tok.type == tokenize.NEWLINE:
                depth_at_newline = depth
    except (tokenize.TokenError, SyntaxError):
        return False
    return depth_at_newline > 0


# ---------------------------------------------------------------- entry points

def _kernel_info():
    """What the ready record says of this interpreter.  The kernel_info_reply
    itself is the manager's (session/kernel_info.c), the same whether or not
    an interpreter is up; this is only what the manager cannot know."""
    return {"implementation": "sandcell", "implementation_version": __version__,
            "python": platform.python_version()}


def preload(modules):
    """Zygote, before fork: import `modules` once for every interpreter.

    The matplotlib backend is set up first, so a module that imports pyplot
    gets ours.  Returns [(name, error text)] for the modules that failed."""
    _use_inline_backend()
    failures = []
    for name in modules:
        try:
            importlib.import_module(name)
            _preloaded.append(name)
        except Exception as exc:
            failures.append((name, f"{type(exc).__name__}: {exc}"))
    _use_inline_backend()
    _warm_up()
    return failures


def _warm_up():
    """Zygote, after the imports: what the first cells of nearly every
    interpreter would do once -- make a small DataFrame and show it -- done
    here instead, so that the modules, caches and interned objects pandas
    and numpy create lazily on first use are shared copy-on-write by every
    interpreter rather than built again in each one.  Best effort."""
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return
    try:
        frame = pandas.DataFrame({"x": range(8), "y": [i * 0.5 for i in range(8)],
                                  "s": [f"r{i}" for i in range(8)]})
        _format(frame.head())
        _format(frame["y"])
        _format(frame.describe())
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            _format(numpy.arange(8.0).reshape(2, 4))
    except Exception:
        pass
_preloaded = []


def preload_versions():
    """The preloaded modules and their __version__ (None if they have none),
    for the conversation's journal."""
    versions = {}
    for name in _preloaded:
        version = getattr(sys.modules.get(name), "__version__", None)
        versions[name] = version if isinstance(version, str) else None
    return versions


def usage():
    """CPU seconds used so far by the interpreter and the children it
    waited for, and the peak resident memory of either, in bytes."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "peak_memory_bytes": max(me.ru_maxrss, kids.ru_maxrss) * 1024}


def child_init():
    """Forked interpreter, once: fresh random state and our streams (the rest
    of an interpreter's state, prepare_interpreter(), normally comes from the
    zygote).  Returns the kernel_info_reply fields."""
    _reseed()
    if not _session.prepared:
        prepare_interpreter()
    sys.stdout, sys.stderr = _session.streams["stdout"], _session.streams["stderr"]
    return _session.kernel_info


def set_environment(entries):
    """Make os.environ (and the C environment) exactly `entries`, a list of
    "NAME=value" texts (entries without "=" are ignored), changing only the
    variables that differ."""
    wanted = {}
    for entry in entries:
        name, eq, value = entry.partition("=")
        if eq:
            wanted[name] = value
    for name in [name for name in os.environ if name not in wanted]:
        del os.environ[name]
    for name, value in wanted.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def _reseed():
    random.seed(os.urandom(32))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed([int.from_bytes(os.urandom(4), "little") for _ in range(8)])


# What the standard library registers with os.register_at_fork() to run in
# a child (random's reseeding runs in _reseed()).  In the zygote, while it
# has a single thread, they change nothing: they reset the locks and thread
# table of a process whose only thread is the one running them.
_AFTER_FORK_HOOKS = (("threading", "_after_fork"),
                     ("logging", "_after_at_fork_child_reinit_locks"))


def warm_up_ready():
    """Zygote, in each warm-up round: what an interpreter runs before its
    first request (the after-fork hooks, reseeding, the environment, the
    ready record the worker encodes), so that this code is quickened and
    relocated too.  Reseeding the zygote does not matter: every interpreter
    reseeds itself."""
    _reseed()
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() == 1:
        for module, name in _AFTER_FORK_HOOKS:
            hook = getattr(sys.modules.get(module), name, None)
            if hook is not None:
                hook()
    entries = [f"{name}={value}" for name, value in os.environ.items()]
    set_environment(entries + ["SANDCELL_WARM_UP=1"])    # one set,
    set_environment(entries)                              # one removed
    return json.dumps({"type": "ready", "content": _session.kernel_info,
                       "preload": preload_versions(), "usage": usage()})


def prepare_interpreter():
    """What every interpreter starts with and is the same in all: a fresh
    __main__, our streams (not yet installed as sys.stdout and sys.stderr),
    input(), display and the IPython shim, the inline backend and the
    kernel_info_reply fields.  The zygote does it once, before it forks, so
    that none of it is written again (and so copied) in every interpreter;
    child_init() does it if the zygote did not."""
    _fresh_main()
    _session.streams = {"stdout": _Stream("stdout"), "stderr": _Stream("stderr")}
    builtins.display = display
    builtins.exit, builtins.quit = _ExitAutocall("exit"), _ExitAutocall("quit")
    builtins.input = _input
    getpass.getpass = _getpass
    _install_ipython_shim()
    _use_inline_backend()
    _session.kernel_info = _kernel_info()
    _session.prepared = True


def _fresh_main():
    main = sys.modules.setdefault("__main__", types.ModuleType("__main__"))
    namespace = vars(main)
    namespace.clear()
    namespace.update(__name__="__main__", __doc__=None, __package__=None, __loader__=None,
                     __spec__=None, __builtins__=builtins)


# Zygote: the cells run through handle() (the worker's request path, C
# included) before it forks, WARM_UP_ROUNDS times each.  CPython 3.11
# quickens a code object after a few calls and specialises its instructions
# in place, and pandas, numpy and the runtime fill caches on first use: done
# here, those writes are made once and shared, instead of copying the pages
# of the code objects and caches into every interpreter.  They cover what
# nearly every conversation does: an expression, print, a small DataFrame
# made and shown, an error.
WARM_UP_ROUNDS = 20
_WARM_UP_CELLS = (
    "1 + 1",
    "print('warm-up')",
    "import pandas as pd\n"
    "df = pd.DataFrame({'x': range(100), 'y': [i * 0.5 for i in range(100)],\n"
    "                   's': [f'r{i}' for i in range(100)]})\n"
    "df.head()",
    "df.describe()",
    "df['y'].sum()",
    "1 / 0",
)


def warm_up_requests():
    """Zygote: the execute requests (JSON texts) of one warm-up round, or []
    if pandas was not preloaded.  Their output goes nowhere (the worker
    discards what is sent before there is a channel); settle() undoes what
    they leave."""
    if "pandas" not in sys.modules:
        return []
    if _session.saved_streams is None:
        _session.saved_streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _session.streams["stdout"], _session.streams["stderr"]
    requests = []
    for code in _WARM_UP_CELLS:
        _session.warm_up_count += 1
        requests.append(json.dumps({
            "op": "execute", "code": code, "silent": False, "store_history": True,
            "user_expressions": {}, "allow_stdin": False,
            "execution_count": _session.warm_up_count}))
    return requests


def trace_code():
    """Zygote, around the first warm-up round: note every code object that
    runs (sys.setprofile sees each Python call); relocate_code() ends it."""
    _session.ran = {}

    def profile(frame, event, arg):
        if event == "call":
            _session.ran[id(frame.f_code)] = frame.f_code
    sys.setprofile(profile)


def relocate_code():
    """Zygote, after the first warm-up round: give every function whose code
    ran a copy of that code (code.replace(), equal to it), made now, one
    after another.  An interpreter writes to the code objects it runs
    (reference counts, and 3.11's counters in the specialised bytecode):
    copied here they sit together on a few pages instead of being spread
    over the pages of every preloaded module, so a cell copies those few.
    (The worker takes the free blocks of both allocators just before, so
    the copies do land together.)  The warm-up rounds that follow quicken
    the copies.  Returns how many functions got a copy."""
    sys.setprofile(None)
    ran, _session.ran = _session.ran, None
    if not ran:
        return 0
    copies = {}

    def copy(code):
        if id(code) not in copies:
            consts = tuple(copy(const) if isinstance(const, types.CodeType) and id(const) in ran
                           else const for const in code.co_consts)
            copies[id(code)] = code.replace(co_consts=consts)
        return copies[id(code)]

    functions = {}
    for obj in gc.get_objects():
        if type(obj) is types.FunctionType and id(obj.__code__) in ran:
            functions.setdefault(id(obj.__code__), []).append(obj)
    # In the order they first ran: what every cell runs comes first, what
    # only some run (describe(), a traceback) after it, on other pages.
    for key in ran:
        for function in functions.get(key, ()):
            function.__code__ = copy(function.__code__)
    return sum(len(group) for group in functions.values())


def settle():
    """Zygote, after the warm-up, before gc.freeze() and the first fork: undo
    what the warm-up left (its variables, its cells in linecache, sys.stdout)
    and collect.  (The worker then takes the free blocks of pymalloc and
    malloc, so that an interpreter's objects land on pages of its own.)"""
    sys.setprofile(None)    # in case a warm-up round failed before relocate_code()
    if _session.saved_streams is not None:
        sys.stdout, sys.stderr = _session.saved_streams
        _session.saved_streams = None
    for stream in _session.streams.values():
        stream._parts, stream._size, stream._last_send = [], 0, -math.inf
    for filename in [name for name in linecache.cache if name.startswith("<cell ")]:
        del linecache.cache[filename]
    _session.allow_stdin = False
    _fresh_main()
    gc.collect()


_HANDLERS = {"execute": _execute, "complete": _complete, "inspect": _inspect,
             "is_complete": _is_complete}


def handle(text):
    """Answer one manager request (JSON text) with a reply JSON text.  Never raises."""
    request = None
    try:
        request = json.loads(text)
        handler = _HANDLERS.get(request.get("op"))
        if handler is None:
            content = {"status": "error", "ename": "UnknownOp",
                       "evalue": f"unknown op: {request.get('op')!r}", "traceback": []}
        else:
            content = handler(request)
        _flush_streams(final=True)
    except BaseException as exc:    # a bug here, or an interrupt between cells
        content = {"status": "error", "ename": type(exc).__name__, "evalue": str(exc),
                   "traceback": _traceback_lines(exc)}
        if isinstance(request, dict) and request.get("op") == "execute":
            content["execution_count"] = request.get("execution_count", 0)
    # The request's number, so that the manager can tell this reply from a
    # stale one (a cell that a forged reply ended early answers later).
    seq = request.get("seq") if isinstance(request, dict) else None
    seq = seq if isinstance(seq, int) else None
    try:
        return _dumps({"type": "reply", "content": content, "usage": usage(), "seq": seq})
    except BaseException as exc:
        return json.dumps({"type": "reply", "seq": seq, "content": {
            "status": "error", "ename": type(exc).__name__,
            "evalue": "the reply could not be encoded", "traceback": []}})
