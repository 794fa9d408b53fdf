/* cli — argument parsing for every sandcell command. Options are parsed by
 * hand (not getopt) so that each command accepts exactly its own flags and
 * a misplaced one is named in the error. */
#include "cli.h"
#include "journal_retention.h"

#include "client_cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    cli_command_t command;
    const char *usage;
} command_t;

static const command_t s_commands[] = {
    {"install", CMD_INSTALL,
     "sandcell install [--user | --prefix DIR]\n"
     "    Write the Jupyter kernelspec \"sandcell-python\". Default: system-wide in\n"
     "    /usr/local/share/jupyter/kernels; --user: in ~/.local/share/jupyter/kernels\n"
     "    (or $XDG_DATA_HOME/jupyter/kernels); --prefix DIR: in DIR/share/jupyter/kernels.\n"},
    {"kernel", CMD_KERNEL,
     "sandcell kernel -f CONNECTION_FILE [--preload MODULES] [--journal-dir DIR]\n"
     "               [--workspace-from DIR | --empty-workspace] [LIMITS] [--verbose]\n"
     "    Run one kernel (one conversation) on the sockets a Jupyter connection file\n"
     "    names; this is what the kernelspec starts. Every interpreter is jailed.\n"
     "    --preload MODULES  comma-separated modules imported once before the first\n"
     "                       cell (default: " CLI_DEFAULT_PRELOAD "; \"\" for none)\n"
     "    --max-executions N cells before the interpreter is stopped (default 0: none)\n"
     "    --journal-dir DIR  write the conversation's journal to DIR/kernel-PID-TIME.jsonl\n"
     "                       (default: no journal)\n"
     "    --workspace-from DIR  /workspace starts with DIR's files, read-only to the host:\n"
     "                       writes stay in the sandbox (default: the folder the kernel\n"
     "                       was started in, the notebook's; never / or your home folder)\n"
     "    --empty-workspace  start with an empty /workspace instead\n"
     LIMITS_HELP
     "    --verbose          log debug messages too\n"},
    {"serve", CMD_SERVE,
     "sandcell serve [--control tcp://IP:PORT] [--runtime-file PATH] [--pool K]\n"
     "               [--max-conversations N] [--max-executions N] [--idle-timeout S]\n"
     "               [--lifetime S] [--preload MODULES] [--journal-dir DIR | --no-journal]\n"
     "               [--journal-retention DAYS] [--journal-max-size MIB] [LIMITS] [--verbose]\n"
     "               [--http [ADDR:]PORT [--http-token TOKEN | --http-token-file FILE |\n"
     "                --no-http-auth] [--metrics-public]]\n"
     "    Run the daemon: many conversations, each started over the control endpoint\n"
     "    and reached on its own Jupyter connection. Defaults: control on 127.0.0.1,\n"
     "    a random port; runtime file $SANDCELL_RUNTIME_FILE, else\n"
     "    $XDG_RUNTIME_DIR/sandcell-serve.json, else /tmp/sandcell-UID/serve.json;\n"
     "    --pool 2 ready interpreters; --max-conversations 1000 (fewer if the open-file\n"
     "    limit holds fewer); --max-executions 1000 per conversation (0: none);\n"
     "    --idle-timeout 3600 s; --lifetime 86400 s.\n"
     "    Each conversation's journal is DIR/ID.jsonl (0600); DIR defaults to\n"
     "    $XDG_STATE_HOME/sandcell/journals, else ~/.local/state/sandcell/journals;\n"
     "    --no-journal writes none. Journals not written to for --journal-retention\n"
     "    30 days are removed, then the oldest while the folder's journals pass\n"
     "    --journal-max-size 1024 MiB (0: no limit), at start and hourly; never a\n"
     "    live conversation's.\n"
     "    LIMITS are the defaults of every conversation (start_request may change them).\n"
     "    One daemon per runtime file: it holds a lock on RUNTIME_FILE.lock while it\n"
     "    runs, and another serve on the same file exits 2 naming the daemon's pid.\n"
     "    --http [ADDR:]PORT also serves the Jupyter Server kernels REST API (a drop-in\n"
     "    Jupyter Kernel Gateway: jupyter server --gateway-url), off unless given; ADDR\n"
     "    defaults to 127.0.0.1, PORT 0 picks a free one; the URL and token go to the\n"
     "    runtime file (http_url, http_token). Every request needs the token\n"
     "    (Authorization: token T, Authorization: Bearer T, or ?token=T): --http-token\n"
     "    TOKEN, else $SANDCELL_HTTP_TOKEN, else a random one, logged with the URL.\n"
     "    --http-token-file FILE holds one token, or several as NAME TOKEN lines: then\n"
     "    each is a tenant and sees only the kernels it started. A non-loopback ADDR\n"
     "    needs a token given; --no-http-auth (no token at all) is loopback only.\n"
     "    GET /metrics is Prometheus' text format (token needed unless\n"
     "    --metrics-public); GET /api/sandcell/health is 200 when a start would be\n"
     "    taken now, 503 with the reason otherwise. PUT and GET\n"
     "    /api/sandcell/kernels/ID/files/PATH move workspace files as put_file and\n"
     "    get_file do; .../journal and .../notebook give the kernel's journal as JSON\n"
     "    Lines and as a notebook.\n"},
    {"mcp", CMD_MCP,
     "sandcell mcp [--max-executions N] [--preload MODULES] [--journal-dir DIR | --no-journal]\n"
     "             [--restore JOURNAL] [LIMITS] [--verbose]\n"
     "    Serve the Model Context Protocol on stdin and stdout (newline-delimited\n"
     "    JSON-RPC; versions 2025-11-25, 2025-06-18, 2025-03-26) for an agent host's\n"
     "    mcpServers entry. The session is one conversation: its interpreter is jailed\n"
     "    and warmed at start, its journal and cap begin at the first tool call, and\n"
     "    it ends when stdin closes. Tools: execute_code, upload_file, download_file,\n"
     "    list_files, reset, export_notebook (docs/mcp.md). Logs go to stderr.\n"
     "    --max-executions 1000 cells per session (0: none); only execute_code counts.\n"
     "    The journal is DIR/mcp-PID-TIME.jsonl; DIR defaults to serve's\n"
     "    ($XDG_STATE_HOME/sandcell/journals, else ~/.local/state/sandcell/journals);\n"
     "    --no-journal writes none (export_notebook then has nothing to export).\n"
     "    --restore JOURNAL  run JOURNAL's cells again (and put its files back) before\n"
     "                       the first call: a new session continues where that one\n"
     "                       stopped, e.g. at its cap; they do not count toward the cap\n"
     LIMITS_HELP
     "    --verbose          log debug messages too\n"},
    {"start", CMD_CLIENT,
     "sandcell start [--connection-file PATH] [--restore JOURNAL] [--max-executions N]\n"
     "               [LIMITS]\n"
     "    Start a conversation on the running daemon and print its id; --restore runs\n"
     "    the cells of JOURNAL again first, so the conversation continues from there.\n"},
    {"ls", CMD_CLIENT, "sandcell ls [--json]\n    List the daemon's conversations.\n"},
    {"stop", CMD_CLIENT, "sandcell stop ID...\n    End conversations.\n"},
    {"exec", CMD_CLIENT,
     "sandcell exec -c ID [--out-dir DIR] [--timeout S] CODE|-\n"
     "    Run a cell in a conversation: output streams as it comes, images are saved\n"
     "    to files; exits non-zero if the cell fails.\n"},
    {"put", CMD_CLIENT, "sandcell put ID LOCAL [REMOTE]\n    Copy a file into a workspace.\n"},
    {"get", CMD_CLIENT,
     "sandcell get ID REMOTE [LOCAL] [--force]\n    Copy a file out of a workspace.\n"},
    {"export", CMD_EXPORT,
     "sandcell export JOURNAL -o FILE.ipynb\n"
     "    Write a conversation's journal as an nbformat 4 notebook: one code cell per\n"
     "    execution with its outputs. -o - writes to stdout. Exits 2 if the journal is\n"
     "    unreadable or invalid (naming the line), 1 if the notebook cannot be written.\n"},
    {"replay", CMD_REPLAY,
     "sandcell replay JOURNAL [--until N] [--data DIR] [--no-cgroups] [--no-jail] [--verbose]\n"
     "    Re-run the journal's cells in a fresh jailed interpreter with its recorded\n"
     "    limits and compare the outputs; prints \"[N] same\", \"[N] different\" with a\n"
     "    short diff, or \"[N] error: WHY\" per cell. Exits 0 when every cell is the\n"
     "    same, 1 when some differ or fail, 2 for a bad journal or usage, 3 when no\n"
     "    interpreter can be started at all.\n"
     "    --until N          stop after execution count N\n"
     "    --data DIR         mount DIR read-only at /data (default: the journal's)\n"
     "    --no-cgroups       UNSAFE: run without memory, pids and cpu cgroup limits\n"
     "    --no-jail          UNSAFE: no sandbox; required for a journal recorded with\n"
     "                       \"jail\": false\n"
     "    --verbose          log debug messages too\n"},
    {"doctor", CMD_DOCTOR,
     "sandcell doctor\n"
     "    Check which sandbox layers this machine provides, then jail a test\n"
     "    process with the default limits; exits 1 if any layer is missing.\n"
     "    Also removes, and lists, the cgroup folders left by daemons that were\n"
     "    killed outright (whose owner no longer runs), as each daemon does at start.\n"},
};

