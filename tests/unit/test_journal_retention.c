/* test_journal_retention — the journal folder's age and size limits:
 * what goes, in which order, and what is never touched. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_retention.h"
#include "tap.h"

#define DAY 86400
static const time_t NOW = 1800000000;

static char s_dir[64];

/* Writes DIR/|name| with |size| bytes, last changed |age| seconds ago. */
static void s_file(const char *name, size_t size, time_t age)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        TAP_BAIL("cannot create %s", path);
    for (size_t i = 0; i < size; i++)
        fputc('x', f);
    fclose(f);
    struct timespec times[2] = {{NOW - age, 0}, {NOW - age, 0}};
    if (utimensat(AT_FDCWD, path, times, 0) < 0)
        TAP_BAIL("cannot set the time of %s", path);
}

static bool s_exists(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool s_live(const char *name, void *arg)
{
    return strcmp(name, (const char *)arg) == 0;
}

static void s_clean(void)
{
    static const char *const names[] = {"a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl",
                                        "notes.txt", "link.jsonl", "sub.jsonl", ".x.jsonl"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", s_dir, names[i]);
        if (unlink(path) < 0)
            rmdir(path);
    }
}

static void test_age(void)
{
    s_file("a.jsonl", 10, 40 * DAY);
    s_file("b.jsonl", 10, 31 * DAY);
    s_file("c.jsonl", 10, 29 * DAY);
    s_file("d.jsonl", 10, 45 * DAY); /* live: kept however old */
    s_file("notes.txt", 10, 90 * DAY);
    journal_retention_stats_t st;
    CHECK_INT(journal_retention_apply(s_dir, 30.0 * DAY, 0, NOW, s_live, "d.jsonl", &st), 0);
    CHECK(!s_exists("a.jsonl") && !s_exists("b.jsonl"));
    CHECK(s_exists("c.jsonl") && s_exists("d.jsonl") && s_exists("notes.txt"));
    CHECK_INT(st.removed, 2);
    CHECK_INT(st.removed_bytes, 20);
    CHECK_INT(st.kept, 2);
    s_clean();
    tap_case("journals unchanged for longer than the age go; a live one and other files stay");
}

static void test_size(void)
{
    s_file("a.jsonl", 400, 3 * DAY); /* oldest, but live */
    s_file("b.jsonl", 300, 2 * DAY);
    s_file("c.jsonl", 200, 1 * DAY);
    s_file("d.jsonl", 100, 0);
    journal_retention_stats_t st;
    CHECK_INT(journal_retention_apply(s_dir, 0, 750, NOW, s_live, "a.jsonl", &st), 0);
    /* 1000 bytes: b (the oldest not live) goes, leaving 700 */
    CHECK(s_exists("a.jsonl") && !s_exists("b.jsonl") && s_exists("c.jsonl") &&
          s_exists("d.jsonl"));
    CHECK_INT(st.kept_bytes, 700);
    CHECK_INT(journal_retention_apply(s_dir, 0, 450, NOW, s_live, "a.jsonl", &st), 0);
    CHECK(s_exists("a.jsonl") && !s_exists("c.jsonl") && !s_exists("d.jsonl"));
    CHECK_INT(st.removed, 2);
    s_clean();
    tap_case("past the size cap the oldest journals go first; the live one counts but stays");
}

static void test_left_alone(void)
{
    char target[128], link_path[128], sub[128];
    s_file("notes.txt", 1000, 100 * DAY);
    snprintf(target, sizeof target, "%s/notes.txt", s_dir);
    snprintf(link_path, sizeof link_path, "%s/link.jsonl", s_dir);
    snprintf(sub, sizeof sub, "%s/sub.jsonl", s_dir);
    CHECK(symlink(target, link_path) == 0);
    CHECK(mkdir(sub, 0700) == 0);
    s_file(".x.jsonl", 1000, 100 * DAY);
    CHECK_INT(journal_retention_apply(s_dir, 1.0 * DAY, 1, NOW, NULL, NULL, NULL), 0);
    CHECK(s_exists("link.jsonl") && s_exists("sub.jsonl") && s_exists("notes.txt") &&
          s_exists(".x.jsonl"));
    s_clean();
    CHECK(journal_retention_apply("/nonexistent/sandcell", 1, 1, NOW, NULL, NULL, NULL) < 0);
    tap_case("links, folders, hidden and other files are never removed; a missing folder is "
             "an error");
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/sandcell-retention-XXXXXX");
    if (!mkdtemp(s_dir))
        TAP_BAIL("mkdtemp failed");
    test_age();
    test_size();
    test_left_alone();
    rmdir(s_dir);
    return tap_done();
}
