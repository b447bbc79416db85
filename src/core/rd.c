/* SPDX-License-Identifier: Apache-2.0
 *
 * Bounds-checked reader. Compares remaining length (len - off < n), never off + n > len, so a
 * huge n cannot wrap.
 */
#include "openhsm/rd.h"

void ohsm_rd_init(struct ohsm_rd *r, const uint8_t *buf, size_t len)
{
    r->buf = buf;
    r->len = buf != NULL ? len : 0;
    r->off = 0;
    r->failed = false;
}

static bool need(struct ohsm_rd *r, size_t n)
{
    if (r->failed || r->len - r->off < n) {
        r->failed = true;
        return false;
    }
    return true;
}

ohsm_rv ohsm_rd_u8(struct ohsm_rd *r, uint8_t *v)
{
    OHSM_ENSURE(need(r, 1), OHSM_PROTOCOL);
    *v = r->buf[r->off];
    r->off += 1;
    return OHSM_OK;
}

ohsm_rv ohsm_rd_u32(struct ohsm_rd *r, uint32_t *v)
{
    OHSM_ENSURE(need(r, 4), OHSM_PROTOCOL);
    const uint8_t *p = r->buf + r->off;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
    r->off += 4;
    return OHSM_OK;
}

ohsm_rv ohsm_rd_bytes(struct ohsm_rd *r, size_t n, const uint8_t **p)
{
    OHSM_ENSURE(need(r, n), OHSM_PROTOCOL);
    *p = r->buf + r->off;
    r->off += n;
    return OHSM_OK;
}

ohsm_rv ohsm_rd_done(const struct ohsm_rd *r)
{
    return (!r->failed && r->off == r->len) ? OHSM_OK : OHSM_PROTOCOL;
}
