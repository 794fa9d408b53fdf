/* journal_retention — the daemon's retention policy for its journal folder:
 * journals older than an age, then the oldest past a total size, are
 * removed; never the journal of a live conversation.
 *
 * Applied by `sandcell serve` at start and then hourly on its tick
 * (docs/design-decisions.md, "Journal retention"). */
#ifndef SANDCELL_JOURNAL_RETENTION_H
#define SANDCELL_JOURNAL_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The defaults of --journal-retention DAYS and --journal-max-size MIB. */
#define JOURNAL_RETENTION_DEFAULT_DAYS 30
#define JOURNAL_RETENTION_DEFAULT_MIB 1024

/* Whether the journal file |name| ("ID.jsonl") belongs to a live
 * conversation, which is never removed. */
typedef bool (*journal_retention_live_fn)(const char *name, void *arg);

typedef struct {
    size_t kept, removed;
    uint64_t kept_bytes, removed_bytes;
} journal_retention_stats_t;

/* Removes from |dir| the journals ("*.jsonl" regular files; symbolic
 * links, folders and other files are left alone) whose last change is
 * older than |max_age_s| seconds before |now| (0: no age limit), then,
 * oldest first, as many as needed to bring the folder's journals to at
 * most |max_bytes| (0: no cap). Journals |live| names are kept and count
 * towards the total. Does not take ownership. Returns 0 (with figures in
 * |*stats|, which may be NULL) or -errno when |dir| cannot be read; a file
 * that cannot be removed is kept and counted as kept. */
int journal_retention_apply(const char *dir, double max_age_s, uint64_t max_bytes,
                            time_t now, journal_retention_live_fn live, void *arg,
                            journal_retention_stats_t *stats);

#endif
