"""kernel/runtime*.py on their own: loaded as the C worker loads them, with a fake _sandcell.

The module is loaded and preload() run once in the pytest process (the
"zygote"); every test then runs in a forked child that calls child_init(),
exactly like an interpreter, so the replaced sys.stdout, builtins and
__main__ never leak into pytest.  Run with /usr/bin/python3 -m pytest.
"""

import base64
import json
import os
import random
import sys
import tempfile
import time
import traceback
import types

import pytest

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

KERNEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "kernel")
RUNTIME_PATH = os.path.join(KERNEL, "runtime")
# The runtime's modules in the order the worker runs them (kernel/Makemodule.am).
RUNTIME_MODULES = ("_channel", "_display", "_cells", "_complete", "")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==")


class FakeChannel(types.ModuleType):
    """The `_sandcell` builtin module: records sends, serves queued recv() texts."""

    def __init__(self):
        super().__init__("_sandcell")
        self.sent = []          # (monotonic time, record)
        self.replies = []

    def send(self, text):
        assert isinstance(text, str)
        self.sent.append((time.monotonic(), json.loads(text)))

    def recv(self):
        if not self.replies:
            raise KeyboardInterrupt
        return self.replies.pop(0)


@pytest.fixture(scope="module")
def runtime():
    channel = FakeChannel()
    sys.modules["_sandcell"] = channel
    for suffix in RUNTIME_MODULES:
        module = types.ModuleType("sandcell_runtime")     # no __file__, as in the C worker
        sys.modules["sandcell_runtime" + suffix.replace("_", "._", 1)] = module
        path = os.path.join(KERNEL, "runtime" + suffix + ".py")
        with open(path, encoding="utf-8") as file:
            exec(compile(file.read(), path, "exec"), vars(module))
    failures = module.preload(["pandas", "numpy", "matplotlib", "no_such_module_xyz"])
    assert [name for name, _ in failures] == ["no_such_module_xyz"]
    assert "ModuleNotFoundError" in failures[0][1]
    return module, channel


def run_forked(body):
    """Run `body` in a forked child; re-raise its failure here."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        status, report = 0, b""
        try:
            body()
        except BaseException:
            status, report = 1, traceback.format_exc().encode()
        finally:
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(report)
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        report = pipe.read().decode()
    _, wait_status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(wait_status) != 0:
        pytest.fail(report or f"child exited with status {wait_status}", pytrace=False)


class Kernel:
    """The C worker's loop, driven by hand: handle() requests and collect events."""

    def __init__(self, module, channel):
        self.rt, self.channel, self.count = module, channel, 0
        channel.sent.clear()
        self.info = module.child_init()

    def request(self, op, **fields):
        self.channel.sent.clear()
        reply = json.loads(self.rt.handle(json.dumps(dict(fields, op=op))))
        assert reply["type"] == "reply"
        self.events = [record for _, record in self.channel.sent]
        return reply["content"]

    def execute(self, code, **fields):
        self.count += 1
        request = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "execution_count": self.count}
        request.update(fields)
        return self.request("execute", **request)

    def of_type(self, msg_type):
        return [event["content"] for event in self.events if event["type"] == msg_type]

    def stream(self, name="stdout"):
        return "".join(c["text"] for c in self.of_type("stream") if c["name"] == name)

    def result(self, code):
        reply = self.execute(code)
        assert reply["status"] == "ok", reply
        (result,) = self.of_type("execute_result")
        return result["data"]


def in_child(test):
    """Decorator: run the test in a forked interpreter with a Kernel as argument."""
    def wrapper(runtime):
        run_forked(lambda: test(Kernel(*runtime)))
    wrapper.__name__ = test.__name__
    return wrapper


# ---------------------------------------------------------------- execute

@in_child
def test_kernel_info(k):
    """The ready record names the interpreter; the kernel_info_reply itself
    is the manager's (test_conventions.py)."""
    assert k.info == {"implementation": "sandcell", "implementation_version": k.rt.__version__,
                      "python": sys.version.split()[0]}


@in_child
def test_expression_result(k):
    reply = k.execute("1+1")
    assert reply == {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}
    assert k.of_type("execute_result") == [
        {"execution_count": 1, "data": {"text/plain": "2"}, "metadata": {}}]


@in_child
def test_semicolon_none_and_silent_give_no_result(k):
    for code, fields in (("1+1;", {}), ("None", {}), ("x = 3", {}), ("1+1", {"silent": True})):
        assert k.execute(code, **fields)["status"] == "ok"
        assert k.of_type("execute_result") == [], code


