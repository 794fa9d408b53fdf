/* test_journal_read — the journal reader against valid and invalid files,
 * each written to a temporary file: every rejection names the line and
 * the reason, a torn last line is a warning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_read.h"
#include "tap.h"

#define HEADER                                                                          \
    "{\"type\":\"header\",\"format\":\"sandcell-journal\",\"version\":1,"              \
    "\"conversation\":\"c1\",\"created\":\"2026-01-01T00:00:00.000000Z\","              \
    "\"sandcell\":\"0.1\",\"python\":\"3.11.2\",\"limits\":{\"timeout_s\":30,"          \
    "\"memory_mib\":512,\"pids\":64,\"cpus\":1.0,\"disk_mib\":100,\"open_files\":256,"  \
    "\"max_output_bytes\":10485760,\"data_dir\":null,\"jail\":true,\"cgroups\":true,"   \
    "\"max_executions\":0},\"preload\":{\"pandas\":\"1.5.3\",\"numpy\":null}}\n"

#define EXEC(n, code, outputs)                                                          \
    "{\"type\":\"execution\",\"execution_count\":" #n ",\"code\":\"" code "\","         \
    "\"silent\":false,\"store_history\":true,\"interpreter\":1,"                        \
    "\"started\":\"2026-01-01T00:00:01Z\",\"duration_s\":0.01,\"cpu_s\":0.01,"          \
    "\"peak_memory_bytes\":null,\"status\":\"ok\",\"outputs\":[" outputs "],"           \
    "\"reply\":{\"status\":\"ok\",\"execution_count\":" #n "}}\n"

#define STREAM(text) "{\"msg_type\":\"stream\",\"content\":{\"name\":\"stdout\",\"text\":\"" text "\"}}"

static char s_dir[] = "/tmp/test_journal_read.XXXXXX";

/* Writes |text| to a fresh file; returns its path (static buffer). */
static const char *s_write(const char *text)
{
    static char path[256];
    static int n;
    snprintf(path, sizeof path, "%s/j%d.jsonl", s_dir, n++);
    FILE *f = fopen(path, "w");
    if (!f)
        TAP_BAIL("cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

static json_t *s_read(const char *text, char *why, size_t why_len, char *warn, size_t warn_len)
{
    why[0] = '\0';
    return journal_read(s_write(text), why, why_len, warn, warn_len);
}

static void test_valid(void)
{
    char why[512], warn[512];
    json_t *j = s_read(HEADER EXEC(1, "x = 1", "") EXEC(2, "print(x)", STREAM("1\\n"))
                       "{\"type\":\"later-kind\",\"n\":1}\n"
                       "{\"type\":\"end\",\"reason\":\"stop\",\"time\":\"2026\"}\n",
                       why, sizeof why, warn, sizeof warn);
    CHECK(j != NULL);
    CHECK_STR(warn, "");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "header"), "conversation")),
              "c1");
    json_t *ex = json_object_get(j, "executions");
    CHECK_INT(json_array_size(ex), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(ex, 1), "code")), "print(x)");
    CHECK_INT(json_object_size(j), 3);
    CHECK_INT(json_array_size(json_object_get(j, "files")), 0);
    json_decref(j);
    tap_case("a valid journal: header and executions in order, unknown and end records left out");

    j = s_read(HEADER "{\"type\":\"file\",\"path\":\"a.csv\",\"size\":2,"
                      "\"content_base64\":\"eDE=\"}\n" EXEC(1, "x = 1", "")
                      "{\"type\":\"file\",\"path\":\"b\",\"size\":9,\"omitted\":\"too big\"}\n",
               why, sizeof why, warn, sizeof warn);
    CHECK(j != NULL);
    json_t *files = json_object_get(j, "files");
    CHECK_INT(json_array_size(files), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(files, 0), "after")), 0);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(files, 1), "after")), 1);
    CHECK_INT(json_array_size(json_object_get(j, "executions")), 1);
    json_decref(j);
    tap_case("file records are kept apart, each with the number of executions before it");

    j = s_read(HEADER, why, sizeof why, warn, sizeof warn);
    CHECK(j && json_array_size(json_object_get(j, "executions")) == 0);
    json_decref(j);
    tap_case("a header alone is a journal with no executions");

    j = s_read(HEADER "{\"type\":\"execution\",\"code\":\"1\",\"future\":[1,2]}\n", why,
               sizeof why, warn, sizeof warn);
    CHECK(j != NULL);
    CHECK(json_object_get(json_array_get(json_object_get(j, "executions"), 0), "future"));
    json_decref(j);
    tap_case("only code is required; unknown keys are kept");

    j = s_read(HEADER EXEC(1, "x = 1", "") "{\"type\":\"execution\",\"execution_c", why,
               sizeof why, warn, sizeof warn);
    CHECK(j != NULL);
    CHECK_INT(json_array_size(json_object_get(j, "executions")), 1);
    CHECK(strstr(warn, ":3: ") != NULL);
    json_decref(j);
    tap_case("a torn last line is skipped with a warning naming it (%s)", warn);

    j = s_read(HEADER EXEC(1, "x = 1", "") "{\"type\":\"end\",\"reason\":\"stop\"}", why,
               sizeof why, warn, sizeof warn);
    CHECK(j != NULL && strstr(warn, ":3: ") != NULL);
    json_decref(j);
    tap_case("a last line without newline is skipped even if it parses");
}

