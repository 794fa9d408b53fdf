/* seccomp_filter — the system-call allowlist every interpreter runs under. */
#ifndef SANDCELL_SECCOMP_FILTER_H
#define SANDCELL_SECCOMP_FILTER_H

#include <linux/filter.h>
#include <stddef.h>

/* The allowlist compiled to a classic BPF program, ready to install. */
typedef struct {
    struct sock_filter *insns; /* owned */
    unsigned short len;        /* instructions */
} seccomp_filter_t;

/* Compiles the allowlist (libseccomp) into |out|; the caller owns it and
 * frees it with seccomp_filter_free(). Returns 0, or -errno with a reason
 * in |why|, leaving |out| empty. */
int seccomp_filter_compile(seccomp_filter_t *out, char *why, size_t why_len);

/* Installs a compiled program in the calling thread (no_new_privs must be
 * set). Does not take ownership. One system call, no allocation. Returns
 * 0, or -errno with a reason in |why|; an empty |filter| is an error. */
int seccomp_filter_load(const seccomp_filter_t *filter, char *why, size_t why_len);

void seccomp_filter_free(seccomp_filter_t *filter);

/* Compiles and loads in one go (sandcell doctor). Returns 0, or -errno with
 * a reason in |why|. */
int seccomp_filter_install(char *why, size_t why_len);

#endif
