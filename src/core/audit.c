/* SPDX-License-Identifier: Apache-2.0
 *
 * HSM audit records (see audit.h): the opcode table, one record's line, and the check of a
 * whole log. Pure: no files, no clock, no globals.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "core/audit.h"
#include "core/hex.h"

/* CloudHSM's opcode names; numbers as AWS's guide gives them (its audit log reference and the
 * examples of "Interpreting HSM audit logs"), -1 where it gives none. Names AWS's guide does not
 * have (user records between HSMs, MFA and quorum key registration) are openhsm's, in the same
 * style. Quorum approvals are not a command of their own here: they travel with the operation they
 * approve, whose record says whether it ran. */
static const struct ohsm_audit_opdef ops[OHSM_AUDIT_OP_COUNT] = {
    [OHSM_AUDIT_LOGIN] = {"CN_LOGIN", 0xd, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_LOGOUT] = {"CN_LOGOUT", 0xe, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_APP_FINALIZE] = {"CN_APP_FINALIZE", -1, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_CREATE_USER] = {"CN_CREATE_USER", 0x3, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_CREATE_CO] = {"CN_CREATE_CO", 0x4, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_CREATE_APPLIANCE_USER] = {"CN_CREATE_APPLIANCE_USER", 0xfc,
                                          OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_DELETE_USER] = {"CN_DELETE_USER", 0xa1, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_CHANGE_PSWD] = {"CN_CHANGE_PSWD", 0x9, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_CHANGE_MFA] = {"CN_CHANGE_MFA", -1, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_SET_M_VALUE] = {"CN_SET_M_VALUE", -1, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_GET_TOKEN] = {"CN_GET_TOKEN", -1, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_REGISTER_QUORUM_KEY] = {"CN_REGISTER_QUORUM_PUBKEY", -1, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_DELETE_TOKEN] = {"CN_DELETE_TOKEN", -1, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_GENERATE_KEY] = {"CN_GENERATE_KEY", 0x17, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_GENERATE_KEY_PAIR] = {"CN_GENERATE_KEY_PAIR", 0x19, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_CREATE_OBJECT] = {"CN_CREATE_OBJECT", -1, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_MODIFY_OBJECT] = {"CN_MODIFY_OBJECT", -1, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_DESTROY_OBJECT] = {"CN_DESTROY_OBJECT", 0x11, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_TOMBSTONE_OBJECT] = {"CN_TOMBSTONE_OBJECT", -1, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_SHARE_OBJECT] = {"CN_SHARE_OBJECT", -1, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_WRAP_KEY] = {"CN_WRAP_KEY", 0x1a, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_UNWRAP_KEY] = {"CN_UNWRAP_KEY", 0x1b, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_DERIVE_KEY] = {"CN_DERIVE_KEY", -1, OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_EXTRACT_MASKED_OBJECT] = {"CN_EXTRACT_MASKED_OBJECT_USER", 0xf0,
                                          OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_INSERT_MASKED_OBJECT] = {"CN_INSERT_MASKED_OBJECT_USER", 0xf1,
                                         OHSM_AUDIT_KEY_DETAILS},
    [OHSM_AUDIT_EXTRACT_USER] = {"CN_EXTRACT_USER", -1, OHSM_AUDIT_USER_DETAILS},
    [OHSM_AUDIT_INSERT_USER] = {"CN_INSERT_USER", -1, OHSM_AUDIT_USER_DETAILS},
};

const struct ohsm_audit_opdef *ohsm_audit_opdef(enum ohsm_audit_op op)
{
    return (unsigned)op < OHSM_AUDIT_OP_COUNT ? &ops[op] : NULL;
}

const char *ohsm_audit_utype_name(enum ohsm_utype t, int *id)
{
    switch (t) {
    case OHSM_UT_CU:
        *id = 1;
        return "CN_CRYPTO_USER";
    case OHSM_UT_CO:
        *id = 2;
        return "CN_CRYPTO_OFFICER";
    case OHSM_UT_AU:
        *id = 5;
        return "CN_APPLIANCE_USER";
    case OHSM_UT_PRECO:
        *id = 6;
        return "CN_CRYPTO_PRE_OFFICER";
    default:
        *id = 0;
        return "CN_UNKNOWN_USER";
    }
}

void ohsm_audit_genesis(const char *hsm_id, uint8_t out[OHSM_AUDIT_HASH_LEN])
{
    static const char tag[] = "openhsm audit log v1\n";
    uint8_t buf[sizeof(tag) + 64];
    size_t n = strnlen(hsm_id != NULL ? hsm_id : "", 64);
    memcpy(buf, tag, sizeof(tag) - 1);
    memcpy(buf + sizeof(tag) - 1, hsm_id != NULL ? hsm_id : "", n);
    (void)SHA256(buf, sizeof(tag) - 1 + n, out);
}

/* Appends s as JSON string content (quotes not included): printable ASCII as is, '"' and '\\'
 * escaped, every other byte as \u00XX. At most 64 bytes of s are taken. */