@in_child
def test_state_and_underscore(k):
    k.execute("x = 40")
    assert k.result("x + 2") == {"text/plain": "42"}
    assert k.result("_") == {"text/plain": "42"}
    assert k.result("_2 + 1") == {"text/plain": "43"}
    assert k.result("__") == {"text/plain": "42"}


@in_child
def test_main_namespace(k):
    assert k.result("__name__") == {"text/plain": "'__main__'"}
    assert k.result("import sys; sys.modules['__main__'].__dict__ is globals()")["text/plain"] == "True"


@in_child
def test_streams(k):
    reply = k.execute("import sys\nprint('hello')\nprint('oops', file=sys.stderr)\nprint('x', end='', flush=True)")
    assert reply["status"] == "ok"
    assert k.stream("stdout") == "hello\nx"
    assert k.stream("stderr") == "oops\n"
    names = [c["name"] for c in k.of_type("stream")]
    assert names.index("stdout") < names.index("stderr")
    assert k.result("import sys; (sys.stdout.isatty(), sys.stdout.encoding)")["text/plain"] == "(False, 'utf-8')"
    reply = k.execute("import io, sys\ntry:\n    sys.stdout.fileno()\nexcept io.UnsupportedOperation:\n    print('unsupported')")
    assert k.stream() == "unsupported\n"


@in_child
def test_stream_lines_arrive_while_the_cell_runs(k):
    start = time.monotonic()
    k.execute("import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.2)")
    end = time.monotonic()
    sends = [(t, r["content"]["text"]) for t, r in k.channel.sent if r["type"] == "stream"]
    assert [text for _, text in sends] == ["0\n", "1\n", "2\n"]
    assert sends[0][0] - start < 0.15 and end - sends[1][0] > 0.1


@in_child
def test_stream_fast_output_is_batched(k):
    k.execute("for i in range(2000):\n    print(i)")
    assert k.stream() == "".join(f"{i}\n" for i in range(2000))
    assert len(k.of_type("stream")) < 50


@in_child
def test_name_error_has_only_user_frames(k):
    k.execute("def f():\n    return undefined_name\n")
    reply = k.execute("x = 1\nf()")
    assert reply["status"] == "error" and reply["execution_count"] == 2
    assert reply["ename"] == "NameError"
    assert reply["evalue"] == "name 'undefined_name' is not defined"
    (error,) = k.of_type("error")
    assert error == {key: reply[key] for key in ("ename", "evalue", "traceback")}
    assert k.events[-1]["type"] == "error"
    text = "\n".join(reply["traceback"])
    assert RUNTIME_PATH not in text and "sandcell_runtime" not in text and "asyncio" not in text
    assert text.startswith("Traceback (most recent call last):")
    assert '<cell 2>", line 2' in text and "    f()" in text
    assert '<cell 1>", line 2, in f' in text and "return undefined_name" in text
    assert reply["traceback"][-1] == "NameError: name 'undefined_name' is not defined"


@in_child
def test_chained_error_reads_like_python(k):
    reply = k.execute("try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('wrapped') from e")
    text = "\n".join(reply["traceback"])
    assert "KeyError: 'k'\n\nThe above exception was the direct cause of the following exception:\n\n" \
        "Traceback (most recent call last):\n  File \"<cell 1>\", line 4, in <module>" in text
    assert reply["traceback"][-1] == "ValueError: wrapped"


@in_child
def test_error_in_library_keeps_library_frames(k):
    reply = k.execute("import json\njson.loads('{')")
    assert reply["ename"] == "JSONDecodeError"
    text = "\n".join(reply["traceback"])
    assert "json/decoder.py" in text and RUNTIME_PATH not in text


@in_child
def test_syntax_error(k):
    reply = k.execute("x = 1\ndef f(:\n    pass")
    assert reply["status"] == "error" and reply["ename"] == "SyntaxError"
    text = "\n".join(reply["traceback"])
    assert "Traceback" not in text and RUNTIME_PATH not in text
    assert '<cell 1>", line 2' in text and "def f(:" in text and "^" in text
    assert k.of_type("error")[0]["ename"] == "SyntaxError"
    reply = k.execute("return 5")
    assert reply["ename"] == "SyntaxError" and "return 5" in "\n".join(reply["traceback"])


