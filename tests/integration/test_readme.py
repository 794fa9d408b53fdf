"""The README's quick tour for agents, run as written: its snippets are read
out of README.md (not copied here), and run in order in a fresh folder
with XDG_RUNTIME_DIR, SANDCELL_RUNTIME_FILE and XDG_STATE_HOME unset, so
the daemon writes its runtime file to /tmp/sandcell-UID/serve.json and
journals under ~/.local/state. So that this default path is not shared
with another daemon on the machine, the tour runs in a mount namespace of
its own with a private /tmp/sandcell-UID (needs root, as the jail's cgroups do). The
interrupt snippet that stands in for jupyter_console's Ctrl-C is run
against a sleeping cell."""

import os
import re
import shlex
import shutil
import subprocess

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

README = os.path.join(os.path.dirname(ku.SANDCELL), "README.md")


def tour_blocks():
    """The fenced code blocks of the "Quick tour for agents" section, in
    order, as (language, text)."""
    with open(README) as f:
        text = f.read()
    start = text.index("## Quick tour for agents")
    end = text.index("\n## ", start + 1)
    return re.findall(r"^```(\w+)\n(.*?)^```$", text[start:end], re.S | re.M)


def test_the_tour_has_the_expected_snippets():
    langs = [lang for lang, _ in tour_blocks()]
    assert langs[:3] == ["sh", "python", "sh"], langs
    blocks = [b for _, b in tour_blocks()]
    assert any("interrupt_request" in b for b in blocks), "no interrupt snippet"


def _private_tmp_supported():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                         capture_output=True, timeout=10)
    return res.returncode == 0


def test_readme_tour_runs_as_written(tmp_path):
    if not _private_tmp_supported():
        pytest.skip("needs root and unshare -m for a private runtime folder")
    blocks = [b for _, b in tour_blocks()]
    serve, python_tour, shell_tour = blocks[0], blocks[1], blocks[2]
    interrupt = next((b for b in blocks if "interrupt_request" in b),
                     "echo 'the README has no interrupt snippet'; exit 1")
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "home").mkdir()
    os.symlink(ku.SANDCELL, work / "sandcell")
    (work / "tour.py").write_text(python_tour)
    (work / "interrupt.sh").write_text(interrupt)
    script = f"""set -euo pipefail
cleanup() {{ kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; }}
trap cleanup EXIT
echo '### serve'
{serve}
serve_pid=$!
for i in $(seq 600); do [ -s "/tmp/sandcell-$(id -u)/serve.json" ] && break; sleep 0.1; done
echo '### python'
/usr/bin/python3 tour.py
echo '### shell'
{shell_tour}
echo '### interrupt'
cid=$(./sandcell start --connection-file conv.json)
./sandcell exec -c "$cid" "import time; time.sleep(60)" > sleep.out 2>&1 &
exec_pid=$!
sleep 3
bash interrupt.sh
set +e; wait "$exec_pid"; echo "exec status $?"; set -e
cat sleep.out
./sandcell stop "$cid"
echo '### done'
"""
    (work / "tour.sh").write_text(script)
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_RUNTIME_DIR", "SANDCELL_RUNTIME_FILE", "XDG_STATE_HOME")}
    env["HOME"] = str(tmp_path / "home")
    # The tour's default runtime file is /tmp/sandcell-UID/serve.json: a
    # folder of its own there, seen only by the tour, so that another
    # daemon on the machine neither blocks it nor is touched by it. Only
    # that folder: the checkout (and so ./sandcell) may live under /tmp.
    runtime_dir = f"/tmp/sandcell-{os.getuid()}"
    made_runtime_dir = not os.path.exists(runtime_dir)
    res = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "bash", "-c",
         f"mkdir -p {runtime_dir} && mount -t tmpfs -o mode=0700 tmpfs {runtime_dir} && "
         f"cd {shlex.quote(str(work))} && exec bash tour.sh"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    if made_runtime_dir:
        os.rmdir(runtime_dir)  # the mount point the tour needed, empty outside it
    out = res.stdout
    assert res.returncode == 0 and "### done" in out, (
        f"the tour failed (exit {res.returncode})\nstdout:\n{out}\nstderr:\n{res.stderr}")
    python_part = out.split("### python")[1].split("### shell")[0]
    shell_part = out.split("### shell")[1].split("### interrupt")[0]
    interrupt_part = out.split("### interrupt")[1]
    assert "KeyError" not in res.stderr
    assert "day,sales" in python_part and "1,120" in python_part, python_part
    assert shell_part.count("(3, 2)") == 2, f"df not read, or not back after restore:\n{out}"
    assert "117.66" in shell_part, shell_part
    assert re.search(r"clean\.csv \(\d+ bytes\)", shell_part), shell_part
    assert (work / "clean.csv").read_text().splitlines() == ["day,sales", "1,120", "2,135"]
    assert list(work.glob("sandcell-*-1.png")), "df.plot() saved no image"
    assert "\nok\n" in interrupt_part, interrupt_part
    assert "exec status 1" in interrupt_part and "KeyboardInterrupt" in interrupt_part, (
        interrupt_part)
