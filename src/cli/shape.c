/* SPDX-License-Identifier: Apache-2.0
 *
 * JSON shaping for openhsm-cli (see shape.h): the output envelope, the merged user and quorum
 * token lists, hsm-info entries and fan-out failure messages. Pure: inputs are library results
 * and messages; strings that may carry bytes typed by a user are made valid UTF-8 before they
 * reach jansson.
 */
#include "cli/shape.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/grammar.h"

json_t *ohsm_cli_jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL) {
        return j;
    }
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return NULL;
    }
    for (size_t i = 0; i <= len; i++) {
        copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    }
    j = json_string(copy);
    free(copy);
    return j;
}

bool ohsm_cli_jput(json_t *o, const char *k, json_t *v)
{
    if (v == NULL) {
        return false;
    }
    return json_object_set_new(o, k, v) == 0; /* takes v, even on failure */
}

void ohsm_cli_json_wipe(json_t *j)
{
    if (json_is_string(j)) {
        /* The string buffer is jansson's copy, owned by j: clear it before it is freed. */
        OPENSSL_cleanse((char *)json_string_value(j), json_string_length(j));
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            ohsm_cli_json_wipe(v);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            ohsm_cli_json_wipe(v);
        }
    }
}

void ohsm_cli_out_clear(struct ohsm_cli_out *o)
{
    if (o->secret) {
        ohsm_cli_json_wipe(o->data);
    }
    json_decref(o->data);
    o->data = NULL;
    o->error_code = 0;
    o->silent = false;
    o->secret = false;
}

void ohsm_cli_out_ok(struct ohsm_cli_out *o, json_t *data)
{
    json_decref(o->data);
    o->data = NULL;
    o->silent = false;
    if (data == NULL) {
        ohsm_cli_out_err(o, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return;
    }
    o->error_code = 0;
    o->data = data;
}

void ohsm_cli_out_msg(struct ohsm_cli_out *o, const char *msg)
{
    ohsm_cli_out_ok(o, ohsm_cli_jstr(msg));
}

void ohsm_cli_out_err(struct ohsm_cli_out *o, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r < 0) {
        (void)ohsm_cli_fmt(msg, sizeof(msg), "%s", ohsm_rv_str(OHSM_ARGUMENTS_BAD));
    } else if ((size_t)r >= sizeof(msg)) {
        memcpy(msg + sizeof(msg) - 4, "...", 4);
    }
    json_decref(o->data);
    o->silent = false;
    o->error_code = 1;
    o->data = ohsm_cli_jstr(msg); /* NULL (out of memory) prints as JSON null */
}

