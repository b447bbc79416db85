/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's commands about one existing key: getAttribute (the attribute file of attrs.c),
 * setAttribute (session key -> token key, the one change key_mgmt_util makes), deleteKey and
 * getKeyInfo (owner and shares by HSM user id). What is printed comes from the HSM's record of the
 * key; owner and share names are turned into user ids through the HSM's user list.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kmu/attrs.h"
#include "kmu/kmu.h"

int ohsm_kmu_get_attribute(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "o")->num, a = ohsm_kmu_get(p, "a")->num;
    const char *path = ohsm_kmu_get(p, "out")->text;
    const struct ohsm_attr_def *d = a <= UINT32_MAX ? ohsm_attr_by_id((uint32_t)a) : NULL;
    struct ohsm_obj o;
    char *text = NULL;
    size_t text_len = 0, count = 0, size = 0;
    FILE *f = NULL;
    int done = OHSM_KMU_FAILED;

    if (a != OHSM_KMU_ATTR_ALL && (d == NULL || d->kmu == NULL)) {
        return ohsm_kmu_error(k, "Unknown attribute %" PRIu64 " for -a: see listAttributes", a);
    }
    memset(&o, 0, sizeof(o));
    ohsm_rv rv = ohsm_client_key_get(k->client, h, &o);
    if (rv != OHSM_OK) {
        ohsm_kmu_returned(k, "Cfm3GetAttribute", rv);
        return OHSM_KMU_FAILED;
    }
    f = open_memstream(&text, &text_len);
    if (f == NULL) {
        return ohsm_kmu_error(k, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
    }
    rv = ohsm_kmu_attr_write(f, &o, (uint32_t)a, &count, &size);
    if (fclose(f) != 0 && rv == OHSM_OK) {
        rv = OHSM_HOST_MEMORY;
    }
    if (rv != OHSM_OK) {
        ohsm_kmu_returned(k, "Cfm3GetAttribute", rv);
        goto out;
    }
    if (!ohsm_kmu_write_file(k, path, text, text_len)) {
        goto out;
    }
    if (a == OHSM_KMU_ATTR_ALL) {
        (void)fprintf(k->out, "\ngot all attributes of size %zu attr cnt %zu", size, count);
    }
    (void)fprintf(k->out, "\nAttributes dumped into %s file\n", path);
    ohsm_kmu_returned(k, "Cfm3GetAttribute", OHSM_OK);
    done = OHSM_KMU_DONE;
out:
    free(text);
    return done;
}

int ohsm_kmu_set_attribute(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "o")->num, a = ohsm_kmu_get(p, "a")->num;
    char answer[64];
    struct ohsm_tmpl_buf b;
    struct ohsm_result *res = NULL;

    if (a != OHSM_A_TOKEN) {
        return ohsm_kmu_error(k,
                              "Attribute %" PRIu64 " cannot be set here: key_mgmt_util sets only "
                              "OBJ_ATTR_TOKEN (1); cloudhsm_mgmt_util setAttribute changes "
                              "label, encrypt, decrypt, wrap and unwrap",
                              a);
    }
    (void)fprintf(k->out, "\t This attribute is defined as a boolean value.\n");
    enum ohsm_cmu_read st = ohsm_cmu_io_answer(
        &k->io, "\t Enter the boolean attribute value (0 or 1):", answer, sizeof(answer));
    if (st != OHSM_CMU_READ_OK || strcmp(answer, "1") != 0) {
        return ohsm_kmu_error(k, "The only valid value is 1: a session key becomes a persistent "
                                 "(token) key; nothing was changed");
    }
    ohsm_tmpl_init(&b);
    ohsm_tmpl_put_bool(&b, OHSM_A_TOKEN, true);
    res = ohsm_kmu_results(k);
    if (res == NULL) {
        return OHSM_KMU_FAILED;
    }
    ohsm_rv rv = ohsm_client_key_set_attrs(k->client, h, b.buf, b.len, NULL, res);
    ohsm_kmu_results_fill(k, res, rv);
    rv = ohsm_kmu_overall(k, res, rv);
    ohsm_kmu_returned(k, "Cfm3SetAttribute", rv);
    ohsm_kmu_cluster(k, res);
    free(res);
    return rv == OHSM_OK ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
}

