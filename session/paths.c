/* paths — locating the executable and its worker. */
#include "paths.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

int paths_self_exe(char *out, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    if (n <= 0 || (size_t)n >= len - 1)
        return -1;
    out[n] = '\0';
    return 0;
}

int paths_worker(char *out, size_t len)
{
    if (paths_self_exe(out, len) == 0) {
        char *slash = strrchr(out, '/');
        if (slash && (size_t)(slash - out) + sizeof "/sandcell-worker" <= len) {
            strcpy(slash, "/sandcell-worker");
            if (access(out, X_OK) == 0)
                return 0;
        }
    }
    int n = snprintf(out, len, "%s/sandcell-worker", SC_PKGLIBEXECDIR);
    return n < 0 || (size_t)n >= len || access(out, X_OK) != 0 ? -1 : 0;
}
