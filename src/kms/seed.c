/* SPDX-License-Identifier: Apache-2.0
 *
 * `openhsmd --seed FILE`: keys with given ids, aliases and known key material for reproducible
 * dev environments (what local KMS stand-ins are used for most). The file (untrusted, at most
 * 1 MiB) is YAML, or JSON of the same structure when its first non-space character is '{':
 *
 *   Keys:
 *     - KeyId: 0d5c1a1e-1111-4a4a-8b8b-123456789abc  # required, a UUID
 *       KeySpec: SYMMETRIC_DEFAULT                    # default; any CreateKey KeySpec
 *       KeyUsage: ENCRYPT_DECRYPT                     # default as CreateKey (required for
 *                                                     # the specs that need it there)
 *       Description: dev key                          # default ""
 *       Enabled: true                                 # default true
 *       BackingKeys: [hex, ...]                       # SYMMETRIC_DEFAULT (32 bytes) and HMAC
 *                                                     # (16-64 bytes) material, oldest first:
 *                                                     # one version each, the last is current
 *       PrivateKeyPem: |                              # RSA/ECC keys instead of BackingKeys:
 *         -----BEGIN PRIVATE KEY-----                 # PRIVATE KEY, RSA PRIVATE KEY or
 *         ...                                         # EC PRIVATE KEY, unencrypted
 *       Tags: [{TagKey: a, TagValue: b}]
 *   Aliases:
 *     - AliasName: alias/dev
 *       TargetKeyId: 0d5c1a1e-1111-4a4a-8b8b-123456789abc  # a key of the file or of the store
 *
 * A key without material gets fresh material. Keys are AWS_KMS keys of the service's account
 * and default region, with the default key policy. Seeding is idempotent: a key id that exists
 * is left as it is; an alias that exists pointing at the same key is fine, at another key an
 * error. Every entry is checked before anything is created, and everything new is written in
 * one store transaction: a bad file changes nothing. Material is sealed (ohsm_kms_mat_store),
 * wiped after use (file buffer, libyaml's copies, the tree's strings) and never printed.
 * The steps: seed_doc.c (the document into a tree), seed_check.c (the tree into a checked plan),
 * this file (reading the file, and the plan against the store, then into it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/errf.h"
#include "kms/kms_int.h"
#include "kms/seed.h"

/* ---- applying a plan ---- */

