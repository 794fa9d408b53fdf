"""The kernel under test through jupyter_kernel_test, the Jupyter project's
own conformance suite (every message is checked against the v5 spec).

Only the base module is imported, never the KernelTests name itself, so that
pytest does not also collect the base class (which would test "python3").
"""

import pytest

import jupyter_kernel_test as jkt
import kernel_util as ku


@pytest.mark.usefixtures("jupyter_env")
class TestKernelSuite(jkt.KernelTests):
    kernel_name = ku.KERNEL_NAME

    language_name = "python"
    file_extension = ".py"

    code_hello_world = 'print("hello, world")'

    code_stderr = 'import sys; print("to stderr", file=sys.stderr)'

    completion_samples = [
        {"text": "zi", "matches": {"zip"}},
        # No expected matches: only checks that the reply is well formed.
        {"text": "import os; os.pa"},
    ]

    complete_code_samples = [
        "1",
        "print('hello, world')",
        "def f(x):\n  return x*2\n\n\n",
        "x = [1,\n     2]",
    ]
    incomplete_code_samples = [
        "print('''hello",
        "def f(x):\n  x*2",
        "for i in range(3):",
        "x = [1,",
    ]
    invalid_code_samples = ["import = 7q", "x = = 1"]

    # Pager payloads are not supported by sandcell.
    code_page_something = ""

    code_generate_error = "raise ValueError('boom')"

    # The history test re-runs these codes; code_history_pattern must match
    # exactly one of them (glob syntax, as the messaging spec says).
    code_execute_result = [
        {"code": "1+2", "result": "3"},
        {"code": "6*7", "result": "42"},
        {"code": "'sand' + 'cell'", "result": "'sandcell'"},
        # Only the presence of text/html is checked by the suite.
        {"code": "import pandas as pd; pd.DataFrame({'a': [1, 2]})", "mime": "text/html"},
    ]

    code_display_data = [
        {
            "code": "from IPython.display import HTML, display; display(HTML('<b>test</b>'))",
            "mime": "text/html",
        },
        {
            "code": (
                "import base64\nfrom IPython.display import Image, display\n"
                f"display(Image(data=base64.b64decode('{ku.TINY_PNG_B64}')))"
            ),
            "mime": "image/png",
        },
        {
            "code": "from IPython.display import Markdown, display; display(Markdown('# hi'))",
            "mime": "text/markdown",
        },
        {"code": "display(42)", "mime": "text/plain"},
    ]

    code_history_pattern = "1+2"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "zip"

    code_clear_output = "from IPython.display import clear_output; clear_output()"

    if ku.IS_IPYKERNEL:
        # Known ipykernel deviation: a range request on the current session
        # answers with session number 0 instead of the number that the tail
        # request reported, which the suite rejects. Kept strict so a change
        # in ipykernel shows up.
        @pytest.mark.xfail(
            strict=True, reason="IPython reports the current session as 0 in range replies"
        )
        def test_history(self):
            super().test_history()
