/* test_cli — parsing of the sandcell command line, and the usage text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tap.h"
#include "util.h"

#define MAX_ARGS 16

/* Parses the NULL-terminated list of arguments after "sandcell". */
static int s_parse(cli_options_t *o, char *why, size_t why_len, const char *const *args)
{
    char *argv[MAX_ARGS + 2] = {(char *)"sandcell"};
    int argc = 1;
    while (args[argc - 1] && argc <= MAX_ARGS) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    memset(o, 0x5a, sizeof *o);
    why[0] = '\0';
    return cli_parse(argc, argv, o, why, why_len);
}

#define PARSE(o, why, ...)                                                          \
    s_parse((o), (why), sizeof(why), (const char *const[]){__VA_ARGS__, NULL})

static void test_install(void)
{
    cli_options_t o;
    char why[256];
    CHECK_INT(PARSE(&o, why, "install"), 0);
    CHECK_INT(o.command, CMD_INSTALL);
    CHECK_INT(o.scope, INSTALL_SYSTEM);
    CHECK(o.prefix == NULL);
    tap_case("install: system-wide by default");

    CHECK_INT(PARSE(&o, why, "install", "--user"), 0);
    CHECK_INT(o.command, CMD_INSTALL);
    CHECK_INT(o.scope, INSTALL_USER);
    tap_case("install --user");

    CHECK_INT(PARSE(&o, why, "install", "--prefix", "/opt/conda"), 0);
    CHECK_INT(o.command, CMD_INSTALL);
    CHECK_INT(o.scope, INSTALL_PREFIX);
    CHECK_STR(o.prefix, "/opt/conda");
    tap_case("install --prefix D");

    CHECK_INT(PARSE(&o, why, "install", "--user", "--prefix", "/opt"), -1);
    CHECK(why[0] != '\0');
    CHECK_INT(PARSE(&o, why, "install", "--prefix", "/opt", "--user"), -1);
    CHECK(strstr(why, "--user") && strstr(why, "--prefix"));
    tap_case("install with both --user and --prefix is an error, in either order (%s)", why);

    CHECK_INT(PARSE(&o, why, "install", "--prefix"), -1);
    CHECK(strstr(why, "--prefix") != NULL);
    CHECK_INT(PARSE(&o, why, "install", "--prefix", ""), -1);
    tap_case("install --prefix without a directory is an error (%s)", why);

    CHECK_INT(PARSE(&o, why, "install", "--sys-prefix"), -1);
    CHECK(strstr(why, "--sys-prefix") != NULL);
    CHECK_INT(PARSE(&o, why, "install", "-f", "x.json"), -1);
    tap_case("install with an unknown or misplaced option names it (%s)", why);
}

static void test_kernel(void)
{
    cli_options_t o;
    char why[256];
    CHECK_INT(PARSE(&o, why, "kernel", "-f", "/run/kernel-1.json"), 0);
    CHECK_INT(o.command, CMD_KERNEL);
    CHECK_STR(o.connection_file, "/run/kernel-1.json");
    CHECK_STR(o.preload, CLI_DEFAULT_PRELOAD);
    CHECK(!o.verbose && !o.mock_interpreter);
    tap_case("kernel -f F, with the default preload");

    CHECK_INT(PARSE(&o, why, "kernel", "--connection-file=/tmp/k.json"), 0);
    CHECK_STR(o.connection_file, "/tmp/k.json");
    CHECK_INT(PARSE(&o, why, "kernel", "--connection-file", "/tmp/k2.json"), 0);
    CHECK_STR(o.connection_file, "/tmp/k2.json");
    tap_case("kernel --connection-file F and --connection-file=F");

    CHECK_INT(PARSE(&o, why, "kernel", "--verbose", "--preload", "", "-f", "k.json",
                    "--mock-interpreter"),
              0);
    CHECK_STR(o.connection_file, "k.json");
    CHECK_STR(o.preload, "");
    CHECK(o.verbose && o.mock_interpreter);
    CHECK_INT(PARSE(&o, why, "kernel", "-f", "k.json", "--preload", "numpy"), 0);
    CHECK_STR(o.preload, "numpy");
    tap_case("kernel options in any order: --verbose, --preload, --mock-interpreter");

    CHECK_INT(PARSE(&o, why, "kernel"), -1);
    CHECK(strstr(why, "-f") != NULL);
    tap_case("kernel without -f is an error (%s)", why);

    CHECK_INT(PARSE(&o, why, "kernel", "-f"), -1);
    CHECK(why[0] != '\0');
    CHECK_INT(PARSE(&o, why, "kernel", "-f", "k.json", "--preload"), -1);
    tap_case("kernel -f or --preload without a value is an error (%s)", why);

    CHECK_INT(PARSE(&o, why, "kernel", "-f", "k.json", "--user"), -1);
    CHECK(strstr(why, "--user") != NULL);
    tap_case("kernel with an unknown option names it (%s)", why);
}

