/* SPDX-License-Identifier: Apache-2.0
 *
 * Parsing of the key and crypto command arguments of openhsm-cli, pure so it can be unit-tested
 * without a cluster: key references ("0x" + 16 hex digits out, decimal or hex in), key filters
 * (`key-reference=0x...` and/or `attr.NAME=VALUE` terms), attribute lists (`NAME=VALUE`, the
 * CloudHSM CLI attribute names of the core attribute table) turned into encoded templates,
 * key-type-class names, hash and MGF names, mechanism words, numbers, hex and base64. Every input
 * is typed by a user and untrusted: values are checked in full (no trailing bytes, ranges, lengths)
 * and errors name the offending term without echoing more than it.
 */
#ifndef OHSM_CLI_KEYARG_H
#define OHSM_CLI_KEYARG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "openhsm/rv.h"

/* "0x" + 16 hex digits + NUL. */
#define OHSM_CLI_KEYREF_LEN 19

/* Writes the key reference of handle h ("0x00000000002e06bf"). */
void ohsm_cli_keyref(uint64_t h, char buf[OHSM_CLI_KEYREF_LEN]);

/* Parses an unsigned decimal or 0x-hex number in [min, max]. False on anything else (signs,
 * blanks, trailing bytes, overflow). */
bool ohsm_cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A key filter: a key reference, attribute terms, or both (all must hold). */
struct ohsm_cli_filter {
    bool by_ref;
    uint64_t handle;
    size_t nterms;             /* attr.* terms */
    struct ohsm_tmpl_buf tmpl; /* the attr.* terms, encoded */
};

/* Parses filter terms (each "key-reference=REF" or "attr.NAME=VALUE"). At least one term; at
 * most one key-reference. Errors (OHSM_ARGUMENTS_BAD, OHSM_ATTRIBUTE_TYPE_INVALID,
 * OHSM_ATTRIBUTE_VALUE_INVALID) come with a message in err naming the option (what). */
OHSM_NODISCARD ohsm_rv ohsm_cli_filter_parse(const char *what, const char *const *terms, size_t n,
                                             struct ohsm_cli_filter *f, char *err, size_t cap);

/* Why an attribute list is parsed: what is allowed differs. */
enum ohsm_cli_attr_use {
    OHSM_CLI_ATTR_FILTER, /* any attribute of the table */
    OHSM_CLI_ATTR_CREATE, /* only those a template may give at creation */
    OHSM_CLI_ATTR_SET,    /* only those set-attribute may change */
};

/* Appends attribute name=value to b. Names are the CLI names of the core attribute table, values
 * the forms of ohsm_tmpl_put_text (names for key-type, class and curve; true/false; hex).
 * ids[*nids] records the attribute ids appended so far (capacity OHSM_TMPL_MAX) to refuse one given
 * twice. */
OHSM_NODISCARD ohsm_rv ohsm_cli_attr_put(struct ohsm_tmpl_buf *b, enum ohsm_cli_attr_use use,
                                         const char *name, const char *value, uint32_t *ids,
                                         size_t *nids, char *err, size_t cap);

/* Splits "NAME=VALUE" terms and appends each (see ohsm_cli_attr_put). what names the option. */
OHSM_NODISCARD ohsm_rv ohsm_cli_attrs_parse(const char *what, enum ohsm_cli_attr_use use,
                                            const char *const *terms, size_t n,
                                            struct ohsm_tmpl_buf *b, uint32_t *ids, size_t *nids,
                                            char *err, size_t cap);

/* --manage-key-quorum-value / --use-key-quorum-value (each NULL when not given): numbers 0 to
 * OHSM_QUORUM_MAX (0 and 1 mean no quorum), appended to b as OHSM_A_QUORUM_MANAGE /
 * OHSM_A_QUORUM_USE (u32) and recorded in ids as ohsm_cli_attr_put does. Whether a value fits the
 * key's associated users is the HSM's rule. Errors (nothing appended, message in err):
 * OHSM_ARGUMENTS_BAD (not a number in range), OHSM_TEMPLATE_INCONSISTENT (the attribute was
 * already given), OHSM_DATA_LEN_RANGE. */
OHSM_NODISCARD ohsm_rv ohsm_cli_quorum_put(struct ohsm_tmpl_buf *b, const char *manage,
                                           const char *use, uint32_t *ids, size_t *nids, char *err,
                                           size_t cap);

/* --key-type-class values: "aes", "des3", "generic-secret", "rsa-private", "ec-private", "rsa-public",
 * "ec-public". False when unknown. */
bool ohsm_cli_key_type_class(const char *s, uint32_t *cls, uint32_t *ktype);

/* --mgf values "mgf1-sha1" ... "mgf1-sha512" -> enum ohsm_hash; 0 when unknown. */
uint32_t ohsm_cli_mgf(const char *s);

/* The mechanism a command word names in a family ("aes-gcm" in `key wrap aes-gcm`, "ecdsa" in
 * `crypto sign ecdsa`). OHSM_M_NONE when the word is not one of the family. */
enum ohsm_cli_mech_family { OHSM_CLI_MF_WRAP, OHSM_CLI_MF_SIGN, OHSM_CLI_MF_CIPHER };
uint32_t ohsm_cli_mech(enum ohsm_cli_mech_family fam, const char *word);

/* Hex (optional "0x", even number of digits) into out. False on bad digits, odd length or more
 * than cap bytes. An empty string gives 0 bytes. */
bool ohsm_cli_hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len);
/* Lower-case hex of in into out (cap >= 2 * len + 1), optionally prefixed "0x" (cap + 2). */
bool ohsm_cli_hex_encode(const uint8_t *in, size_t len, bool prefix, char *out, size_t cap);

/* Strict standard base64 (RFC 4648 §4, padded, no blanks) into out. False on anything else or
 * more than cap bytes. */
bool ohsm_cli_b64_decode(const char *s, uint8_t *out, size_t cap, size_t *len);
/* base64 of in, NUL-terminated, malloc'd (caller frees; wipe it when in was secret). */
char *ohsm_cli_b64_encode(const uint8_t *in, size_t len);

#endif
