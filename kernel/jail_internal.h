/* jail_internal — what the files of the jail share, for kernel/jail*.c only.
 *
 * The child applies its layers in jail.c, which owns the channel every
 * failure is reported on; jail_root.c builds the root filesystem in the
 * middle of that sequence and reports through the same jail_die(), so a
 * failing mount names its layer and path like any other layer. */
#ifndef SANDCELL_JAIL_INTERNAL_H
#define SANDCELL_JAIL_INTERNAL_H

#include "jail.h"

/* In the child: reports the failed |layer| and |what| (with errno |err|'s
 * text, if not 0) to the manager on the channel jail_enter() was given
 * (a spare has none yet and exits without a word), then exits with
 * JAIL_EXIT_FAILED. A record on the channel is one datagram: the '.'
 * marker, then the JSON text. */
void __attribute__((noreturn)) jail_die(const char *layer, const char *what, int err);

/* Dies through jail_die() with errno when |call| returns a negative value. */
#define CHECK(layer, what, call)                                                         \
    do {                                                                                 \
        if ((call) < 0)                                                                  \
            jail_die(layer, what, errno);                                                \
    } while (0)

/* In the child, in its own mount namespace and as the jail's user (still
 * holding the namespace's capabilities): makes / private, builds the new
 * root (see jail_root.c), pivots into it and enters /workspace. Never
 * returns on failure. */
void jail_root_enter(const jail_config_t *config);

#endif
