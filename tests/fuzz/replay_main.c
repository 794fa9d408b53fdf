/* replay_main — runs a fuzz harness over its corpus without libFuzzer, as
 * a unit test: every file of the corpus folder (the compiled-in
 * SC_FUZZ_CORPUS, or the folders and files given as arguments) is fed once
 * to LLVMFuzzerTestOneInput, in name order, and reported as one TAP case.
 *
 * Built with the ordinary compiler, so `make check` replays every seed and
 * every regression input in the normal and in the ASan/UBSan build; a
 * crash, a sanitizer report or a leak fails the test. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Optional hook of libFuzzer's contract, run once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int s_cases, s_failed;

/* Reads |path| whole. Caller frees *out. Returns 0 or -errno. */
static int s_read(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *more = realloc(buf, cap);
            if (!more) {
                free(buf);
                fclose(f);
                return -ENOMEM;
            }
            buf = more;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return -EIO;
    }
    *out = buf;
    *len = n;
    return 0;
}

static void s_run_file(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = s_read(path, &data, &len);
    s_cases++;
    if (rc < 0) {
        s_failed++;
        printf("not ok %d - %s: %s\n", s_cases, path, strerror(-rc));
        return;
    }
    /* A copy of exactly |len| bytes, as libFuzzer gives, so ASan sees any
     * read past the end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        s_failed++;
        printf("not ok %d - %s: out of memory\n", s_cases, path);
        return;
    }
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    printf("ok %d - %s (%zu bytes)\n", s_cases, path, len);
    fflush(stdout);
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of |dir| in name order; returns how many. */
static int s_run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        s_cases++;
        s_failed++;
        printf("not ok %d - %s: %s\n", s_cases, dir, strerror(errno));
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **more = realloc(names, cap * sizeof *names);
            if (!more)
                break;
            names = more;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, s_by_name);
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            s_run_file(path);
            ran++;
        }
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int ran = 0;
    if (argc < 2) {
#ifdef SC_FUZZ_CORPUS
        ran = s_run_dir(SC_FUZZ_CORPUS);
#endif
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            ran += s_run_dir(argv[i]);
        } else {
            s_run_file(argv[i]);
            ran++;
        }
    }
    if (ran == 0) { /* an empty corpus tests nothing: that is a failure */
        s_cases++;
        s_failed++;
        printf("not ok %d - no input in the corpus\n", s_cases);
    }
    printf("1..%d\n", s_cases);
    return s_failed ? 1 : 0;
}
