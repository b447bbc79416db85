/* SPDX-License-Identifier: Apache-2.0
 *
 * Messages on an HSM connection: frames (u32 length + protobuf-c Request/Response) over TLS, and
 * the checked decoders for both directions. Both peers are untrusted by the other: every decoded
 * message is validated (exactly one operation, bounded strings) before anyone looks at it.
 */
#ifndef OHSM_WIRE_H
#define OHSM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "hsm.pb-c.h"
#include "openhsm/rv.h"

/* Longest username / password bytes accepted on the wire (validated again by the rules). */
#define OHSM_WIRE_NAME_MAX 64
#define OHSM_WIRE_SECRET_MAX 64

/* Reads one whole frame; *buf is malloc'd (caller frees; wipe it if it held secrets).
 * Errors: OHSM_IO (peer closed or connection error), OHSM_TIMEOUT (socket timeout),
 * OHSM_DATA_LEN_RANGE (length 0 or > 1 MiB: the stream cannot be resynchronised), OHSM_TLS. */
OHSM_NODISCARD ohsm_rv ohsm_wire_read(SSL *ssl, uint8_t **buf, size_t *len);
/* Packs msg into one frame and writes it. Errors: OHSM_IO, OHSM_TIMEOUT, OHSM_DATA_LEN_RANGE. */
OHSM_NODISCARD ohsm_rv ohsm_wire_write(SSL *ssl, const ProtobufCMessage *msg);

/* Decodes and validates a Request payload. Caller frees with ohsm_wire_req_free (which wipes the
 * passwords it carries). Errors: OHSM_PROTOCOL. */
OHSM_NODISCARD ohsm_rv ohsm_wire_req_decode(const uint8_t *p, size_t n, Ohsm__Request **out);
void ohsm_wire_req_free(Ohsm__Request *req);
/* Decodes and validates a Response payload. Caller frees with ohsm__response__free_unpacked. */
OHSM_NODISCARD ohsm_rv ohsm_wire_resp_decode(const uint8_t *p, size_t n, Ohsm__Response **out);

#endif
