#!/usr/bin/python3
"""Soak test of `sandcell serve`: many well-behaved conversations with mixed
traffic while a few hostile ones flood, stall, fork and forge.

Not part of `make check` or CI; run it by hand (ten minutes by default):

    bench/soak.py                          # 10 minutes, 200 conversations
    bench/soak.py --minutes 2 --conversations 40

It starts its own daemon on loopback (a temporary runtime file and journal
folder), then, paced evenly over the run, opens --conversations
well-behaved conversations, each doing a random mix of small cells, pandas
cells, put and get of files, input(), errors, interrupts, restarts in place
and a stop followed by a restore. Meanwhile hostile conversations, each
started again and again, do one trick each: flood stdout, subscribe to
iopub and never read, fork a child that writes after the reply, forge
records on the interpreter's channel, stall (an unanswered input(), a busy
loop), and read slowly.

Every request of a well-behaved client must get its reply (a reply not in
within --reply-timeout s is lost) with the expected result. The daemon's
resident memory and open descriptors are sampled every 2 s; the end sample
is taken once every conversation has been stopped. Exit status 1 if a reply
was lost, a result was wrong, the daemon died, or its RSS or descriptors at
the end exceed the start by more than --rss-growth-mib / --fd-growth; 0
otherwise; 2 on a usage error. A progress line goes to stderr every 30 s,
the summary to stdout (bench/README.md, "soak").

This file is the driver (options, the daemon, sampling, the report); the
clients, well-behaved and hostile, are in soak_clients.py.
"""

import argparse
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

HOSTILE_KINDS = ("flood", "deaf-iopub", "fork", "forge", "stall", "slow-reader")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10, help="length of the run (default 10)")
    p.add_argument("--conversations", type=int, default=200,
                   help="well-behaved conversations opened over the run (default 200; "
                        "restores come on top)")
    p.add_argument("--workers", type=int, default=8,
                   help="well-behaved conversations at most at once (default 8)")
    p.add_argument("--hostile", default=",".join(HOSTILE_KINDS),
                   help=f"hostile kinds, comma-separated (default {','.join(HOSTILE_KINDS)}; "
                        "'' for none)")
    p.add_argument("--reply-timeout", type=float, default=90,
                   help="seconds after which a reply counts as lost (default 90)")
    p.add_argument("--rss-growth-mib", type=float, default=64,
                   help="allowed growth of the daemon's RSS, start to end (default 64 MiB)")
    p.add_argument("--fd-growth", type=int, default=17,
                   help="allowed growth of the daemon's open descriptors, start to end "
                        "(default 17, one conversation's worth)")
    p.add_argument("--sandcell", help="the binary (default: ./sandcell of this checkout)")
    p.add_argument("--seed", type=int, help="random seed (default: from the clock; printed)")
    p.add_argument("--samples", metavar="FILE",
                   help="also write every sample of the daemon as CSV (t_s,rss_kib,fds,procs)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary folder (daemon log, journals)")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.conversations < 1 or args.workers < 1:
        p.error("--minutes, --conversations and --workers must be positive")
    kinds = [k for k in args.hostile.split(",") if k]
    bad = [k for k in kinds if k not in HOSTILE_KINDS]
    if bad:
        p.error(f"unknown hostile kind {bad[0]!r} (known: {', '.join(HOSTILE_KINDS)})")
    args.hostile = kinds
    return args


ARGS = parse_args(sys.argv[1:])
if ARGS.sandcell:
    os.environ["SANDCELL"] = os.path.abspath(ARGS.sandcell)

import kernel_util as ku  # noqa: E402
import soak_clients as sc  # noqa: E402
from soak_clients import STOP, T, Control, log  # noqa: E402

sc.REPLY_TIMEOUT = ARGS.reply_timeout


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


# --------------------------------------------------------------- sampling


