"""Jupyter conventions a frontend relies on, as ipykernel keeps them:
kernel_info's language_info (highlighting, exporters), one banner whatever
state the interpreter is in and whichever path started the kernel, and
`exit`, `exit()` and `quit()` asking the frontend to end the session (the
ask_exit payload) instead of raising SystemExit. Every test but the
sandcell-only ones runs against ipykernel too (SANDCELL_TEST_KERNEL=python3),
which is how the expected values were checked."""

import platform

import pytest

import kernel_util as ku

# ipykernel 6 on Python 3 (Debian bookworm's python3-ipykernel).
LANGUAGE_INFO = {
    "name": "python",
    "version": platform.python_version(),
    "mimetype": "text/x-python",
    "file_extension": ".py",
    "pygments_lexer": "ipython3",
    "codemirror_mode": {"name": "ipython", "version": 3},
    "nbconvert_exporter": "python",
}


@pytest.fixture
def t(kernel):
    km, kc = kernel
    return ku.Tracker(kc)


def kernel_info(kc):
    reply = kc.kernel_info(reply=True, timeout=ku.TIMEOUT)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]


def test_language_info_is_ipykernels(kernel):
    km, kc = kernel
    assert kernel_info(kc)["language_info"] == LANGUAGE_INFO


def test_one_banner_before_and_after_the_first_cell(kernel):
    """jupyter_console prints the banner of the first kernel_info_reply,
    which arrives before the interpreter has run anything."""
    km, kc = kernel
    first = kernel_info(kc)
    ku.Tracker(kc).run_ok("1 + 1")
    again = kernel_info(kc)
    assert first["banner"] == again["banner"]
    assert first["language_info"] == again["language_info"]
    assert f"Python {platform.python_version()}" in first["banner"]
    assert first["help_links"] == again["help_links"]


@ku.requires_sandcell
def test_one_banner_after_the_interpreter_died(kernel):
    km, kc = kernel
    before = kernel_info(kc)
    res = ku.Tracker(kc).run("import os\nos._exit(3)")
    assert res.status == "error"
    assert kernel_info(kc) == before
    ku.Tracker(kc).run_ok("1 + 1")
    assert kernel_info(kc) == before


@pytest.mark.parametrize("code, keep", [
    ("exit", False), ("exit()", False), ("quit", False), ("quit()", False),
    ("quit(keep_kernel=True)", True), ("exit(keep_kernel=True)", True),
])
def test_exit_asks_the_frontend(t, code, keep):
    res = t.run(code)
    assert res.status == "ok", res.describe()
    assert res.content["payload"] == [{"source": "ask_exit", "keepkernel": keep}]
    assert res.outputs == [], res.describe()  # no SystemExit, no repr of exit
    # The kernel itself keeps running: ending it is the frontend's part.
    after = t.run_ok("40 + 2")
    assert after.result_data()["text/plain"] == "42"
    assert after.content["payload"] == []


def test_exit_lets_the_rest_of_the_cell_run(t):
    res = t.run("exit()\nprint('after exit')")
    assert res.status == "ok", res.describe()
    assert res.stream_text("stdout") == "after exit\n"
    assert res.content["payload"] == [{"source": "ask_exit", "keepkernel": False}]


def test_exit_twice_is_one_payload(t):
    res = t.run("exit()\nquit(keep_kernel=True)")
    assert res.content["payload"] == [{"source": "ask_exit", "keepkernel": True}]


def test_exit_as_a_value_is_not_called(t):
    res = t.run_ok("e = exit\ntype(e).__name__ != 'NoneType'")
    assert res.content["payload"] == []
    assert res.result_data()["text/plain"] == "True"


def test_sys_exit_is_still_an_error(t):
    """IPython reports SystemExit from sys.exit() as an error (without
    ending anything); only exit and quit ask the frontend."""
    res = t.run("import sys\nsys.exit(3)")
    assert res.status == "error"
    assert res.error()["ename"] == "SystemExit"
    assert not res.content.get("payload")


# -------------------------------------------------------------- the daemon

@ku.requires_sandcell
def test_daemon_conversation_has_the_kernels_banner(kernel, tmp_path):
    km, kc = kernel
    expected = kernel_info(kc)
    with ku.serve_daemons(tmp_path) as start:
        d = start(["--max-conversations", "2"])
        conv = d.control.start()
        dkc = d.client(conv["connection"])
        got = kernel_info(dkc)
        for key in ("banner", "language_info", "help_links", "implementation",
                    "implementation_version", "protocol_version"):
            assert got[key] == expected[key], key
        res = ku.Tracker(dkc).run("exit")
        assert res.content["payload"] == [{"source": "ask_exit", "keepkernel": False}]
        assert kernel_info(dkc)["banner"] == expected["banner"]
