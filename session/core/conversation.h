/* conversation — one Jupyter kernel as clients see it: five sockets, one
 * key, one interpreter at a time, a queue of shell requests, history.
 *
 * Every request on shell and control is bracketed by status busy/idle,
 * published in one place (conversation_begin / conversation_end_request in
 * conversation_requests.c) with the request as parent; idle goes out only
 * after the reply and every output of that request. Shell requests run one at a time in arrival order;
 * control requests run at once, even while a cell runs. */
#ifndef SANDCELL_CONVERSATION_H
#define SANDCELL_CONVERSATION_H

#include <jansson.h>
#include <stdbool.h>

#include "connfile.h"
#include "journal_sync.h"
#include "sandbox_limits.h"
#include "reactor.h"
#include "zygote_client.h"

typedef struct conversation conversation_t;

typedef struct worker worker_t;
typedef struct restore restore_t;

typedef struct {
    long max_executions; /* 0: no cap */
    /* shutdown_request with restart gives a fresh interpreter in the same
     * conversation (a daemon's conversations); otherwise any shutdown ends
     * the conversation (a kernelspec kernel, which jupyter_client restarts
     * as a process). */
    bool restart_in_place;
    worker_t *worker; /* a ready interpreter to adopt (owned), or NULL */
    /* The journal JOURNAL_DIR/JOURNAL_NAME.jsonl (docs/journal.md); no
     * journal if journal_dir is NULL. journal_name is also the header's
     * "conversation". */
    const char *journal_dir;
    const char *journal_name;
    /* Writes and syncs the journal off the loop (not owned); NULL: every
     * record is synced on the loop before its reply. */
    journal_sync_t *journal_sync;
    /* Cells to run again, unpublished, before any client cell (owned), or
     * NULL. */
    restore_t *restore;
} conversation_options_t;

/* Creates the conversation's sockets on the endpoints of |conn| (a port of
 * 0 is chosen by the system and written back into |conn|), publishes status
 * "starting" and takes opts->worker or asks the zygote for an interpreter
 * jailed with |limits| (copied). Does not take ownership of |reactor|,
 * |zygote| or |conn|. Caller owns the result; NULL with a reason in |why|
 * on failure (opts->worker and opts->restore are then destroyed). */
conversation_t *conversation_new(reactor_t *reactor, zygote_client_t *zygote, connfile_t *conn,
                                 const sandbox_limits_t *limits,
                                 const conversation_options_t *opts, char *why, size_t why_len);

/* The conversation's sandbox limits (borrowed). */
const sandbox_limits_t *conversation_limits(const conversation_t *self);

/* The journal's path, or NULL if the conversation has none. */
const char *conversation_journal_path(const conversation_t *self);

/* Records in the journal a file put into the workspace (|path|, |len|
 * bytes of |data|, borrowed), so that a restore puts it back before the
 * cells that followed it. The content is kept up to CONVERSATION_JOURNAL_FILES
 * bytes per conversation; past that the record says the file was left out.
 * Returns 0, or -1 if the journal refused the record (logged). */
#define CONVERSATION_JOURNAL_FILES ((size_t)64 << 20)
int conversation_journal_file(conversation_t *self, const char *path, const void *data,
                              size_t len);

/* Writes the journal's end record with |reason| ("stop", "idle",
 * "lifetime", "shutdown", "daemon-exit"; "cap" is written by the
 * conversation itself). Later calls do nothing. */
void conversation_end_journal(conversation_t *self, const char *reason);

/* Kills the interpreter, sends the messages held for journal records in
 * flight (waiting for those records), closes the sockets (flushing what
 * is queued) and frees. Records still queued for the journal, its end
 * record included, reach the disk after it returns, in order. Sets
 * *self_p to NULL. */
void conversation_destroy(conversation_t **self_p);

/* Undoes a start nobody was told of: as conversation_destroy, and removes
 * the journal file. Sets *self_p to NULL. */
void conversation_discard(conversation_t **self_p);

/* True once a shutdown_request has been answered, or the daemon ended the
 * conversation: tear it down at the next safe point. */
bool conversation_closed(const conversation_t *self);

/* Why the daemon ended the conversation (a client that does not read its
 * replies: the bound it passed), or NULL if it was not the daemon. */
const char *conversation_closed_why(const conversation_t *self);

/* Offers a zygote event (borrowed) to the conversation; returns true if it
 * concerned this conversation's interpreter. */
bool conversation_zygote_event(conversation_t *self, json_t *event);

/* How many execute_requests reached an interpreter, and the cap (0: none). */
long conversation_executions(const conversation_t *self);
long conversation_max_executions(const conversation_t *self);

/* True once the cap is reached: the interpreter is gone, the record stays. */
bool conversation_capped(const conversation_t *self);

/* The Jupyter connection dict clients use to reach it (key included). New
 * reference. */
json_t *conversation_connection(const conversation_t *self);

/* Monotonic milliseconds of the last request on any channel; now while a
 * request runs. */
long long conversation_last_activity_ms(const conversation_t *self);

/* The interpreter's pid and whether it is jailed; 0 if there is none. */
pid_t conversation_interpreter_pid(const conversation_t *self, bool *jailed);

/* Interrupts the running cell, if any. */
void conversation_interrupt(conversation_t *self);

/* Replaces the interpreter with a fresh one: state gone, the execution
 * count back to 0 (shutdown with restart in a daemon's conversation, the
 * HTTP restart). */
void conversation_restart_interpreter(conversation_t *self);

/* "starting" (no interpreter ready yet), "busy" (a request runs), "idle",
 * or "dead" (capped: no interpreter any more). A static string. */
const char *conversation_execution_state(const conversation_t *self);

/* Periodic work: the time limit of the running request and the input
 * timeout of a cell waiting for input (interrupt, then kill), and
 * interpreters that died without an exit report. */
void conversation_tick(conversation_t *self, long long now_ms);

#endif
