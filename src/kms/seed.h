/* SPDX-License-Identifier: Apache-2.0
 *
 * The steps of `openhsmd --seed FILE` (seed.c; the format is documented there), exposed so the
 * unit tests can run them without a store: a seed document (YAML or JSON) becomes a jansson
 * tree, and the tree a checked plan of keys and aliases. ohsm_kms_seed (kms.h) then applies
 * the plan to the service. Pure: no I/O, no store.
 */
#ifndef OHSM_KMS_SEED_H
#define OHSM_KMS_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kms/types.h"
#include "openhsm/rv.h"

#define OHSM_KMS_SEED_FILE_MAX (1u << 20) /* bytes */
#define OHSM_KMS_SEED_DEPTH_MAX 16        /* nested mappings and sequences */
#define OHSM_KMS_SEED_VERSIONS_MAX 100    /* BackingKeys of one key */

/* One key of the file, checked. */
struct ohsm_kms_seed_key {
    char id[OHSM_KMS_ID_LEN + 1]; /* canonical (lower-case) UUID */
    uint32_t spec;                /* enum ohsm_kms_spec */
    uint32_t usage;               /* enum ohsm_kms_usage */
    bool enabled;
    const char *description; /* borrowed from the tree; "" when absent */
    json_t *tags;            /* borrowed array of {TagKey, TagValue}; NULL when absent */
    /* Material, oldest version first (BackingKeys), or one DER PKCS#8 (PrivateKeyPem); none:
     * fresh material is generated when the key is created. Secure buffers, wiped on free. */
    uint8_t *mats[OHSM_KMS_SEED_VERSIONS_MAX];
    size_t mat_lens[OHSM_KMS_SEED_VERSIONS_MAX];
    size_t n_mats;
};

struct ohsm_kms_seed_alias {
    const char *name;                 /* borrowed: "alias/..." */
    char target[OHSM_KMS_ID_LEN + 1]; /* canonical UUID */
};

struct ohsm_kms_seed_plan {
    json_t *tree; /* the document (owned: its strings are wiped when the plan is freed) */
    struct ohsm_kms_seed_key *keys;
    size_t n_keys;
    struct ohsm_kms_seed_alias *aliases;
    size_t n_aliases;
};

/* Parses a seed document (JSON when its first non-space character is '{', else YAML through
 * libyaml) into a tree of objects, arrays and strings (JSON keeps its other types). YAML anchors,
 * aliases, tags and more than one document are refused; depth at most OHSM_KMS_SEED_DEPTH_MAX.
 * Scalar copies libyaml made are wiped. *out: caller frees with ohsm_kms_seed_tree_free.
 * Errors: OHSM_CONFIG with err (line numbers, never the file's values). */
OHSM_NODISCARD ohsm_rv ohsm_kms_seed_parse(const char *buf, size_t len, json_t **out, char *err,
                                           size_t cap);
/* Wipes every string of the tree, then frees it. NULL ok. */
void ohsm_kms_seed_tree_free(json_t *tree);

/* Checks every entry of tree (takes it, also on error) into *out: ids, specs, usages, material
 * (hex, lengths, PEM kinds, sizes), tags, aliases, duplicates, alias targets that are not in the
 * file are left for ohsm_kms_seed to look up. Caller frees with ohsm_kms_seed_plan_free.
 * Errors: OHSM_CONFIG with err naming the entry (index and key id) and the problem;
 * OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_kms_seed_check(json_t *tree, struct ohsm_kms_seed_plan **out, char *err,
                                           size_t cap);
void ohsm_kms_seed_plan_free(struct ohsm_kms_seed_plan *p); /* wipes material; NULL ok */

#endif
