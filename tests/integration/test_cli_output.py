"""What `sandcell exec` lets a cell do to the terminal it prints on: a cell
that writes OSC 52 (clipboard), OSC 0/2 (title), CSI 2J (clear), DCS or
the 8-bit and C1 forms of them gets them shown as text (^[]52;...), on a
pipe as on a terminal, including a sequence split between two stream
messages and the text of a result or a traceback; SGR colours pass; with
--raw every byte comes through as the cell wrote it."""

import re
import subprocess

import pytest

import kernel_util as ku

pytestmark = ku.requires_sandcell

HOSTILE = r"""
import sys, time
sys.stdout.write('clip:\x1b]52;c;aGVsbG8=\x07\n')
print('title:\x1b]0;pwned\x07\x1b]2;pwned2\x1b\\')
print('clear:\x1b[2J\x1b[H dcs:\x1bP1$r0m\x1b\\ c1:\x9b2J\x9d0;t\x9c bel:\x07 bs:a\b')
print('colour:\x1b[31mred\x1b[0m')
sys.stdout.write('split:\x1b'); sys.stdout.flush(); time.sleep(0.5)
print(']0;split-title\x07')
print('err:\x1b]0;stderr-title\x07', file=sys.stderr)
class R:
    def __repr__(self):
        return 'repr:\x1b]0;repr-title\x07'
R()
"""

FAILING = r"""raise ValueError('evalue:\x1b]52;c;ZXZpbA==\x07')"""

# What a terminal would act on: any ESC not starting an SGR, a C0 control
# other than \n \t \r, DEL, and the C1 controls U+0080-U+009F.
UNSAFE = re.compile(r"\x1b(?!\[[0-9;:]*m)|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\x80-\x9f]")


@pytest.fixture
def d(jupyter_env, tmp_path):
    with ku.serve_daemons(tmp_path) as start:
        yield start(["--max-conversations", "4"])


def start(d):
    res = d.cli("start")
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_exec_output_is_neutralised(d):
    cid = start(d)
    res = d.cli("exec", "-c", cid, HOSTILE)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    bad = UNSAFE.findall(out)
    assert not bad, f"exec passed terminal controls {bad!r} through:\n{out!r}"
    for shown in ("clip:^[]52;c;aGVsbG8=^G", "title:^[]0;pwned^G^[]2;pwned2^[\\",
                  "clear:^[[2J^[[H", "dcs:^[P1$r0m^[\\", "c1:<U+009B>2J<U+009D>0;t<U+009C>",
                  "bel:^G", "bs:a^H", "split:^[]0;split-title^G", "repr:^[]0;repr-title^G"):
        assert shown in res.stdout, f"{shown!r} not shown visibly in:\n{res.stdout!r}"
    assert "err:^[]0;stderr-title^G" in res.stderr, res.stderr
    assert "colour:\x1b[31mred\x1b[0m" in res.stdout, "SGR colours were not kept"


def test_exec_traceback_is_neutralised(d):
    cid = start(d)
    res = d.cli("exec", "-c", cid, FAILING)
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "ValueError" in out
    assert "\x1b]52" not in out and "^[]52;c;ZXZpbA==^G" in out, repr(out)
    assert not UNSAFE.findall(out), repr(out)


def test_exec_raw_keeps_the_bytes(d):
    cid = start(d)
    res = d.cli("exec", "-c", cid, "--raw", HOSTILE)
    assert res.returncode == 0, res.stdout + res.stderr
    for raw in ("clip:\x1b]52;c;aGVsbG8=\x07", "title:\x1b]0;pwned\x07", "clear:\x1b[2J",
                "c1:\x9b2J", "split:\x1b]0;split-title\x07", "repr:\x1b]0;repr-title\x07"):
        assert raw in res.stdout, f"--raw did not keep {raw!r}:\n{res.stdout!r}"
    assert "err:\x1b]0;stderr-title\x07" in res.stderr


def test_exec_shows_output_that_holds_a_nul(d):
    # Nothing is lost with it: the text after the NUL, and the next print.
    cid = start(d)
    res = d.cli("exec", "-c", cid, "print('a\\x00b'); print('after')")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout == "a^@b\nafter\n", repr(res.stdout)
    raw = subprocess.run([str(ku.SANDCELL), "exec", "-c", cid, "--raw", "print('c\\x00d')"],
                         capture_output=True, env=d.cli_env(), timeout=ku.TIMEOUT)
    assert raw.returncode == 0, raw.stderr
    assert raw.stdout == b"c\x00d\n", raw.stdout
