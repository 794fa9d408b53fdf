/* restore — the cells of an earlier journal that rebuild a conversation's
 * state in a new interpreter, and what happened when they ran again.
 *
 * Cells are taken in journal order across interpreter generations, as one
 * state. Left out: aborted cells, cells that never reached an interpreter
 * (execution_count null), and cells that ended with the death of their
 * interpreter (InterpreterDied, or an error after which the next cell ran
 * in a new interpreter: a timeout kill), since running them again would
 * kill the new one too. Files put into the workspace (journal "file"
 * records) are put back in their place among the cells. */
#ifndef SANDCELL_RESTORE_H
#define SANDCELL_RESTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "history.h"

typedef struct restore restore_t;

/* Reads the journal |given| names, and the journals it was restored from,
 * and selects their cells.
 * With a |journal_dir| (the daemon, for a client): |given| is a
 * conversation id (the journal JOURNAL_DIR/ID.jsonl) or the absolute path
 * of a journal in that folder, and so is every journal of the chain;
 * anything else, a symbolic link or a file that is not regular is refused
 * without being read. Without one (NULL: the local command line, as the
 * invoking user), |given| is any path.
 * Caller owns the result; NULL with "PATH:LINE: reason" in |why| for a
 * journal that cannot be used. A torn last line is skipped with a logged
 * warning. Blocks while it reads (up to JOURNAL_READ_MAX_BYTES a journal):
 * the daemon calls it from restore_loader's thread. */
restore_t *restore_new(const char *journal_dir, const char *given, char *why, size_t why_len);

/* The restore of the journal held in |data| (|len| bytes, borrowed), named
 * |name|: a journal the local command line read as its user and sent, its
 * chain of restores already flattened into it. Its header's
 * "restored_from" is not followed. Caller owns the result; NULL with
 * "NAME:LINE: reason" in |why|. */
restore_t *restore_new_bytes(const char *name, const void *data, size_t len, char *why,
                             size_t why_len);

/* The same selection over |executions| (borrowed; the "executions" of a
 * journal_read or journal_parse result, already in chain order), without
 * reading any file: |name| stands for the journal's path. Caller owns the
 * result; NULL on allocation failure. */
restore_t *restore_new_from(const char *name, const json_t *executions);
void restore_destroy(restore_t **self_p);

/* The journal's absolute path (for a conversation id, the journal's). */
const char *restore_journal(const restore_t *self);

/* How many cells are re-run, and the execution count the journal reached
 * (the new conversation continues from it). */
size_t restore_cells(const restore_t *self);
int restore_last_execution_count(const restore_t *self);

/* Adds the journal's stored-history cells to |history|, with the text of
 * their results, so history_request sees the whole conversation. Returns
 * 0 or -1. */
int restore_fill_history(const restore_t *self, history_t *history);

/* The "limits" of the journal's header (borrowed): the limits the restored
 * conversation had. */
const json_t *restore_limits(const restore_t *self);

/* How many files the chain recorded as put into the workspace. */
size_t restore_files(const restore_t *self);

/* The next file record (borrowed) due before the next cell runs (it was
 * put after the cells before it), or NULL; each is returned once. After the
 * last cell every remaining file is due. */
const json_t *restore_next_file(restore_t *self);

/* Writes file record |file| (borrowed) into the workspace of interpreter
 * |pid| (workspace_put). Returns 0, or -1 with |why|. */
int restore_put_file(const json_t *file, pid_t pid, bool jailed, char *why, size_t why_len);

/* File |path| could not be put back: named in the note with |why|. */
void restore_file_failed(restore_t *self, const char *path, const char *why);

/* The execute op of the next cell to run (new reference), or NULL when
 * every cell has run. Each op is answered by restore_done_cell. */
json_t *restore_next_op(restore_t *self);

/* The cell sent last has ended: |reply| (borrowed) is its reply content,
 * or NULL if its interpreter died. */
void restore_done_cell(restore_t *self, const json_t *reply);

/* True once every cell has run. */
bool restore_finished(const restore_t *self);

/* A note for the first client cell if restored cells failed, else NULL.
 * Caller owns the result. */
char *restore_note(const restore_t *self);

/* {"journal": path, "executions": N, "files": N}, for the new journal's header and
 * start_reply. New reference. */
json_t *restore_describe(const restore_t *self);

#endif