static void test_other(void)
{
    cli_options_t o;
    char why[256];
    CHECK_INT(PARSE(&o, why, "frobnicate"), -1);
    CHECK(strstr(why, "frobnicate") != NULL);
    CHECK_INT(PARSE(&o, why, "Install"), -1);
    CHECK_INT(PARSE(&o, why, "-f", "k.json"), -1);
    tap_case("unknown command is an error naming it (%s)", why);

    char *argv0[] = {(char *)"sandcell", NULL};
    why[0] = '\0';
    CHECK_INT(cli_parse(1, argv0, &o, why, sizeof why), -1);
    CHECK(why[0] != '\0');
    tap_case("no command is an error (%s)", why);

    CHECK_INT(PARSE(&o, why, "--help"), 0);
    CHECK_INT(o.command, CMD_HELP);
    CHECK(o.help_topic == NULL);
    CHECK_INT(PARSE(&o, why, "-h"), 0);
    CHECK_INT(o.command, CMD_HELP);
    tap_case("--help and -h");

    CHECK_INT(PARSE(&o, why, "kernel", "--help"), 0);
    CHECK_INT(o.command, CMD_HELP);
    CHECK_STR(o.help_topic, "kernel");
    CHECK_INT(PARSE(&o, why, "kernel", "-f", "k.json", "--help"), 0);
    CHECK_INT(o.command, CMD_HELP);
    CHECK_STR(o.help_topic, "kernel");
    CHECK_INT(PARSE(&o, why, "install", "-h"), 0);
    CHECK_INT(o.command, CMD_HELP);
    CHECK_STR(o.help_topic, "install");
    CHECK_INT(PARSE(&o, why, "help", "install"), 0);
    CHECK_INT(o.command, CMD_HELP);
    CHECK_STR(o.help_topic, "install");
    tap_case("kernel --help, install -h, help install: help on that command");

    CHECK_INT(PARSE(&o, why, "--version"), 0);
    CHECK_INT(o.command, CMD_VERSION);
    tap_case("--version");

    /* A small |why| is truncated, not overrun. */
    char small[8];
    memset(small, 'Z', sizeof small);
    CHECK_INT(s_parse(&o, small, 6, (const char *const[]){"frobnicate", NULL}), -1);
    CHECK_INT(strlen(small), 5);
    CHECK(small[6] == 'Z');
    tap_case("the reason is truncated to the given size");
}

static char *s_usage(const char *topic)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        TAP_BAIL("open_memstream failed");
    cli_usage(f, topic);
    fclose(f);
    return buf;
}

static void test_usage(void)
{
    char *all = s_usage(NULL);
    CHECK(strstr(all, "sandcell install") != NULL);
    CHECK(strstr(all, "sandcell kernel -f") != NULL);
    CHECK(strstr(all, "--version") != NULL);
    free(all);
    tap_case("usage lists every command");

    char *kernel = s_usage("kernel");
    CHECK(strstr(kernel, "sandcell kernel -f") != NULL);
    CHECK(strstr(kernel, "--preload") != NULL);
    CHECK(strstr(kernel, "sandcell install") == NULL);
    free(kernel);
    char *install = s_usage("install");
    CHECK(strstr(install, "--prefix") != NULL);
    CHECK(strstr(install, "sandcell kernel") == NULL);
    free(install);
    tap_case("usage of one command shows only that command");
}

