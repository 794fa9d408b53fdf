/* conversation_internal — what the files of a conversation
 * (conversation*.c) share, and what the request handlers (handlers.c) may
 * call. Not for use outside session/core/. */
#ifndef SANDCELL_CONVERSATION_INTERNAL_H
#define SANDCELL_CONVERSATION_INTERNAL_H

#include "conversation.h"
#include "header.h"
#include "history.h"
#include "journal.h"
#include "restore.h"
#include "signer.h"
#include "wire.h"
#include "worker.h"

typedef struct request {
    struct request *next;
    wire_msg_t msg;
    conn_channel_t channel; /* CONN_SHELL or CONN_CONTROL */
    bool busy_sent;         /* status busy is out for it */
    /* execute_request only */
    bool stop_on_error;
    bool allow_stdin;
    bool store_history;
    int execution_count;
    char *code;        /* owned copy, for history */
    json_t *result_text; /* text/plain of its execute_result (a JSON string: it may
                          * hold a NUL), if any */
    /* for the journal (execute_request, with a journal) */
    journal_outputs_t outputs; /* its iopub outputs, in order, serialised as they come */
    char started[HEADER_DATE_LEN + 1]; /* when it started */
    long long started_us;  /* the same, monotonic */
    double run_at;         /* metrics_clock() when its handler ran (every request) */
    double cpu_s;          /* CPU time it used, or -1 */
    long long peak_memory; /* the interpreter's peak memory, bytes, or -1 */
} request_t;

typedef struct {
    struct conversation *c;
    conn_channel_t channel;
} socket_ctx_t;

/* Which limit stopped a request. */
typedef enum {
    LIMIT_NONE,
    LIMIT_TIME,  /* --timeout, from when the request was forwarded */
    LIMIT_INPUT, /* --input-timeout, from an input_request */
} limit_t;

/* A message held back while a journal record before it is on its way to
 * the disk (conversation_send.c: s_hold). */
typedef struct held {
    struct held *next;
    conn_channel_t channel;
    wire_blob_t *ids; /* owned copies */
    size_t n_ids;
    char msg_type[64];
    wire_blob_t parent; /* owned copy; size 0: none */
    bool has_parent;
    json_t *content;    /* owned */
    uint64_t seq;       /* the journal record it waits for; 0: none */
    /* the history entry of that record, added once it is on disk */
    bool add_history;
    int execution_count;
    char *code;          /* owned */
    json_t *result_text; /* owned: a JSON string, or NULL */
} held_t;

struct conversation {
    reactor_t *reactor;
    zygote_client_t *zygote;
    void *sockets[CONN_NCHANNELS]; /* libzmq sockets, owned */
    socket_ctx_t socket_ctx[CONN_NCHANNELS];
    signer_t *signer;
    char session_id[40];
    request_t *queue_head, *queue_tail;
    request_t *current; /* the shell request the interpreter is handling */
    worker_t *worker;
    int execution_count;
    history_t *history;
    char *pending_note; /* told to the next cell: why its state is fresh */
    bool awaiting_input;
    bool closed;
    int start_failures;
    char *start_error; /* why the last interpreter could not start, if known */
    sandbox_limits_t limits;
    char data_dir[512]; /* storage for limits.data_dir */
    char work_dir[512]; /* storage for limits.work_dir */
    json_t *jail;       /* limits as the zygote reads them */
    /* The running request's limits, measured by the daemon from the moment
     * it forwarded the request; no record of the interpreter moves them
     * (docs/design-decisions.md, "What the daemon believes from an
     * interpreter"). */
    long long deadline_ms;       /* when to interrupt it; 0: no deadline */
    long long input_deadline_ms; /* while it waits for input: when to give up; 0: none */
    long long kill_at_ms;        /* when to kill it after the interrupt */
    limit_t stopped_by;          /* the limit that interrupted it, or LIMIT_NONE */
    json_int_t request_seq;      /* number of the last request sent to the interpreter */
    size_t output_bytes;
    bool output_capped;
    /* Output that arrived while no request was in flight: dropped, counted
     * against the next request's output limit and told to the next cell. */
    size_t stray_bytes;
    size_t stray_note_bytes;
    /* the cap on executions */
    long executions;
    long max_executions;
    bool capped;
    bool restart_in_place;
    long long last_activity_ms;
    connfile_t conn; /* as bound; owns its key */
    /* Messages waiting for a journal record: while there are any, every
     * message of the conversation is held behind them, in order, and no
     * queued shell request starts. */
    held_t *held_head, *held_tail;
    /* How many are held (for a journal record, or because a client's
     * queue is full); past CONVERSATION_MAX_HELD the conversation ends. */
    size_t n_held;
    bool want_writable[CONN_NCHANNELS]; /* a held message waits for this socket */
    size_t n_queued;   /* shell requests in the queue */
    bool shell_paused; /* the queue is full: the shell socket is not read */
    char closed_why[160]; /* why the daemon ended it; empty: it did not */
    /* conversation_interp_warn: the window, the warnings logged in it, and
     * those left out */
    long long warn_window_ms;
    int warn_logged;
    long warn_suppressed;
    /* the journal (conversation_journal.c) */
    journal_t *journal;     /* NULL: none */
    json_t *journal_header; /* its header's fields until it is written */
    bool journal_ended;
    size_t journal_file_bytes; /* content of put files kept in the journal */
    int generation;         /* of the interpreter, 1-based: new after each death or restart */
    /* the execute_requests whose outputs are collected: one from shell,
     * and one refused on control while it runs */
    request_t *recording[2];
    restore_t *restore;     /* cells still to run again, or NULL */
    bool restoring;         /* one of them is running */
};

