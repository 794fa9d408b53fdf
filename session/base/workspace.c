/* workspace — put and get through the interpreter's own root. */
#include "workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <sodium.h>
#include <unistd.h>

#include "util.h"

static int s_fail(char *why, size_t why_len, const char *path, const char *reason)
{
    snprintf(why, why_len, "%s: %s", path, reason);
    return -1;
}

/* Refuses what is not a plain relative path inside the workspace. */
static int s_check_path(const char *path, char *why, size_t why_len)
{
    if (!path || !path[0])
        return s_fail(why, why_len, "\"\"", "empty path");
    if (path[0] == '/')
        return s_fail(why, why_len, path, "absolute paths are refused; give a path relative "
                                          "to the workspace");
    if (strlen(path) > 1024)
        return s_fail(why, why_len, "path", "too long");
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return s_fail(why, why_len, path, "\"..\" is refused: the path must stay inside "
                                              "the workspace");
        p += n + (p[n] == '/');
    }
    return 0;
}

static int s_open_root(pid_t pid, bool jailed, char *why, size_t why_len)
{
    char root[64];
    snprintf(root, sizeof root, jailed ? "/proc/%d/root/workspace" : "/proc/%d/cwd", (int)pid);
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        snprintf(why, why_len, "the workspace is not reachable: %s", strerror(errno));
    return fd;
}

static int s_openat2(int dirfd, const char *path, int flags, mode_t mode)
{
    /* openat2 refuses O_NONBLOCK next to O_PATH. */
    int extra = O_CLOEXEC | O_NOFOLLOW | (flags & O_PATH ? 0 : O_NONBLOCK);
    struct open_how how = {
        .flags = (unsigned long long)(flags | extra),
        .mode = flags & O_CREAT ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                   RESOLVE_NO_XDEV,
    };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static const char *s_open_error(int err)
{
    switch (err) {
    case ELOOP:
        return "symbolic links are refused";
    case EXDEV:
        return "the path leaves the workspace";
    case ENOENT:
        return "no such file in the workspace";
    case ENXIO:
    case EISDIR:
        return "not a regular file";
    default:
        return strerror(err);
    }
}

/* The interpreter's user outside its namespace, from /proc/PID/status. */
static void s_owner(pid_t pid, uid_t *uid, gid_t *gid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned v;
        if (sscanf(line, "Uid: %u", &v) == 1)
            *uid = v;
        else if (sscanf(line, "Gid: %u", &v) == 1)
            *gid = v;
    }
    fclose(f);
}

/* Why a write into the workspace failed, for the reply. */
static const char *s_write_error(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
        return "the workspace is full (its --disk limit); nothing was written";
    case EFBIG:
        return "larger than the workspace accepts; nothing was written";
    default:
        return strerror(err);
    }
}

/* Writes |data| to a new temporary file in |dir| and renames it to |name|
 * (replacing a regular file of that name in one step). On any failure the
 * temporary file is removed. Returns 0 or an errno; *stage says which step
 * failed ("open", "write", "rename"). */
