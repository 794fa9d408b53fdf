"""sandcell_runtime._cells: running a cell.

Parsing (magics and shell escapes refused), running in __main__ with
top-level await, the displayed result, user expressions, and errors shown
with the user's frames only.
"""

import ast
import asyncio
import inspect
import io
import linecache
import re
import sys
import tokenize
import traceback
import types

from sandcell_runtime._channel import _send, _session
from sandcell_runtime._display import _PLAIN_TYPES, _format, _method, _show_figures

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


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