/* Messages a conversation holds before it is ended (its client does not
 * read its replies): docs/design-decisions.md, "Bounds". */
#define CONVERSATION_MAX_HELD 10000
/* Shell requests queued before the shell socket is no longer read (the
 * rest wait in ZeroMQ, and then in the client). */
#define CONVERSATION_MAX_QUEUED 1000
/* Warnings about what the interpreter sent, logged per conversation in a
 * window of CONVERSATION_WARN_WINDOW_MS: at most CONVERSATION_WARN_BURST. */
#define CONVERSATION_WARN_WINDOW_MS 10000
#define CONVERSATION_WARN_BURST 20

/* Logs a warning caused by what the interpreter sent (a record refused or
 * ignored). A hostile cell can send thousands a second: past
 * CONVERSATION_WARN_BURST in a window the rest are only counted, and said
 * in one line when a later window opens or the conversation ends. */
void conversation_interp_warn(conversation_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Messages a subscriber's iopub queue holds (ZMQ_SNDHWM). */
#define CONVERSATION_IOPUB_HWM 1000

/* Sends |content| (stolen) as the reply to |req|. */
void conversation_reply(conversation_t *c, request_t *req, json_t *content);

/* Sends an error reply {status:error, ename, evalue, traceback:[]}. */
void conversation_reply_error(conversation_t *c, request_t *req, const char *ename,
                              const char *evalue);

/* Publishes |content| (stolen) on iopub with |parent| (raw header JSON). */
void conversation_publish(conversation_t *c, const wire_blob_t *parent, const char *msg_type,
                          json_t *content);

/* Publishes status busy for |req| unless it is out already. Every reply,
 * output and idle of a request is preceded by it. */
void conversation_begin(conversation_t *c, request_t *req);

/* Every record for the interpreter goes out here: queued (borrowed
 * |record|) without waiting for the interpreter to read, the rest written
 * when its channel is writable. On failure (-ENOBUFS: it left
 * CHANNEL_MAX_PENDING bytes unread; -EPIPE: it is gone) the interpreter is
 * killed and treated as dead. Returns 0 or -errno. */
int conversation_send_worker(conversation_t *c, json_t *record);

/* Sends a request record (borrowed) to the interpreter, then publishes
 * busy (the interpreter starts working while the kernel announces it); on
 * failure the interpreter is treated as dead. Returns 0 or -errno
 * (conversation_send_worker). */
int conversation_forward(conversation_t *c, request_t *req, json_t *record);

/* Continues the interpreter (stopped between requests), numbers |record|
 * (borrowed; its "seq" is set), sends it and starts the request's time and
 * output limits. On failure the interpreter is treated as dead. Returns 0
 * or -errno (conversation_send_worker). Used by conversation_forward and
 * for restored cells. */
int conversation_send_request(conversation_t *c, json_t *record);

/* Publishes, with |req|, the notes the next cell is owed: why its state is
 * fresh, output dropped since the last request. */
void conversation_publish_notes(conversation_t *c, request_t *req);

/* Aborts every queued execute_request (after an error, stop_on_error). */
void conversation_abort_queue(conversation_t *c);


/* Answers a request the cap forbids: ExecutionLimitReached. */
void conversation_reply_capped(conversation_t *c, request_t *req);


/* ---- between the files of a conversation (not for handlers.c) */

/* The channels' names, for logs ("shell", "iopub", ...). */
extern const char *const conversation_channel_names[CONN_NCHANNELS];

/* conversation_send.c */

/* Sends a message on |ch| to |ids| (borrowed), or holds it, keeping the
 * order, while anything is held. Steals |content|. */
void conversation_send(conversation_t *c, conn_channel_t ch, const wire_blob_t *ids,
                       size_t n_ids, const char *msg_type, const wire_blob_t *parent,
                       json_t *content);
/* Sends the held messages whose journal records are done, in order, up to
 * the first that still waits; adds each record's history entry once it is
 * on disk. Then starts the next request if nothing is held any more. */
void conversation_release(conversation_t *c);
/* Frees a held message and what it owns. */
void conversation_held_free(held_t *h);
/* Publishes status |state| ("busy", "idle", ...) with |parent|. */
void conversation_status(conversation_t *c, const wire_blob_t *parent, const char *state);

/* conversation_requests.c */

/* Reads a client socket (the reactor's callback; |arg| is a socket_ctx_t). */
void conversation_on_socket(void *arg);
/* Starts queued shell requests while nothing runs. */
void conversation_pump(conversation_t *c);
/* Takes the first queued shell request, or NULL; caller owns it. */
request_t *conversation_dequeue(conversation_t *c);
/* Publishes idle for |req| (busy first if it is not out) and frees it. */
void conversation_end_request(conversation_t *c, request_t *req);
void conversation_request_free(request_t *req);

/* conversation_records.c */

/* Takes one record the interpreter sent (|text|, borrowed). Every record
 * is decoded and checked against its schema before anything of it is
 * published or journaled: the interpreter is untrusted, and a record may
 * have been written by a cell. What fails becomes an error output naming
 * the problem, never silence. */
void conversation_on_worker_record(conversation_t *c, const char *text, size_t len);
/* Counts a cell's output against --max-output; returns false once over it
 * (errors always pass: they say what went wrong). The stream output that
 * crosses the limit keeps the part that fits (|content| edited), so an
 * oversized write shows its beginning rather than nothing. */
bool conversation_output_allowed(conversation_t *c, request_t *req, const char *type,
                                 size_t len, json_t *content);
/* Completes |content| (borrowed), the reply to execute_request |req|:
 * explains an error a limit caused, sets its execution_count, aborts the
 * queue after an error with stop_on_error, and caps the conversation at
 * its last allowed execution. */
void conversation_finish_execute(conversation_t *c, request_t *req, json_t *content);

/* conversation_worker.c */

/* Starts a fresh interpreter through the zygote. */
void conversation_spawn_worker(conversation_t *c);
/* Takes a ready interpreter |w| (ownership) from the pool. */
void conversation_adopt_worker(conversation_t *c, worker_t *w);

/* ---- conversation_journal.c: the journal, history and restore hooks */

/* Opens the journal and takes the restore of |opts|. Returns 0 or -1 with
 * |why|. */
int conversation_journal_open(conversation_t *c, const conversation_options_t *opts, char *why,
                              size_t why_len);
void conversation_journal_close(conversation_t *c);

/* Writes the header once the interpreter's ready record (its preloaded
 * modules' versions) is known; does nothing after the first time. */
void conversation_journal_header(conversation_t *c);

/* Starts collecting the outputs of |req| if it is an execute_request. */
void conversation_journal_begin(conversation_t *c, request_t *req);

/* Collects an output published with |parent| (borrowed |content|). */
void conversation_journal_output(conversation_t *c, const wire_blob_t *parent,
                                 const char *msg_type, json_t *content);

/* Appends the record of execute_request |req|, whose reply is |reply|
 * (borrowed), and adds it to history. Called right before the reply is
 * sent. Returns 0 when that is done (or there is no record); with a sync
 * engine, the number of the queued record instead: the reply must wait
 * for it, and the history entry is the caller's to add once it is on disk. */
uint64_t conversation_journal_cell(conversation_t *c, request_t *req, const json_t *reply);

/* The journal's sync engine reports records done (journal_sync_fn). */
void conversation_journal_synced(void *arg);

/* Runs the next restored cell if the interpreter is free; returns true
 * while client requests must wait for the restore. */
bool conversation_restore_step(conversation_t *c);

/* The running restored cell ended: |reply| (borrowed) is its reply
 * content, or NULL if the interpreter died. */
void conversation_restore_done(conversation_t *c, const json_t *reply);

#endif
