/* SPDX-License-Identifier: Apache-2.0
 *
 * The JSON shapes of openhsm-cli's key commands, built by pure functions from key records so they
 * can be unit-tested without a cluster: one key as the CloudHSM CLI prints it ("key-reference",
 * "key-info" with owners, shares, quorum values and coverage, "attributes" in the attribute
 * table's order with the CLI's value types), a `key list` page, the merge of the keys several
 * HSMs reported (coverage: on every HSM at the same version), and the sync report of
 * `cluster sync-status`. Records come from the library (decoded and checked there); label bytes
 * that are not UTF-8 are shown with '?'.
 */
#ifndef OHSM_CLI_KEYSHAPE_H
#define OHSM_CLI_KEYSHAPE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cli/shape.h"
#include "openhsm/client.h"
#include "openhsm/obj.h"

/* {"key-type": "aes", "label": ..., ...}: every attribute the key has, in table order. NULL when
 * out of memory or a record value does not fit. */
json_t *ohsm_cli_attrs_json(const struct ohsm_obj *o);

/* One key. brief: {"key-reference", "attributes": {"label"}} (key list without --verbose);
 * otherwise {"key-reference", "key-info", "attributes"}. full: the key is on every HSM
 * ("cluster-coverage": "full", else "partial"). */
json_t *ohsm_cli_key_json(const struct ohsm_obj *o, bool brief, bool full);

/* One key as the keys several HSMs reported, merged. */
struct ohsm_cli_keyrow {
    struct ohsm_obj obj; /* the record with the highest version seen */
    size_t newest;       /* HSMs that reported that version */
    bool full;           /* set by ohsm_cli_keyset_finish */
};

struct ohsm_cli_keyset {
    struct ohsm_cli_keyrow *rows; /* malloc'd; by handle after finish */
    size_t n;
    size_t cap;
};

/* Adds one HSM's keys (each handle at most once per HSM). False when out of memory. */
bool ohsm_cli_keyset_add(struct ohsm_cli_keyset *s, const struct ohsm_obj *objs, size_t n);
/* Sorts by handle and sets coverage: full when all nhsm HSMs answered and each reported the
 * newest version; session keys (token false) live on one HSM by design and count as full. */
void ohsm_cli_keyset_finish(struct ohsm_cli_keyset *s, size_t answered, size_t nhsm);
void ohsm_cli_keyset_free(struct ohsm_cli_keyset *s); /* frees rows, resets; NULL ok */

/* {"matched_keys": [...], "total_key_count", "returned_key_count"[, "next_token"]}: the page of
 * at most max rows starting at row start (next_token: the decimal start of the next page,
 * present only when more rows follow). */
json_t *ohsm_cli_key_list_json(const struct ohsm_cli_keyset *s, size_t start, size_t max,
                               bool verbose);

/* {"in-sync", "hsms": [{"hsm-id", "state", objects, users, digests | "error"}],
 *  "differences": [{"hsm-id", "kind", "key-reference" | "username"}]}. ids[i] names HSM i
 * (nids entries; an index beyond them prints as "hsm #i"). */
json_t *ohsm_cli_sync_json(const struct ohsm_sync_report *r, const char *const *ids, size_t nids);

#endif