static const struct {
    const char *text;
    const char *line;   /* ":N: " the error must name */
    const char *reason; /* a word the reason must contain */
} s_invalid[] = {
    {"", ":1: ", "empty"},
    {"{\"type\":\"header\",\"format\":\"sandcell-journal\"", ":1: ", "header"},
    {"not json\n", ":1: ", "not JSON"},
    {"[1,2]\n", ":1: ", "object"},
    {"{\"type\":\"execution\",\"code\":\"1\"}\n", ":1: ", "header"},
    {"{\"type\":\"header\",\"format\":\"other\",\"version\":1,\"limits\":{}}\n", ":1: ", "format"},
    {"{\"type\":\"header\",\"format\":\"sandcell-journal\",\"version\":2,\"limits\":{}}\n", ":1: ",
     "version 2"},
    {"{\"type\":\"header\",\"format\":\"sandcell-journal\",\"version\":\"1\",\"limits\":{}}\n",
     ":1: ", "version"},
    {"{\"type\":\"header\",\"format\":\"sandcell-journal\",\"version\":1}\n", ":1: ", "limits"},
    {"{\"type\":\"header\",\"format\":\"sandcell-journal\",\"version\":1,"
     "\"limits\":{\"memory_mib\":\"lots\"}}\n", ":1: ", "memory_mib"},
    {HEADER "this is not json\n" EXEC(2, "x", ""), ":2: ", "not JSON"},
    {HEADER "\n" EXEC(2, "x", ""), ":2: ", "not JSON"},
    {HEADER EXEC(1, "x", "") "42\n", ":3: ", "object"},
    {HEADER "{\"type\":\"execution\",\"execution_count\":1}\n", ":2: ", "\"code\" is missing"},
    {HEADER "{\"type\":\"execution\",\"code\":7}\n", ":2: ", "\"code\" must be a string"},
    {HEADER "{\"type\":\"file\",\"size\":1,\"omitted\":\"x\"}\n", ":2: ", "\"path\" is missing"},
    {HEADER "{\"type\":\"file\",\"path\":\"a\",\"size\":-1,\"omitted\":\"x\"}\n", ":2: ",
     "negative"},
    {HEADER "{\"type\":\"file\",\"path\":\"a\",\"size\":1}\n", ":2: ", "neither"},
    {HEADER "{\"type\":\"execution\",\"code\":\"x\",\"execution_count\":\"3\"}\n", ":2: ",
     "execution_count"},
    {HEADER "{\"type\":\"execution\",\"code\":\"x\",\"interpreter\":0}\n", ":2: ", "interpreter"},
    {HEADER "{\"type\":\"execution\",\"code\":\"x\",\"outputs\":{}}\n", ":2: ", "outputs"},
    {HEADER EXEC(1, "x", "{\"msg_type\":\"stream\",\"content\":{\"name\":\"stdout\"}}"), ":2: ",
     "\"text\" is missing"},
    {HEADER EXEC(1, "x", "{\"msg_type\":\"error\",\"content\":{\"ename\":\"E\",\"evalue\":\"v\","
                         "\"traceback\":[1]}}"), ":2: ", "traceback"},
    {HEADER EXEC(1, "x", "{\"msg_type\":\"display_data\",\"content\":{\"data\":[]}}"), ":2: ",
     "data"},
    {HEADER EXEC(1, "x", "\"text\""), ":2: ", "outputs[0]"},
    {HEADER EXEC(1, "x", "{\"msg_type\":\"execute_result\",\"content\":{\"data\":"
                         "{\"text/plain\":5},\"execution_count\":1}}"), ":2: ", "text/plain"},
    {HEADER "{\"code\":\"x\"}\n", ":2: ", "type"},
    {HEADER "{\"type\":\"execution\",\"code\":\"x\",\"code\":\"y\"}\n", ":2: ", "duplicate"},
    {HEADER "{\"type\":\"execution\",\"code\":\"\xff\"}\n", ":2: ", "not JSON"},
    {"{\"type\":\"header\",\"format\":\"\\u001b[2J\",\"version\":1,\"limits\":{}}\n", ":1: ",
     "unknown format"},
    {"hunter2 secret\n", ":1: ", "not a sandcell journal"},
    {"{\"type\":\"header\",\"format\":\"hunter2\",\"version\":1,\"limits\":{}}\n", ":1: ",
     "not a sandcell journal"},
    {HEADER "\x1b[31m\n", ":2: ", "not JSON"},
};