void cli_usage(FILE *out, const char *topic)
{
    if (topic && client_cmd_is_command(topic)) {
        client_cmd_usage(out, topic);
        return;
    }
    if (!topic)
        fputs("usage: sandcell COMMAND [OPTIONS]\n"
              "sandcell runs untrusted Python, one sandboxed interpreter per conversation,\n"
              "behind the Jupyter wire protocol.\n\ncommands:\n",
              out);
    for (size_t i = 0; i < sizeof s_commands / sizeof *s_commands; i++)
        if (!topic || strcmp(topic, s_commands[i].name) == 0)
            fprintf(out, "  %s", s_commands[i].usage);
    if (!topic)
        fputs("  sandcell help [COMMAND] | --help | --version\n", out);
}

static int s_fail(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int s_parse_install(int argc, char **argv, int i, cli_options_t *out, char *why,
                           size_t why_len)
{
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--user") == 0) {
            if (out->scope == INSTALL_PREFIX)
                return s_fail(why, why_len, "%s: --user and --prefix exclude each other",
                              "install");
            out->scope = INSTALL_USER;
        } else if (strcmp(argv[i], "--prefix") == 0) {
            if (i + 1 >= argc || !argv[i + 1][0])
                return s_fail(why, why_len, "install: %s needs a directory", "--prefix");
            if (out->scope == INSTALL_USER)
                return s_fail(why, why_len, "%s: --user and --prefix exclude each other",
                              "install");
            out->scope = INSTALL_PREFIX;
            out->prefix = argv[++i];
        } else {
            return s_fail(why, why_len, "install: unknown option %s", argv[i]);
        }
    }
    return 0;
}

