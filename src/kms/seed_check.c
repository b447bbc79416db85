/* SPDX-License-Identifier: Apache-2.0
 *
 * Checks a seed document's tree (seed_doc.c) entry by entry into a plan (seed.h): ids, key specs
 * and usages, material (hex and its length, PEM and its kind, size and curve), tags, alias names,
 * duplicates. Messages name the entry (index, key id, alias name) and the problem, never a value
 * of the material. Pure: the store is seed.c's.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/errf.h"
#include "kms/blob.h"
#include "kms/kcrypto.h"
#include "kms/seed.h"
#include "kms/store.h"
#include "openhsm/mech.h"
#include "openhsm/obj.h"

/* ---- checking the tree into a plan ---- */

void ohsm_kms_seed_plan_free(struct ohsm_kms_seed_plan *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; p->keys != NULL && i < p->n_keys; i++) {
        for (size_t v = 0; v < p->keys[i].n_mats; v++) {
            ohsm_kms_bytes_free(p->keys[i].mats[v], p->keys[i].mat_lens[v]);
        }
    }
    free(p->keys);
    free(p->aliases);
    ohsm_kms_seed_tree_free(p->tree);
    free(p);
}

/* Characters of UTF-8 s (the tree's strings are valid UTF-8): AWS counts lengths in those. */
static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}

