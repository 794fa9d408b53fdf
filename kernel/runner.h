/* runner — the loop of one interpreter process: announce readiness, then
 * read a request, handle it, send the reply, until the channel closes. */
#ifndef SANDCELL_RUNNER_H
#define SANDCELL_RUNNER_H

#include "channel.h"
#include "interp.h"

/* Runs until the manager closes |chan|. Does not take ownership of |chan|.
 * |env| (NULL-terminated "NAME=value" strings, or NULL to keep the current
 * one) becomes the interpreter's whole environment. Returns the process
 * exit status to use. */
int runner_run(channel_t *chan, const interp_ops_t *ops, const char *const *env);

#endif
