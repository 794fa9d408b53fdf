"""`sandcell mcp` over stdio, driven by a client speaking the protocol on
its pipes: the lifecycle and version negotiation, the tool list, state
across calls, a matplotlib chart as an image block, upload then pandas
then download, an exception, cancellation of a long cell, progress, the
cap, and a session that leaves nothing behind."""

import base64
import glob
import json
import os
import re
import subprocess
import time

import pytest

import kernel_util as ku
from mcp_client import LATEST, McpServer, text_of

pytestmark = ku.requires_sandcell


@pytest.fixture
def mcp(tmp_path):
    servers = []

    def start(*args, **kw):
        s = McpServer(tmp_path, *args, **kw)
        servers.append(s)
        return s

    yield start
    closed = all(s.proc.returncode is not None for s in servers)
    for s in servers:
        s.kill()
    if closed:  # a server killed outright cannot tidy up
        assert not glob.glob(str(tmp_path / "sandcell-mcp-*")), "the ipc folder was left behind"


def test_initialize_and_tools_list(mcp):
    s = mcp()
    init = s.initialize()
    assert init["protocolVersion"] == LATEST
    assert init["capabilities"]["tools"] == {"listChanged": False}
    assert init["serverInfo"]["name"] == "sandcell"
    tools = s.request("tools/list")["result"]["tools"]
    names = [t["name"] for t in tools]
    assert names == ["execute_code", "upload_file", "download_file", "list_files", "reset",
                     "export_notebook"]
    for t in tools:
        assert t["inputSchema"]["type"] == "object"
        assert t["outputSchema"]["type"] == "object"
        assert len(t["description"]) > 80
    ex = tools[0]
    assert ex["inputSchema"]["required"] == ["code"]
    assert "persist" in ex["description"] and "PNG" in ex["description"]
    assert s.request("ping")["result"] == {}
    assert s.close() == 0


@pytest.mark.parametrize("asked,agreed", [("2025-06-18", "2025-06-18"),
                                          ("2025-03-26", "2025-03-26"),
                                          ("2025-11-25", "2025-11-25"),
                                          ("2024-11-05", LATEST),
                                          ("1999-01-01", LATEST)])
def test_version_negotiation(mcp, asked, agreed):
    s = mcp(journal=False)
    assert s.initialize(asked)["protocolVersion"] == agreed
    tools = s.request("tools/list")["result"]["tools"]
    # 2025-03-26 has no outputSchema nor structuredContent
    assert all(("outputSchema" in t) == (agreed != "2025-03-26") for t in tools)
    r = s.run("1+1")
    assert ("structuredContent" in r) == (agreed != "2025-03-26")
    assert text_of(r) == "2"
    assert s.close() == 0


def test_state_and_outputs(mcp):
    s = mcp("--max-executions", 50)
    s.initialize()
    t = time.monotonic()
    r = s.run("import sys\nx = 41\nprint('out'); print('err', file=sys.stderr)\nx + 1")
    first = time.monotonic() - t
    assert r["isError"] is False
    assert [b["text"] for b in r["content"]] == ["out\n", "err\n", "42"]
    sc = r["structuredContent"]
    assert sc["stdout"] == "out\n" and sc["stderr"] == "err\n"
    assert sc["results"] == [{"text/plain": "42"}]
    assert sc["error"] is None and sc["execution_count"] == 1
    assert sc["executions_left"] == 49
    assert first < 5, f"the first call took {first:.2f} s: the interpreter was not warm"
    r = s.run("x * 2")
    assert text_of(r) == "82" and r["structuredContent"]["execution_count"] == 2
    r = s.run("from IPython.display import HTML\nHTML('<table><tr><th>a</th><th>b</th></tr>"
              "<tr><td>1</td><td>&lt;2&gt;</td></tr></table>')")
    assert r["isError"] is False
    assert s.close() == 0