@in_child
def test_interrupt_and_exit_are_errors_and_the_kernel_lives_on(k):
    reply = k.execute("raise KeyboardInterrupt")
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    reply = k.execute("import sys\nsys.exit(3)")
    assert reply["status"] == "error" and reply["ename"] == "SystemExit" and reply["evalue"] == "3"
    assert k.result("'still here'") == {"text/plain": "'still here'"}


@in_child
def test_output_before_error_is_delivered_in_order(k):
    reply = k.execute("print('before')\n1/0")
    assert reply["ename"] == "ZeroDivisionError"
    assert [e["type"] for e in k.events] == ["stream", "error"]


@in_child
def test_top_level_await(k):
    assert k.result("import asyncio\nawait asyncio.sleep(0)\n7") == {"text/plain": "7"}
    assert k.result("async def g():\n    return 8\nawait g()") == {"text/plain": "8"}
    reply = k.execute("async def h():\n    raise ValueError('bad')\nawait h()")
    assert reply["ename"] == "ValueError"
    assert "asyncio" not in "\n".join(reply["traceback"])


@in_child
def test_user_expressions(k):
    k.execute("a = 20")
    reply = k.execute("b = 1", user_expressions={"sum": "a + b", "bad": "nope"})
    assert reply["user_expressions"]["sum"] == {"status": "ok", "data": {"text/plain": "21"}, "metadata": {}}
    assert reply["user_expressions"]["bad"]["status"] == "error"
    assert reply["user_expressions"]["bad"]["ename"] == "NameError"


@in_child
def test_unknown_op_and_garbage_never_raise(k):
    assert k.request("frobnicate")["ename"] == "UnknownOp"
    reply = json.loads(k.rt.handle("not json"))
    assert reply["type"] == "reply" and reply["content"]["status"] == "error"


@in_child
def test_unencodable_values_still_give_valid_json(k):
    data = k.result("from IPython.display import JSON\nJSON({'x': float('nan')})")
    assert data["application/json"] == {"x": None}
    assert k.result("'\\ud800'")["text/plain"] == "'\\ud800'"


# ---------------------------------------------------------------- magics

@in_child
def test_matplotlib_magic_is_a_noop(k):
    assert k.result("%matplotlib inline\nx = 5\nx") == {"text/plain": "5"}


@in_child
def test_shell_and_other_magics_are_refused(k):
    for code in ("!ls", "%pip install requests", "x = 1\n%time x", "%%time\nx = 1"):
        reply = k.execute(code)
        assert reply["status"] == "error" and reply["ename"] == "UnsupportedMagic", code
        assert "not available in sandcell" in reply["evalue"]
    assert "cannot be installed" in k.execute("%pip install requests")["evalue"]
    assert k.execute("y = 1\n!ls")["status"] == "error"
    assert k.execute("y")["ename"] == "NameError"          # nothing of the cell ran


@in_child
def test_magic_like_lines_in_strings_are_left_alone(k):
    assert k.result('s = """\n!not a shell line\n%neither\n"""\ns')["text/plain"] == \
        repr("\n!not a shell line\n%neither\n")
    assert k.result("(7\n% 4)") == {"text/plain": "3"}


# ---------------------------------------------------------------- rich display

@in_child
def test_dataframe_has_html(k):
    data = k.result("import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': [3, 4]})")
    assert "<table" in data["text/html"] and "</table>" in data["text/html"]
    assert "a" in data["text/plain"] and "b" in data["text/plain"]


@in_child
def test_display_html(k):
    reply = k.execute("from IPython.display import display, HTML\ndisplay(HTML('<b>x</b>'))")
    assert reply["status"] == "ok"
    (shown,) = k.of_type("display_data")
    assert shown["data"]["text/html"] == "<b>x</b>"
    assert shown["data"]["text/plain"] == "<IPython.core.display.HTML object>"
    assert shown["transient"] == {} and shown["metadata"] == {}
    assert k.of_type("execute_result") == []


@in_child
def test_builtin_display_and_repr_methods(k):
    code = ("class Rich:\n"
            "    def _repr_markdown_(self): return '**m**'\n"
            "    def _repr_png_(self): return b'\\x89PNGdata', {'width': 3}\n"
            "    def __repr__(self): return 'Rich()'\n"
            "display(Rich(), 'text')")
    assert k.execute(code)["status"] == "ok"
    rich, text = k.of_type("display_data")
    assert rich["data"]["text/markdown"] == "**m**"
    assert base64.b64decode(rich["data"]["image/png"]) == b"\x89PNGdata"
    assert rich["metadata"] == {"image/png": {"width": 3}}
    assert rich["data"]["text/plain"] == "Rich()"
    assert text["data"] == {"text/plain": "'text'"}


