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

/* The largest journal read (a file's size, checked before any byte is
 * read): more would take the reader a long time and several times its
 * size in memory. */
#define JOURNAL_READ_MAX_BYTES ((size_t)256 << 20)

/* Validates the journal held in |data| (|len| bytes, borrowed; need not end
 * in NUL), named |name| in messages. Returns a new reference {"header": {...},
 * "executions": [ ...execution records in order... ]}, the records as
 * written (unknown keys kept; unknown record types and "end" records left
 * out), or NULL with "NAME:LINE: reason" in |why|. A last line without its
 * trailing newline (a write torn by SIGKILL) is skipped and described in
 * |warning| ("NAME:LINE: ..."); |warning| is the empty string when there is
 * nothing to say. A pure function of the bytes; never asserts on them, and
 * no message quotes a file whose first line is not a journal header. */
json_t *journal_parse(const char *name, const void *data, size_t len, char *why,
                      size_t why_len, char *warning, size_t warning_len);

/* journal_parse of what |fd| holds. Takes ownership of |fd| (closed on
 * return). Only a regular file of at most JOURNAL_READ_MAX_BYTES is read;
 * anything else (FIFO, device, socket, directory) is refused by fstat
 * before a byte is read, so open the file O_NONBLOCK. */
json_t *journal_read_fd(int fd, const char *name, char *why, size_t why_len, char *warning,
                        size_t warning_len);

/* journal_read_fd of |path|, opened O_NONBLOCK (following symbolic links:
 * this is for a path the local user gave; see restore.h for the daemon's
 * rule). "PATH: reason" when the file cannot be opened at all. */
json_t *journal_read(const char *path, char *why, size_t why_len, char *warning,
                     size_t warning_len);

/* How many journals a chain of restores may hold: the journal and those it
 * was restored from. */
#define JOURNAL_CHAIN_MAX 17

/* Reads the journal at |path| and, oldest first, the journals it was
 * restored from (each header's "restored_from"), as one conversation:
 * {"header": |path|'s header, "executions": [the records of the oldest
 * journal first], "files": [the file records, "after" counted across the
 * chain]}. New reference, or NULL with |why|; |warning| holds the first
 * warning (see journal_read). Any path the local user can read: for the
 * command line. */
json_t *journal_read_chain(const char *path, char *why, size_t why_len, char *warning,
                           size_t warning_len);

/* journal_read_chain for the daemon, confined to |journal_dir| (NULL: as
 * journal_read_chain): |given| and every journal of its chain must be a
 * conversation id or the absolute path of a journal in that folder
 * (journal_open_in_folder). The first journal's path is written to
 * |path|. */
json_t *journal_read_chain_in(const char *journal_dir, const char *given, char *path,
                              size_t path_len, char *why, size_t why_len, char *warning,
                              size_t warning_len);

/* Opens the journal |given| names inside |dir|, for reading by a client's
 * request: a conversation id (the journal DIR/ID.jsonl) or an absolute
 * path whose folder is |dir| itself (compared by device and inode). The
 * name is opened relative to the folder's descriptor with O_NOFOLLOW and
 * O_NONBLOCK, so a symbolic link is refused and a FIFO never waited on;
 * nothing outside |dir| is opened. Writes DIR/NAME to |path|. Returns the
 * descriptor (the caller owns it; journal_read_fd checks its type), or -1
 * with a reason in |why|. */
int journal_open_in_folder(const char *dir, const char *given, char *path, size_t path_len,
                           char *why, size_t why_len);

#endif
