/* SPDX-License-Identifier: Apache-2.0
 *
 * `openhsmd ctl ...`: the fault-injection commands of a running openhsmd (ctl.c).
 */
#ifndef OHSM_CLOUD_CTL_H
#define OHSM_CLOUD_CTL_H

/* argv[1] is "ctl". Returns the exit status: 0 done, 1 refused or unreachable, 2 usage. */
int ohsm_ctl_main(int argc, char **argv);

#endif