@in_child
def test_mimebundle_include_exclude(k):
    code = ("class B:\n"
            "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
            "        return {'text/html': '<i>b</i>', 'application/x-custom': 'c'}\n"
            "display(B(), exclude=['text/plain'])\ndisplay(B(), include=['text/html'])")
    k.execute(code)
    first, second = k.of_type("display_data")
    assert set(first["data"]) == {"text/html", "application/x-custom"}
    assert second["data"] == {"text/html": "<i>b</i>"}


@in_child
def test_builtin_values_and_their_subclasses(k):
    # Built-in values take a shortcut to their repr; a subclass that adds a
    # formatter method still gets it, and include/exclude apply to both.
    assert k.result("[1, 'a', (2.5, None)]") == {"text/plain": "[1, 'a', (2.5, None)]"}
    assert k.result("{'k': {1, 2}}") == {"text/plain": "{'k': {1, 2}}"}
    assert k.result("True") == {"text/plain": "True"}
    code = ("class Big(int):\n"
            "    def _repr_html_(self): return '<b>big</b>'\n"
            "Big(5)")
    assert k.result(code) == {"text/html": "<b>big</b>", "text/plain": "5"}
    assert k.rt._format(7, include=["text/html"]) == ({}, {})
    assert k.rt._format(7, exclude=["text/plain"]) == ({}, {})
    assert k.rt._format("s", include=["text/plain"]) == ({"text/plain": "'s'"}, {})
    k.execute("class Shown:\n    def _ipython_display_(self): display('via hook')\n[Shown()]")
    assert [d["data"] for d in k.of_type("display_data")] == []
    (result,) = k.of_type("execute_result")
    assert result["data"]["text/plain"].startswith("[<__main__.Shown object")


@in_child
def test_clear_output(k):
    k.execute("from IPython.display import clear_output\nprint('a')\nclear_output(wait=True)")
    assert [e["type"] for e in k.events] == ["stream", "clear_output"]
    assert k.of_type("clear_output") == [{"wait": True}]


@in_child
def test_display_handle_update(k):
    k.execute("from IPython.display import HTML\nh = display(HTML('one'), display_id=True)\n"
              "h.update(HTML('two'))")
    (shown,) = k.of_type("display_data")
    (updated,) = k.of_type("update_display_data")
    display_id = shown["transient"]["display_id"]
    assert display_id and updated["transient"] == {"display_id": display_id}
    assert updated["data"]["text/html"] == "two"
    k.execute("from IPython.display import update_display\n"
              f"update_display(HTML('three'), display_id={display_id!r})")
    assert k.of_type("update_display_data")[0]["data"]["text/html"] == "three"


@in_child
def test_image_from_png_bytes(k):
    k.execute(f"from IPython.display import Image\nimg = Image(data={PNG!r}, width=40)")
    data = k.result("img")
    assert base64.b64decode(data["image/png"]) == PNG
    assert data["text/plain"] == "<IPython.core.display.Image object>"
    assert k.of_type("execute_result")[0]["metadata"] == {"image/png": {"width": 40}}


@in_child
def test_image_from_file_and_url(k):
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "pic.jpg")
        with open(path, "wb") as file:
            file.write(b"\xff\xd8jpegdata")
        data = k.result(f"from IPython.display import Image\nImage(filename={path!r})")
    assert base64.b64decode(data["image/jpeg"]) == b"\xff\xd8jpegdata"
    data = k.result("Image(url='https://example.org/a.png')")
    assert data["text/html"] == '<img src="https://example.org/a.png"/>'


@in_child
def test_other_display_classes(k):
    k.execute("from IPython.display import Markdown, Latex, Math, SVG, JSON, Javascript, Pretty, "
              "Code, FileLink, IFrame, display_markdown\n"
              "display(Markdown('# t'), Math('x^2'), SVG('<svg></svg>'), JSON({'a': 1}), "
              "Javascript('1'), Pretty('p'), Code('x=1'), FileLink('f.csv'), IFrame('u', 10, 20))\n"
              "display_markdown('*raw*', raw=True)")
    data = [c["data"] for c in k.of_type("display_data")]
    assert data[0]["text/markdown"] == "# t"
    assert data[1]["text/latex"] == "$\\displaystyle x^2$"
    assert data[2]["image/svg+xml"] == "<svg></svg>"
    assert data[3]["application/json"] == {"a": 1}
    assert data[4]["application/javascript"] == "1"
    assert data[5]["text/plain"] == "p"
    assert data[6]["text/plain"] == "x=1" and "<pre>" in data[6]["text/html"]
    assert data[7]["text/plain"].endswith("f.csv") and "href" in data[7]["text/html"]
    assert "<iframe" in data[8]["text/html"]
    assert data[9] == {"text/markdown": "*raw*"}


