/* doctor — `sandcell doctor`: which sandbox layers this machine provides. */
#ifndef SANDCELL_DOCTOR_H
#define SANDCELL_DOCTOR_H

/* Prints one line per layer, then jails a test process with the default
 * limits. Returns 0 if every layer is available, else 1. */
int doctor_run(void);

#endif
