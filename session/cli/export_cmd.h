/* export_cmd — `sandcell export JOURNAL -o FILE.ipynb`: a journal as an
 * nbformat 4 notebook. */
#ifndef SANDCELL_EXPORT_CMD_H
#define SANDCELL_EXPORT_CMD_H

#include <jansson.h>

#include "cli.h"

/* Runs the command. Returns the exit status: 0, 1 (the notebook cannot be
 * written) or 2 (the journal is unreadable or invalid). */
int export_cmd_run(const cli_options_t *opts);

#endif
