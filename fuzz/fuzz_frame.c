/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for everything an HSM or a client decodes from the wire: the frame header,
 * then the payload as a Request (what the HSM parses) and as a Response (what the client parses).
 * The first input byte picks whether the rest is a whole frame or a bare payload, so the fuzzer
 * reaches the message decoders without first having to learn the length prefix.
 */
#include <stddef.h>
#include <stdint.h>

#include "openhsm/frame.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    uint32_t hdr = 0;
    Ohsm__Request *q = NULL;
    Ohsm__Response *r = NULL;

    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        (void)ohsm_frame_hdr_parse(data + 1, size - 1, &hdr);
        if (ohsm_frame_split(data + 1, size - 1, &p, &n) != OHSM_OK) {
            return 0;
        }
    } else {
        p = data + 1;
        n = size - 1;
    }
    if (ohsm_wire_req_decode(p, n, &q) == OHSM_OK) {
        ohsm_wire_req_free(q);
    }
    if (ohsm_wire_resp_decode(p, n, &r) == OHSM_OK) {
        ohsm__response__free_unpacked(r, NULL);
    }
    return 0;
}
