/* procfs — what /proc says of a process. */
#ifndef SANDCELL_PROCFS_H
#define SANDCELL_PROCFS_H

#include <sys/types.h>

/* The descriptors open in process |pid| (0: this process, not counting
 * the one this call opens), or -1 if /proc cannot tell. */
long procfs_count_fds(pid_t pid);

#endif
