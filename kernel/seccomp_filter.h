/* seccomp_filter — the system-call allowlist every interpreter runs under. */
#ifndef SANDCELL_SECCOMP_FILTER_H
#define SANDCELL_SECCOMP_FILTER_H

#include <stddef.h>

/* Loads the filter into the calling thread (no_new_privs must be set).
 * Returns 0, or -errno with a reason in |why|. */
int seccomp_filter_install(char *why, size_t why_len);

#endif
