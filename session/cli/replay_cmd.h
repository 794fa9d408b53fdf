/* replay_cmd — `sandcell replay JOURNAL [--until N]`: re-run a journal's
 * cells in a fresh jailed interpreter and say, per cell, whether the
 * outputs are the same. */
#ifndef SANDCELL_REPLAY_CMD_H
#define SANDCELL_REPLAY_CMD_H

#include <jansson.h>

#include "cli.h"
#include "sandbox_limits.h"

/* Exit statuses of the command. */
enum {
    REPLAY_SAME = 0,      /* every replayed cell gave the same outputs */
    REPLAY_DIFFERENT = 1, /* some cell differed, or failed in the replay */
    REPLAY_BAD_INPUT = 2, /* unreadable or invalid journal, bad usage, refusal */
    REPLAY_NO_SANDBOX = 3 /* no interpreter could be started at all */
};

/* The sandbox limits recorded in the journal |header| (borrowed), on top of
 * sandcell's defaults: a limit recorded as null or 0 keeps the default,
 * except the time and output limits, where 0 means none. Sets *jail and
 * *cgroups to what the header says (true when absent); out->no_jail and
 * out->no_cgroups stay false. out->data_dir points into |header|: valid
 * while the caller holds it. */
void replay_limits_from_header(const json_t *header, sandbox_limits_t *out, bool *jail,
                               bool *cgroups);

/* Runs the command; returns one of the statuses above. */
int replay_cmd_run(const cli_options_t *opts);

#endif
