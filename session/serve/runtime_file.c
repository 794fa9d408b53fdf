/* runtime_file — claim, write and release the daemon's runtime file.
 *
 * The lock file is removed on a clean exit, so a claimer may open a lock
 * file that its holder unlinks a moment later; after taking the lock it
 * checks that PATH.lock is still the file it locked, and starts again
 * otherwise (the usual unlink-safe lock file). A daemon killed outright
 * leaves PATH.lock and its runtime file behind; the next claim takes the
 * unlocked file over and the rename replaces the runtime file. */
#include "runtime_file.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct runtime_file {
    char path[PATH_MAX];
    char lock_path[PATH_MAX + 8];
    int lock_fd;
    bool written;       /* we wrote PATH: */
    dev_t dev;          /* its device */
    ino_t ino;          /* and inode */
};

int runtime_file_path(const char *given, char *out, size_t len)
{
    const char *env = getenv("SANDCELL_RUNTIME_FILE");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (given && given[0])
        n = snprintf(out, len, "%s", given);
    else if (env && env[0])
        n = snprintf(out, len, "%s", env);
    else if (xdg && xdg[0])
        n = snprintf(out, len, "%s/sandcell-serve.json", xdg);
    else
        n = snprintf(out, len, "/tmp/sandcell-%u/serve.json", (unsigned)getuid());
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The pid written in the lock file |fd|, or that of the runtime file
 * |path| (the holder may not have written its own yet); 0 if neither. */
static pid_t s_holder(int fd, const char *path)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
        buf[n] = '\0';
        long pid = strtol(buf, NULL, 10);
        if (pid > 0)
            return (pid_t)pid;
    }
    json_auto_t *rt = json_load_file(path, 0, NULL);
    json_int_t pid = json_integer_value(json_object_get(rt, "pid"));
    return pid > 0 ? (pid_t)pid : 0;
}

/* Makes the folder of |path| (0700) if it is missing. */
static int s_make_dir(const char *path, char *why, size_t why_len)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(why, why_len, "cannot create %.400s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

runtime_file_t *runtime_file_claim(const char *path, pid_t *holder, char *why, size_t why_len)
{
    *holder = -1;
    if (why_len)
        why[0] = '\0';
    runtime_file_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    self->lock_fd = -1;
    if (strlen(path) >= sizeof self->path) {
        snprintf(why, why_len, "the runtime file's path is too long: %.200s...", path);
        free(self);
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", path);
    if (s_make_dir(path, why, why_len) < 0) {
        free(self);
        return NULL;
    }
    snprintf(self->lock_path, sizeof self->lock_path, "%s.lock", path);
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(self->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            snprintf(why, why_len, "cannot open %.400s: %s", self->lock_path, strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int err = errno;
            if (err == EWOULDBLOCK) {
                *holder = s_holder(fd, path);
                char pid[32] = "";
                if (*holder > 0)
                    snprintf(pid, sizeof pid, " (pid %d)", (int)*holder);
                snprintf(why, why_len,
                         "%.400s belongs to a daemon that is running%s: it holds %.400s. Stop "
                         "it first, or give this one another --runtime-file",
                         path, pid, self->lock_path);
            } else {
                snprintf(why, why_len, "cannot lock %.400s: %s", self->lock_path,
                         strerror(err));
            }
            close(fd);
            break;
        }
        struct stat locked, now;
        if (fstat(fd, &locked) < 0 || stat(self->lock_path, &now) < 0 ||
            locked.st_dev != now.st_dev || locked.st_ino != now.st_ino) {
            close(fd); /* its holder removed it as we opened it: take the new one */
            continue;
        }
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
            snprintf(why, why_len, "cannot write %.400s: %s", self->lock_path, strerror(errno));
            close(fd);
            break;
        }
        self->lock_fd = fd;
        *holder = 0;
        return self;
    }
    if (why[0] == '\0')
        snprintf(why, why_len, "cannot lock %.400s: it keeps being replaced", self->lock_path);
    free(self);
    return NULL;
}

int runtime_file_write(runtime_file_t *self, const char *ip, int port, const char *key,
                       const char *http_url, const char *http_token, char *why,
                       size_t why_len)
{
    json_auto_t *rt = json_pack("{s:s, s:s, s:i, s:s, s:s, s:i}", "transport", "tcp", "ip", ip,
                                "control_port", port, "key", key, "signature_scheme",
                                "hmac-sha256", "pid", (int)getpid());
    if (rt && http_url) {
        json_object_set_new(rt, "http_url", json_string(http_url));
        if (http_token && *http_token)
            json_object_set_new(rt, "http_token", json_string(http_token));
    }
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", self->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (!rt || fd < 0 || fchmod(fd, 0600) < 0 || json_dumpfd(rt, fd, JSON_INDENT(2)) < 0 ||
        fsync(fd) < 0 || fstat(fd, &st) < 0 || rename(tmp, self->path) < 0) {
        snprintf(why, why_len, "cannot write %.400s: %s", self->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    self->written = true;
    self->dev = st.st_dev;
    self->ino = st.st_ino;
    return 0;
}

void runtime_file_release(runtime_file_t **self_p)
{
    runtime_file_t *self = *self_p;
    if (!self)
        return;
    struct stat st;
    if (self->written && lstat(self->path, &st) == 0 && st.st_dev == self->dev &&
        st.st_ino == self->ino)
        unlink(self->path);
    if (self->lock_fd >= 0) {
        unlink(self->lock_path); /* while holding it: see the top of the file */
        close(self->lock_fd);
    }
    free(self);
    *self_p = NULL;
}
