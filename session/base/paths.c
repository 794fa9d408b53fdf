/* paths — locating the executable and its worker; creating folders. */
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

int paths_mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}
