/* SPDX-License-Identifier: Apache-2.0
 *
 * What the HSM says about the machine it runs on, for getHSMInfo and cluster hsm-info: the
 * host's memory (sysinfo), a temperature when the host exposes one (/sys/class/thermal), and
 * openhsm's version and build as the "hardware" and "firmware" numbers. Reads only kernel
 * interfaces; never fails (what cannot be read is reported as unknown or 0).
 * Thread-safe: no shared state.
 */
#ifndef OHSM_HSM_HWINFO_H
#define OHSM_HSM_HWINFO_H

#include <stdbool.h>
#include <stdint.h>

struct ohsm_hwinfo {
    uint64_t total_kib, free_kib; /* the host's memory */
    bool temperature_known;
    int32_t temperature; /* degrees Celsius */
    uint32_t version_major, version_minor, build;
    const char *firmware_id; /* static */
};

void ohsm_hwinfo_read(struct ohsm_hwinfo *out);

#endif
