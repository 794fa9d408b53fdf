/* journal_read — reads and validates a conversation journal (docs/journal.md)
 * for export, replay and restore.
 *
 * Every check a consumer relies on is made here, where the line number is
 * known: a record that passes can be used without re-checking types
 * (execution fields, and each output's content for the message types a
 * notebook knows: stream, display_data, update_display_data,
 * execute_result, error, clear_output). */
#ifndef SANDCELL_JOURNAL_READ_H
#define SANDCELL_JOURNAL_READ_H

#include <jansson.h>
#include <stddef.h>

/* The only format version this reader accepts. */
#define JOURNAL_READ_VERSION 1

/* Reads and validates the journal at |path|. Returns a new reference
 * {"header": {...}, "executions": [ ...execution records in order... ],
 * "files": [ ...file records, each with "after": the number of execution
 * records before it... ]}, the
 * records as written (unknown keys kept; unknown record types and "end"
 * records left out), or NULL with "PATH:LINE: reason" in |why| ("PATH:
 * reason" when the file cannot be read at all). A last line without its
 * trailing newline (a write torn by SIGKILL) is skipped and described in
 * |warning| ("PATH:LINE: ..."); |warning| is the empty string when there is
 * nothing to say. Never asserts on the file's content. */
json_t *journal_read(const char *path, char *why, size_t why_len, char *warning,
                     size_t warning_len);

/* The same checks over |len| bytes at |data| (a journal already in memory;
 * borrowed), with |name| in place of PATH in the messages. A pure function
 * of its input, for the fuzz harness and for callers that read the file
 * themselves. */
json_t *journal_parse(const char *name, const void *data, size_t len, char *why, size_t why_len,
                      char *warning, size_t warning_len);

/* How many journals a chain of restores may hold: the journal and those it
 * was restored from. */
#define JOURNAL_CHAIN_MAX 17

/* Reads the journal at |path| and, oldest first, the journals it was
 * restored from (each header's "restored_from"), as one conversation:
 * {"header": |path|'s header, "executions": [the records of the oldest
 * journal first], "files": [the file records, "after" counted across the
 * chain]}. New reference, or NULL with |why|; |warning| holds the first
 * journal's warning (see journal_read). */
json_t *journal_read_chain(const char *path, char *why, size_t why_len, char *warning,
                           size_t warning_len);

#endif
