"""`sandcell mcp` driven by the official MCP TypeScript SDK
(@modelcontextprotocol/sdk, pinned in tests/js/package-lock.json) over
stdio: initialize, tools/list, state across calls, a matplotlib chart,
upload then pandas then download, an exception, progress then
cancellation of time.sleep(60), export_notebook, an unknown tool, the cap
(tests/js/mcp_stdio.mjs). The SDK validates every structuredContent
against the tool's outputSchema. `.ci/test-all` installs the packages
with `npm ci`; run there, or `cd tests/js && npm ci` first."""

import os
import shutil
import subprocess

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

JS = ku.REPO / "tests" / "js"
STEPS = ["initialize", "tools/list", "state across calls", "chart as an image block",
         "upload, pandas, download", "an exception",
         "progress, then cancellation of time.sleep(60)", "export_notebook", "unknown tool",
         "the cap"]


def test_typescript_sdk_over_stdio(tmp_path):
    node = shutil.which("node")
    assert node, "node is not installed (.ci/deps installs nodejs)"
    assert (JS / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir(), \
        "the SDK is not installed: run `npm ci` in tests/js (.ci/test-all does)"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.run([node, str(JS / "mcp_stdio.mjs"), ku.SANDCELL, str(tmp_path / "journals")],
                       capture_output=True, text=True, timeout=180, env=env, cwd=JS)
    done = [l[3:] for l in p.stdout.splitlines() if l.startswith("ok ")]
    assert p.returncode == 0 and p.stdout.rstrip().endswith("done"), \
        f"steps that held: {done}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr[-4000:]}"
    assert done == STEPS
    assert not list(tmp_path.glob("sandcell-mcp-*")), "an ipc folder was left behind"
