/* paths — where sandcell's own files are. */
#ifndef SANDCELL_PATHS_H
#define SANDCELL_PATHS_H

#include <stddef.h>
#include <sys/types.h>

/* The absolute path of the running executable. Returns 0 or -1. */
int paths_self_exe(char *out, size_t len);

/* The sandcell-worker binary: next to the running executable (a build
 * tree), else in the installed libexec directory. Returns 0 or -1. */
int paths_worker(char *out, size_t len);

/* mkdir -p: creates |path| and every missing folder above it with |mode|
 * (folders that exist are left as they are). Returns 0 or -errno. */
int paths_mkdirs(const char *path, mode_t mode);

#endif
