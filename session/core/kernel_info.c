/* kernel_info — the kernel_info_reply content and the notebook's
 * language_info, from one place.
 *
 * The values follow ipykernel's (codemirror_mode ipython 3, pygments_lexer
 * ipython3, nbconvert_exporter python), since frontends choose their
 * highlighting and exporters by them and a sandcell notebook should open
 * like any Python one. The banner names the Python and the sandbox in the
 * shape of IPython's (a version line, then a line about the kernel). */
#include "kernel_info.h"

#include "config.h"
#include <stdio.h>
#include <string.h>

#include "header.h"

const char kernel_info_banner[] = "Python " SC_PYTHON_VERSION "\n"
                                  "sandcell " PACKAGE_VERSION
                                  " -- Python in a sandbox, one interpreter per conversation.\n";

json_t *kernel_info_language(const char *python_version)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i}, s:s}", "name", "python",
                     "version", python_version ? python_version : SC_PYTHON_VERSION,
                     "mimetype", "text/x-python", "file_extension", ".py", "pygments_lexer",
                     "ipython3", "codemirror_mode", "name", "ipython", "version", 3,
                     "nbconvert_exporter", "python");
}

/* The Python reference of the embedded Python's minor version, and the
 * libraries every interpreter preloads by default. */
static json_t *s_help_links(void)
{
    char python[96];
    const char *v = SC_PYTHON_VERSION;
    const char *dot = strchr(v, '.');
    const char *second = dot ? strchr(dot + 1, '.') : NULL;
    int len = second ? (int)(second - v) : (int)strlen(v);
    snprintf(python, sizeof python, "https://docs.python.org/%.*s", len, v);
    return json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "text",
                     "Python Reference", "url", python, "text", "pandas", "url",
                     "https://pandas.pydata.org/docs/", "text", "NumPy", "url",
                     "https://numpy.org/doc/stable/", "text", "Matplotlib", "url",
                     "https://matplotlib.org/stable/");
}

json_t *kernel_info_content(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o*, s:s, s:o*, s:b}", "status", "ok",
                     "protocol_version", HEADER_PROTOCOL_VERSION, "implementation", "sandcell",
                     "implementation_version", PACKAGE_VERSION, "language_info",
                     kernel_info_language(NULL), "banner", kernel_info_banner, "help_links",
                     s_help_links(), "debugger", 0);
}
