/* SPDX-License-Identifier: Apache-2.0
 *
 * Bounds-checked reader over untrusted bytes. Invariant: off <= len. Any failure poisons the
 * reader (sticky), so a sequence of reads can be checked once at the end.
 */
#ifndef OHSM_RD_H
#define OHSM_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

struct ohsm_rd {
    const uint8_t *buf; /* borrowed */
    size_t len;
    size_t off;
    bool failed;
};

void ohsm_rd_init(struct ohsm_rd *r, const uint8_t *buf, size_t len);
OHSM_NODISCARD ohsm_rv ohsm_rd_u8(struct ohsm_rd *r, uint8_t *v);
OHSM_NODISCARD ohsm_rv ohsm_rd_u32(struct ohsm_rd *r, uint32_t *v);
/* Points *p at the next n bytes (borrowed from the buffer) and advances. */
OHSM_NODISCARD ohsm_rv ohsm_rd_bytes(struct ohsm_rd *r, size_t n, const uint8_t **p);
/* OHSM_OK when nothing failed and every byte was consumed. */
OHSM_NODISCARD ohsm_rv ohsm_rd_done(const struct ohsm_rd *r);

#endif
