// The official MCP TypeScript SDK's client against `sandcell mcp` over stdio.
// Usage: node mcp_stdio.mjs SANDCELL_BINARY JOURNAL_DIR
// Prints "ok NAME" for each step that held and exits 0, or throws (exit 1).
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [sandcell, journalDir] = process.argv.slice(2);

async function connect(...args) {
  const transport = new StdioClientTransport({
    command: sandcell,
    args: ["mcp", ...args],
    env: { ...process.env },
    stderr: "inherit",
  });
  const client = new Client({ name: "sandcell-sdk-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

const text = (r) => r.content.filter((b) => b.type === "text").map((b) => b.text).join("");
const ok = (name) => console.log(`ok ${name}`);

const client = await connect("--journal-dir", journalDir, "--max-executions", "100");
assert.equal(client.getServerVersion().name, "sandcell");
ok("initialize");

const { tools } = await client.listTools();
assert.deepEqual(tools.map((t) => t.name),
  ["execute_code", "upload_file", "download_file", "list_files", "reset", "export_notebook"]);
for (const t of tools) assert.ok(t.outputSchema && t.description.length > 80);
ok("tools/list");

let r = await client.callTool({ name: "execute_code", arguments: { code: "x = 20" } });
r = await client.callTool({ name: "execute_code", arguments: { code: "x * 2 + 2" } });
assert.equal(text(r), "42");
assert.equal(r.structuredContent.execution_count, 2);
assert.equal(r.structuredContent.executions_left, 98);
ok("state across calls");

r = await client.callTool({
  name: "execute_code",
  arguments: { code: "import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [3, 5])\nplt.show()" },
});
const img = r.content.find((b) => b.type === "image");
assert.equal(img.mimeType, "image/png");
assert.equal(Buffer.from(img.data, "base64").subarray(1, 4).toString(), "PNG");
ok("chart as an image block");

r = await client.callTool({
  name: "upload_file",
  arguments: { path: "sales.csv", content: "region,amount\nnorth,10\nsouth,5\nnorth,7\n" },
});
assert.equal(r.isError, false);
r = await client.callTool({
  name: "execute_code",
  arguments: {
    code: "import pandas as pd\ndf = pd.read_csv('sales.csv')\n" +
      "t = df.groupby('region').amount.sum()\nt.to_csv('totals.csv')\nint(t['north'])",
  },
});
assert.equal(text(r), "17");
r = await client.callTool({ name: "download_file", arguments: { path: "totals.csv" } });
assert.equal(r.content[0].type, "resource");
assert.equal(r.content[0].resource.text, "region,amount\nnorth,17\nsouth,5\n");
ok("upload, pandas, download");

r = await client.callTool({ name: "execute_code", arguments: { code: "{}['missing']" } });
assert.equal(r.isError, true);
assert.equal(r.structuredContent.error.ename, "KeyError");
assert.match(text(r), /^KeyError: 'missing'/);
ok("an exception");

const ac = new AbortController();
const progress = [];
const started = Date.now();
const sleeping = client.callTool(
  { name: "execute_code", arguments: { code: "import time\ntime.sleep(60)" } },
  undefined,
  {
    signal: ac.signal,
    timeout: 120000,
    onprogress: (p) => { progress.push(p); if (progress.length === 2) ac.abort("enough"); },
  },
);
await assert.rejects(sleeping);
assert.ok(progress.length >= 2 && progress[1].progress > progress[0].progress);
r = await client.callTool({ name: "execute_code", arguments: { code: "x" } });
assert.equal(text(r), "20");
assert.ok(Date.now() - started < 20000, "the cancelled sleep was not interrupted");
ok("progress, then cancellation of time.sleep(60)");

r = await client.callTool({ name: "export_notebook", arguments: {} });
const nb = JSON.parse(r.content[0].resource.text);
assert.equal(nb.nbformat, 4);
assert.ok(nb.cells.some((c) => c.source === "x * 2 + 2"));
ok("export_notebook");

await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }), /-32602|unknown tool/);
ok("unknown tool");
await client.close();

const capped = await connect("--no-journal", "--max-executions", "1");
r = await capped.callTool({ name: "execute_code", arguments: { code: "1" } });
assert.equal(r.structuredContent.executions_left, 0);
r = await capped.callTool({ name: "execute_code", arguments: { code: "2" } });
assert.equal(r.isError, true);
assert.equal(r.structuredContent.error.ename, "ExecutionLimitReached");
assert.match(text(r), /ExecutionLimitReached/);
await capped.close();
ok("the cap");
console.log("done");
