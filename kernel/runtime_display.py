"""sandcell_runtime._display: rich output.

MIME bundles from an object's _repr_*_ methods, display() and its handles,
the display objects of IPython.display, the IPython shim that makes them
importable, and the inline matplotlib backend.
"""

import base64
import html
import importlib
import importlib.abc
import importlib.util
import io
import json
import os
import sys
import types
import urllib.parse
import uuid

from sandcell_runtime._channel import _send

BACKEND = "module://sandcell_inline"


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
