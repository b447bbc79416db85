/* SPDX-License-Identifier: Apache-2.0
 *
 * JSON shaping of keys, key lists and sync reports for openhsm-cli (see keyshape.h). Pure: the
 * inputs are records the library decoded; attribute values come out of ohsm_obj_attr_get in the
 * core's encoding (big-endian numbers, raw bytes) and are printed with the CloudHSM CLI's types:
 * booleans, numbers for sizes, names for key type, class and curve, "0x" + hex for byte values.
 */
#include "cli/keyshape.h"

#include <stdlib.h>
#include <string.h>

#include "cli/grammar.h"
#include "cli/keyarg.h"

/* Large enough for every attribute value: the modulus of a 4096-bit key is 512 bytes, the
 * longest byte attributes (id, label) are 128. */
#define ATTR_VALUE_MAX 1024

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* A named enum value, or the number when the name is unknown (a newer HSM). */
static json_t *enum_json(const char *name, uint32_t v)
{
    return name != NULL ? json_string(name) : json_integer((json_int_t)v);
}

static json_t *hex_json(const uint8_t *v, size_t n)
{
    char buf[2 * ATTR_VALUE_MAX + 3];
    if (!ohsm_cli_hex_encode(v, n, true, buf, sizeof(buf))) {
        return NULL;
    }
    return json_string(buf);
}

static json_t *value_json(const struct ohsm_attr_def *d, const uint8_t *v, size_t n)
{
    char text[ATTR_VALUE_MAX + 1];
    switch (d->kind) {
    case OHSM_AK_BOOL:
        return n == 1 ? json_boolean(v[0] != 0) : NULL;
    case OHSM_AK_U32:
        if (n != 4) {
            return NULL;
        }
        if (d->id == OHSM_A_KEY_TYPE) {
            return enum_json(ohsm_ktype_name(be32(v)), be32(v));
        }
        if (d->id == OHSM_A_CLASS) {
            return enum_json(ohsm_class_name(be32(v)), be32(v));
        }
        if (d->id == OHSM_A_CURVE) {
            return enum_json(ohsm_curve_name(be32(v)), be32(v));
        }
        return json_integer((json_int_t)be32(v));
    case OHSM_AK_U64:
        return n == 8 ? json_integer((json_int_t)be64(v)) : NULL;
    case OHSM_AK_STR:
        if (n >= sizeof(text) || memchr(v, '\0', n) != NULL) {
            return NULL;
        }
        memcpy(text, v, n);
        text[n] = '\0';
        return ohsm_cli_jstr(text);
    case OHSM_AK_BYTES:
        /* The CloudHSM CLI prints an id never set as "", and an ec-point as the X9.62 point
         * itself, without CKA_EC_POINT's OCTET STRING header (the guide's secp224r1 key: 57
         * bytes, "0x04..."). */
        if (d->id == OHSM_A_EC_POINT && n > 3 && v[0] == 0x04) {
            size_t hdr = v[1] == 0x81 ? 3 : 2;
            return hex_json(v + hdr, n - hdr);
        }
        return n == 0 && d->id == OHSM_A_ID ? json_string("") : hex_json(v, n);
    default:
        return NULL;
    }
}

json_t *ohsm_cli_attrs_json(const struct ohsm_obj *o)
{
    size_t n = 0;
    const struct ohsm_attr_def *t = ohsm_attr_table(&n);
    json_t *attrs = json_object();
    uint8_t v[ATTR_VALUE_MAX];

    for (size_t i = 0; attrs != NULL && i < n; i++) {
        size_t len = 0;
        if (t[i].cli == NULL) {
            continue; /* not an attribute the CLI shows */
        }
        if (t[i].id == OHSM_A_QUORUM_MANAGE || t[i].id == OHSM_A_QUORUM_USE) {
            continue; /* shown in key-info as "key-quorum-values", as the CloudHSM CLI does */
        }
        ohsm_rv rv = ohsm_obj_attr_get(o, t[i].id, v, sizeof(v), &len);
        if (rv == OHSM_ATTRIBUTE_TYPE_INVALID) {
            continue; /* the key has no such attribute (a modulus of an AES key) */
        }
        if (rv != OHSM_OK || !ohsm_cli_jput(attrs, t[i].cli, value_json(&t[i], v, len))) {
            json_decref(attrs);
            return NULL;
        }
    }
    return attrs;
}

static json_t *user_cov(const char *name, const char *cov)
{
    json_t *u = json_object();
    if (u == NULL || !ohsm_cli_jput(u, "username", ohsm_cli_jstr(name)) ||
        !ohsm_cli_jput(u, "key-coverage", json_string(cov))) {
        json_decref(u);
        return NULL;
    }
    return u;
}