static void test_journal_tools(void)
{
    cli_options_t o;
    char why[256];
    CHECK_INT(PARSE(&o, why, "export", "j.jsonl", "-o", "nb.ipynb"), 0);
    CHECK_INT(o.command, CMD_EXPORT);
    CHECK_STR(o.journal, "j.jsonl");
    CHECK_STR(o.output, "nb.ipynb");
    CHECK_INT(PARSE(&o, why, "export", "-o", "-", "j.jsonl"), 0);
    CHECK_STR(o.output, "-");
    tap_case("export JOURNAL -o FILE, in either order; -o - for stdout");

    CHECK_INT(PARSE(&o, why, "export", "j.jsonl"), -1);
    CHECK(strstr(why, "-o") != NULL);
    CHECK_INT(PARSE(&o, why, "export", "-o", "x.ipynb"), -1);
    CHECK(strstr(why, "JOURNAL") != NULL);
    CHECK_INT(PARSE(&o, why, "export", "a", "b", "-o", "x"), -1);
    CHECK_INT(PARSE(&o, why, "export", "a", "-o", "x", "--until", "3"), -1);
    CHECK(strstr(why, "--until") != NULL);
    tap_case("export without -o or a journal, with two journals or a replay flag fails (%s)", why);

    CHECK_INT(PARSE(&o, why, "replay", "j.jsonl"), 0);
    CHECK_INT(o.command, CMD_REPLAY);
    CHECK_INT(o.until, -1);
    CHECK(!o.limits.no_jail && !o.limits.no_cgroups && !o.limits.data_dir);
    CHECK_INT(PARSE(&o, why, "replay", "--until", "4", "j.jsonl", "--no-cgroups", "--data",
                    "/srv", "--verbose"), 0);
    CHECK_INT(o.until, 4);
    CHECK(o.limits.no_cgroups && o.verbose);
    CHECK_STR(o.limits.data_dir, "/srv");
    tap_case("replay JOURNAL [--until N] [--data DIR] [--no-cgroups] [--verbose]");

    CHECK_INT(PARSE(&o, why, "replay", "j", "--until", "0"), -1);
    CHECK_INT(PARSE(&o, why, "replay", "j", "--until"), -1);
    CHECK_INT(PARSE(&o, why, "replay", "j", "--memory", "64"), -1);
    CHECK(strstr(why, "--memory") != NULL);
    CHECK_INT(PARSE(&o, why, "replay", "j", "-o", "x"), -1);
    tap_case("replay refuses a bad --until, limits flags and -o (%s)", why);

    CHECK_INT(PARSE(&o, why, "replay", "--help"), 0);
    CHECK_INT(o.command, CMD_HELP);
    CHECK_STR(o.help_topic, "replay");
    tap_case("replay --help");
}

static void test_journal_flags(void)
{
    cli_options_t o;
    char why[256];
    CHECK_INT(PARSE(&o, why, "kernel", "-f", "k.json"), 0);
    CHECK(o.journal_dir == NULL && !o.no_journal);
    CHECK_INT(PARSE(&o, why, "kernel", "-f", "k.json", "--journal-dir", "/var/j"), 0);
    CHECK_STR(o.journal_dir, "/var/j");
    CHECK_INT(PARSE(&o, why, "serve"), 0);
    CHECK(o.journal_dir == NULL && !o.no_journal);
    CHECK_INT(PARSE(&o, why, "serve", "--no-journal"), 0);
    CHECK(o.no_journal);
    CHECK_INT(PARSE(&o, why, "serve", "--journal-dir", "j"), 0);
    CHECK_STR(o.journal_dir, "j");
    tap_case("--journal-dir for kernel and serve, --no-journal for serve; none by default");
    CHECK_INT(PARSE(&o, why, "serve", "--journal-dir", "j", "--no-journal"), -1);
    CHECK(strstr(why, "exclude") != NULL);
    CHECK_INT(PARSE(&o, why, "serve", "--journal-dir"), -1);
    CHECK_INT(PARSE(&o, why, "kernel", "-f", "k.json", "--no-journal"), -1);
    CHECK(strstr(why, "--no-journal") != NULL);
    tap_case("--journal-dir with --no-journal, without a value, or --no-journal for kernel "
             "are errors (%s)", why);
}

static void test_numbers(void)
{
    char buf[32], why[256];
    CHECK_STR(format_number(16.505, buf, sizeof buf), "16.505");
    CHECK_STR(format_number(16.5, buf, sizeof buf), "16.5");
    CHECK_STR(format_number(0.1, buf, sizeof buf), "0.1");
    CHECK_STR(format_number(1 << 20, buf, sizeof buf), "1048576");
    CHECK_STR(format_number(1e7, buf, sizeof buf), "10000000");
    CHECK_STR(format_number(-3, buf, sizeof buf), "-3");
    CHECK_STR(format_number(0.1 + 0.2, buf, sizeof buf), "0.30000000000000004");
    CHECK_STR(format_number(1e20, buf, sizeof buf), "1e+20");
    tap_case("format_number: numbers as people write them (16.505, 1048576, not 1.04858e+06)");

    cli_options_t o;
    CHECK_INT(PARSE(&o, why, "serve", "--memory", "99999999"), -1);
    CHECK(strstr(why, "between 16 and 1048576") != NULL);
    CHECK_INT(PARSE(&o, why, "serve", "--timeout", "x"), -1);
    CHECK(strstr(why, "e+") == NULL);
    tap_case("a limit flag out of bounds names its bounds in full digits (%s)", why);
}

int main(void)
{
    test_numbers();
    test_journal_tools();
    test_install();
    test_kernel();
    test_journal_flags();
    test_other();
    test_usage();
    return tap_done();
}