def sample(pid):
    """(rss KiB, open fds, processes in the tree) of the daemon, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None
    return rss, fds, len(ku.process_tree(pid))


def sampler(daemon):
    last_progress = time.monotonic()
    while not STOP.is_set() or not SAMPLER_DONE.is_set():
        s = sample(daemon.pid)
        if s is None or not daemon.alive():
            if not daemon.alive():
                log(f"the daemon died (status {daemon.proc.poll()})")
                return
        else:
            with T.lock:
                T.samples.append((time.monotonic() - sc.T0,) + s)
        if time.monotonic() - last_progress >= 30:
            last_progress = time.monotonic()
            progress()
        if SAMPLER_DONE.wait(2):
            return


SAMPLER_DONE = threading.Event()


def progress():
    with T.lock:
        last = T.samples[-1] if T.samples else (0, 0, 0, 0)
        max_rss = max((s[1] for s in T.samples), default=0)
        max_fds = max((s[2] for s in T.samples), default=0)
        rtt = list(T.rtt)
        n = dict(T.n)
        lost, wrong = len(T.lost), len(T.wrong)
    log(f"conversations {n.get('conversations', 0)} opened ({n.get('conversations done', 0)} "
        f"done), requests {n.get('requests', 0)}, replies {n.get('replies', 0)}, lost {lost}, "
        f"wrong {wrong}; hostile {n.get('hostile conversations', 0)} conversations, "
        f"{n.get('hostile requests', 0)} requests; daemon RSS {last[1] / 1024:.1f} MiB "
        f"(max {max_rss / 1024:.1f}), fds {last[2]} (max {max_fds}), processes {last[3]}; "
        f"small cell p50 {pct(rtt, 50) * 1e3:.0f} ms p99 {pct(rtt, 99) * 1e3:.0f} ms")


# ------------------------------------------------------------------- main


def settle_sample(daemon, start, seconds=30):
    """The end sample: the daemon's figures once its descriptors and the
    processes of its tree are back to the start's (libzmq's reaper closes a
    stopped conversation's sockets a moment after the stop, interpreters are
    reaped, the pool refills), or after |seconds| s."""
    last = None
    deadline = time.monotonic() + seconds
    while True:
        s = sample(daemon.pid)
        if s is None:
            return last
        last = s
        if (s[1] <= start[1] and s[2] <= start[2]) or time.monotonic() > deadline:
            return last
        time.sleep(1)


def main():
    seed = ARGS.seed if ARGS.seed is not None else int(time.time())
    random.seed(seed)
    if not ku.serve_supported():
        print(f"soak: {ku.SANDCELL} has no working `serve` command", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="sandcell-soak-"))
    seconds = ARGS.minutes * 60
    daemon = ku.Daemon(root, ["--max-conversations", str(4 * (ARGS.workers + len(ARGS.hostile))
                                                       + 64)])
    log(f"sandcell serve pid {daemon.pid} ({ku.SANDCELL}), folder {root}, seed {seed}; "
        f"{ARGS.conversations} conversations over {ARGS.minutes:g} min, {ARGS.workers} at once, "
        f"hostile: {', '.join(ARGS.hostile) or 'none'}")
    failures = []
    try:
        runtime = daemon.wait_ready(timeout=60)
        daemon.settle(quiet=2.0, timeout=60)  # the pool has filled
        start = sample(daemon.pid)
        log(f"start: daemon RSS {start[0] / 1024:.1f} MiB, {start[1]} fds, {start[2]} processes")
        sc.start_clock()
        with T.lock:
            T.samples.append((0.0,) + start)
        sth = threading.Thread(target=sampler, args=(daemon,), daemon=True)
        sth.start()
        hostile = [threading.Thread(target=sc.hostile_worker, args=(runtime, k), daemon=True,
                                    name=f"hostile-{k}") for k in ARGS.hostile]
        for th in hostile:
            th.start()
        pacer = sc.Pacer(ARGS.conversations, seconds)
        good = [threading.Thread(target=sc.good_worker, args=(runtime, pacer), daemon=True,
                                 name=f"good-{i}") for i in range(ARGS.workers)]
        for th in good:
            th.start()
        for th in good:  # the last conversations finish after the run's end
            th.join(timeout=max(1, sc.T0 + seconds + 600 - time.monotonic()))
        if any(th.is_alive() for th in good):
            failures.append("well-behaved clients still busy 10 minutes after the run's end")
        STOP.wait(max(0, sc.T0 + seconds - time.monotonic()))  # the hostile ones go on to the end
        STOP.set()
        for th in hostile:
            th.join(timeout=120)
        elapsed = time.monotonic() - sc.T0
        SAMPLER_DONE.set()
        sth.join(timeout=10)
        alive = daemon.alive()
        if not alive:
            failures.append(f"the daemon died (status {daemon.proc.poll()}); log:\n"
                            f"{daemon.stderr_text(3000)}")
            end = None
        else:
            listed = Control(runtime, counted=False)
            try:
                left = listed.ok("list_request")["content"]["conversations"]
            finally:
                listed.close()
            if left:
                failures.append(f"{len(left)} conversations still listed at the end: "
                                f"{[c.get('id') for c in left][:10]}")
            end = settle_sample(daemon, start)
        report(start, end, elapsed, failures, seed)
    except KeyboardInterrupt:
        failures.append("interrupted")
        STOP.set()
    except Exception as e:
        failures.append(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        STOP.set()
    finally:
        STOP.set()
        SAMPLER_DONE.set()
        rc, took = daemon.terminate(timeout=30)
        if rc != 0 and not failures:
            failures.append(f"the daemon exited with status {rc} on SIGTERM ({took:.1f} s)")
        leftover = daemon.leftovers(timeout=10)
        if leftover:
            failures.append(f"processes left running: {ku.describe_procs(leftover)}")
            ku.kill_all(leftover)
        daemon._stderr.close()
        if ARGS.keep or failures:
            print(f"daemon log and journals kept in {root}", file=sys.stderr)
        else:
            import shutil
            shutil.rmtree(root, ignore_errors=True)
    with T.lock:
        failures = [f"{len(T.lost)} lost replies"] * bool(T.lost) + \
                   [f"{len(T.wrong)} wrong results"] * bool(T.wrong) + failures
    if failures:
        print("FAIL: " + "\n      ".join(failures))
        return 1
    print("PASS")
    return 0


def report(start, end, elapsed, failures, seed):
    with T.lock:
        n = dict(T.n)
        rtt = list(T.rtt)
        samples = list(T.samples)
    if end:
        samples.append((elapsed,) + tuple(end))
    max_rss = max(s[1] for s in samples)
    max_fds = max(s[2] for s in samples)
    max_procs = max(s[3] for s in samples)
    print(f"soak: {elapsed / 60:.1f} min, seed {seed}")
    print(f"well-behaved: {n.get('conversations', 0)} conversations opened "
          f"({n.get('restores', 0)} of them restores, {n.get('conversations done', 0)} of "
          f"{ARGS.conversations} ran to the end), {n.get('requests', 0)} requests, "
          f"{n.get('replies', 0)} replies, {len(T.lost)} lost, {len(T.wrong)} wrong")
    print("  requests by kind: " + ", ".join(f"{k[3:]} {v}" for k, v in sorted(n.items())
                                             if k.startswith("op ")))
    print(f"  small cell round trip: p50 {pct(rtt, 50) * 1e3:.1f} ms, p99 "
          f"{pct(rtt, 99) * 1e3:.1f} ms, max {max(rtt, default=float('nan')) * 1e3:.1f} ms "
          f"({len(rtt)} cells)")
    hk = sorted(k for k in n if k.startswith("hostile"))
    print("hostile: " + ", ".join(f"{k[8:]} {n[k]}" for k in hk))
    print(f"daemon RSS MiB: start {start[0] / 1024:.1f}, max {max_rss / 1024:.1f}, end "
          f"{end[0] / 1024:.1f}" if end else f"daemon RSS MiB: start {start[0] / 1024:.1f}, "
          f"max {max_rss / 1024:.1f}, end -")
    print(f"daemon fds: start {start[1]}, max {max_fds}, end {end[1] if end else '-'}; "
          f"processes in its tree: start {start[2]}, max {max_procs}, "
          f"end {end[2] if end else '-'}")
    minutes = []
    for s in samples:
        if s[0] >= 60 * len(minutes):
            minutes.append(s)
    print("  by minute (RSS MiB/fds): " + ", ".join(f"{s[0] / 60:.0f}: {s[1] / 1024:.1f}/{s[2]}"
                                                    for s in minutes))
    if ARGS.samples:
        with open(ARGS.samples, "w") as f:
            f.write("t_s,rss_kib,fds,procs\n")
            for s in samples:
                f.write(f"{s[0]:.1f},{s[1]},{s[2]},{s[3]}\n")
    if n.get("conversations", 0) - n.get("restores", 0) < ARGS.conversations:
        print(f"  note: only {n.get('conversations', 0) - n.get('restores', 0)} of "
              f"{ARGS.conversations} conversations were opened in the run's time")
    if end:
        if end[0] > start[0] + ARGS.rss_growth_mib * 1024:
            failures.append(f"daemon RSS grew {(end[0] - start[0]) / 1024:.1f} MiB "
                            f"(bound {ARGS.rss_growth_mib:g} MiB)")
        if end[1] > start[1] + ARGS.fd_growth:
            failures.append(f"daemon descriptors grew by {end[1] - start[1]} "
                            f"(bound {ARGS.fd_growth})")
    with T.lock:
        for what in T.lost[:20]:
            print(f"  lost: {what}")
        for what in T.wrong[:20]:
            print(f"  wrong: {what[:600]}")


if __name__ == "__main__":
    sys.exit(main())
