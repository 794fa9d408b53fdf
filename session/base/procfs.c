/* procfs — what /proc says of a process. */
#include "procfs.h"
#include <dirent.h>
#include <stdio.h>

long procfs_count_fds(pid_t pid)
{
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/fd");
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return pid ? n : n - 1; /* in this process, the DIR's own descriptor */
}
