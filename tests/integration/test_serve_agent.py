"""The agent scenario against `sandcell serve`: one daemon, ten
conversations worked on side by side. Each gets its own CSV through
put_file, loads it with pandas, aggregates it, charts it with matplotlib
(the PNG comes back as display_data), writes a result file that comes back
through get_file; one conversation runs into its execution cap. At the end
every conversation is stopped, the list is empty and every interpreter is
gone."""

import io
import random
import re
import struct
import time

import pandas as pd
import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

N_CONVERSATIONS = 10
CAPPED = 3  # index of the conversation started with max_executions=3
GROUPS = ["north", "south", "east", "west", "centre"]


@pytest.fixture
def daemon(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start


def make_csv(i):
    """Different data for every conversation: (csv bytes, expected sums)."""
    rng = random.Random(1000 + i)
    groups = GROUPS[: 2 + i % 4]
    rows = [(rng.choice(groups), rng.randint(1, 100) * (i + 1), f"item{n}")
            for n in range(200 + 10 * i)]
    df = pd.DataFrame(rows, columns=["group", "value", "label"])
    data = df.to_csv(index=False).encode()
    expected = df.groupby("group", as_index=False)["value"].sum()
    return data, expected


LOAD = """
_marker = open('/tmp/agent-marker', 'w')  # marks the interpreter, seen from the host
import pandas as pd
df = pd.read_csv('sales.csv')
sums = df.groupby('group', as_index=False)['value'].sum()
print(sums.to_json(orient='records'))
len(df)
"""

CHART = """
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(4, 3))
ax.bar(sums['group'], sums['value'])
ax.set_title('conversation {i}')
plt.show()
"""

WRITE = """
sums.to_csv('out.csv', index=False)
sums['value'].sum()
"""


def png_size(raw):
    assert raw[12:16] == b"IHDR", raw[:32]
    return struct.unpack(">II", raw[16:24])


def run_everywhere(trackers, code_of, timeout=60):
    """Sends one cell to every conversation at once, then collects the
    results in order."""
    ids = [t.execute(code_of(i)) for i, t in enumerate(trackers)]
    return [t.finish(msg_id, timeout=timeout) for t, msg_id in zip(trackers, ids)]


def test_ten_conversations_agent_style(daemon, tmp_path):
    d = daemon(["--max-conversations", "16"])
    ctl = d.control
    # The baseline is the tree with the pool (2 by default) filled; under
    # load the zygote's preload can outlast settle()'s quiet second.
    deadline = time.monotonic() + ku.TIMEOUT
    while len(d.tree()) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    baseline = d.settle()

    t0 = time.monotonic()
    convs = []
    for i in range(N_CONVERSATIONS):
        options = {"max_executions": 3} if i == CAPPED else {}
        convs.append(ctl.start(**options))
    ids = [c["id"] for c in convs]
    assert len(set(ids)) == N_CONVERSATIONS
    assert len({c["connection"]["key"] for c in convs}) == N_CONVERSATIONS
    assert sorted(ctl.ids()) == sorted(ids)
    startup = time.monotonic() - t0
    assert startup < 60, f"starting ten conversations took {startup:.1f}s"

    clients = [d.client(c["connection"]) for c in convs]
    trackers = [ku.Tracker(kc) for kc in clients]

    # put: a different CSV in every workspace
    datasets = [make_csv(i) for i in range(N_CONVERSATIONS)]
    for cid, (data, _) in zip(ids, datasets):
        reply = ctl.put(cid, "sales.csv", data)["content"]
        assert reply["status"] == "ok", reply
        assert reply["size"] == len(data), reply

    # 1: load and aggregate (all ten running at once)
    for i, res in enumerate(run_everywhere(trackers, lambda i: LOAD)):
        assert res.status == "ok", f"conversation {i}: {res.describe()}"
        data, expected = datasets[i]
        got = pd.read_json(io.StringIO(res.stream_text()), orient="records")
        assert got.equals(expected.astype(got.dtypes.to_dict())), (
            f"conversation {i}: cell computed\n{got}\nexpected\n{expected}"
        )
        assert res.result_data()["text/plain"] == str(200 + 10 * i)
    interpreters = ku.find_file_holders(d.tree(), "agent-marker")
    assert len(interpreters) == N_CONVERSATIONS, ku.describe_procs(interpreters)

    # 2: a chart per conversation, as image/png display_data
    pngs = []
    for i, res in enumerate(run_everywhere(trackers, lambda i: CHART.format(i=i))):
        assert res.status == "ok", f"conversation {i}: {res.describe()}"
        images = [m["content"]["data"]["image/png"] for m in res.of_type("display_data")
                  if "image/png" in m["content"]["data"]]
        assert len(images) == 1, f"conversation {i}: {res.describe()}"
        raw = ku.decode_png(images[0])
        w, h = png_size(raw)
        assert 100 <= w <= 2000 and 100 <= h <= 2000, (w, h)
        pngs.append(raw)
        (tmp_path / f"chart-{i}.png").write_bytes(raw)
    assert len(set(pngs)) == N_CONVERSATIONS, "two conversations drew the same chart"

    # 3: the cell writes a file, we get it back
    for i, res in enumerate(run_everywhere(trackers, lambda i: WRITE)):
        assert res.status == "ok", f"conversation {i}: {res.describe()}"
        data, expected = datasets[i]
        assert res.result_data()["text/plain"] == str(expected["value"].sum())
        if i == CAPPED:
            # Its third execution was its last: the interpreter and its
            # workspace are destroyed at once, and a get says so.
            got = ctl.get(ids[i], "out.csv")["content"]
            assert got["status"] == "error" and got.get("ename") == "FileError", got
            assert re.search(r"cap|limit", got.get("evalue", ""), re.I), got
            continue
        got = ctl.get(ids[i], "out.csv")
        assert got["content"]["status"] == "ok", got["content"]
        assert got["content"]["size"] == len(got["buffers"][0])
        out = pd.read_csv(io.BytesIO(got["buffers"][0]))
        assert out.equals(expected.astype(out.dtypes.to_dict())), (
            f"conversation {i}: out.csv is\n{out}\nexpected\n{expected}"
        )
        back = ctl.get(ids[i], "sales.csv")
        assert back["buffers"][0] == data, f"conversation {i}: sales.csv changed"

    # The capped conversation has used its three executions.
    capped = trackers[CAPPED].run("len(df)")
    assert capped.status == "error", capped.describe()
    assert capped.content.get("ename") == "ExecutionLimitReached", capped.describe()
    assert capped.error()["ename"] == "ExecutionLimitReached"
    ku.assert_framed(capped)
    evalue = capped.content.get("evalue", "")
    assert re.search(r"\b3\b", evalue), f"evalue does not state the limit: {evalue!r}"
    assert re.search(r"new conversation|start", evalue, re.I), (
        f"evalue does not say how to continue: {evalue!r}"
    )
    # ... and stays capped.
    again = trackers[CAPPED].run("1")
    assert again.status == "error" and again.content.get("ename") == "ExecutionLimitReached"

    # The others go on, their state intact.
    for i, t in enumerate(trackers):
        if i != CAPPED:
            assert t.run_ok("len(df)").result_data()["text/plain"] == str(200 + 10 * i)

    listed = {c["id"]: c for c in ctl.list()}
    assert sorted(listed) == sorted(ids)
    for i, cid in enumerate(ids):
        entry = listed[cid]
        if i == CAPPED:
            assert entry["state"] == "capped", entry
            assert entry["executions"] == 3 and entry["max_executions"] == 3, entry
        else:
            assert entry["state"] == "running", entry
            assert entry["executions"] == 4, entry

    # Stop them all: the list is empty and the interpreters are gone.
    d.close_clients()
    for cid in ids:
        ctl.stop(cid)
    assert ctl.list() == []
    left = ku.wait_gone(interpreters, timeout=10)
    assert not left, f"interpreters of stopped conversations still run: {ku.describe_procs(left)}"
    # A pool refills with fresh interpreters: back to the size it had.
    after = d.settle()
    assert len(after) <= len(baseline), (
        f"after stopping every conversation the daemon's tree has {len(after)} processes, "
        f"{len(baseline)} before: {ku.describe_procs(after)}"
    )
