"""sandcell_runtime._complete: complete_request, inspect_request and
is_complete_request, answered from the live namespace.
"""

import builtins
import codeop
import importlib
import inspect
import io
import keyword
import pkgutil
import re
import sys
import tokenize
import types

from sandcell_runtime._cells import _FLAGS, _lines, _magic_lines, _namespace, _tokens, _without

_MISSING = object()


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