bool ohsm_kmu_find_handle(struct ohsm_kmu *k, uint64_t h)
{
    struct ohsm_result *res = ohsm_kmu_results(k);
    struct ohsm_obj o;
    bool found = false;

    if (res == NULL) {
        return false;
    }
    for (size_t i = 0; i < k->n; i++) {
        memset(&o, 0, sizeof(o));
        res[i].rv = ohsm_client_key_get_on(k->client, i, h, &o);
        found = found || res[i].rv == OHSM_OK;
    }
    if (!found) {
        /* key_mgmt_util looks the key up on every HSM first; the guide's deleteKey of a handle
         * no HSM knows fails there, with each node's answer. */
        ohsm_kmu_returned(k, "Cfm3FindKey", ohsm_kmu_overall(k, res, OHSM_KEY_HANDLE_INVALID));
        ohsm_kmu_cluster(k, res);
    }
    free(res);
    return found;
}

int ohsm_kmu_delete_key(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "k")->num;
    struct ohsm_result *res = NULL;

    if (!ohsm_kmu_find_handle(k, h)) {
        return OHSM_KMU_FAILED;
    }
    res = ohsm_kmu_results(k);
    if (res == NULL) {
        return OHSM_KMU_FAILED;
    }
    ohsm_rv rv = ohsm_client_key_delete(k->client, h, res);
    ohsm_kmu_results_fill(k, res, rv);
    rv = ohsm_kmu_overall(k, res, rv);
    ohsm_kmu_returned(k, "Cfm3DeleteKey", rv);
    ohsm_kmu_cluster(k, res);
    free(res);
    return rv == OHSM_OK ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
}

/* "3", or the name when no user of that name is listed (a user deleted since). */
static void user_ref(struct ohsm_kmu *k, const char *name, char *buf, size_t cap)
{
    uint32_t id = 0;
    if (ohsm_kmu_user_id(k, name, &id)) {
        (void)snprintf(buf, cap, "%" PRIu32, id);
    } else {
        (void)snprintf(buf, cap, "%.*s", OHSM_USERNAME_MAX, name);
    }
}

int ohsm_kmu_get_key_info(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "k")->num;
    struct ohsm_obj o;
    char ref[OHSM_USERNAME_MAX + 1];

    memset(&o, 0, sizeof(o));
    ohsm_rv rv = ohsm_client_key_get(k->client, h, &o);
    ohsm_kmu_returned(k, "Cfm3GetKey", rv);
    if (rv != OHSM_OK) {
        return OHSM_KMU_FAILED;
    }
    o.owner[sizeof(o.owner) - 1] = '\0';
    user_ref(k, o.owner, ref, sizeof(ref));
    (void)fprintf(k->out, "\n\tOwned by user %s\n", ref);
    uint32_t n = o.nshared < OHSM_SHARE_MAX ? o.nshared : OHSM_SHARE_MAX;
    if (n > 0) {
        (void)fprintf(k->out, "\n\talso, shared to following %" PRIu32 " user(s):\n\n", n);
        for (uint32_t i = 0; i < n; i++) {
            o.shared[i][sizeof(o.shared[i]) - 1] = '\0';
            user_ref(k, o.shared[i], ref, sizeof(ref));
            (void)fprintf(k->out, "\t\t %s\n", ref);
        }
    }
    /* -m_value sets both quorum values; the guide prints one line for the pair. */
    uint32_t q = o.quorum_use > o.quorum_manage ? o.quorum_use : o.quorum_manage;
    if (q > 0) {
        (void)fprintf(k->out, "\t %" PRIu32 " Users need to approve to use/manage this key\n", q);
    }
    return OHSM_KMU_DONE;
}
