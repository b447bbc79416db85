/* SPDX-License-Identifier: Apache-2.0
 *
 * The host as the software HSM reports it (hwinfo.h). The only input read is the kernel's
 * (sysinfo(2) and a sysfs file holding one number), parsed with strtoll and range checks.
 */
#include "hsm/hwinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#ifndef OHSM_HSM_VERSION_MAJOR
#define OHSM_HSM_VERSION_MAJOR 0
#endif
#ifndef OHSM_HSM_VERSION_MINOR
#define OHSM_HSM_VERSION_MINOR 0
#endif
#ifndef OHSM_HSM_BUILD
#define OHSM_HSM_BUILD 0
#endif
#ifndef OHSM_HSM_FIRMWARE_ID
#define OHSM_HSM_FIRMWARE_ID "openhsm-soft-FW-0.00-0"
#endif

#define THERMAL "/sys/class/thermal/thermal_zone0/temp"

/* The first thermal zone in millidegrees Celsius, when there is one and it reads sanely. */
static bool temperature(int32_t *c)
{
    char buf[32];
    FILE *f = fopen(THERMAL, "re");
    if (f == NULL) {
        return false;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    (void)fclose(f);
    buf[n] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || end == buf || (*end != '\0' && *end != '\n') || v < -273000 ||
        v > 1000000) {
        return false;
    }
    *c = (int32_t)(v / 1000);
    return true;
}

void ohsm_hwinfo_read(struct ohsm_hwinfo *out)
{
    struct sysinfo si;

    memset(out, 0, sizeof(*out));
    if (sysinfo(&si) == 0) {
        uint64_t unit = si.mem_unit != 0 ? si.mem_unit : 1;
        out->total_kib = (uint64_t)si.totalram * unit / 1024u;
        out->free_kib = (uint64_t)si.freeram * unit / 1024u;
    }
    out->temperature_known = temperature(&out->temperature);
    out->version_major = OHSM_HSM_VERSION_MAJOR;
    out->version_minor = OHSM_HSM_VERSION_MINOR;
    out->build = OHSM_HSM_BUILD;
    out->firmware_id = OHSM_HSM_FIRMWARE_ID;
}