/* If |a| is |flag|, parses its value into *out, advances *i and returns
 * true; *rc is -1 (with |why|) for a bad value. */
static bool s_long_flag(const char *a, const char *flag, int argc, char **argv, int *i, long min,
                        long max, long *out, char *why, size_t why_len, int *rc)
{
    if (strcmp(a, flag) != 0)
        return false;
    char *end;
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || n < min || n > max) {
        *rc = s_fail(why, why_len, "%s needs a whole number between %ld and %ld", flag, min, max);
        return true;
    }
    *out = n;
    (*i)++;
    *rc = 0;
    return true;
}

static bool s_serve_flag(cli_options_t *out, int argc, char **argv, int *i, char *why,
                         size_t why_len, int *rc)
{
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long n;
    *rc = 0;
    const char **http_value = strcmp(a, "--http") == 0            ? &out->http
                              : strcmp(a, "--http-token") == 0      ? &out->http_token
                              : strcmp(a, "--http-token-file") == 0 ? &out->http_token_file
                                                                    : NULL;
    if (http_value) {
        if (!v || !*v) {
            *rc = s_fail(why, why_len, "serve: %s needs a value", a);
            return true;
        }
        *http_value = v;
        (*i)++;
        return true;
    }
    if (strcmp(a, "--no-http-auth") == 0) {
        out->no_http_auth = true;
        return true;
    }
    if (strcmp(a, "--metrics-public") == 0) {
        out->metrics_public = true;
        return true;
    }
    if (strcmp(a, "--control") == 0 || strcmp(a, "--runtime-file") == 0) {
        if (!v || !*v) {
            *rc = s_fail(why, why_len, "serve: %s needs a value", a);
            return true;
        }
        *(a[2] == 'c' ? &out->control : &out->runtime_file) = v;
        (*i)++;
        return true;
    }
    if (s_long_flag(a, "--pool", argc, argv, i, 0, 64, &out->pool, why, why_len, rc) ||
        s_long_flag(a, "--max-conversations", argc, argv, i, 1, 100000, &out->max_conversations,
                    why, why_len, rc))
        return true;
    if (s_long_flag(a, "--idle-timeout", argc, argv, i, 0, 10000000, &n, why, why_len, rc)) {
        out->idle_timeout_s = (double)n;
        return true;
    }
    if (s_long_flag(a, "--lifetime", argc, argv, i, 0, 10000000, &n, why, why_len, rc)) {
        out->lifetime_s = (double)n;
        return true;
    }
    if (s_long_flag(a, "--journal-retention", argc, argv, i, 0, 1000000,
                    &out->journal_retention_days, why, why_len, rc) ||
        s_long_flag(a, "--journal-max-size", argc, argv, i, 0, 1L << 30, &out->journal_max_mib,
                    why, why_len, rc))
        return true;
    return false;
}