/* The file, read whole into a buffer the caller wipes and frees (it holds key material). */
static ohsm_rv read_seed(const char *path, char **out, size_t *len, char *err, size_t cap)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    bool failed = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        ohsm_errf(err, cap, "cannot open: %s", strerror(errno));
        return OHSM_CONFIG;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ohsm_errf(err, cap, "not a regular file");
        (void)close(fd);
        return OHSM_CONFIG;
    }
    buf = malloc(OHSM_KMS_SEED_FILE_MAX + 1);
    if (buf == NULL) {
        (void)close(fd);
        return OHSM_HOST_MEMORY;
    }
    /* One byte more than the limit tells a file at the limit from a larger one. */
    while (n < OHSM_KMS_SEED_FILE_MAX + 1) {
        ssize_t r = read(fd, buf + n, OHSM_KMS_SEED_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            ohsm_errf(err, cap, "cannot read: %s", strerror(errno));
            failed = true;
            break;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    (void)close(fd);
    if (n > OHSM_KMS_SEED_FILE_MAX) {
        ohsm_errf(err, cap, "larger than %u bytes", OHSM_KMS_SEED_FILE_MAX);
    } else if (!failed) {
        *out = buf;
        *len = n;
        return OHSM_OK;
    }
    OPENSSL_cleanse(buf, n);
    free(buf);
    return OHSM_CONFIG;
}

/* Which entries of the plan are new; aliases of the store checked against the file. k->write_lock
 * held. */
static int plan_against_store(struct ohsm_kms *k, const struct ohsm_kms_seed_plan *p, bool *key_new,
                              bool *alias_new, char *err, size_t cap)
{
    struct ohsm_kms_key cur;
    struct ohsm_kms_alias a;
    ohsm_rv rv;

    for (size_t i = 0; i < p->n_keys; i++) {
        rv = ohsm_kms_tab_get(k, p->keys[i].id, &cur);
        key_new[i] = rv == OHSM_KEY_HANDLE_INVALID;
        if (rv == OHSM_OK) {
            ohsm_kms_key_clear(&cur);
        } else if (!key_new[i]) {
            ohsm_errf(err, cap, "Keys[%zu] (KeyId %s): cannot look the key up: %s", i,
                      p->keys[i].id, ohsm_rv_str(rv));
            return -1;
        }
    }
    for (size_t i = 0; i < p->n_aliases; i++) {
        const struct ohsm_kms_seed_alias *sa = &p->aliases[i];
        bool in_file = false;
        for (size_t j = 0; j < p->n_keys && !in_file; j++) {
            in_file = strcmp(p->keys[j].id, sa->target) == 0;
        }
        if (!in_file) {
            rv = ohsm_kms_tab_get(k, sa->target, &cur);
            bool here = rv == OHSM_OK && strcmp(cur.region, k->region) == 0 &&
                        strcmp(cur.account, k->account) == 0;
            if (rv == OHSM_OK) {
                ohsm_kms_key_clear(&cur);
            }
            if (!here) {
                ohsm_errf(err, cap,
                          "Aliases[%zu] (%s): TargetKeyId %s is neither in the file nor a key "
                          "of account %s in %s",
                          i, sa->name, sa->target, k->account, k->region);
                return -1;
            }
        }
        rv = ohsm_kms_store_alias_get(k->store, k->region, sa->name, &a);
        alias_new[i] = rv == OHSM_KEY_HANDLE_INVALID;
        if (rv == OHSM_OK && strcmp(a.key_id, sa->target) != 0) {
            ohsm_errf(err, cap,
                      "Aliases[%zu] (%s): the alias exists and points at another key (%s)", i,
                      sa->name, a.key_id);
            return -1;
        }
        if (rv != OHSM_OK && !alias_new[i]) {
            ohsm_errf(err, cap, "Aliases[%zu] (%s): cannot look the alias up: %s", i, sa->name,
                      ohsm_rv_str(rv));
            return -1;
        }
    }
    return 0;
}

/* The record of a new seeded key (description copied). */
static ohsm_rv new_record(struct ohsm_kms *k, const struct ohsm_kms_seed_key *sk, uint32_t versions,
                          struct ohsm_kms_key *key)
{
    memset(key, 0, sizeof(*key));
    memcpy(key->id, sk->id, sizeof(key->id));
    (void)snprintf(key->region, sizeof(key->region), "%s", k->region);
    (void)snprintf(key->account, sizeof(key->account), "%s", k->account);
    key->created_ms = ohsm_kms_now_ms(k);
    key->spec = sk->spec;
    key->usage = sk->usage;
    key->origin = OHSM_KORIGIN_AWS_KMS;
    key->state = key->saved_state = sk->enabled ? OHSM_KSTATE_ENABLED : OHSM_KSTATE_DISABLED;
    key->expiration = OHSM_KEXP_NONE;
    key->cur_version = versions;
    key->description = strdup(sk->description);
    return key->description != NULL ? OHSM_OK : OHSM_HOST_MEMORY;
}

/* Writes one new key: its record, every material version, tags and policy (inside the caller's
 * transaction). */
static ohsm_rv write_key(struct ohsm_kms *k, const struct ohsm_kms_seed_key *sk,
                         const struct ohsm_kms_key *key, const char *policy)
{
    uint8_t *gen = NULL;
    size_t gen_len = 0, i;
    json_t *t;
    ohsm_rv rv = ohsm_kms_store_key_put(k->store, key);

    if (rv == OHSM_OK && sk->n_mats == 0) {
        rv = ohsm_kms_material_gen(sk->spec, &gen, &gen_len);
        if (rv == OHSM_OK) {
            rv = ohsm_kms_mat_store(k, key->id, 1, OHSM_MKIND_CREATED, gen, gen_len, NULL, NULL);
        }
        ohsm_kms_bytes_free(gen, gen_len);
    }
    for (i = 0; rv == OHSM_OK && i < sk->n_mats; i++) {
        /* Older versions are rotations as far as ListKeyRotations is concerned. */
        rv = ohsm_kms_mat_store(k, key->id, (uint32_t)(i + 1),
                                i == 0 ? OHSM_MKIND_CREATED : OHSM_MKIND_AUTOMATIC, sk->mats[i],
                                sk->mat_lens[i], NULL, NULL);
    }
    json_array_foreach(sk->tags, i, t)
    {
        struct ohsm_kms_tag tag;
        if (rv != OHSM_OK) {
            break;
        }
        (void)snprintf(tag.key, sizeof(tag.key), "%s", ohsm_kms_str(t, "TagKey"));
        (void)snprintf(tag.value, sizeof(tag.value), "%s", ohsm_kms_str(t, "TagValue"));
        rv = ohsm_kms_store_tag_set(k->store, key->id, &tag, 1);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_kms_store_policy_put(k->store, key->id, "default", policy);
    }
    return rv;
}

/* Creates what is new of the plan in one store transaction, then puts the keys in the table.
 * k->write_lock held. */
static ohsm_rv apply(struct ohsm_kms *k, const struct ohsm_kms_seed_plan *p, const bool *key_new,
                     const bool *alias_new, char *err, size_t cap)
{
    struct ohsm_kms_key *recs = NULL;
    char *policy = NULL;
    size_t made = 0, i;
    ohsm_rv rv;

    recs = calloc(p->n_keys > 0 ? p->n_keys : 1, sizeof(*recs));
    policy = ohsm_kms_default_policy(k->account);
    if (recs == NULL || policy == NULL) {
        free(recs);
        free(policy);
        return OHSM_HOST_MEMORY;
    }
    rv = ohsm_kms_store_begin(k->store);
    for (i = 0; rv == OHSM_OK && i < p->n_keys; i++) {
        if (!key_new[i]) {
            continue;
        }
        const struct ohsm_kms_seed_key *sk = &p->keys[i];
        rv = new_record(k, sk, sk->n_mats > 0 ? (uint32_t)sk->n_mats : 1, &recs[made]);
        made++;
        if (rv == OHSM_OK) {
            rv = write_key(k, sk, &recs[made - 1], policy);
        }
        if (rv != OHSM_OK) {
            ohsm_errf(err, cap, "Keys[%zu] (KeyId %s): cannot store the key: %s", i, sk->id,
                      ohsm_rv_str(rv));
        }
    }
    for (i = 0; rv == OHSM_OK && i < p->n_aliases; i++) {
        struct ohsm_kms_alias a;
        if (!alias_new[i]) {
            continue;
        }
        memset(&a, 0, sizeof(a));
        (void)snprintf(a.name, sizeof(a.name), "%s", p->aliases[i].name);
        memcpy(a.key_id, p->aliases[i].target, sizeof(a.key_id));
        (void)snprintf(a.region, sizeof(a.region), "%s", k->region);
        a.created = a.updated = ohsm_kms_now(k);
        rv = ohsm_kms_store_alias_add(k->store, &a);
        if (rv != OHSM_OK) {
            ohsm_errf(err, cap, "Aliases[%zu] (%s): cannot store the alias: %s", i, a.name,
                      ohsm_rv_str(rv));
        }
    }
    if (rv == OHSM_OK) {
        rv = ohsm_kms_store_commit(k->store);
        if (rv != OHSM_OK) {
            ohsm_errf(err, cap, "cannot commit: %s", ohsm_kms_store_errstr(k->store));
        }
    } else {
        ohsm_kms_store_rollback(k->store);
    }
    /* Committed: the table follows the store (a failure here leaves the store right and the
     * next start loads the keys from it). */
    for (i = 0; rv == OHSM_OK && i < made; i++) {
        rv = ohsm_kms_tab_remember(k, &recs[i]);
    }
    for (i = 0; i < made; i++) {
        ohsm_kms_key_clear(&recs[i]);
    }
    free(recs);
    free(policy);
    return rv;
}

ohsm_rv ohsm_kms_seed(struct ohsm_kms *k, const char *path, char *err, size_t cap)
{
    struct ohsm_kms_seed_plan *plan = NULL;
    char msg[768] = "";
    char *buf = NULL;
    size_t len = 0;
    json_t *tree = NULL;
    bool *key_new = NULL, *alias_new = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && path != NULL, OHSM_ARGUMENTS_BAD);
    rv = read_seed(path, &buf, &len, msg, sizeof(msg));
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_kms_seed_parse(buf, len, &tree, msg, sizeof(msg));
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_kms_seed_check(tree, &plan, msg, sizeof(msg));
    if (rv != OHSM_OK) {
        goto out;
    }
    key_new = calloc(plan->n_keys + 1, sizeof(*key_new));
    alias_new = calloc(plan->n_aliases + 1, sizeof(*alias_new));
    if (key_new == NULL || alias_new == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (plan_against_store(k, plan, key_new, alias_new, msg, sizeof(msg)) != 0) {
        rv = OHSM_CONFIG;
    } else {
        rv = apply(k, plan, key_new, alias_new, msg, sizeof(msg));
    }
    (void)pthread_mutex_unlock(&k->write_lock);
out:
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "%s: %s", path, msg[0] != '\0' ? msg : ohsm_rv_str(rv));
    }
    free(key_new);
    free(alias_new);
    ohsm_kms_seed_plan_free(plan);
    return rv;
}
