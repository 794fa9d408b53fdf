/* journal — the writing side of a conversation's journal: one append-only
 * JSON Lines file, a header record, one record per execution, an end
 * record (docs/journal.md has the format).
 *
 * The file is created 0600 with O_EXCL, in a folder created 0700, and only
 * ever by the manager. Every record is one write() of one line followed by
 * fdatasync(), so after a crash every complete line is a whole record and
 * only the last line can be torn. */
#ifndef SANDCELL_JOURNAL_H
#define SANDCELL_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal_outputs.h"
#include "journal_sync.h"

#define JOURNAL_FORMAT "sandcell-journal"
#define JOURNAL_VERSION 1

typedef struct journal journal_t;

/* Creates DIR/NAME.jsonl; the folders of |dir| that are missing are
 * created 0700.
 * Fails if the file exists. Caller owns the result; NULL with a reason in
 * |why|. */
journal_t *journal_create(const char *dir, const char *name, char *why, size_t why_len);

/* Closes the file (no end record is written: see journal_end). Sets
 * *self_p to NULL. */
void journal_destroy(journal_t **self_p);

/* Undoes journal_create: closes the file and removes it (a start that
 * was undone leaves no journal behind). Sets *self_p to NULL. */
void journal_discard(journal_t **self_p);

/* From now on records are written and synced by |sync|'s threads: the
 * write functions below queue the record and return, and |fn(arg)| is
 * called on the loop thread (journal_sync_dispatch) when queued records
 * are done; journal_done says which. Without it every write function
 * returns only once the record is on disk. Returns 0 or -errno. */
int journal_set_sync(journal_t *self, journal_sync_t *sync, journal_sync_fn fn, void *arg);

/* The number of the last record queued with a sync engine; 0 without one
 * (every record is on disk when its write function returns). */
uint64_t journal_last_seq(const journal_t *self);

/* Whether record |seq| (from journal_last_seq; 0 is always done) was
 * processed, and in *on_disk whether it reached the disk. Logs a failure
 * once and marks the journal broken. */
bool journal_done(journal_t *self, uint64_t seq, bool *on_disk);

/* Blocks until every queued record is processed (no-op without an
 * engine). */
void journal_wait(journal_t *self);

/* The file's path, as created. */
const char *journal_path(const journal_t *self);

/* True once the header is written. */
bool journal_has_header(const journal_t *self);

/* Writes |header| (borrowed; the fields after "type", "format" and
 * "version", which are added here) as line 1. Returns 0 or -errno; a
 * second header is refused with -EEXIST. */
int journal_write_header(journal_t *self, const json_t *header);

/* Appends |record| (borrowed, a JSON object) as one line and waits for it
 * to reach the disk (fdatasync), or with a sync engine queues it (see
 * journal_set_sync). Returns 0 or -errno; after a failure the file may end
 * with a torn line, so nothing more is written to it. */
int journal_append(journal_t *self, const json_t *record);

/* journal_append of |record| (borrowed; a JSON object without "outputs")
 * with "outputs" the array |outputs| holds, whose text is taken (it is
 * empty after, whatever the result): only |record| is serialised here.
 * Returns 0 or -errno (-ENOMEM also when |outputs| failed). */
int journal_append_outputs(journal_t *self, const json_t *record, journal_outputs_t *outputs);

/* Appends {"type":"end","reason":|reason|,"time":now}; later appends are
 * refused with -EPIPE. Returns 0 or -errno. */
int journal_end(journal_t *self, const char *reason);

/* Makes |dir| absolute (against the working directory) into |out| and
 * creates its missing folders 0700. Returns 0, or -1 with |why|. */
int journal_prepare_dir(const char *dir, char *out, size_t len, char *why, size_t why_len);

/* The default folder of serve's journals into |out|:
 * $XDG_STATE_HOME/sandcell/journals, else $HOME/.local/state/sandcell/journals.
 * Returns 0, or -1 if neither variable is set or the path is too long. */
int journal_default_dir(char *out, size_t len);

#endif