/* The string member name of obj, or NULL. */
static const char *sval(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Fails unless every member of obj is one of names (NULL-terminated). */
static int only(json_t *obj, const char *const *names, const char *where, char *err, size_t cap)
{
    const char *name;
    json_t *v;

    json_object_foreach(obj, name, v)
    {
        size_t i = 0;
        while (names[i] != NULL && strcmp(names[i], name) != 0) {
            i++;
        }
        if (names[i] == NULL) {
            ohsm_errf(err, cap, "%s: unknown field %.64s", where, name);
            return -1;
        }
    }
    return 0;
}

/* An optional string member: 0 with *out (NULL when absent), -1 when not a string. */
static int opt_str(json_t *obj, const char *name, const char **out, const char *where, char *err,
                   size_t cap)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v)) {
        ohsm_errf(err, cap, "%s: %s must be a string", where, name);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int canon_id(const char *s, char out[OHSM_KMS_ID_LEN + 1])
{
    uint8_t b[16];
    if (s == NULL || ohsm_kms_uuid_parse(s, b) != OHSM_OK) {
        return -1;
    }
    ohsm_kms_uuid_format(b, out);
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The material lengths kcrypto takes for a symmetric or HMAC spec (its table decides; asked
 * rather than repeated here so the message cannot drift from the check). */
static void lengths(uint32_t spec, size_t *lo, size_t *hi)
{
    static const uint8_t zero[256];
    *lo = *hi = 0;
    for (size_t n = 1; n <= sizeof(zero); n++) {
        if (ohsm_kms_material_check(spec, zero, n) == OHSM_OK) {
            *lo = *lo == 0 ? n : *lo;
            *hi = n;
        }
    }
}

/* BackingKeys[i] (hex) into a secure buffer; never says what the value was. */
static int backing_key(struct ohsm_kms_seed_key *key, json_t *v, size_t i, const char *where,
                       char *err, size_t cap)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    uint8_t *m;

    if (s == NULL) {
        ohsm_errf(err, cap, "%s: BackingKeys[%zu] must be a hex string", where, i);
        return -1;
    }
    if (n == 0 || n % 2 != 0 || n > 2 * 1024) {
        ohsm_errf(err, cap,
                  "%s: BackingKeys[%zu] is not an even number of hex digits (1 to 1024 bytes)",
                  where, i);
        return -1;
    }
    m = OPENSSL_secure_malloc(n / 2);
    if (m == NULL) {
        ohsm_errf(err, cap, "out of memory");
        return -1;
    }
    for (size_t j = 0; j < n / 2; j++) {
        int hi = hexval(s[2 * j]), lo = hexval(s[2 * j + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_secure_clear_free(m, n / 2);
            ohsm_errf(err, cap, "%s: BackingKeys[%zu] has a character that is not a hex digit",
                      where, i);
            return -1;
        }
        m[j] = (uint8_t)(hi << 4 | lo);
    }
    key->mats[key->n_mats] = m;
    key->mat_lens[key->n_mats] = n / 2;
    key->n_mats++;
    if (ohsm_kms_material_check(key->spec, m, n / 2) != OHSM_OK) {
        size_t lo = 0, hi = 0;
        lengths(key->spec, &lo, &hi);
        if (lo == hi) {
            ohsm_errf(err, cap, "%s: BackingKeys[%zu] is %zu bytes; %s material is %zu bytes",
                      where, i, n / 2, ohsm_kms_spec_name(key->spec), lo);
        } else {
            ohsm_errf(err, cap,
                      "%s: BackingKeys[%zu] is %zu bytes; %s material is %zu to %zu bytes", where,
                      i, n / 2, ohsm_kms_spec_name(key->spec), lo, hi);
        }
        return -1;
    }
    return 0;
}

static bool is_pair_spec(uint32_t spec)
{
    return spec >= OHSM_KSPEC_RSA_2048 && spec <= OHSM_KSPEC_ECC_SECG_P256K1;
}

static int private_key_pem(struct ohsm_kms_seed_key *key, const char *pem, const char *where,
                           char *err, size_t cap)
{
    bool rsa = key->spec <= OHSM_KSPEC_RSA_4096;
    uint32_t cls = 0, kt = 0;
    uint8_t *der = NULL, *m;
    size_t der_len = 0;

    if (ohsm_mech_pem_to_der(pem, strlen(pem), &cls, &kt, &der, &der_len) != OHSM_OK) {
        ohsm_errf(
            err, cap,
            "%s: PrivateKeyPem is not an unencrypted PEM RSA or EC key (PRIVATE KEY, RSA PRIVATE "
            "KEY or EC PRIVATE KEY)",
            where);
        return -1;
    }
    if (cls != OHSM_CLASS_PRIVATE) {
        ohsm_mech_der_free(der, der_len);
        ohsm_errf(err, cap, "%s: PrivateKeyPem holds a public key; it needs the private key",
                  where);
        return -1;
    }
    if ((kt == OHSM_KT_RSA) != rsa) {
        ohsm_mech_der_free(der, der_len);
        ohsm_errf(err, cap, "%s: PrivateKeyPem holds an %s key; KeySpec %s needs an %s key", where,
                  kt == OHSM_KT_RSA ? "RSA" : "EC", ohsm_kms_spec_name(key->spec),
                  rsa ? "RSA" : "EC");
        return -1;
    }
    m = OPENSSL_secure_malloc(der_len);
    if (m != NULL) {
        memcpy(m, der, der_len);
    }
    ohsm_mech_der_free(der, der_len);
    if (m == NULL) {
        ohsm_errf(err, cap, "out of memory");
        return -1;
    }
    key->mats[0] = m;
    key->mat_lens[0] = der_len;
    key->n_mats = 1;
    if (ohsm_kms_material_check(key->spec, m, der_len) != OHSM_OK) {
        ohsm_errf(err, cap, "%s: PrivateKeyPem is not a %s key (%s)", where,
                  ohsm_kms_spec_name(key->spec),
                  rsa ? "another modulus size" : "another curve, or a broken key");
        return -1;
    }
    return 0;
}

static int check_tags(json_t *tags, const char *where, char *err, size_t cap)
{
    static const char *const tag_fields[] = {"TagKey", "TagValue", NULL};
    size_t i, j;
    json_t *t, *u;

    if (!json_is_array(tags)) {
        ohsm_errf(err, cap, "%s: Tags must be a list of {TagKey, TagValue}", where);
        return -1;
    }
    json_array_foreach(tags, i, t)
    {
        const char *tk = sval(t, "TagKey");
        const char *tv = sval(t, "TagValue");
        if (!json_is_object(t) || only(t, tag_fields, where, err, cap) != 0 || tk == NULL ||
            tv == NULL) {
            ohsm_errf(err, cap, "%s: Tags[%zu] must be {TagKey: string, TagValue: string}", where,
                      i);
            return -1;
        }
        struct ohsm_kms_tag tag;
        size_t kc = chars(tk), vc = chars(tv);
        if (kc == 0 || kc > 128 || vc > 256 || strlen(tk) >= sizeof(tag.key) ||
            strlen(tv) >= sizeof(tag.value)) {
            ohsm_errf(err, cap, "%s: Tags[%zu]: TagKey is 1-128 characters, TagValue 0-256", where,
                      i);
            return -1;
        }
        if (strncmp(tk, "aws:", 4) == 0) {
            ohsm_errf(err, cap, "%s: Tags[%zu]: tag keys beginning with aws: are reserved", where,
                      i);
            return -1;
        }
        json_array_foreach(tags, j, u)
        {
            if (j < i && strcmp(tk, sval(u, "TagKey")) == 0) {
                ohsm_errf(err, cap, "%s: Tags[%zu]: duplicate TagKey %.128s", where, i, tk);
                return -1;
            }
        }
    }
    return 0;
}

static int check_key(json_t *e, size_t idx, struct ohsm_kms_seed_key *key, char *err, size_t cap)
{
    static const char *const fields[] = {"KeyId",         "KeySpec", "KeyUsage",
                                         "Description",   "Enabled", "BackingKeys",
                                         "PrivateKeyPem", "Tags",    NULL};
    char where[96];
    const char *id, *spec, *usage, *desc, *pem;
    json_t *en, *bk;
    size_t i;
    json_t *v;

    (void)snprintf(where, sizeof(where), "Keys[%zu]", idx);
    if (!json_is_object(e)) {
        ohsm_errf(err, cap, "%s must be a mapping", where);
        return -1;
    }
    if (opt_str(e, "KeyId", &id, where, err, cap) != 0) {
        return -1;
    }
    if (id == NULL) {
        ohsm_errf(err, cap, "%s: KeyId is required", where);
        return -1;
    }
    if (canon_id(id, key->id) != 0) {
        ohsm_errf(err, cap,
                  "%s: KeyId %.64s is not a UUID (like 0d5c1a1e-1111-4a4a-8b8b-123456789abc)",
                  where, id);
        return -1;
    }
    (void)snprintf(where, sizeof(where), "Keys[%zu] (KeyId %s)", idx, key->id);
    if (only(e, fields, where, err, cap) != 0 ||
        opt_str(e, "KeySpec", &spec, where, err, cap) != 0 ||
        opt_str(e, "KeyUsage", &usage, where, err, cap) != 0 ||
        opt_str(e, "Description", &desc, where, err, cap) != 0 ||
        opt_str(e, "PrivateKeyPem", &pem, where, err, cap) != 0) {
        return -1;
    }
    key->spec = ohsm_kms_spec_from(spec != NULL ? spec : "SYMMETRIC_DEFAULT");
    if (key->spec == OHSM_KSPEC_NONE || ohsm_kms_spec_info(key->spec) == NULL) {
        ohsm_errf(err, cap, "%s: unknown KeySpec %.64s", where, spec);
        return -1;
    }
    key->usage = ohsm_kms_usage_from(usage != NULL ? usage : "ENCRYPT_DECRYPT");
    if (key->usage == OHSM_KUSE_NONE) {
        ohsm_errf(err, cap, "%s: unknown KeyUsage %.64s", where, usage);
        return -1;
    }
    if (!ohsm_kms_spec_allows(key->spec, key->usage)) {
        ohsm_errf(err, cap, "%s: KeyUsage %s is not allowed for KeySpec %s%s", where,
                  ohsm_kms_usage_name(key->usage), ohsm_kms_spec_name(key->spec),
                  usage == NULL ? " (KeyUsage is required for this KeySpec)" : "");
        return -1;
    }
    key->description = desc != NULL ? desc : "";
    if (chars(key->description) > OHSM_KMS_DESC_MAX) {
        ohsm_errf(err, cap, "%s: Description is longer than %d characters", where,
                  OHSM_KMS_DESC_MAX);
        return -1;
    }
    en = json_object_get(e, "Enabled");
    key->enabled = true;
    if (json_is_false(en) || (json_is_string(en) && strcmp(json_string_value(en), "false") == 0)) {
        key->enabled = false;
    } else if (en != NULL && !json_is_true(en) &&
               !(json_is_string(en) && strcmp(json_string_value(en), "true") == 0)) {
        ohsm_errf(err, cap, "%s: Enabled must be true or false", where);
        return -1;
    }
    key->tags = json_object_get(e, "Tags");
    if (key->tags != NULL && check_tags(key->tags, where, err, cap) != 0) {
        return -1;
    }
    bk = json_object_get(e, "BackingKeys");
    if (bk != NULL && pem != NULL) {
        ohsm_errf(err, cap, "%s: give BackingKeys or PrivateKeyPem, not both", where);
        return -1;
    }
    if (bk != NULL) {
        if (is_pair_spec(key->spec)) {
            ohsm_errf(err, cap,
                      "%s: BackingKeys is for SYMMETRIC_DEFAULT and HMAC keys; give the %s "
                      "key as PrivateKeyPem",
                      where, ohsm_kms_spec_name(key->spec));
            return -1;
        }
        if (!json_is_array(bk) || json_array_size(bk) == 0 ||
            json_array_size(bk) > OHSM_KMS_SEED_VERSIONS_MAX) {
            ohsm_errf(err, cap, "%s: BackingKeys must be a list of 1 to %d hex strings", where,
                      OHSM_KMS_SEED_VERSIONS_MAX);
            return -1;
        }
        json_array_foreach(bk, i, v)
        {
            if (backing_key(key, v, i, where, err, cap) != 0) {
                return -1;
            }
        }
    }
    if (pem != NULL) {
        if (!is_pair_spec(key->spec)) {
            ohsm_errf(err, cap,
                      "%s: PrivateKeyPem is for RSA and ECC keys; give %s material as "
                      "BackingKeys",
                      where, ohsm_kms_spec_name(key->spec));
            return -1;
        }
        return private_key_pem(key, pem, where, err, cap);
    }
    return 0;
}

static int check_alias_name(const char *name, const char *where, char *err, size_t cap)
{
    if (name == NULL || strncmp(name, "alias/", 6) != 0 || name[6] == '\0' ||
        strlen(name) > OHSM_KMS_ALIAS_MAX) {
        ohsm_errf(err, cap, "%s: AliasName must be alias/NAME (at most %d characters)", where,
                  OHSM_KMS_ALIAS_MAX);
        return -1;
    }
    if (strncmp(name, "alias/aws/", 10) == 0) {
        ohsm_errf(err, cap, "%s: alias/aws/ is reserved for AWS managed keys", where);
        return -1;
    }
    for (const char *p = name + 6; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-')) {
            ohsm_errf(err, cap, "%s: AliasName may hold only letters, digits, /, _ and -", where);
            return -1;
        }
    }
    return 0;
}

static int check_alias(json_t *e, size_t idx, struct ohsm_kms_seed_alias *a, char *err, size_t cap)
{
    static const char *const fields[] = {"AliasName", "TargetKeyId", NULL};
    char where[320];
    const char *target;

    (void)snprintf(where, sizeof(where), "Aliases[%zu]", idx);
    if (!json_is_object(e)) {
        ohsm_errf(err, cap, "%s must be a mapping", where);
        return -1;
    }
    if (opt_str(e, "AliasName", &a->name, where, err, cap) != 0 ||
        check_alias_name(a->name, where, err, cap) != 0) {
        return -1;
    }
    (void)snprintf(where, sizeof(where), "Aliases[%zu] (%s)", idx, a->name);
    if (only(e, fields, where, err, cap) != 0 ||
        opt_str(e, "TargetKeyId", &target, where, err, cap) != 0) {
        return -1;
    }
    if (canon_id(target, a->target) != 0) {
        ohsm_errf(err, cap, "%s: TargetKeyId must be a key id (a UUID)", where);
        return -1;
    }
    return 0;
}

ohsm_rv ohsm_kms_seed_check(json_t *tree, struct ohsm_kms_seed_plan **out, char *err, size_t cap)
{
    static const char *const fields[] = {"Keys", "Aliases", NULL};
    struct ohsm_kms_seed_plan *p = NULL;
    json_t *keys, *aliases, *e;
    ohsm_rv rv = OHSM_CONFIG;
    size_t i, j;

    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        ohsm_kms_seed_tree_free(tree);
        return OHSM_HOST_MEMORY;
    }
    p->tree = tree;
    if (!json_is_object(tree)) {
        ohsm_errf(err, cap, "the document must be a mapping with Keys and Aliases");
        goto out;
    }
    if (only(tree, fields, "the document", err, cap) != 0) {
        goto out;
    }
    keys = json_object_get(tree, "Keys");
    aliases = json_object_get(tree, "Aliases");
    if ((keys != NULL && !json_is_array(keys)) || (aliases != NULL && !json_is_array(aliases))) {
        ohsm_errf(err, cap, "Keys and Aliases must be lists");
        goto out;
    }
    if (json_array_size(keys) > 0) {
        p->keys = calloc(json_array_size(keys), sizeof(*p->keys));
    }
    if (json_array_size(aliases) > 0) {
        p->aliases = calloc(json_array_size(aliases), sizeof(*p->aliases));
    }
    if ((json_array_size(keys) > 0 && p->keys == NULL) ||
        (json_array_size(aliases) > 0 && p->aliases == NULL)) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    json_array_foreach(keys, i, e)
    {
        p->n_keys = i + 1; /* so the plan frees what this entry decoded, also on error */
        if (check_key(e, i, &p->keys[i], err, cap) != 0) {
            goto out;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(p->keys[j].id, p->keys[i].id) == 0) {
                ohsm_errf(err, cap, "Keys[%zu] (KeyId %s): the same KeyId as Keys[%zu]", i,
                          p->keys[i].id, j);
                goto out;
            }
        }
    }
    json_array_foreach(aliases, i, e)
    {
        p->n_aliases = i + 1;
        if (check_alias(e, i, &p->aliases[i], err, cap) != 0) {
            goto out;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(p->aliases[j].name, p->aliases[i].name) == 0) {
                ohsm_errf(err, cap, "Aliases[%zu] (%s): the same AliasName as Aliases[%zu]", i,
                          p->aliases[i].name, j);
                goto out;
            }
        }
    }
    *out = p;
    p = NULL;
    rv = OHSM_OK;
out:
    ohsm_kms_seed_plan_free(p);
    return rv;
}