static bool put_str(char *out, size_t cap, size_t *at, const char *s)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; s != NULL && s[i] != '\0' && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = c == '"' || c == '\\' ? 2 : (c < 0x20 || c >= 0x7f) ? 6 : 1;
        if (cap - *at <= need) {
            return false;
        }
        if (need == 1) {
            out[(*at)++] = (char)c;
        } else if (need == 2) {
            out[(*at)++] = '\\';
            out[(*at)++] = (char)c;
        } else {
            memcpy(out + *at, "\\u00", 4);
            out[*at + 4] = hx[c >> 4];
            out[*at + 5] = hx[c & 15];
            *at += 6;
        }
    }
    return true;
}

static bool put_fmt(size_t cap, size_t *at, int n)
{
    if (n < 0 || (size_t)n >= cap - *at) {
        return false;
    }
    *at += (size_t)n;
    return true;
}

static void line_hash(const uint8_t prev[OHSM_AUDIT_HASH_LEN], const char *body, size_t len,
                      uint8_t out[OHSM_AUDIT_HASH_LEN])
{
    uint8_t buf[OHSM_AUDIT_HASH_LEN + OHSM_AUDIT_LINE_MAX];
    size_t n = len < OHSM_AUDIT_LINE_MAX ? len : OHSM_AUDIT_LINE_MAX;
    memcpy(buf, prev, OHSM_AUDIT_HASH_LEN);
    memcpy(buf + OHSM_AUDIT_HASH_LEN, body, n);
    (void)SHA256(buf, OHSM_AUDIT_HASH_LEN + n, out);
}

ohsm_rv ohsm_audit_format(const struct ohsm_audit_rec *r, const uint8_t prev[OHSM_AUDIT_HASH_LEN],
                          char *out, size_t cap, size_t *out_len, uint8_t next[OHSM_AUDIT_HASH_LEN])
{
    const struct ohsm_audit_opdef *d = ohsm_audit_opdef(r->op);
    OHSM_ENSURE(d != NULL && out != NULL && cap > 0, OHSM_ARGUMENTS_BAD);
    size_t at = 0;
    bool ok = put_fmt(cap, &at,
                      snprintf(out + at, cap - at,
                               "{\"reboot\":%u,\"seq\":%llu,\"time_us\":%llu,\"cmd_type\":0,"
                               "\"opcode\":\"%s\",\"opcode_id\":%d,\"session\":%llu,"
                               "\"response\":%d,\"response_text\":\"",
                               (unsigned)r->reboot, (unsigned long long)r->seq,
                               (unsigned long long)r->time_us, d->name, d->id,
                               (unsigned long long)r->session, (int)r->response));
    if (ok && r->response == OHSM_OK) {
        ok = put_fmt(cap, &at, snprintf(out + at, cap - at, "HSM Return: SUCCESS"));
    } else if (ok) {
        ok = put_fmt(cap, &at, snprintf(out + at, cap - at, "HSM Error: ")) &&
             put_str(out, cap, &at, ohsm_rv_str(r->response));
    }
    ok = ok &&
         put_fmt(cap, &at, snprintf(out + at, cap - at, "\",\"log_type\":%d", (int)d->log_type));
    if (ok && d->log_type == OHSM_AUDIT_USER_DETAILS) {
        int tid = 0;
        const char *tn = ohsm_audit_utype_name(r->user_type, &tid);
        ok = put_fmt(cap, &at, snprintf(out + at, cap - at, ",\"user\":\"")) &&
             put_str(out, cap, &at, r->user) &&
             put_fmt(cap, &at,
                     snprintf(out + at, cap - at, "\",\"user_type\":\"%s\",\"user_type_id\":%d", tn,
                              tid));
    } else if (ok && d->log_type == OHSM_AUDIT_KEY_DETAILS) {
        ok = put_fmt(cap, &at,
                     snprintf(out + at, cap - at, ",\"key\":%llu,\"pub_key\":%llu",
                              (unsigned long long)r->key, (unsigned long long)r->pub_key));
    }
    /* ,"hash":"<64 hex>"}\n */
    if (!ok || cap - at <= 10 + 2 * OHSM_AUDIT_HASH_LEN + 3 || at > OHSM_AUDIT_LINE_MAX - 80) {
        return OHSM_BUFFER_TOO_SMALL;
    }
    line_hash(prev, out, at, next);
    memcpy(out + at, ",\"hash\":\"", 9);
    at += 9;
    for (size_t i = 0; i < OHSM_AUDIT_HASH_LEN; i++) {
        static const char hx[] = "0123456789abcdef";
        out[at++] = hx[next[i] >> 4];
        out[at++] = hx[next[i] & 15];
    }
    memcpy(out + at, "\"}\n", 3);
    at += 3;
    *out_len = at;
    return OHSM_OK;
}

/* ---- checking a log ---- */

/* A decimal number of at most 19 digits at p[*at] (no sign, no leading garbage). */
static bool get_num(const char *p, size_t len, size_t *at, uint64_t *v)
{
    size_t i = *at, digits = 0;
    uint64_t n = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9' && digits < 19) {
        n = n * 10 + (uint64_t)(p[i] - '0');
        i++;
        digits++;
    }
    if (digits == 0 || (i < len && p[i] >= '0' && p[i] <= '9')) {
        return false;
    }
    *at = i;
    *v = n;
    return true;
}

