/* jail_root — the interpreter's root filesystem, built on a tmpfs and pivoted
 * into, inside the child's own mount namespace.
 *
 * The new root: /usr (and the merged-/usr symlinks) read-only, a few files
 * of /etc read-only (the loader cache, alternatives, matplotlibrc, Python's
 * site configuration, the time zone) next to a generated passwd, group and
 * hosts, a private /proc, a /dev with null, zero, full, random, urandom and
 * a private shm, a size-capped /workspace (the working directory) and /tmp,
 * and --data read-only at /data. Nothing of the host's /home, /root, /etc,
 * /run or /var.
 *
 * It is staged at /tmp, which only this mount namespace sees, then becomes
 * / by pivot_root; the old root is detached and / remounted read-only. A
 * bind mount is remounted with the flags the kernel has locked on its
 * source (nosuid, nodev, noexec, atime): a user namespace may not clear
 * them, and a remount that tries fails. Every failure ends the child
 * through jail_die(), naming the path. */
#include "jail_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NEWROOT "/tmp" /* staging point; only this mount namespace sees it */

static unsigned long s_locked_flags(const char *path)
{
    struct statvfs sv;
    if (statvfs(path, &sv) < 0)
        return 0;
    unsigned long f = 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    return f;
}

/* Bind-mounts host |src| at NEWROOT|dst| read-only; |dir| says which kind
 * of mount point to create. A missing source is skipped when |optional|. */
static void s_bind_ro(const char *src, const char *dst, bool dir, bool optional)
{
    char target[600];
    struct stat st;
    if (stat(src, &st) < 0) {
        if (optional)
            return;
        jail_die("filesystem", src, errno);
    }
    snprintf(target, sizeof target, NEWROOT "%s", dst);
    if (dir)
        CHECK("filesystem", target, mkdir(target, 0755) < 0 && errno != EEXIST ? -1 : 0);
    else
        CHECK("filesystem", target, close(open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)));
    CHECK("filesystem", src, mount(src, target, NULL, MS_BIND | MS_REC, NULL));
    CHECK("filesystem", target,
          mount(NULL, target, NULL,
                MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | s_locked_flags(target), NULL));
}

/* Reproduces the host's merged-/usr symlinks (/bin -> usr/bin, ...), or
 * binds the directory read-only where the host has a real one. */
static void s_top_level(const char *name)
{
    char link[256], target[300];
    ssize_t n = readlink(name, link, sizeof link - 1);
    if (n > 0) {
        link[n] = '\0';
        snprintf(target, sizeof target, NEWROOT "%s", name);
        CHECK("filesystem", target, symlink(link, target));
    } else {
        s_bind_ro(name, name, true, true);
    }
}

static void s_write_new(const char *path, const char *text)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0)
        jail_die("filesystem", path, errno);
    close(fd);
}

static void s_mount_tmpfs(const char *path, long size_mib, const char *mode, bool owned)
{
    char opts[96];
    snprintf(opts, sizeof opts, "mode=%s,size=%ldm", mode, size_mib);
    CHECK("filesystem", path, mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0);
    CHECK("filesystem", path, mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts));
    if (owned)
        CHECK("filesystem", path, chown(path, JAIL_UID, JAIL_GID));
}

static void s_build_dev(void)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom"};
    CHECK("filesystem", "/dev", mkdir(NEWROOT "/dev", 0755));
    CHECK("filesystem", "/dev",
          mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k"));
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
        char src[64], dst[96];
        snprintf(src, sizeof src, "/dev/%s", nodes[i]);
        snprintf(dst, sizeof dst, NEWROOT "/dev/%s", nodes[i]);
        CHECK("filesystem", dst, close(open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666)));
        CHECK("filesystem", src, mount(src, dst, NULL, MS_BIND, NULL));
    }
    CHECK("filesystem", "/dev/fd", symlink("/proc/self/fd", NEWROOT "/dev/fd"));
    CHECK("filesystem", "/dev/stdin", symlink("/proc/self/fd/0", NEWROOT "/dev/stdin"));
    CHECK("filesystem", "/dev/stdout", symlink("/proc/self/fd/1", NEWROOT "/dev/stdout"));
    CHECK("filesystem", "/dev/stderr", symlink("/proc/self/fd/2", NEWROOT "/dev/stderr"));
    s_mount_tmpfs(NEWROOT "/dev/shm", 64, "1777", false);
}

static void s_build_etc(void)
{
    static const char *const files[] = {"/etc/ld.so.cache", "/etc/localtime",
                                        "/etc/matplotlibrc", "/etc/mime.types"};
    static const char *const dirs[] = {"/etc/alternatives", "/etc/python3", "/etc/python3.11",
                                       "/etc/fonts"};
    CHECK("filesystem", "/etc", mkdir(NEWROOT "/etc", 0755));
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        s_bind_ro(files[i], files[i], false, true);
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        s_bind_ro(dirs[i], dirs[i], true, true);
    s_write_new(NEWROOT "/etc/passwd", "root:x:0:0:root:/:/usr/sbin/nologin\n"
                                       "sandbox:x:1000:1000:sandbox:" JAIL_WORKSPACE
                                       ":/bin/sh\n"
                                       "nobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n");
    s_write_new(NEWROOT "/etc/group", "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n");
    s_write_new(NEWROOT "/etc/hosts", "127.0.0.1 localhost sandcell\n::1 localhost\n");
    s_write_new(NEWROOT "/etc/hostname", "sandcell\n");
    s_write_new(NEWROOT "/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n");
}

