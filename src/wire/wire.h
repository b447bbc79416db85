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
#include "openhsm/token.h"
#include "openhsm/user.h"

/* Longest username / password bytes accepted on the wire (validated again by the rules). */
#define OHSM_WIRE_NAME_MAX 64
#define OHSM_WIRE_SECRET_MAX 64
/* Bounds of the key and crypto messages (templates and records: OHSM_OBJ_ENC_MAX; masked
 * objects: OHSM_MASK_MAX; share lists: OHSM_SHARE_MAX names). */
#define OHSM_WIRE_MATERIAL_MAX 16384 /* KeyImportReq.material */
#define OHSM_WIRE_WRAPPED_MAX                                                                      \
    (OHSM_WIRE_MATERIAL_MAX + 64)                         /* UnwrapReq.wrapped: + iv, tag, pad     \
                                                           */
#define OHSM_WIRE_DATA_MAX (256 * 1024)                   /* CryptoReq.data and .signature */
#define OHSM_WIRE_DATA_RESP_MAX (OHSM_WIRE_DATA_MAX + 64) /* DataResp.data: + tag or padding */
#define OHSM_WIRE_IV_MAX 16
#define OHSM_WIRE_AAD_MAX (64 * 1024)
#define OHSM_WIRE_LABEL_MAX 1024
#define OHSM_WIRE_FIND_MAX 4096  /* records in one KeyFindResp */
#define OHSM_WIRE_SYNC_MAX 65536 /* objects, and users, in one SyncStatusResp */
#define OHSM_WIRE_DIGEST_LEN 32  /* sync digests: exactly this long, or empty */
#define OHSM_WIRE_GROUP_LEN 16   /* LoginReq.group: exactly this long, or empty */
/* Issue 5 (MFA and quorum; include/openhsm/token.h): usernames in the new messages are at most
 * OHSM_USERNAME_MAX (31) bytes, signatures OHSM_TOKEN_SIG_MAX, public keys OHSM_TOKEN_PUBKEY_MAX,
 * an Approval at most OHSM_APPROVAL_SIGS_MAX signatures. Approval.data,
 * QuorumRegisterReq.approval_data and QuorumDeleteReq.approval_data: one record per HSM at most.
 * The key requests' approvals (CryptoReq, WrapReq's two, UnwrapReq, KeySetAttrReq, KeyShareReq)
 * are checked as every other Approval. */
#define OHSM_WIRE_APPROVAL_MAX (OHSM_APPROVAL_REC_LEN * OHSM_APPROVAL_MAX_RECS)
#define OHSM_WIRE_TOKEN_MAX 128    /* TokenResp.token: an MFA token or approval record */
#define OHSM_WIRE_QTOKENS_MAX 1024 /* tokens in one QuorumListResp */
/* Issue 15, DeriveReq: the peer's point (X9.62 uncompressed on P-521: 1 + 2 * 66 bytes) and the
 * KDF's shared info (PKCS#11 sets no bound; 1 KiB is far above any protocol's use). */
#define OHSM_WIRE_POINT_MAX 133
#define OHSM_WIRE_SHARED_INFO_MAX 1024

/* Reads one whole frame; *buf is malloc'd (caller frees; wipe it if it held secrets).
 * Errors: OHSM_IO (peer closed or connection error), OHSM_TIMEOUT (socket timeout),
 * OHSM_DATA_LEN_RANGE (length 0 or > 1 MiB: the stream cannot be resynchronised), OHSM_TLS. */
OHSM_NODISCARD ohsm_rv ohsm_wire_read(SSL *ssl, uint8_t **buf, size_t *len);
/* Packs msg into one frame and writes it. Errors: OHSM_IO, OHSM_TIMEOUT, OHSM_DATA_LEN_RANGE. */
OHSM_NODISCARD ohsm_rv ohsm_wire_write(SSL *ssl, const ProtobufCMessage *msg);

/* Decodes and validates a Request payload: exactly the operation named by the oneof is present,
 * every string and bytes field is within the bounds above. Caller frees with ohsm_wire_req_free,
 * which wipes what may be secret: passwords (LoginReq, CreateUserReq, ChangePasswordReq,
 * MfaBeginReq, MfaRegFinishReq), imported key material, crypto input data, wrapped keys.
 * Errors: OHSM_PROTOCOL. */
OHSM_NODISCARD ohsm_rv ohsm_wire_req_decode(const uint8_t *p, size_t n, Ohsm__Request **out);
void ohsm_wire_req_free(Ohsm__Request *req);
/* Decodes and validates a Response payload. Caller frees with ohsm_wire_resp_free (or
 * ohsm__response__free_unpacked when it cannot carry plaintext). */
OHSM_NODISCARD ohsm_rv ohsm_wire_resp_decode(const uint8_t *p, size_t n, Ohsm__Response **out);
/* Wipes DataResp.data (a decrypted plaintext, random bytes) and frees. NULL ok. */
void ohsm_wire_resp_free(Ohsm__Response *r);

#endif