char *ohsm_cli_out_dump(const struct ohsm_cli_out *o)
{
    json_t *env = json_object();
    char *s = NULL;
    if (env == NULL) {
        return NULL;
    }
    if (ohsm_cli_jput(env, "error_code", json_integer(o->error_code)) &&
        json_object_set(env, "data", o->data != NULL ? o->data : json_null()) == 0) {
        s = json_dumps(env, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    }
    json_decref(env);
    return s;
}

const char *ohsm_cli_role_name(enum ohsm_utype t)
{
    /* The appliance user is internal to CloudHSM and listed under this name. */
    return t == OHSM_UT_AU ? "internal(APPLIANCE_USER)" : ohsm_utype_cli_name(t);
}

bool ohsm_cli_rv_unreachable(ohsm_rv rv)
{
    /* OHSM_TLS too: no trusted channel was set up (a hung HSM fails its handshake this way), so
     * nothing was sent to that HSM. */
    return rv == OHSM_NOT_CONNECTED || rv == OHSM_TIMEOUT || rv == OHSM_IO || rv == OHSM_TLS;
}

void ohsm_cli_fanout_msg(char *buf, size_t cap, const char *done, const char *action,
                         const struct ohsm_cli_hsm_result *r, size_t n)
{
    size_t ok = 0;
    size_t nfail = 0;
    bool same = true;
    ohsm_rv first = OHSM_OK;
    for (size_t i = 0; i < n; i++) {
        if (r[i].rv == OHSM_OK) {
            ok++;
            continue;
        }
        same = same && (nfail == 0 || r[i].rv == first);
        first = nfail == 0 ? r[i].rv : first;
        nfail++;
    }
    if (nfail == 0) {
        (void)ohsm_cli_fmt(buf, cap, "%s on all %zu HSMs", done, n);
        return;
    }
    if (ok == 0 && same && (first == OHSM_QUORUM_REQUIRED || first == OHSM_QUORUM_INSUFFICIENT)) {
        (void)ohsm_cli_fmt(buf, cap, "%s", ohsm_rv_str(first));
        return;
    }
    if (ok == 0 && same) {
        (void)ohsm_cli_fmt(buf, cap, "%s failed: %s", action, ohsm_rv_str(first));
        return;
    }
    bool fits = ok == 0 ? ohsm_cli_fmt(buf, cap, "%s failed on all %zu HSMs", action, n)
                        : ohsm_cli_fmt(buf, cap, "%s on %zu of %zu HSMs", done, ok, n);
    size_t off = strlen(buf);
    for (size_t i = 0; fits && i < n; i++) {
        if (r[i].rv == OHSM_OK) {
            continue;
        }
        fits = ohsm_cli_fmt(buf + off, cap - off, "; %s (%s:%u): %s", r[i].id, r[i].host,
                            (unsigned)r[i].port, ohsm_rv_str(r[i].rv));
        off += strlen(buf + off);
    }
}

struct merged {
    const struct ohsm_user_info *u; /* as first seen */
    size_t count;                   /* HSMs that list the user */
    bool locked;
    bool mfa;
    bool quorum;
};

/* [] or [{"strategy": "token-sign", "status": "enabled"}]. NULL when out of memory. */
static json_t *strategies(bool enabled)
{
    json_t *a = json_array();
    json_t *s = NULL;
    if (a == NULL || !enabled) {
        return a;
    }
    s = json_object();
    if (s == NULL || !ohsm_cli_jput(s, "strategy", json_string("token-sign")) ||
        !ohsm_cli_jput(s, "status", json_string("enabled")) || json_array_append(a, s) != 0) {
        json_decref(a);
        a = NULL;
    }
    json_decref(s);
    return a;
}

static json_t *user_json(const struct merged *m, bool full)
{
    json_t *o = json_object();
    bool ok = o != NULL && ohsm_cli_jput(o, "username", ohsm_cli_jstr(m->u->username)) &&
              ohsm_cli_jput(o, "role", json_string(ohsm_cli_role_name(m->u->type))) &&
              ohsm_cli_jput(o, "locked", json_string(m->locked ? "true" : "false")) &&
              ohsm_cli_jput(o, "mfa", strategies(m->mfa)) &&
              ohsm_cli_jput(o, "quorum", strategies(m->quorum)) &&
              ohsm_cli_jput(o, "cluster-coverage", json_string(full ? "full" : "partial"));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ohsm_cli_users_json(const struct ohsm_cli_user_list *l, size_t nhsm)
{
    size_t total = 0;
    size_t answered = 0;
    size_t nm = 0;
    struct merged *m = NULL;
    json_t *users = NULL;
    json_t *out = NULL;

    for (size_t h = 0; h < nhsm; h++) {
        if (l[h].answered) {
            answered++;
            total += l[h].n;
        }
    }
    m = calloc(total > 0 ? total : 1, sizeof(*m));
    users = json_array();
    out = json_object();
    if (m == NULL || users == NULL || out == NULL) {
        goto fail;
    }
    for (size_t h = 0; h < nhsm; h++) {
        for (size_t k = 0; l[h].answered && k < l[h].n; k++) {
            const struct ohsm_user_info *u = &l[h].users[k];
            size_t j = 0;
            while (j < nm && strncmp(m[j].u->username, u->username, sizeof(u->username)) != 0) {
                j++;
            }
            if (j == nm) {
                m[nm++].u = u;
            }
            m[j].count++;
            m[j].locked = m[j].locked || u->locked;
            m[j].mfa = m[j].mfa || u->mfa;
            m[j].quorum = m[j].quorum || u->mofn_pubkey;
        }
    }
    for (size_t j = 0; j < nm; j++) {
        bool full = answered == nhsm && m[j].count == nhsm;
        json_t *u = user_json(&m[j], full);
        if (u == NULL || json_array_append_new(users, u) != 0) {
            goto fail;
        }
    }
    free(m);
    if (json_object_set_new(out, "users", users) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
fail:
    free(m);
    json_decref(users);
    json_decref(out);
    return NULL;
}

struct qmerged {
    const struct ohsm_qtoken_info *t; /* as first seen */
    size_t count;                     /* HSMs that have the token */
    uint32_t required, approvals, timeout;
};

/* {"value": v} */
static json_t *boxed(uint32_t v)
{
    json_t *o = json_object();
    if (o != NULL && !ohsm_cli_jput(o, "value", json_integer(v))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *qtoken_json(const struct qmerged *m, bool full)
{
    const char *svc = ohsm_qservice_name((enum ohsm_qservice)m->t->service);
    char ref[24];
    json_t *o = json_object();
    bool ok = o != NULL && ohsm_cli_jput(o, "username", ohsm_cli_jstr(m->t->username)) &&
              ohsm_cli_jput(o, "service", json_string(svc != NULL ? svc : "unknown"));
    if (ok && m->t->key_handle != 0) {
        ok = ohsm_cli_fmt(ref, sizeof(ref), "0x%016llx", (unsigned long long)m->t->key_handle) &&
             ohsm_cli_jput(o, "key-reference", json_string(ref));
    }
    ok = ok && ohsm_cli_jput(o, "approvals-required", boxed(m->required)) &&
         ohsm_cli_jput(o, "number-of-approvals", boxed(m->approvals)) &&
         ohsm_cli_jput(o, "token-timeout-seconds", boxed(m->timeout)) &&
         ohsm_cli_jput(o, "cluster-coverage", json_string(full ? "full" : "partial"));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool same_qtoken(const struct ohsm_qtoken_info *a, const struct ohsm_qtoken_info *b)
{
    return a->service == b->service && a->key_handle == b->key_handle &&
           strncmp(a->username, b->username, sizeof(a->username)) == 0;
}

json_t *ohsm_cli_qtokens_json(const struct ohsm_cli_qtoken_list *l, size_t nhsm)
{
    size_t total = 0;
    size_t answered = 0;
    size_t nm = 0;
    struct qmerged *m = NULL;
    json_t *tokens = json_array();
    json_t *out = json_object();

    for (size_t h = 0; h < nhsm; h++) {
        if (l[h].answered) {
            answered++;
            total += l[h].n;
        }
    }
    m = calloc(total > 0 ? total : 1, sizeof(*m));
    if (m == NULL || tokens == NULL || out == NULL) {
        goto fail;
    }
    for (size_t h = 0; h < nhsm; h++) {
        for (size_t k = 0; l[h].answered && k < l[h].n; k++) {
            const struct ohsm_qtoken_info *t = &l[h].tokens[k];
            size_t j = 0;
            while (j < nm && !same_qtoken(m[j].t, t)) {
                j++;
            }
            if (j == nm) {
                m[nm].t = t;
                m[nm].required = t->approvals_required;
                m[nm].approvals = t->approvals;
                m[nm].timeout = t->timeout_seconds;
                nm++;
            }
            m[j].count++;
            m[j].required =
                t->approvals_required > m[j].required ? t->approvals_required : m[j].required;
            m[j].approvals = t->approvals < m[j].approvals ? t->approvals : m[j].approvals;
            m[j].timeout = t->timeout_seconds < m[j].timeout ? t->timeout_seconds : m[j].timeout;
        }
    }
    for (size_t j = 0; j < nm; j++) {
        json_t *t = qtoken_json(&m[j], answered == nhsm && m[j].count == nhsm);
        if (t == NULL || json_array_append_new(tokens, t) != 0) {
            goto fail;
        }
    }
    free(m);
    if (json_object_set_new(out, "tokens", tokens) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
fail:
    free(m);
    json_decref(tokens);
    json_decref(out);
    return NULL;
}

static json_t *num_str(unsigned long v)
{
    char b[24];
    return ohsm_cli_fmt(b, sizeof(b), "%lu", v) ? json_string(b) : NULL;
}

json_t *ohsm_cli_hsm_json(const struct ohsm_hsm_status *st, const char *cluster_id,
                          const struct ohsm_hsm_info *info, ohsm_rv info_rv)
{
    json_t *o = json_object();
    bool ok = o != NULL;

    /* The guide's fields first, in its order and as its strings; the HSM reports the numbers. */
    if (ok && info != NULL) {
        ok = ohsm_cli_jput(o, "vendor", ohsm_cli_jstr(info->vendor)) &&
             ohsm_cli_jput(o, "model", ohsm_cli_jstr(info->model)) &&
             ohsm_cli_jput(o, "serial-number", ohsm_cli_jstr(info->serial)) &&
             ohsm_cli_jput(o, "hardware-version-major", num_str(info->hardware_major)) &&
             ohsm_cli_jput(o, "hardware-version-minor", num_str(info->hardware_minor)) &&
             ohsm_cli_jput(o, "firmware-version-major", num_str(info->firmware_major)) &&
             ohsm_cli_jput(o, "firmware-version-minor", num_str(info->firmware_minor)) &&
             ohsm_cli_jput(o, "firmware-build-number", num_str(info->build_number)) &&
             ohsm_cli_jput(o, "firmware-id", ohsm_cli_jstr(info->firmware_id)) &&
             ohsm_cli_jput(o, "fips-state",
                           json_string(info->fips
                                           ? "2 [FIPS mode with single factor authentication]"
                                           : "0 [non-FIPS mode with single factor "
                                             "authentication]"));
    }
    /* Then where the HSM is and whether it answered. */
    ok = ok && ohsm_cli_jput(o, "hsm-id", ohsm_cli_jstr(st->id)) &&
         ohsm_cli_jput(o, "cluster-id",
                       ohsm_cli_jstr(info != NULL ? info->cluster_id : cluster_id)) &&
         ohsm_cli_jput(o, "eni-ip", ohsm_cli_jstr(st->host)) &&
         ohsm_cli_jput(o, "port", json_integer(st->port)) &&
         ohsm_cli_jput(o, "state", json_string(info != NULL ? "connected" : "unreachable"));
    if (ok && info == NULL) {
        ok = ohsm_cli_jput(o, "error", json_string(ohsm_rv_str(info_rv)));
    }
    if (ok && info != NULL) {
        ok = ohsm_cli_jput(o, "activated", json_boolean(info->activated));
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
