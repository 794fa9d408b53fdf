/* runtime_file — the daemon's runtime file (how clients find its control
 * endpoint and key) and the lock that makes it one daemon's.
 *
 * A daemon claims PATH by an exclusive flock on PATH.lock, held for its
 * whole life: the kernel drops it when the daemon ends, even by SIGKILL,
 * so a live holder is never mistaken for a dead one and a dead one never
 * blocks (a pid in a file could belong to anyone by then). */
#ifndef SANDCELL_RUNTIME_FILE_H
#define SANDCELL_RUNTIME_FILE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct runtime_file runtime_file_t;

/* Writes the runtime file's path into |out|, for the daemon and for its
 * clients alike: |given| (NULL or "": none), else $SANDCELL_RUNTIME_FILE,
 * else $XDG_RUNTIME_DIR/sandcell-serve.json, else
 * /tmp/sandcell-UID/serve.json. Returns 0, or -1 if it does not fit. */
int runtime_file_path(const char *given, char *out, size_t len);

/* Claims |path| for this process: makes its folder (0700) if missing and
 * takes the lock on PATH.lock, writing our pid into it. Caller owns the
 * result. Returns NULL with a one-line reason in |why| when another
 * process holds the lock (*holder: its pid, 0 if it cannot be read) or
 * on an error (*holder: -1). */
runtime_file_t *runtime_file_claim(const char *path, pid_t *holder, char *why, size_t why_len);

/* Writes the runtime file, 0600, through a temporary file renamed over
 * PATH: transport, ip, control_port, key, signature_scheme, pid, and with
 * an HTTP front door http_url and http_token (|http_url| NULL: neither;
 * |http_token| NULL or "": no http_token). Does not take ownership of the
 * strings. Returns 0, or -1 with |why| set. */
int runtime_file_write(runtime_file_t *self, const char *ip, int port, const char *key,
                       const char *http_url, const char *http_token, char *why,
                       size_t why_len);

/* Removes the runtime file if PATH is still the file we wrote (same
 * device and inode: never one another program put there), removes the
 * lock file while holding it, then drops the lock. Sets *self_p to NULL. */
void runtime_file_release(runtime_file_t **self_p);

#endif
