/* runner — one interpreter's request loop. A request that arrives while a
 * signal is pending is still handled: SIGINT only ever means "stop the
 * running cell", and between cells there is none (the implementation clears
 * stale interrupts before each request). */
#include "runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int runner_run(channel_t *chan, const interp_ops_t *ops, const char *const *env)
{
    char *ready = ops->child_init(chan, env);
    if (!ready) {
        fprintf(stderr, "sandcell-worker: interpreter initialisation failed\n");
        return 70;
    }
    int rc = channel_send(chan, ready, strlen(ready), -1);
    free(ready);
    if (rc < 0)
        return 0;
    for (;;) {
        char *request;
        size_t len;
        rc = channel_recv(chan, 0, &request, &len);
        if (rc == -EINTR || rc == -EMSGSIZE)
            continue;
        if (rc < 0)
            return 0; /* the manager closed the channel: a normal end */
        char *reply = ops->handle(request, len);
        free(request);
        if (!reply)
            return 71;
        rc = channel_send(chan, reply, strlen(reply), -1);
        free(reply);
        if (rc < 0)
            return 0;
    }
}
