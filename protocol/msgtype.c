/* msgtype — the message types of the Jupyter protocol v5.3 that arrive at
 * a kernel. */
#include "msgtype.h"

#include <string.h>

#define SHELL MSG_ON_SHELL
#define CONTROL MSG_ON_CONTROL

static const msgtype_t s_types[] = {
    {"execute_request", "execute_reply", SHELL},
    {"inspect_request", "inspect_reply", SHELL},
    {"complete_request", "complete_reply", SHELL},
    {"history_request", "history_reply", SHELL},
    {"is_complete_request", "is_complete_reply", SHELL},
    {"comm_info_request", "comm_info_reply", SHELL},
    {"kernel_info_request", "kernel_info_reply", SHELL | CONTROL},
    {"shutdown_request", "shutdown_reply", SHELL | CONTROL},
    {"interrupt_request", "interrupt_reply", CONTROL},
    {"debug_request", "debug_reply", CONTROL},
    {"comm_open", NULL, SHELL},
    {"comm_msg", NULL, SHELL},
    {"comm_close", NULL, SHELL},
    {"input_reply", NULL, MSG_ON_STDIN},
};

const msgtype_t *msgtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof s_types / sizeof *s_types; i++)
        if (strcmp(s_types[i].name, name) == 0)
            return &s_types[i];
    return NULL;
}

int msgtype_reply_name(const char *name, char *out, size_t out_len)
{
    static const char suffix[] = "_request";
    size_t n = strlen(name), s = sizeof suffix - 1;
    if (n <= s || strcmp(name + n - s, suffix) != 0 || n - s + sizeof "_reply" > out_len)
        return -1;
    memcpy(out, name, n - s);
    memcpy(out + n - s, "_reply", sizeof "_reply");
    return 0;
}
