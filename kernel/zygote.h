/* zygote — the process that prepares the interpreter once and forks a
 * fresh interpreter for each request.
 *
 * It is exec'd by the manager before the manager creates any ZeroMQ
 * context, stays single-threaded, and speaks records over its control
 * channel (fd 3):
 *   manager -> zygote  {"op":"spawn","id":N} with the interpreter's end of
 *                      a new socketpair attached (SCM_RIGHTS)
 *   zygote -> manager  {"type":"zygote_ready","preload_errors":[...]}
 *                      {"type":"spawned","id":N,"pid":P}
 *                      {"type":"spawn_failed","id":N,"error":"..."}
 *                      {"type":"exited","pid":P,"code":C,"signal":S}
 * It exits when the manager closes the channel or dies. */
#ifndef SANDCELL_ZYGOTE_H
#define SANDCELL_ZYGOTE_H

#include "interp.h"

/* Runs the zygote on |control_fd| (takes ownership). Returns the process
 * exit status. */
int zygote_run(int control_fd, const interp_ops_t *ops, const interp_config_t *config);

#endif