static int s_write_renamed(int dir, const char *name, const void *data, size_t len,
                           const char **stage)
{
    unsigned char rnd[6];
    char tmp[64];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(tmp, sizeof tmp, ".sandcell-put-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5]);
    *stage = "open";
    _cleanup_close_ int fd = s_openat2(dir, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return errno;
    int err = 0;
    *stage = "write";
    for (size_t off = 0; off < len && !err;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno != EINTR)
            err = errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (!err && close(steal_fd(&fd)) < 0) /* tmpfs and others report ENOSPC here too */
        err = errno;
    if (!err) {
        *stage = "rename";
        if (renameat(dir, tmp, dir, name) < 0)
            err = errno;
    }
    if (err)
        unlinkat(dir, tmp, 0);
    return err;
}

int workspace_put(pid_t pid, bool jailed, const char *path, const void *data, size_t len,
                  char *why, size_t why_len)
{
    if (s_check_path(path, why, why_len) < 0)
        return -1;
    if (len > WORKSPACE_MAX_FILE)
        return s_fail(why, why_len, path, "larger than the 16 MiB limit of put");
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!name[0] || strcmp(name, ".") == 0)
        return s_fail(why, why_len, path, "names a folder, not a file");
    _cleanup_close_ int root = s_open_root(pid, jailed, why, why_len);
    if (root < 0)
        return -1;
    _cleanup_close_ int dir = -1;
    if (slash) {
        char folder[1100];
        snprintf(folder, sizeof folder, "%.*s", (int)(slash - path), path);
        dir = s_openat2(root, folder, O_PATH | O_DIRECTORY, 0);
        if (dir < 0 && errno == ENOTDIR) { /* a symbolic link says ENOTDIR too */
            _cleanup_close_ int what = s_openat2(root, folder, O_PATH, 0);
            struct stat lst;
            if (what >= 0 && fstat(what, &lst) == 0 && S_ISLNK(lst.st_mode))
                errno = ELOOP;
            else
                errno = ENOTDIR;
        }
        if (dir < 0) {
            char reason[1200];
            snprintf(reason, sizeof reason,
                     errno == ENOENT    ? "the folder %s does not exist in the workspace"
                     : errno == ENOTDIR ? "%s is not a folder"
                                        : "the folder %s: cannot be reached",
                     folder);
            return s_fail(why, why_len, path, errno == ENOENT || errno == ENOTDIR
                                                  ? reason
                                                  : s_open_error(errno));
        }
    }
    int at = slash ? dir : root;
    /* Look before writing: never replace a FIFO, a device or a folder. */
    _cleanup_close_ int probe = s_openat2(at, name, O_PATH, 0);
    struct stat st;
    if (probe >= 0 && (fstat(probe, &st) < 0 || !S_ISREG(st.st_mode)))
        return s_fail(why, why_len, path, "exists and is not a regular file");
    if (probe < 0 && errno != ENOENT)
        return s_fail(why, why_len, path, s_open_error(errno));
    /* Create it as the interpreter's user: the file is then its own, and a
     * filesystem of its user namespace accepts the owner. setfsuid is
     * per thread, and this thread is the only one that touches files. */
    uid_t uid, old_uid = geteuid();
    gid_t gid, old_gid = getegid();
    s_owner(pid, &uid, &gid);
    bool become = old_uid == 0 && uid != (uid_t)-1 && uid != 0;
    if (become) {
        setfsgid(gid);
        setfsuid(uid);
    }
    const char *stage;
    int err = s_write_renamed(at, name, data, len, &stage);
    if (become) {
        setfsuid(old_uid);
        setfsgid(old_gid);
    }
    if (err)
        return s_fail(why, why_len, path,
                      strcmp(stage, "write") == 0 ? s_write_error(err) : s_open_error(err));
    return 0;
}

int workspace_get(pid_t pid, bool jailed, const char *path, void **data, size_t *len,
                  char *why, size_t why_len)
{
    *data = NULL;
    *len = 0;
    if (s_check_path(path, why, why_len) < 0)
        return -1;
    _cleanup_close_ int root = s_open_root(pid, jailed, why, why_len);
    if (root < 0)
        return -1;
    _cleanup_close_ int fd = s_openat2(root, path, O_RDONLY, 0);
    if (fd < 0)
        return s_fail(why, why_len, path, s_open_error(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return s_fail(why, why_len, path, "not a regular file");
    if ((size_t)st.st_size > WORKSPACE_MAX_FILE)
        return s_fail(why, why_len, path, "larger than the 16 MiB limit of get");
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return s_fail(why, why_len, path, "out of memory");
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    *data = buf;
    *len = got;
    return 0;
}

/* Lists through a descriptor opened beneath the root like a get, so a
 * symlink the interpreter swaps in for |path| is refused, not followed;
 * entries are lstat'ed (fstatat AT_SYMLINK_NOFOLLOW) and a link is listed
 * as a link, never as what it points to. */
int workspace_list(pid_t pid, bool jailed, const char *path, json_t **out, char *why,
                   size_t why_len)
{
    *out = NULL;
    bool top = !path || !path[0] || strcmp(path, ".") == 0;
    if (!top && s_check_path(path, why, why_len) < 0)
        return -1;
    _cleanup_close_ int root = s_open_root(pid, jailed, why, why_len);
    if (root < 0)
        return -1;
    int fd = top ? openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                 : s_openat2(root, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return s_fail(why, why_len, top ? "." : path,
                      errno == ENOTDIR ? "not a directory" : s_open_error(errno));
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return s_fail(why, why_len, path, "cannot be read");
    }
    json_t *list = json_array();
    struct dirent *e;
    while (list && (e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        const char *type = S_ISREG(st.st_mode)   ? "file"
                           : S_ISDIR(st.st_mode) ? "directory"
                           : S_ISLNK(st.st_mode) ? "symlink"
                                                 : "other";
        json_t *entry = json_pack("{s:s%, s:s, s:I}", "name", e->d_name, strlen(e->d_name),
                                  "type", type, "size", (json_int_t)st.st_size);
        if (!entry) /* a name that is not UTF-8: no JSON string holds it */
            continue;
        if (json_array_append_new(list, entry) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    closedir(dir);
    if (!list)
        return s_fail(why, why_len, path, "out of memory");
    *out = list;
    return 0;
}