@in_child
def test_ipython_shim(k):
    data = k.result("import IPython\nfrom IPython.core.display import HTML as H\n"
                    "from IPython.core.getipython import get_ipython\n"
                    "from IPython.core.display_functions import display as d\n"
                    "(IPython.get_ipython(), get_ipython(), d is display, IPython.display.HTML is H, "
                    "IPython.__version__)")
    assert data["text/plain"] == "(None, None, True, True, '8.0.0-sandcell')"


# ---------------------------------------------------------------- matplotlib

def _pngs(k):
    return [c for c in k.of_type("display_data") if "image/png" in c["data"]]


@in_child
def test_matplotlib_backend_is_ours(k):
    assert k.result("import matplotlib\nmatplotlib.get_backend()") == \
        {"text/plain": "'module://sandcell_inline'"}


@in_child
def test_plot_at_end_of_cell(k):
    reply = k.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);")
    assert reply["status"] == "ok"
    (figure,) = _pngs(k)
    assert base64.b64decode(figure["data"]["image/png"]).startswith(b"\x89PNG")
    assert figure["data"]["text/plain"] == "<Figure size 640x480 with 1 Axes>"
    assert k.result("len(plt.get_fignums())") == {"text/plain": "0"}
    assert _pngs(k) == []


@in_child
def test_plt_show_gives_one_image(k):
    k.execute("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    assert len(_pngs(k)) == 1
    k.execute("fig, ax = plt.subplots()\nax.plot([3, 1])\nplt.show()\nfig2, ax2 = plt.subplots()\nax2.plot([1])")
    assert len(_pngs(k)) == 2


@in_child
def test_pandas_plot_and_failing_cell_still_show_the_figure(k):
    reply = k.execute("import pandas as pd\npd.Series([1, 3, 2]).plot()\n1/0")
    assert reply["status"] == "error"
    assert [e["type"] for e in k.events if e["type"] != "stream"] == ["display_data", "error"]
    assert len(_pngs(k)) == 1


@in_child
def test_figure_as_last_expression(k):
    k.execute("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1])\nplt.close(fig)")
    data = k.result("fig")
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")


# ---------------------------------------------------------------- input

@in_child
def test_input_with_stdin(k):
    k.channel.replies.append(json.dumps({"op": "input_reply", "value": "Ada"}))
    reply = k.execute("print('asking')\nname = input('name? ')", allow_stdin=True)
    assert reply["status"] == "ok"
    assert [e["type"] for e in k.events] == ["stream", "input_request"]
    assert k.of_type("input_request") == [{"prompt": "name? ", "password": False}]
    assert k.result("name") == {"text/plain": "'Ada'"}
    k.channel.replies.append(json.dumps({"op": "input_reply", "value": "s3cret"}))
    assert k.execute("import getpass\npw = getpass.getpass()", allow_stdin=True)["status"] == "ok"
    assert k.of_type("input_request") == [{"prompt": "Password: ", "password": True}]
    assert k.result("pw") == {"text/plain": "'s3cret'"}


@in_child
def test_input_without_stdin(k):
    reply = k.execute("input('x')", allow_stdin=False)
    assert reply["status"] == "error" and reply["ename"] == "StdinNotImplementedError"
    assert "does not support input requests" in reply["evalue"]
    assert k.of_type("input_request") == []
    assert RUNTIME_PATH not in "\n".join(reply["traceback"])


@in_child
def test_interrupt_while_waiting_for_input(k):
    reply = k.execute("input()", allow_stdin=True)        # the fake recv() raises KeyboardInterrupt
    assert reply["ename"] == "KeyboardInterrupt"


# ---------------------------------------------------------------- complete, inspect, is_complete

@in_child
def test_complete(k):
    k.execute("import os\nimport pandas as pd\ndf = pd.DataFrame({'a': [1]})\nmy_variable = 1")
    reply = k.request("complete", code="x = os.pa", cursor_pos=9)
    assert reply["status"] == "ok" and "path" in reply["matches"] and "pardir" in reply["matches"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (7, 9)
    assert "groupby" in k.request("complete", code="df.gro", cursor_pos=6)["matches"]
    reply = k.request("complete", code="my_v + 1", cursor_pos=4)
    assert reply["matches"] == ["my_variable"] and reply["cursor_start"] == 0
    assert "print" in k.request("complete", code="pri", cursor_pos=3)["matches"]
    assert "while" in k.request("complete", code="whi", cursor_pos=3)["matches"]
    assert "numpy" in k.request("complete", code="import nump", cursor_pos=11)["matches"]
    assert "path" in k.request("complete", code="from os import pa", cursor_pos=17)["matches"]
    assert "path" in k.request("complete", code="import os.pa", cursor_pos=12)["matches"]
    matches = k.request("complete", code="df.", cursor_pos=3)["matches"]
    assert "head" in matches and not any(m.startswith("_") for m in matches)
    assert "__class__" in k.request("complete", code="df.__cl", cursor_pos=7)["matches"]
    k.execute("é = 1")
    reply = k.request("complete", code="ü = é.rea", cursor_pos=9)   # code points, not bytes
    assert reply["matches"] == ["real"] and reply["cursor_start"] == 6


@in_child
def test_complete_does_not_call_properties(k):
    k.execute("class P:\n    calls = 0\n    @property\n    def boom(self):\n"
              "        P.calls += 1\n        return 1\np = P()")
    assert "boom" in k.request("complete", code="p.bo", cursor_pos=4)["matches"]
    assert k.result("P.calls") == {"text/plain": "0"}


@in_child
def test_inspect(k):
    reply = k.request("inspect", code="print(", cursor_pos=6, detail_level=0)
    assert reply["status"] == "ok" and reply["found"] is True
    assert "Docstring:" in reply["data"]["text/plain"] and "Type:      builtin_function_or_method" in reply["data"]["text/plain"]
    k.execute("import numpy as np\ndef twice(x):\n    'Double x.'\n    return 2 * x")
    text = k.request("inspect", code="np.mean", cursor_pos=7, detail_level=0)["data"]["text/plain"]
    assert text.startswith("Signature: np.mean(a, axis=None") and "arithmetic mean" in text
    text = k.request("inspect", code="y = twice(np.me", cursor_pos=15, detail_level=0)["data"]["text/plain"]
    assert text.startswith("Signature: twice(x)") and "Double x." in text
    text = k.request("inspect", code="twice", cursor_pos=2, detail_level=1)["data"]["text/plain"]
    assert "Source:\ndef twice(x):" in text and "return 2 * x" in text
    assert k.request("inspect", code="nothing_here", cursor_pos=5, detail_level=0) == \
        {"status": "ok", "found": False, "data": {}, "metadata": {}}


@in_child
def test_inspect_value(k):
    k.execute("n = 41")
    text = k.request("inspect", code="n", cursor_pos=1, detail_level=0)["data"]["text/plain"]
    assert "String form: 41" in text and "Type:      int" in text


@in_child
def test_is_complete(k):
    cases = {
        "1+1": {"status": "complete"},
        "": {"status": "complete"},
        "for i in range(3):": {"status": "incomplete", "indent": "    "},
        "for i in range(3):\n    print(i)": {"status": "incomplete", "indent": "    "},
        "for i in range(3):\n    print(i)\n": {"status": "complete"},
        "foo(1,": {"status": "incomplete", "indent": ""},
        "x = [1,\n": {"status": "incomplete", "indent": ""},
        '"""doc': {"status": "incomplete", "indent": ""},
        "raise = 2": {"status": "invalid"},
        "await something()": {"status": "complete"},
        "%matplotlib inline": {"status": "complete"},
    }
    for code, expected in cases.items():
        assert k.request("is_complete", code=code) == expected, code


# ---------------------------------------------------------------- randomness

def test_children_get_different_random_numbers(runtime):
    module, _ = runtime
    import numpy
    random.seed(1234)
    numpy.random.seed(1234)
    values = []
    for _ in range(2):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            try:
                module.child_init()
                os.write(write_fd, json.dumps([random.random(), numpy.random.random()]).encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            values.append(json.loads(pipe.read()))
        os.waitpid(pid, 0)
    assert len(values) == 2
    assert values[0][0] != values[1][0]
    assert values[0][1] != values[1][1]
