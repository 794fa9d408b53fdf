"""sandcell_runtime: the pure-Python half of a sandcell interpreter.

The C worker embeds five files and runs them in this order, each as a module
whose ``__name__`` is ``sandcell_runtime``; each imports only those before it:
  runtime_channel.py   ``sandcell_runtime._channel``: records, streams, input
  runtime_display.py   ``sandcell_runtime._display``: rich display, the
                       IPython shim, inline matplotlib
  runtime_cells.py     ``sandcell_runtime._cells``: running a cell, errors,
                       magics
  runtime_complete.py  ``sandcell_runtime._complete``: completion, inspection
  runtime.py           ``sandcell_runtime`` (this file): the entry points.
The worker calls three entry points: ``preload()`` in the zygote before it forks,
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
  frames from the first ``<cell ...>`` frame on and never the runtime's own
  frames, recognised by ``__name__`` because its modules have no __file__.
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

import builtins
import gc
import getpass
import importlib
import json
import linecache
import math
import os
import platform
import random
import resource
import sys
import types

from sandcell_runtime._channel import _Stream, _dumps, _flush_streams, _getpass, _input, _session
from sandcell_runtime._display import _format, _install_ipython_shim, _use_inline_backend, display
from sandcell_runtime._cells import _ExitAutocall, _execute, _traceback_lines
from sandcell_runtime._complete import _complete, _inspect, _is_complete

__version__ = "0.1.0"


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
