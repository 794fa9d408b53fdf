/* install — the kernelspec: where it goes follows Jupyter's own rules
 * (jupyter kernelspec install): system-wide under /usr/local/share,
 * per user under $XDG_DATA_HOME or ~/.local/share, or under a prefix. */
#include "install.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"

static int s_kernels_dir(const cli_options_t *opts, char *out, size_t len)
{
    int n;
    switch (opts->scope) {
    case INSTALL_PREFIX:
        n = snprintf(out, len, "%s/share/jupyter/kernels", opts->prefix);
        break;
    case INSTALL_USER: {
        const char *xdg = getenv("XDG_DATA_HOME");
        const char *home = getenv("HOME");
        if (xdg && xdg[0])
            n = snprintf(out, len, "%s/jupyter/kernels", xdg);
        else if (home && home[0])
            n = snprintf(out, len, "%s/.local/share/jupyter/kernels", home);
        else
            return -ENOENT;
        break;
    }
    default:
        n = snprintf(out, len, "/usr/local/share/jupyter/kernels");
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int install_run(const cli_options_t *opts)
{
    char exe[PATH_MAX], dir[PATH_MAX], file[PATH_MAX + 16];
    if (paths_self_exe(exe, sizeof exe) < 0) {
        fprintf(stderr, "sandcell install: cannot find my own executable\n");
        return 1;
    }
    int rc = s_kernels_dir(opts, dir, sizeof dir);
    if (rc == 0 && strlen(dir) + sizeof "/" KERNELSPEC_NAME > sizeof dir)
        rc = -ENAMETOOLONG;
    if (rc < 0) {
        fprintf(stderr, "sandcell install: no kernels directory: %s\n", strerror(-rc));
        return 1;
    }
    strcat(dir, "/" KERNELSPEC_NAME);
    if ((rc = paths_mkdirs(dir, 0755)) < 0) {
        fprintf(stderr, "sandcell install: cannot create %s: %s\n", dir, strerror(-rc));
        return 1;
    }
    json_auto_t *spec = json_pack(
        "{s:[s, s, s, s], s:s, s:s, s:s, s:{}, s:{s:b}}", "argv", exe, "kernel", "-f",
        "{connection_file}", "display_name", "Python (sandcell)", "language", "python",
        "interrupt_mode", "message", "env", "metadata", "debugger", 0);
    snprintf(file, sizeof file, "%s/kernel.json", dir);
    if (!spec || json_dump_file(spec, file, JSON_INDENT(2)) < 0) {
        fprintf(stderr, "sandcell install: cannot write %s: %s\n", file, strerror(errno));
        return 1;
    }
    printf("Installed kernelspec %s in %s\n", KERNELSPEC_NAME, dir);
    return 0;
}
