/* install — writes the Jupyter kernelspec "sandcell-python". */
#ifndef SANDCELL_INSTALL_H
#define SANDCELL_INSTALL_H

#include "cli.h"

#define KERNELSPEC_NAME "sandcell-python"

/* Writes KERNELS_DIR/sandcell-python/kernel.json for |opts| and prints the
 * directory. Returns a process exit status. */
int install_run(const cli_options_t *opts);

#endif