static bool append(json_t *arr, json_t *v)
{
    return v != NULL && json_array_append_new(arr, v) == 0; /* takes v, even on failure */
}

static json_t *key_info_json(const struct ohsm_obj *o, bool full)
{
    const char *cov = full ? "full" : "partial";
    json_t *info = json_object();
    json_t *owners = json_array();
    json_t *shared = json_array();
    json_t *quorum = json_object();
    bool ok = info != NULL && owners != NULL && shared != NULL && quorum != NULL;

    ok = ok && append(owners, user_cov(o->owner, cov));
    for (uint32_t i = 0; ok && i < o->nshared && i < OHSM_SHARE_MAX; i++) {
        ok = append(shared, user_cov(o->shared[i], cov));
    }
    ok = ok && ohsm_cli_jput(quorum, "manage-key-quorum-value", json_integer(o->quorum_manage)) &&
         ohsm_cli_jput(quorum, "use-key-quorum-value", json_integer(o->quorum_use));
    if (ok) {
        ok = ohsm_cli_jput(info, "key-owners", owners);
        owners = NULL;
    }
    if (ok) {
        ok = ohsm_cli_jput(info, "shared-users", shared);
        shared = NULL;
    }
    if (ok) {
        ok = ohsm_cli_jput(info, "key-quorum-values", quorum);
        quorum = NULL;
    }
    ok = ok && ohsm_cli_jput(info, "cluster-coverage", json_string(cov));
    json_decref(owners);
    json_decref(shared);
    json_decref(quorum);
    if (!ok) {
        json_decref(info);
        return NULL;
    }
    return info;
}

json_t *ohsm_cli_key_json(const struct ohsm_obj *o, bool brief, bool full)
{
    char ref[OHSM_CLI_KEYREF_LEN];
    json_t *k = json_object();
    json_t *attrs = NULL;
    bool ok = k != NULL;

    ohsm_cli_keyref(o->handle, ref);
    ok = ok && ohsm_cli_jput(k, "key-reference", json_string(ref));
    if (ok && !brief) {
        ok = ohsm_cli_jput(k, "key-info", key_info_json(o, full));
    }
    if (ok && brief) {
        attrs = json_object();
        ok = attrs != NULL && ohsm_cli_jput(attrs, "label", ohsm_cli_jstr(o->label));
    } else if (ok) {
        attrs = ohsm_cli_attrs_json(o);
    }
    if (ok) {
        ok = ohsm_cli_jput(k, "attributes", attrs);
        attrs = NULL;
    }
    json_decref(attrs);
    if (!ok) {
        json_decref(k);
        return NULL;
    }
    return k;
}

bool ohsm_cli_keyset_add(struct ohsm_cli_keyset *s, const struct ohsm_obj *objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct ohsm_obj *o = &objs[i];
        size_t j = 0;
        while (j < s->n && s->rows[j].obj.handle != o->handle) {
            j++;
        }
        if (j < s->n) {
            struct ohsm_cli_keyrow *r = &s->rows[j];
            if (o->version > r->obj.version) {
                r->obj = *o;
                r->newest = 1;
            } else if (o->version == r->obj.version) {
                r->newest++;
            }
            continue;
        }
        if (s->n == s->cap) {
            size_t cap = s->cap > 0 ? s->cap * 2 : 16;
            struct ohsm_cli_keyrow *rows =
                cap < SIZE_MAX / sizeof(*rows) ? realloc(s->rows, cap * sizeof(*rows)) : NULL;
            if (rows == NULL) {
                return false;
            }
            s->rows = rows;
            s->cap = cap;
        }
        s->rows[s->n].obj = *o;
        s->rows[s->n].newest = 1;
        s->rows[s->n].full = false;
        s->n++;
    }
    return true;
}

static int by_handle(const void *a, const void *b)
{
    uint64_t x = ((const struct ohsm_cli_keyrow *)a)->obj.handle;
    uint64_t y = ((const struct ohsm_cli_keyrow *)b)->obj.handle;
    return x < y ? -1 : x > y;
}

void ohsm_cli_keyset_finish(struct ohsm_cli_keyset *s, size_t answered, size_t nhsm)
{
    if (s->n > 1) {
        qsort(s->rows, s->n, sizeof(*s->rows), by_handle);
    }
    for (size_t i = 0; i < s->n; i++) {
        struct ohsm_cli_keyrow *r = &s->rows[i];
        bool token = (r->obj.flags & OHSM_F_TOKEN) != 0;
        r->full = !token || (answered == nhsm && r->newest == nhsm);
    }
}

void ohsm_cli_keyset_free(struct ohsm_cli_keyset *s)
{
    if (s == NULL) {
        return;
    }
    free(s->rows);
    s->rows = NULL;
    s->n = 0;
    s->cap = 0;
}

