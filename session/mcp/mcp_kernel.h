/* mcp_kernel — the one conversation of an MCP session, and the Jupyter
 * client through which the session reaches it.
 *
 * The conversation is the same as `sandcell kernel` runs (session/core),
 * unchanged: it binds its five sockets on ipc:// endpoints in a private
 * 0700 folder, and this module connects to them from the same reactor
 * (DEALER on shell and control, SUB on iopub), signs with the
 * conversation's key, and gathers each request's outputs by parent msg_id
 * until its reply has come and its status went idle.
 *
 * One ready, jailed interpreter is started by mcp_kernel_new, so the first
 * call finds it warm; the conversation (its journal, its cap) begins at
 * mcp_kernel_begin, with that interpreter. */
#ifndef SANDCELL_MCP_KERNEL_H
#define SANDCELL_MCP_KERNEL_H

#include <jansson.h>
#include <stdbool.h>

#include "conversation.h"
#include "journal_sync.h"
#include "restore.h"
#include "reactor.h"
#include "sandbox_limits.h"
#include "zygote_client.h"

typedef struct mcp_kernel mcp_kernel_t;
typedef struct mcp_op mcp_op_t;

typedef struct {
    reactor_t *reactor;      /* not owned */
    zygote_client_t *zygote; /* not owned */
    const sandbox_limits_t *limits; /* copied by the conversation */
    long max_executions;     /* 0: none */
    const char *journal_dir; /* NULL: no journal */
    journal_sync_t *journal_sync; /* not owned, or NULL */
    restore_t *restore;      /* cells to run again first (owned by the kernel), or NULL */
} mcp_kernel_config_t;

/* What a request gathered, handed to its done function: |outputs| is the
 * journal's shape [{"msg_type", "content"}...] (borrowed), |reply| the
 * reply's content (borrowed; NULL if the conversation ended first). */
typedef void (*mcp_op_done_fn)(void *arg, const json_t *outputs, const json_t *reply);
/* Called when the request starts running (status busy) and after each
 * output; may be NULL. */
typedef void (*mcp_op_event_fn)(void *arg, mcp_op_t *op);

/* Starts one interpreter jailed as |config| says; the strings of |config|
 * must outlive the kernel. Caller owns the result; NULL on failure. */
mcp_kernel_t *mcp_kernel_new(const mcp_kernel_config_t *config);

/* Ends the conversation (its journal's end record says |reason|), closes
 * the sockets, removes the ipc folder and frees. Pending requests are
 * dropped without their done functions. Sets *self_p to NULL. */
void mcp_kernel_destroy(mcp_kernel_t **self_p, const char *reason);

/* Begins the conversation if it has not begun. Returns 0, or -1 with a
 * reason in |why|. */
int mcp_kernel_begin(mcp_kernel_t *self, char *why, size_t why_len);

/* The conversation, or NULL before mcp_kernel_begin. Borrowed. */
conversation_t *mcp_kernel_conversation(const mcp_kernel_t *self);

/* Sends an execute_request for |code| (store_history on, allow_stdin off,
 * stop_on_error off: each tool call stands alone, and a failed or
 * interrupted cell does not abort the calls queued behind it)
 * once the client is connected. |done| is called once, from the loop.
 * Returns the request (owned by the kernel until |done| has returned), or
 * NULL on allocation failure. */
mcp_op_t *mcp_kernel_execute(mcp_kernel_t *self, const char *code, mcp_op_done_fn done,
                             mcp_op_event_fn event, void *arg);

/* A shutdown_request with restart on control: a fresh interpreter in the
 * same conversation. Same contract as mcp_kernel_execute. */
mcp_op_t *mcp_kernel_restart(mcp_kernel_t *self, mcp_op_done_fn done, void *arg);

/* Interrupts |op| (KeyboardInterrupt in the cell): at once if it runs,
 * else as soon as it starts. */
void mcp_kernel_interrupt(mcp_kernel_t *self, mcp_op_t *op);

/* Forgets the done and event functions of |op|: it still runs (or is
 * interrupted) but nobody is told. */
void mcp_kernel_orphan(mcp_op_t *op);

/* Whether |op| runs, and since when (monotonic ms); outputs so far. */
bool mcp_op_running(const mcp_op_t *op, long long *since_ms);
size_t mcp_op_outputs(const mcp_op_t *op);

/* Offers a zygote event (borrowed); true if it concerned this kernel. */
bool mcp_kernel_zygote_event(mcp_kernel_t *self, json_t *event);

/* Periodic work (the conversation's time limits, the spare's refill). */
void mcp_kernel_tick(mcp_kernel_t *self, long long now_ms);

/* True once the conversation ended itself (it will answer no more). */
bool mcp_kernel_closed(const mcp_kernel_t *self);

#endif
