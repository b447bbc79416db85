/* SPDX-License-Identifier: Apache-2.0
 *
 * Key attributes as key_mgmt_util shows and sets them, pure (no client, no I/O beyond a memory
 * buffer): the getAttribute file ("OBJ_ATTR_CLASS" on one line, "0x04" on the next; for -a 512
 * an empty first line, then the guide examples' attributes in their order: 17 for secret keys, 26
 * for RSA keys, 19 for EC keys), the listAttributes lines, the attribute templates of keys the KMU
 * creates (Client SDK 3 defaults, so getAttribute -a 512 on a new key reads as the guide shows),
 * and the file format of wrapKey/unWrapKey (a header naming the key's class, type, label and id,
 * then the wrapped bytes; parsed from untrusted files with struct ohsm_rd). Values printed come
 * from the HSM's record; a label or id that is not printable text is shown in hex so it cannot
 * break the file's lines.
 */
#ifndef OHSM_KMU_ATTRS_H
#define OHSM_KMU_ATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "openhsm/obj.h"
#include "openhsm/rv.h"

/* getAttribute -a 512: every attribute. */
#define OHSM_KMU_ATTR_ALL 512u

/* Writes the getAttribute text of attribute id (or OHSM_KMU_ATTR_ALL) of o to f. *count gets the
 * number of attributes written (the guide's "attr cnt") and *size the size the console line prints
 * ("got all attributes of size 444"): a fixed 444 for the 17 attributes every key has, plus an
 * 8-byte header and the value for each further one, the model that reproduces the guide's AES,
 * 3DES, RSA and EC examples. An RSA modulus is "0x" and hex in lines
 * of 80 characters; an EC key's OBJ_ATTR_MODULUS is its X9.62 point in bare hex and its
 * OBJ_ATTR_MODULUS_BITS the curve's size (genECCKeyPair's example). Errors:
 * OHSM_ATTRIBUTE_TYPE_INVALID (o has no such attribute, or id is not one key_mgmt_util knows),
 * OHSM_IO. */
ohsm_rv ohsm_kmu_attr_write(FILE *f, const struct ohsm_obj *o, uint32_t id, size_t *count,
                            size_t *size);

/* listAttributes: the guide page's header ("Following are the possible attribute values for
 * getAttributes:") and its 18 lines ("      OBJ_ATTR_CLASS                  = 0"), in its order. */
void ohsm_kmu_attr_list(FILE *f);

/* What the KMU asks for when it makes a key. */
struct ohsm_kmu_keyopts {
    const char *label; /* borrowed; required */
    const uint8_t *id; /* borrowed; may be NULL */
    size_t id_len;
    bool token;       /* false with -sess */
    bool extractable; /* false with -nex (private and secret keys only) */
};

/* The creation template of a secret key (AES: encrypt, decrypt, wrap, unwrap; generic secret:
 * sign and verify, as an HMAC key), a private key (RSA: decrypt, sign, unwrap; EC: sign) and a
 * public key (RSA: encrypt, verify, wrap; EC: verify). b is initialised here. */
void ohsm_kmu_tmpl_secret(struct ohsm_tmpl_buf *b, uint32_t ktype,
                          const struct ohsm_kmu_keyopts *o);
void ohsm_kmu_tmpl_private(struct ohsm_tmpl_buf *b, uint32_t ktype,
                           const struct ohsm_kmu_keyopts *o);
void ohsm_kmu_tmpl_public(struct ohsm_tmpl_buf *b, uint32_t ktype,
                          const struct ohsm_kmu_keyopts *o);

/* ---- wrapped key files ----
 * "OHSMKW01" | u32 mech (KMU -m number) | u32 hash (KMU -t number, 0 for none) | u32 class |
 * u32 key type | u32 label length | label | u32 id length | id | u32 tag bits | u32 wrapped
 * length | wrapped bytes (for AES-GCM: iv || ciphertext || tag), big-endian, nothing after.
 * -noheader files are the wrapped bytes alone. */
#define OHSM_KMU_WRAP_MAGIC "OHSMKW01"

struct ohsm_kmu_wrapfile {
    uint32_t mech;
    uint32_t hash;
    uint32_t cls;
    uint32_t ktype;
    char label[OHSM_LABEL_MAX + 1];
    uint8_t id[OHSM_OBJ_ID_MAX];
    size_t id_len;
    uint32_t tag_bits;
    const uint8_t *wrapped; /* borrowed from the parsed buffer */
    size_t wrapped_len;
};

/* Encodes h (with h->wrapped) into *out (malloc'd; caller frees). Errors: OHSM_HOST_MEMORY,
 * OHSM_ARGUMENTS_BAD (a field too long). */
ohsm_rv ohsm_kmu_wrapfile_encode(const struct ohsm_kmu_wrapfile *h, uint8_t **out, size_t *len);
/* Does buf start with the header magic? */
bool ohsm_kmu_wrapfile_is(const uint8_t *buf, size_t len);
/* Parses a file with a header. Errors: OHSM_DATA_INVALID (malformed, truncated, trailing bytes,
 * a label that is not text, lengths over the limits). */
ohsm_rv ohsm_kmu_wrapfile_decode(const uint8_t *buf, size_t len, struct ohsm_kmu_wrapfile *h);

#endif