json_t *ohsm_cli_key_list_json(const struct ohsm_cli_keyset *s, size_t start, size_t max,
                               bool verbose)
{
    json_t *out = json_object();
    json_t *keys = json_array();
    size_t end = start < s->n ? start + (max < s->n - start ? max : s->n - start) : start;
    bool ok = out != NULL && keys != NULL;

    for (size_t i = start; ok && i < end; i++) {
        ok = append(keys, ohsm_cli_key_json(&s->rows[i].obj, !verbose, s->rows[i].full));
    }
    if (ok) {
        ok = ohsm_cli_jput(out, "matched_keys", keys);
        keys = NULL;
    }
    ok = ok && ohsm_cli_jput(out, "total_key_count", json_integer((json_int_t)s->n)) &&
         ohsm_cli_jput(out, "returned_key_count",
                       json_integer((json_int_t)(end > start ? end - start : 0)));
    if (ok && end < s->n) {
        char tok[24];
        ok = ohsm_cli_fmt(tok, sizeof(tok), "%zu", end) &&
             ohsm_cli_jput(out, "next_token", json_string(tok));
    }
    json_decref(keys);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static const char *kind_name(enum ohsm_sync_kind k)
{
    switch (k) {
    case OHSM_SYNC_MISSING:
        return "missing";
    case OHSM_SYNC_EXTRA:
        return "extra";
    case OHSM_SYNC_STALE:
        return "stale";
    default:
        return "unknown";
    }
}

static json_t *hsm_id_json(const char *const *ids, size_t nids, size_t i)
{
    char buf[32];
    if (i < nids && ids[i] != NULL) {
        return ohsm_cli_jstr(ids[i]);
    }
    (void)ohsm_cli_fmt(buf, sizeof(buf), "hsm #%zu", i);
    return json_string(buf);
}

static json_t *sync_hsm_json(const struct ohsm_sync_hsm *h, const char *const *ids, size_t nids,
                             size_t i)
{
    json_t *o = json_object();
    bool ok = o != NULL && ohsm_cli_jput(o, "hsm-id", hsm_id_json(ids, nids, i));
    if (ok && h->rv != OHSM_OK) {
        ok = ohsm_cli_jput(o, "state", json_string("unreachable")) &&
             ohsm_cli_jput(o, "error", json_string(ohsm_rv_str(h->rv)));
    } else if (ok) {
        ok = ohsm_cli_jput(o, "state", json_string("connected")) &&
             ohsm_cli_jput(o, "objects", json_integer((json_int_t)h->objects)) &&
             ohsm_cli_jput(o, "objects-digest", ohsm_cli_jstr(h->objects_digest)) &&
             ohsm_cli_jput(o, "users", json_integer((json_int_t)h->users)) &&
             ohsm_cli_jput(o, "users-digest", ohsm_cli_jstr(h->users_digest));
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *sync_item_json(const struct ohsm_sync_item *it, const char *const *ids, size_t nids)
{
    char ref[OHSM_CLI_KEYREF_LEN];
    json_t *o = json_object();
    bool ok = o != NULL && ohsm_cli_jput(o, "hsm-id", hsm_id_json(ids, nids, it->hsm)) &&
              ohsm_cli_jput(o, "kind", json_string(kind_name(it->kind)));
    if (ok && it->is_user) {
        ok = ohsm_cli_jput(o, "username", ohsm_cli_jstr(it->username)) &&
             ohsm_cli_jput(o, "user-id", json_integer((json_int_t)it->handle));
    } else if (ok) {
        ohsm_cli_keyref(it->handle, ref);
        ok = ohsm_cli_jput(o, "key-reference", json_string(ref));
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ohsm_cli_sync_json(const struct ohsm_sync_report *r, const char *const *ids, size_t nids)
{
    json_t *out = json_object();
    json_t *hsms = json_array();
    json_t *items = json_array();
    bool ok = out != NULL && hsms != NULL && items != NULL &&
              ohsm_cli_jput(out, "in-sync", json_boolean(r->in_sync));

    for (size_t i = 0; ok && i < r->nhsm; i++) {
        ok = append(hsms, sync_hsm_json(&r->hsm[i], ids, nids, i));
    }
    for (size_t i = 0; ok && i < r->nitems; i++) {
        ok = append(items, sync_item_json(&r->items[i], ids, nids));
    }
    if (ok) {
        ok = ohsm_cli_jput(out, "hsms", hsms);
        hsms = NULL;
    }
    if (ok) {
        ok = ohsm_cli_jput(out, "differences", items);
        items = NULL;
    }
    json_decref(hsms);
    json_decref(items);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}
