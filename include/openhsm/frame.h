/* SPDX-License-Identifier: Apache-2.0
 *
 * Frames on the HSM connection: a u32 big-endian payload length, then the payload. A length of 0
 * or above OHSM_FRAME_MAX is a protocol error (the connection is closed after saying so).
 */
#ifndef OHSM_FRAME_H
#define OHSM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

#define OHSM_FRAME_MAX (1u << 20) /* 1 MiB */
#define OHSM_FRAME_HDR 4

/* Parses a frame header. Errors: OHSM_PROTOCOL (short header), OHSM_DATA_LEN_RANGE (0 or too
 * large). */
OHSM_NODISCARD ohsm_rv ohsm_frame_hdr_parse(const uint8_t *hdr, size_t len, uint32_t *payload_len);
/* Writes the header for a payload of len bytes. Errors: OHSM_DATA_LEN_RANGE. */
OHSM_NODISCARD ohsm_rv ohsm_frame_hdr_write(size_t len, uint8_t hdr[OHSM_FRAME_HDR]);
/* Splits one whole frame held in buf: *payload borrows from buf. Errors as hdr_parse, plus
 * OHSM_PROTOCOL when buf holds more or fewer bytes than the frame. */
OHSM_NODISCARD ohsm_rv ohsm_frame_split(const uint8_t *buf, size_t len, const uint8_t **payload,
                                        size_t *payload_len);

#endif
