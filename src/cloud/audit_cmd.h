/* SPDX-License-Identifier: Apache-2.0
 *
 * `openhsmd audit verify` (audit_cmd.c).
 */
#ifndef OHSM_CLOUD_AUDIT_CMD_H
#define OHSM_CLOUD_AUDIT_CMD_H

/* argv[1] is "audit"; returns the process's exit status. */
int ohsm_audit_cmd_main(int argc, char **argv);

#endif