static int s_parse_kernel(int argc, char **argv, int i, cli_options_t *out, char *why,
                          size_t why_len)
{
    int rc_flag = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-f") == 0 || strcmp(a, "--connection-file") == 0) {
            if (i + 1 >= argc)
                return s_fail(why, why_len, "kernel: %s needs a file", a);
            out->connection_file = argv[++i];
        } else if (strncmp(a, "--connection-file=", 18) == 0) {
            out->connection_file = a + 18;
        } else if (strcmp(a, "--preload") == 0) {
            if (i + 1 >= argc)
                return s_fail(why, why_len, "kernel: %s needs a list of modules", a);
            out->preload = argv[++i];
            out->preload_given = true;
        } else if (strcmp(a, "--journal-dir") == 0) {
            if (i + 1 >= argc || !argv[i + 1][0])
                return s_fail(why, why_len, "%s: %s needs a directory", argv[1], a);
            out->journal_dir = argv[++i];
        } else if (out->command == CMD_KERNEL && strcmp(a, "--workspace-from") == 0) {
            if (i + 1 >= argc || !argv[i + 1][0])
                return s_fail(why, why_len, "kernel: %s needs a directory", a);
            out->workspace_from = argv[++i];
        } else if (out->command == CMD_KERNEL && strcmp(a, "--empty-workspace") == 0) {
            out->empty_workspace = true;
        } else if (strcmp(a, "--mock-interpreter") == 0) {
            out->mock_interpreter = true;
        } else if (strcmp(a, "--verbose") == 0) {
            out->verbose = true;
        } else if (s_long_flag(a, "--max-executions", argc, argv, &i, 0, 1000000000L,
                               &out->max_executions, why, why_len, &rc_flag)) {
            if (rc_flag < 0)
                return -1;
        } else if (out->command == CMD_MCP && strcmp(a, "--restore") == 0) {
            if (i + 1 >= argc || !argv[i + 1][0])
                return s_fail(why, why_len, "mcp: %s needs a journal", a);
            out->restore = argv[++i];
        } else if ((out->command == CMD_SERVE || out->command == CMD_MCP) &&
                   strcmp(a, "--no-journal") == 0) {
            out->no_journal = true;
        } else if (out->command == CMD_SERVE &&
                   s_serve_flag(out, argc, argv, &i, why, why_len, &rc_flag)) {
            if (rc_flag < 0)
                return -1;
        } else {
            int rc = sandbox_limits_parse_flag(&out->limits, argc, argv, &i, why, why_len);
            if (rc < 0)
                return -1;
            if (rc > 0)
                continue;
            return s_fail(why, why_len, "%s: unknown option %s", argv[1], a);
        }
    }
    if (!out->connection_file && out->command == CMD_KERNEL)
        return s_fail(why, why_len, "kernel: %s is required", "-f CONNECTION_FILE");
    if (out->workspace_from && out->empty_workspace)
        return s_fail(why, why_len,
                      "kernel: --workspace-from and --empty-workspace exclude each other");
    if (out->journal_dir && out->no_journal)
        return s_fail(why, why_len, "%s: --journal-dir and --no-journal exclude each other",
                      argv[1]);
    return 0;
}

/* export JOURNAL -o FILE, replay JOURNAL [--until N] [--data DIR] ... */
static int s_parse_journal_cmd(int argc, char **argv, int i, cli_options_t *out, char *why,
                               size_t why_len)
{
    const char *cmd = argv[1];
    bool export = out->command == CMD_EXPORT;
    int rc_flag = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (export && (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)) {
            if (!v || !*v)
                return s_fail(why, why_len, "export: %s needs a file (or - for stdout)", a);
            out->output = argv[++i];
        } else if (!export && s_long_flag(a, "--until", argc, argv, &i, 1, 1000000000L,
                                          &out->until, why, why_len, &rc_flag)) {
            if (rc_flag < 0)
                return -1;
        } else if (!export && strcmp(a, "--verbose") == 0) {
            out->verbose = true;
        } else if (!export && (strcmp(a, "--no-jail") == 0 || strcmp(a, "--no-cgroups") == 0 ||
                               strcmp(a, "--data") == 0)) {
            if (sandbox_limits_parse_flag(&out->limits, argc, argv, &i, why, why_len) < 0)
                return -1;
        } else if (a[0] == '-' && a[1]) {
            return s_fail(why, why_len, "%s: unknown option %s", cmd, a);
        } else if (out->journal) {
            return s_fail(why, why_len, "%s: one journal at a time (%s and %s)", cmd,
                          out->journal, a);
        } else {
            out->journal = a;
        }
    }
    if (!out->journal)
        return s_fail(why, why_len, "%s: JOURNAL is required", cmd);
    if (export && !out->output)
        return s_fail(why, why_len, "export: %s is required", "-o FILE.ipynb");
    return 0;
}