static bool get_lit(const char *p, size_t len, size_t *at, const char *lit)
{
    size_t n = strlen(lit);
    if (len - *at < n || memcmp(p + *at, lit, n) != 0) {
        return false;
    }
    *at += n;
    return true;
}

/* The line's reboot counter and sequence number, from its fixed start. */
static bool position(const char *p, size_t len, uint32_t *reboot, uint64_t *seq)
{
    size_t at = 0;
    uint64_t r = 0;
    if (!get_lit(p, len, &at, "{\"reboot\":") || !get_num(p, len, &at, &r) || r > UINT32_MAX ||
        !get_lit(p, len, &at, ",\"seq\":") || !get_num(p, len, &at, seq)) {
        return false;
    }
    *reboot = (uint32_t)r;
    return true;
}

/* The line's stored hash and the length of the part it covers. */
static bool stored_hash(const char *p, size_t len, uint8_t h[OHSM_AUDIT_HASH_LEN], size_t *body)
{
    static const char tail[] = ",\"hash\":\"";
    const size_t tl = sizeof(tail) - 1, hl = 2 * OHSM_AUDIT_HASH_LEN;
    if (len < tl + hl + 2 || len > OHSM_AUDIT_LINE_MAX) {
        return false;
    }
    size_t at = len - (tl + hl + 2);
    if (memcmp(p + at, tail, tl) != 0 || memcmp(p + len - 2, "\"}", 2) != 0) {
        return false;
    }
    for (size_t i = 0; i < OHSM_AUDIT_HASH_LEN; i++) {
        int hi = ohsm_hex_digit(p[at + tl + 2 * i]);
        int lo = ohsm_hex_digit(p[at + tl + 2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        h[i] = (uint8_t)(hi << 4 | lo);
    }
    *body = at;
    return true;
}

static void fail(struct ohsm_audit_verdict *v, uint64_t line, const char *why)
{
    v->ok = false;
    v->line = line;
    v->reason = why;
}

void ohsm_audit_verify_begin(struct ohsm_audit_verdict *v, const char *hsm_id)
{
    memset(v, 0, sizeof(*v));
    v->ok = true;
    ohsm_audit_genesis(hsm_id, v->last);
}

bool ohsm_audit_verify_line(struct ohsm_audit_verdict *v, const char *p, size_t n)
{
    if (!v->ok) {
        return false;
    }
    uint64_t line = v->records + 1;
    uint32_t reboot = 0;
    uint64_t seq = 0;
    v->have_position = position(p, n, &reboot, &seq);
    v->reboot = reboot;
    v->seq = seq;
    uint8_t want[OHSM_AUDIT_HASH_LEN], got[OHSM_AUDIT_HASH_LEN];
    size_t body = 0;
    if (!v->have_position || !stored_hash(p, n, want, &body)) {
        fail(v, line, "not an audit record");
        return false;
    }
    line_hash(v->last, p, body, got);
    bool in_order = !v->any ? seq == 0
                            : (reboot == v->last_reboot && seq == v->last_seq + 1) ||
                                  (reboot > v->last_reboot && seq == 0);
    if (!in_order || CRYPTO_memcmp(got, want, sizeof(got)) != 0) {
        /* What the numbering says of the break: a gap is a removal, a step back a move. */
        v->want_known = !v->any || reboot == v->last_reboot;
        v->want_seq = v->any ? v->last_seq + 1 : 0;
        const char *why = "hash chain broken: this record was changed";
        if (v->want_known && seq > v->want_seq) {
            why = "hash chain broken: records before this one are missing or were moved";
        } else if (!in_order) {
            why = "hash chain broken: records were moved (out of order)";
        }
        fail(v, line, why);
        return false;
    }
    memcpy(v->last, got, sizeof(got));
    v->last_reboot = reboot;
    v->last_seq = seq;
    v->any = true;
    v->records++;
    v->have_position = false;
    v->reboot = 0;
    v->seq = 0;
    return true;
}

void ohsm_audit_verify_torn(struct ohsm_audit_verdict *v, const char *p, size_t n)
{
    if (!v->ok) {
        return;
    }
    v->have_position = position(p, n, &v->reboot, &v->seq);
    fail(v, v->records + 1, "the last line is cut short (no end of line)");
    v->torn = true;
}

ohsm_rv ohsm_audit_verify(const char *buf, size_t len, const char *hsm_id,
                          struct ohsm_audit_verdict *v)
{
    OHSM_ENSURE(v != NULL && (buf != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    ohsm_audit_verify_begin(v, hsm_id);
    size_t at = 0;
    while (at < len && v->ok) {
        const char *p = buf + at;
        const char *nl = memchr(p, '\n', len - at);
        if (nl == NULL) {
            ohsm_audit_verify_torn(v, p, len - at);
            break;
        }
        size_t n = (size_t)(nl - p);
        at += n + 1;
        (void)ohsm_audit_verify_line(v, p, n);
    }
    return OHSM_OK;
}
