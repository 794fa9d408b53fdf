#!/usr/bin/python3
"""bench/export.py — time of `sandcell export` and `sandcell replay` for one
cell whose output is 1, 5, 10 and 20 MiB, to show that both grow linearly
with the size of a cell's output.

The journal of each size is written here as the manager writes it: the
cell's stdout in 8 KiB stream messages, as the runtime sends a large print
(kernel/runtime_channel.py, STREAM_MAX). export is timed over the file; replay
re-runs the cell (a jailed interpreter, started from scratch, so its
figure includes the start of the sandbox) and compares the 10 MiB again.
Each figure is the best of --runs runs (default 3).

    bench/export.py [--sandcell PATH] [--sizes 1,5,10,20] [--runs 3] [--no-replay]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHUNK = 8192
LINE = "x" * 99 + "\n"


def write_journal(path, mib, cgroups):
    n = (mib << 20) // len(LINE)
    text = LINE * n
    outputs = [{"msg_type": "stream", "content": {"name": "stdout", "text": text[i:i + CHUNK]}}
               for i in range(0, len(text), CHUNK)]
    header = {"type": "header", "format": "sandcell-journal", "version": 1,
              "python": "%d.%d.%d" % sys.version_info[:3],
              "limits": {"timeout_s": 120, "max_output_bytes": (mib + 1) << 20,
                         "jail": True, "cgroups": cgroups}}
    record = {"type": "execution", "execution_count": 1, "status": "ok",
              "code": "print(%r * %d, end='')" % (LINE, n),
              "outputs": outputs, "reply": {"status": "ok", "execution_count": 1}}
    with open(path, "w") as f:
        f.write(json.dumps(header) + "\n" + json.dumps(record) + "\n")


def best_of(runs, argv, check):
    best = None
    for _ in range(runs):
        started = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        elapsed = time.monotonic() - started
        check(proc)
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sandcell", default=str(HERE.parent / "sandcell"))
    ap.add_argument("--sizes", default="1,5,10,20", help="MiB, comma-separated")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-replay", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    doctor = subprocess.run([args.sandcell, "doctor"], capture_output=True, text=True)
    cgroups = any(re.match(r"\s+cgroups\s+yes\b", line) for line in doctor.stdout.splitlines())

    def ok(proc):
        if proc.returncode != 0:
            sys.exit("bench/export.py: %s" % (proc.stderr.strip() or proc.stdout.strip()))

    def same(proc):
        if proc.returncode != 0 or "1 same" not in proc.stdout:
            sys.exit("bench/export.py: replay did not say same:\n" + proc.stdout + proc.stderr)

    print("%8s %12s %14s %12s %14s" % ("output", "export s", "export s/MiB",
                                       "replay s", "replay s/MiB"))
    with tempfile.TemporaryDirectory(prefix="sandcell-bench-export-") as tmp:
        for mib in sizes:
            journal = os.path.join(tmp, "cell-%d.jsonl" % mib)
            write_journal(journal, mib, cgroups)
            export = best_of(args.runs, [args.sandcell, "export", journal, "-o",
                                         os.path.join(tmp, "out.ipynb")], ok)
            replay = "-"
            per = "-"
            if not args.no_replay:
                r = best_of(args.runs, [args.sandcell, "replay", journal], same)
                replay, per = "%.3f" % r, "%.4f" % (r / mib)
            print("%5d MiB %12.3f %14.4f %12s %14s" % (mib, export, export / mib, replay, per),
                  flush=True)


if __name__ == "__main__":
    main()