static void test_invalid(void)
{
    for (size_t i = 0; i < sizeof s_invalid / sizeof *s_invalid; i++) {
        char why[512], warn[512];
        json_t *j = s_read(s_invalid[i].text, why, sizeof why, warn, sizeof warn);
        CHECK(j == NULL);
        CHECK(strstr(why, s_dir) == why);
        CHECK(strstr(why, s_invalid[i].line) != NULL);
        CHECK(strstr(why, s_invalid[i].reason) != NULL);
        CHECK(strchr(why, '\x1b') == NULL);
        CHECK(strstr(why, "hunter") == NULL); /* nothing of a non-journal is quoted */
        CHECK(strstr(why, "near") == NULL);
        json_decref(j);
        tap_case("invalid journal %zu: %s", i, why);
    }
}

static void test_not_a_file(void)
{
    char why[512], warn[512], path[300];
    snprintf(path, sizeof path, "%s/missing.jsonl", s_dir);
    CHECK(journal_read(path, why, sizeof why, warn, sizeof warn) == NULL);
    CHECK(strstr(why, path) && strstr(why, "No such file"));
    tap_case("a missing file is named (%s)", why);

    CHECK(journal_read(s_dir, why, sizeof why, warn, sizeof warn) == NULL);
    CHECK(strstr(why, s_dir) && strstr(why, "directory"));
    tap_case("a directory is refused (%s)", why);

    snprintf(path, sizeof path, "%s/fifo.jsonl", s_dir);
    CHECK(mkfifo(path, 0600) == 0);
    CHECK(journal_read(path, why, sizeof why, warn, sizeof warn) == NULL);
    CHECK(strstr(why, path) && strstr(why, "FIFO"));
    tap_case("a FIFO is refused at once, never waited on (%s)", why);

    CHECK(journal_read("/dev/zero", why, sizeof why, warn, sizeof warn) == NULL);
    CHECK(strstr(why, "device") != NULL);
    tap_case("a device is refused (%s)", why);
}

int main(void)
{
    if (!mkdtemp(s_dir))
        TAP_BAIL("mkdtemp failed");
    test_valid();
    test_invalid();
    test_not_a_file();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", s_dir);
    return tap_done();
}