int cli_parse(int argc, char **argv, cli_options_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof *out);
    out->preload = CLI_DEFAULT_PRELOAD;
    sandbox_limits_default(&out->limits);
    out->pool = CLI_DEFAULT_POOL;
    out->max_conversations = CLI_DEFAULT_MAX_CONVERSATIONS;
    out->until = -1;
    if (argc < 2)
        return s_fail(why, why_len, "%s", "no command given (try sandcell --help)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        out->command = CMD_HELP;
        out->help_topic = argc > 2 ? argv[2] : NULL;
        for (size_t i = 0; out->help_topic && i < sizeof s_commands / sizeof *s_commands; i++)
            if (strcmp(out->help_topic, s_commands[i].name) == 0)
                return 0;
        if (out->help_topic)
            return s_fail(why, why_len, "no such command: %s", out->help_topic);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        out->command = CMD_VERSION;
        return 0;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof *s_commands; i++) {
        if (strcmp(cmd, s_commands[i].name) != 0)
            continue;
        out->command = s_commands[i].command;
        if (out->command == CMD_CLIENT) { /* parses its own flags, --help included */
            out->client_argc = argc - 1;
            out->client_argv = argv + 1;
            return 0;
        }
        for (int j = 2; j < argc; j++) {
            if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
                out->command = CMD_HELP;
                out->help_topic = s_commands[i].name;
                return 0;
            }
        }
        if (out->command == CMD_INSTALL)
            return s_parse_install(argc, argv, 2, out, why, why_len);
        if (out->command == CMD_DOCTOR)
            return argc > 2 ? s_fail(why, why_len, "doctor: unknown option %s", argv[2]) : 0;
        if (out->command == CMD_EXPORT || out->command == CMD_REPLAY)
            return s_parse_journal_cmd(argc, argv, 2, out, why, why_len);
        if (out->command == CMD_MCP)
            out->max_executions = CLI_DEFAULT_SERVE_MAX_EXECUTIONS;
        if (out->command == CMD_SERVE) {
            out->max_executions = CLI_DEFAULT_SERVE_MAX_EXECUTIONS;
            out->idle_timeout_s = CLI_DEFAULT_IDLE_TIMEOUT;
            out->lifetime_s = CLI_DEFAULT_LIFETIME;
            out->journal_retention_days = JOURNAL_RETENTION_DEFAULT_DAYS;
            out->journal_max_mib = JOURNAL_RETENTION_DEFAULT_MIB;
        }
        return s_parse_kernel(argc, argv, 2, out, why, why_len);
    }
    return s_fail(why, why_len, "unknown command %s (try sandcell --help)", cmd);
}

serve_options_t cli_serve_options(const cli_options_t *o)
{
    return (serve_options_t){
        .control = o->control,
        .runtime_file = o->runtime_file,
        .journal_dir = o->journal_dir,
        .no_journal = o->no_journal,
        .preload = o->preload,
        .preload_given = o->preload_given,
        .mock_interpreter = o->mock_interpreter,
        .verbose = o->verbose,
        .pool = o->pool,
        .max_conversations = o->max_conversations,
        .max_executions = o->max_executions,
        .idle_timeout_s = o->idle_timeout_s,
        .lifetime_s = o->lifetime_s,
        .journal_retention_days = o->journal_retention_days,
        .journal_max_mib = o->journal_max_mib,
        .limits = o->limits,
        .http = o->http,
        .http_token = o->http_token,
        .http_token_file = o->http_token_file,
        .no_http_auth = o->no_http_auth,
        .metrics_public = o->metrics_public,
    };
}

mcp_options_t cli_mcp_options(const cli_options_t *o)
{
    return (mcp_options_t){
        .preload = o->preload,
        .preload_given = o->preload_given,
        .mock_interpreter = o->mock_interpreter,
        .verbose = o->verbose,
        .max_executions = o->max_executions,
        .journal_dir = o->journal_dir,
        .no_journal = o->no_journal,
        .restore = o->restore,
        .limits = o->limits,
    };
}
