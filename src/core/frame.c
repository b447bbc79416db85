/* SPDX-License-Identifier: Apache-2.0
 *
 * Frame header codec. Input is untrusted wire data, read only through struct ohsm_rd.
 */
#include "openhsm/frame.h"

#include "openhsm/rd.h"

ohsm_rv ohsm_frame_hdr_parse(const uint8_t *hdr, size_t len, uint32_t *payload_len)
{
    struct ohsm_rd r;
    uint32_t n = 0;

    OHSM_ENSURE(payload_len != NULL, OHSM_ARGUMENTS_BAD);
    ohsm_rd_init(&r, hdr, len < OHSM_FRAME_HDR ? len : OHSM_FRAME_HDR);
    OHSM_TRY(ohsm_rd_u32(&r, &n));
    OHSM_ENSURE(n >= 1 && n <= OHSM_FRAME_MAX, OHSM_DATA_LEN_RANGE);
    *payload_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_frame_hdr_write(size_t len, uint8_t hdr[OHSM_FRAME_HDR])
{
    OHSM_ENSURE(len >= 1 && len <= OHSM_FRAME_MAX, OHSM_DATA_LEN_RANGE);
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
    return OHSM_OK;
}

ohsm_rv ohsm_frame_split(const uint8_t *buf, size_t len, const uint8_t **payload,
                         size_t *payload_len)
{
    struct ohsm_rd r;
    uint32_t n = 0;
    const uint8_t *p = NULL;

    OHSM_ENSURE(payload != NULL && payload_len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_frame_hdr_parse(buf, len, &n));
    ohsm_rd_init(&r, buf, len);
    r.off = OHSM_FRAME_HDR;
    OHSM_TRY(ohsm_rd_bytes(&r, n, &p));
    OHSM_TRY(ohsm_rd_done(&r));
    *payload = p;
    *payload_len = n;
    return OHSM_OK;
}