def test_html_only_output_is_readable_text(mcp):
    s = mcp(journal=False)
    s.initialize()
    r = s.run("class H:\n    def _repr_html_(self):\n"
              "        return '<b>bold</b> &amp; <i>it</i><br>next'\n"
              "    def __repr__(self): return ''\n"
              "display({'text/html': '<p>only <b>html</b> &lt;here&gt;</p>'}, raw=True)")
    assert r["isError"] is False, r
    assert "only html <here>" in text_of(r)
    assert r["structuredContent"]["results"] == [
        {"text/html": "<p>only <b>html</b> &lt;here&gt;</p>"}]
    assert s.close() == 0


def test_chart_is_an_image_block(mcp):
    s = mcp(journal=False)
    s.initialize()
    r = s.run("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('t')\nplt.show()")
    assert r["isError"] is False, r
    images = [b for b in r["content"] if b["type"] == "image"]
    assert len(images) == 1
    assert images[0]["mimeType"] == "image/png"
    png = base64.b64decode(images[0]["data"], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "image/png" in r["structuredContent"]["results"][0]
    assert s.close() == 0


def test_upload_pandas_download(mcp):
    s = mcp(journal=False)
    s.initialize()
    csv = "city,temp\nOslo,3\nRome,18\nOslo,5\n"
    r = s.call("upload_file", {"path": "t.csv", "content": csv})
    assert r["isError"] is False and r["structuredContent"] == {"path": "t.csv", "size": len(csv)}
    blob = bytes(range(256))
    r = s.call("upload_file", {"path": "b.bin", "content_base64": base64.b64encode(blob).decode()})
    assert r["structuredContent"]["size"] == 256
    r = s.run("import pandas as pd\ndf = pd.read_csv('t.csv')\n"
              "m = df.groupby('city').temp.mean()\nm.to_csv('means.csv')\n"
              "open('raw.bin','wb').write(open('b.bin','rb').read()[::-1])\nm")
    assert r["isError"] is False, r
    assert "Oslo" in text_of(r) and "4.0" in text_of(r)
    r = s.call("download_file", {"path": "means.csv"})
    res = r["content"][0]["resource"]
    assert res["text"] == "city,temp\nOslo,4.0\nRome,18.0\n"
    assert res["uri"] == "file:///workspace/means.csv" and res["mimeType"] == "text/csv"
    assert r["structuredContent"]["encoding"] == "utf-8"
    r = s.call("download_file", {"path": "raw.bin"})
    assert base64.b64decode(r["content"][0]["resource"]["blob"]) == blob[::-1]
    assert r["structuredContent"]["encoding"] == "base64"
    r = s.call("list_files")
    names = {e["name"]: e for e in r["structuredContent"]["entries"]}
    assert {"t.csv", "b.bin", "means.csv", "raw.bin"} <= set(names)
    assert names["b.bin"]["type"] == "file" and names["b.bin"]["size"] == 256
    s.run("import os\nos.mkdir('sub'); open('sub/x.txt','w').write('x')\n"
          "os.symlink('/etc/passwd', 'link')")
    r = s.call("list_files", {"path": "sub"})
    assert r["structuredContent"]["entries"] == [{"name": "x.txt", "type": "file", "size": 1}]
    kinds = {e["name"]: e["type"] for e in s.call("list_files")["structuredContent"]["entries"]}
    assert kinds["sub"] == "directory" and kinds["link"] == "symlink"
    # the workspace rules of put_file and get_file
    for bad in ["../x", "/etc/passwd", "link", "sub/../../x", ""]:
        r = s.call("download_file", {"path": bad})
        assert r["isError"] is True, (bad, r)
        r = s.call("upload_file", {"path": bad or "", "content": "x"})
        assert r["isError"] is True, (bad, r)
    assert s.call("list_files", {"path": "link"})["isError"] is True
    assert s.call("list_files", {"path": "../"})["isError"] is True
    assert s.call("download_file", {"path": "nope.txt"})["isError"] is True
    r = s.call("upload_file", {"path": "x", "content": "a", "content_base64": "YQ=="})
    assert r["isError"] is True and "exactly one" in text_of(r)
    r = s.call("upload_file", {"path": "x", "content_base64": "***"})
    assert r["isError"] is True
    # the file tools do not count as executions
    assert s.run("1")["structuredContent"]["execution_count"] == 3
    assert s.close() == 0


def test_exception(mcp):
    s = mcp(journal=False)
    s.initialize()
    r = s.run("def f():\n    raise ValueError('bad \\x1b[31mred\\x1b[0m value')\nf()")
    assert r["isError"] is True
    err = r["structuredContent"]["error"]
    assert err["ename"] == "ValueError"
    text = text_of(r)
    assert text.startswith("ValueError: bad ")
    assert "\x1b" not in text and all("\x1b" not in l for l in err["traceback"])
    assert "f()" in text
    assert s.run("1+1")["isError"] is False  # the session goes on
    assert s.close() == 0


def test_cancel_interrupts_and_keeps_state(mcp):
    s = mcp(journal=False)
    s.initialize()
    s.run("kept = 'yes'")
    s.send({"jsonrpc": "2.0", "id": 500, "method": "tools/call",
            "params": {"name": "execute_code", "arguments": {"code": "import time\ntime.sleep(60)"},
                       "_meta": {"progressToken": "tok"}}})
    progress = []
    t = time.monotonic()
    while len(progress) < 2:
        m = s.read(timeout=10)
        assert m.get("method") == "notifications/progress", m
        progress.append(m["params"])
    assert progress[0]["progressToken"] == "tok"
    assert progress[1]["progress"] > progress[0]["progress"]
    s.notify("notifications/cancelled", {"requestId": 500, "reason": "user"})
    # no response to the cancelled call; the next one answers at once
    r = s.run("kept")
    assert time.monotonic() - t < 20
    assert text_of(r) == "'yes'"
    assert s.close() == 0


def test_timeout_argument(mcp):
    s = mcp(journal=False)
    s.initialize()
    t = time.monotonic()
    r = s.run("import time\ntime.sleep(30)", timeout=1)
    assert time.monotonic() - t < 10
    assert r["isError"] is True
    assert "TimeoutError" in text_of(r) and "KeyboardInterrupt" in text_of(r)
    assert s.run("2+2")["isError"] is False
    assert s.close() == 0


def test_cap(mcp, tmp_path):
    s = mcp("--max-executions", 2)
    s.initialize()
    assert s.run("1")["structuredContent"]["executions_left"] == 1
    s.call("list_files")  # not an execution
    assert s.run("2")["structuredContent"]["executions_left"] == 0
    r = s.run("3")
    assert r["isError"] is True
    assert r["structuredContent"]["error"]["ename"] == "ExecutionLimitReached"
    assert "ExecutionLimitReached" in text_of(r) and "new MCP session" in text_of(r)
    assert s.call("list_files")["isError"] is True
    r = s.call("reset")  # no way around the cap
    assert r["isError"] is True and "ExecutionLimitReached" in text_of(r)
    assert s.run("4")["structuredContent"]["error"]["ename"] == "ExecutionLimitReached"
    nb = s.call("export_notebook")
    assert nb["structuredContent"]["cells"] == 2  # the refused call is not a cell
    assert s.close() == 0


def test_cap_then_restore(mcp, tmp_path):
    """At the cap the error names the way on: `sandcell mcp --restore
    JOURNAL`; that session has the variables and files of the first."""
    s = mcp("--max-executions", 2)
    s.initialize()
    s.call("upload_file", {"path": "in.txt", "content": "from the first session"})
    s.run("total = 40")
    s.run("total += 2")
    r = s.run("total")
    assert r["structuredContent"]["error"]["ename"] == "ExecutionLimitReached"
    m = re.search(r"`sandcell mcp --restore (\S+)`", text_of(r))
    assert m, text_of(r)
    journal = m.group(1)
    assert os.path.exists(journal)
    assert s.close() == 0
    s2 = mcp("--max-executions", 2, "--restore", journal)
    s2.initialize()
    r = s2.run("total, open('in.txt').read()")
    assert text_of(r) == "(42, 'from the first session')", r
    assert r["structuredContent"]["executions_left"] == 1  # restored cells do not count
    assert s2.close() == 0


def test_restore_of_a_bad_journal(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not a journal\n")
    p = subprocess.run([ku.SANDCELL, "mcp", "--no-journal", "--restore", str(bad)],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 2
    assert p.stdout == "" and "--restore" in p.stderr and "bad.jsonl" in p.stderr


def test_reset_and_export(mcp, tmp_path):
    s = mcp()
    s.initialize()
    s.run("a = 1\nprint('hello')")
    s.call("upload_file", {"path": "f.txt", "content": "x"})
    r = s.call("reset")
    assert r["isError"] is False and r["structuredContent"]["executions_left"] == 999
    r = s.run("a")
    assert r["isError"] is True and r["structuredContent"]["error"]["ename"] == "NameError"
    assert r["structuredContent"]["execution_count"] == 1
    files = [e["name"] for e in s.call("list_files")["structuredContent"]["entries"]]
    assert "f.txt" not in files  # as the description says
    r = s.call("export_notebook")
    res = r["content"][0]["resource"]
    assert res["mimeType"] == "application/x-ipynb+json"
    nb = json.loads(res["text"])
    import nbformat
    nbformat.validate(nbformat.from_dict(nb))
    assert [c["source"] for c in nb["cells"]] == ["a = 1\nprint('hello')", "a"]
    assert os.path.exists(r["structuredContent"]["journal"])
    assert s.close() == 0
    journals = glob.glob(str(tmp_path / "journals" / "mcp-*.jsonl"))
    assert len(journals) == 1
    assert json.loads(open(journals[0]).read().splitlines()[-1])["type"] == "end"


def test_export_without_journal(mcp):
    s = mcp(journal=False)
    s.initialize()
    r = s.call("export_notebook")
    assert r["isError"] is True and "--no-journal" in text_of(r)
    assert s.close() == 0


def test_no_journal_before_first_call(mcp, tmp_path):
    s = mcp()
    s.initialize()
    s.request("tools/list")
    time.sleep(0.5)
    assert not glob.glob(str(tmp_path / "journals" / "*.jsonl"))
    s.run("1")
    assert len(glob.glob(str(tmp_path / "journals" / "*.jsonl"))) == 1
    assert s.close() == 0


def test_eof_ends_everything(mcp, tmp_path):
    s = mcp(journal=False)
    s.initialize()
    s.run("import os\npid = os.getpid()")
    assert s.close() == 0
    assert not glob.glob(str(tmp_path / "sandcell-mcp-*"))


def test_readme_mcp_servers_entry_works_as_written(mcp, tmp_path):
    """The README's mcpServers entry, read out of README.md, started as an
    agent host starts it: command and args, with sandcell on PATH."""
    readme = open(os.path.join(os.path.dirname(ku.SANDCELL), "README.md")).read()
    start = readme.index("## sandcell as an MCP server")
    section = readme[start:readme.index("\n## ", start + 1)]
    entry = json.loads(re.search(r"^```json\n(.*?)^```$", section, re.S | re.M).group(1))
    server = entry["mcpServers"]["sandcell"]
    env = dict(os.environ, PATH=os.path.dirname(ku.SANDCELL) + os.pathsep + os.environ["PATH"],
               XDG_STATE_HOME=str(tmp_path / "state"))
    s = mcp(argv=[server["command"], *server["args"]], env=env)
    s.initialize()
    r = s.run("import pandas as pd\npd.DataFrame({'a': [1, 2]}).a.sum()")
    assert text_of(r) == "3"
    assert r["structuredContent"]["executions_left"] == 199
    assert s.close() == 0
    assert glob.glob(str(tmp_path / "state" / "sandcell" / "journals" / "mcp-*.jsonl"))