/* /workspace as an overlay: the host folder |work_fd| below (never written:
 * overlayfs copies a file up before changing it), a tmpfs of the disk limit
 * above. The tmpfs is detached once the overlay holds it, so the jail sees
 * only the merged folder. */
static void s_mount_overlay_workspace(const jail_config_t *config, int work_fd)
{
    s_mount_tmpfs(NEWROOT "/.upper", config->disk_mib, "0755", false);
    CHECK("filesystem", "/.upper/files", mkdir(NEWROOT "/.upper/files", 0755));
    CHECK("filesystem", "/.upper/work", mkdir(NEWROOT "/.upper/work", 0755));
    CHECK("filesystem", "/.upper/files", chown(NEWROOT "/.upper/files", JAIL_UID, JAIL_GID));
    CHECK("filesystem", JAIL_WORKSPACE, mkdir(NEWROOT JAIL_WORKSPACE, 0755));
    char opts[160];
    snprintf(opts, sizeof opts,
             "lowerdir=/proc/self/fd/%d,upperdir=" NEWROOT "/.upper/files,workdir=" NEWROOT
             "/.upper/work",
             work_fd);
    CHECK("filesystem", config->work_dir,
          mount("overlay", NEWROOT JAIL_WORKSPACE, "overlay", MS_NOSUID | MS_NODEV, opts));
    CHECK("filesystem", "/.upper", umount2(NEWROOT "/.upper", MNT_DETACH));
    CHECK("filesystem", "/.upper", rmdir(NEWROOT "/.upper"));
    close(work_fd);
}

static void s_build_root(const jail_config_t *config, int data_fd, int work_fd)
{
    CHECK("filesystem", NEWROOT,
          mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m"));
    CHECK("filesystem", "/usr", mkdir(NEWROOT "/usr", 0755));
    s_bind_ro("/usr", "/usr", true, false);
    static const char *const tops[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
    for (size_t i = 0; i < sizeof tops / sizeof *tops; i++)
        s_top_level(tops[i]);
    s_build_etc();
    s_build_dev();
    CHECK("proc", "/proc", mkdir(NEWROOT "/proc", 0555));
    CHECK("proc", "/proc",
          mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    if (work_fd >= 0)
        s_mount_overlay_workspace(config, work_fd);
    else
        s_mount_tmpfs(NEWROOT JAIL_WORKSPACE, config->disk_mib, "0755", true);
    s_mount_tmpfs(NEWROOT "/tmp", config->disk_mib, "1777", false);
    if (data_fd >= 0) {
        char src[64];
        snprintf(src, sizeof src, "/proc/self/fd/%d", data_fd);
        CHECK("filesystem", "/data", mkdir(NEWROOT "/data", 0755));
        CHECK("filesystem", config->data_dir,
              mount(src, NEWROOT "/data", NULL, MS_BIND | MS_REC, NULL));
        CHECK("filesystem", "/data",
              mount(NULL, NEWROOT "/data", NULL,
                    MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
                        s_locked_flags(NEWROOT "/data"),
                    NULL));
        close(data_fd);
    }
    CHECK("filesystem", "/.oldroot", mkdir(NEWROOT "/.oldroot", 0755));
}

static void s_pivot(void)
{
    CHECK("pivot_root", NEWROOT, (int)syscall(SYS_pivot_root, NEWROOT, NEWROOT "/.oldroot"));
    CHECK("pivot_root", "/", chdir("/"));
    CHECK("pivot_root", "/.oldroot", umount2("/.oldroot", MNT_DETACH));
    CHECK("pivot_root", "/.oldroot", rmdir("/.oldroot"));
    CHECK("filesystem", "/", mount(NULL, "/", NULL,
                                   MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                                   NULL));
    CHECK("filesystem", JAIL_WORKSPACE, chdir(JAIL_WORKSPACE));
}

void jail_root_enter(const jail_config_t *config)
{
    CHECK("mount namespace", "make / private", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    int data_fd = -1;
    if (config->data_dir[0]) {
        data_fd = open(config->data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK("filesystem", config->data_dir, data_fd);
    }
    /* Opened as the jail's user: what it may read of the host folder is
     * what that user may (overlayfs reads the lower layer with the
     * mounter's rights), and a descriptor from outside cannot be a lower
     * layer, since it belongs to another mount namespace. */
    int work_fd = -1;
    if (config->work_dir[0]) {
        work_fd = open(config->work_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK("filesystem", config->work_dir, work_fd);
    }
    s_build_root(config, data_fd, work_fd);
    s_pivot();
}
