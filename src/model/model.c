/* SPDX-License-Identifier: Apache-2.0
 *
 * The table-driven validator of model.h: walks a request along its operation's input shape tree
 * and collects every violation as AWS words it ("Value 'x' at 'path' failed to satisfy
 * constraint: Member must ..."), joined with "; " behind "N validation errors detected: ".
 * Trusts nothing of the request (any JSON value, any depth, any string); trusts the generated
 * tables. No globals: each call's state lives in a struct vstate on its stack.
 */
#include "model/model.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_CAP 256
#define ERRS_CAP 2048
#define ONE_CAP 768
#define SHOWN_CAP 160 /* bytes of a value echoed in a message */

/* The constraints one value can break; a check returns the set it broke. */
enum {
    C_TYPE = 1u << 0,
    C_ENUM = 1u << 1,
    C_MIN = 1u << 2,
    C_MAX = 1u << 3,
    C_PATTERN = 1u << 4,
    C_BASE64 = 1u << 5,
};

struct sb {
    char *p;
    size_t cap, len;
    bool trunc;
};

struct vstate {
    const struct ohsm_model_service *svc;
    const regex_t *re;
    char path[PATH_CAP];
    size_t plen;
    char errs[ERRS_CAP];
    size_t elen;
    bool errs_full;
    unsigned n;
};

/* ---- small text helpers ---- */

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_floor(const char *s, size_t n)
{
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0u) == 0x80u) {
        i--;
    }
    if (i > 0 && ((unsigned char)s[i - 1] & 0x80u) != 0) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t want = lead >= 0xF0u ? 4 : lead >= 0xE0u ? 3 : lead >= 0xC0u ? 2 : 1;
        if (n - (i - 1) < want) {
            return i - 1; /* cut inside the sequence: drop it */
        }
        return n;
    }
    return n;
}

static void sb_put(struct sb *b, const char *s, size_t n)
{
    if (b->trunc) {
        return;
    }
    if (b->cap - 1 - b->len < n) {
        n = utf8_floor(s, b->cap - 1 - b->len);
        b->trunc = true;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *b, const char *fmt, ...)
{
    char tmp[ONE_CAP];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->trunc = true;
        return;
    }
    sb_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : strlen(tmp));
    if ((size_t)n >= sizeof(tmp)) {
        b->trunc = true;
    }
}

static size_t utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        n += ((unsigned char)s[i] & 0xC0u) != 0x80u;
    }
    return n;
}

/* Decodes one code point of strict UTF-8 (no overlongs, surrogates or values past U+10FFFF).
 * Returns its length in bytes, or 0 when s does not start with a valid sequence. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    static const uint32_t min_of[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n;
    uint32_t c = s[0];
    if (c < 0x80u) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2u && c <= 0xDFu) {
        n = 2;
        c &= 0x1Fu;
    } else if (c >= 0xE0u && c <= 0xEFu) {
        n = 3;
        c &= 0x0Fu;
    } else if (c >= 0xF0u && c <= 0xF4u) {
        n = 4;
        c &= 0x07u;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3Fu);
    }
    if (c < min_of[n] || c > 0x10FFFFu || (c >= 0xD800u && c <= 0xDFFFu)) {
        return 0;
    }
    *cp = c;
    return n;
}

bool ohsm_model_cpclass_match(const char *s, size_t len, const struct ohsm_model_cprange *r,
                              size_t n, bool non_ascii, size_t min)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t count = 0;
    size_t off = 0;
    if (s == NULL) {
        return false;
    }
    while (off < len) {
        uint32_t cp = 0;
        size_t k = utf8_next(u + off, len - off, &cp);
        if (k == 0) {
            return false;
        }
        bool in = non_ascii && cp > 0x7Fu;
        for (size_t i = 0; i < n && !in; i++) {
            in = cp >= r[i].lo && cp <= r[i].hi;
        }
        if (!in) {
            return false;
        }
        off += k;
        count++;
    }
    return count >= min;
}

int ohsm_model_compile(const struct ohsm_model_pattern *p, size_t n, regex_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].ere == NULL) {
            continue;
        }
        if (regcomp(&out[i], p[i].ere, REG_EXTENDED | REG_NOSUB) != 0) {
            while (i-- > 0) {
                if (p[i].ere != NULL) {
                    regfree(&out[i]);
                }
            }
            return -1;
        }
    }
    return 0;
}

static int op_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct ohsm_model_op *)elem)->name);
}

const struct ohsm_model_op *ohsm_model_find(const struct ohsm_model_service *svc, const char *op)
{
    if (svc == NULL || op == NULL) {
        return NULL;
    }
    return bsearch(op, svc->ops, svc->n_ops, sizeof(svc->ops[0]), op_cmp);
}

/* ---- values as Java prints them (String.valueOf of the deserialised member) ---- */

static void show_value(struct sb *b, const json_t *v, unsigned depth)
{
    if (depth > 4) {
        sb_str(b, "...");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_STRING:
        sb_put(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        sb_printf(b, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        sb_str(b, "true");
        break;
    case JSON_FALSE:
        sb_str(b, "false");
        break;
    case JSON_NULL:
        sb_str(b, "null");
        break;
    case JSON_ARRAY: {
        size_t i;
        const json_t *e;
        sb_str(b, "[");
        json_array_foreach(v, i, e)
        {
            if (i > 0) {
                sb_str(b, ", ");
            }
            show_value(b, e, depth + 1);
        }
        sb_str(b, "]");
        break;
    }
    case JSON_OBJECT: {
        const char *k;
        const json_t *e;
        bool first = true;
        sb_str(b, "{");
        json_object_foreach((json_t *)v, k, e)
        {
            sb_str(b, first ? "" : ", ");
            first = false;
            sb_str(b, k);
            sb_str(b, "=");
            show_value(b, e, depth + 1);
        }
        sb_str(b, "}");
        break;
    }
    }
}

/* ---- errors ---- */

enum shown { SHOW_VALUE, SHOW_NULL, SHOW_NOTHING };

static void add_error(struct vstate *v, const json_t *val, enum shown how, const char *constraint)
{
    char one[ONE_CAP];
    char shown[SHOWN_CAP];
    struct sb b = {one, sizeof(one), 0, false};
    v->n++;
    if (how == SHOW_VALUE) {
        struct sb s = {shown, sizeof(shown), 0, false};
        shown[0] = '\0';
        show_value(&s, val, 0);
        sb_str(&b, "Value '");
        sb_str(&b, shown);
        sb_str(&b, s.trunc ? "...' at '" : "' at '");
    } else {
        sb_str(&b, how == SHOW_NULL ? "Value null at '" : "Value at '");
    }
    sb_str(&b, v->path);
    sb_str(&b, "' failed to satisfy constraint: ");
    sb_str(&b, constraint);
    /* Whole errors only: one that does not fit is counted but not shown. */
    size_t sep = v->elen > 0 ? 2 : 0;
    if (v->errs_full || b.trunc || sizeof(v->errs) - 1 - v->elen < sep + b.len) {
        v->errs_full = true;
        return;
    }
    memcpy(v->errs + v->elen, "; ", sep);
    memcpy(v->errs + v->elen + sep, one, b.len + 1);
    v->elen += sep + b.len;
}

/* The text of constraint c of shape s ("Member must ..."). */
static void describe(struct sb *b, const struct ohsm_model_shape *s, unsigned c)
{
    static const char *const type_names[] = {
        [OHSM_MODEL_STRUCTURE] = "structure",
        [OHSM_MODEL_LIST] = "list",
        [OHSM_MODEL_MAP] = "map",
        [OHSM_MODEL_STRING] = "string",
        [OHSM_MODEL_INTEGER] = "integer",
        [OHSM_MODEL_LONG] = "long",
        [OHSM_MODEL_BOOLEAN] = "boolean",
        [OHSM_MODEL_BLOB] = "blob",
        [OHSM_MODEL_TIMESTAMP] = "timestamp",
        [OHSM_MODEL_FLOAT] = "float",
        [OHSM_MODEL_DOUBLE] = "double",
    };
    bool value = s->type == OHSM_MODEL_INTEGER || s->type == OHSM_MODEL_LONG ||
                 s->type == OHSM_MODEL_FLOAT || s->type == OHSM_MODEL_DOUBLE;
    switch (c) {
    case C_TYPE:
        sb_printf(b, "Member must be of type %s", type_names[s->type]);
        break;
    case C_ENUM:
        sb_str(b, "Member must satisfy enum value set: [");
        for (size_t i = 0; i < s->n_enums; i++) {
            sb_str(b, i > 0 ? ", " : "");
            sb_str(b, s->enums[i]);
        }
        sb_str(b, "]");
        break;
    case C_MIN:
        sb_printf(b, "Member must have %s greater than or equal to %" PRId64,
                  value ? "value" : "length", s->min);
        break;
    case C_MAX:
        sb_printf(b, "Member must have %s less than or equal to %" PRId64,
                  value ? "value" : "length", s->max);
        break;
    case C_PATTERN:
        sb_str(b, "Member must satisfy regular expression pattern: ");
        sb_str(b, s->pattern->java);
        break;
    case C_BASE64:
        sb_str(b, "Member must be valid base64");
        break;
    default:
        break;
    }
}

/* Every constraint the shape has, for "Map keys/value must satisfy constraint: [...]". */
static unsigned all_constraints(const struct ohsm_model_shape *s)
{
    unsigned c = 0;
    c |= s->n_enums > 0 ? C_ENUM : 0u;
    c |= (s->flags & OHSM_MODEL_HAS_MIN) ? C_MIN : 0u;
    c |= (s->flags & OHSM_MODEL_HAS_MAX) ? C_MAX : 0u;
    c |= s->pattern != NULL ? C_PATTERN : 0u;
    return c;
}

static const unsigned order[] = {C_TYPE, C_BASE64, C_ENUM, C_MIN, C_MAX, C_PATTERN};

/* Whether a value of shape s may hold a secret or bytes: sensitive or a blob, itself or anywhere
 * below (a list of sensitive strings is echoed whole otherwise). Such values are never shown. */
static bool hidden(const struct ohsm_model_shape *s, unsigned depth)
{
    if (s == NULL) {
        return false;
    }
    if ((s->flags & OHSM_MODEL_SENSITIVE) || s->type == OHSM_MODEL_BLOB ||
        depth > OHSM_MODEL_MAX_DEPTH) {
        return true;
    }
    for (size_t i = 0; i < s->n_members; i++) {
        if (hidden(s->members[i].shape, depth + 1)) {
            return true;
        }
    }
    return hidden(s->key, depth + 1) || hidden(s->value, depth + 1);
}

/* One error per broken constraint. */
static void report(struct vstate *v, const struct ohsm_model_shape *s, const json_t *val,
                   unsigned broken)
{
    bool hide = hidden(s, 0);
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        char text[ONE_CAP];
        struct sb b = {text, sizeof(text), 0, false};
        if ((broken & order[i]) == 0) {
            continue;
        }
        text[0] = '\0';
        describe(&b, s, order[i]);
        add_error(v, val, hide ? SHOW_NOTHING : SHOW_VALUE, text);
        if (order[i] == C_TYPE || order[i] == C_BASE64) {
            break; /* nothing else is meaningful about a value of the wrong kind */
        }
    }
}

/* One error for a map's key or value: "Map keys must satisfy constraint: [all of them]" (s is
 * the key's or the value's shape, ms the map's). */
static void report_map(struct vstate *v, const struct ohsm_model_shape *ms,
                       const struct ohsm_model_shape *s, const json_t *map, const char *what,
                       unsigned broken)
{
    char text[ONE_CAP];
    struct sb b = {text, sizeof(text), 0, false};
    unsigned all =
        (broken & (C_TYPE | C_BASE64)) ? broken & (C_TYPE | C_BASE64) : all_constraints(s);
    bool first = true;
    text[0] = '\0';
    sb_printf(&b, "Map %s must satisfy constraint: [", what);
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if ((all & order[i]) == 0) {
            continue;
        }
        sb_str(&b, first ? "" : ", ");
        first = false;
        describe(&b, s, order[i]);
    }
    sb_str(&b, "]");
    add_error(v, map, hidden(ms, 0) ? SHOW_NOTHING : SHOW_VALUE, text);
}

/* ---- scalar checks: the set of broken constraints ---- */

static unsigned check_length(const struct ohsm_model_shape *s, uint64_t n)
{
    unsigned c = 0;
    if ((s->flags & OHSM_MODEL_HAS_MIN) && s->min > 0 && n < (uint64_t)s->min) {
        c |= C_MIN;
    }
    if ((s->flags & OHSM_MODEL_HAS_MAX) && (s->max < 0 || n > (uint64_t)s->max)) {
        c |= C_MAX;
    }
    return c;
}

static bool pattern_ok(const struct vstate *v, const struct ohsm_model_pattern *p, const char *s,
                       size_t len)
{
    if (strlen(s) != len) {
        return false; /* an embedded NUL: no pattern of the models allows one */
    }
    if (p->check != NULL) {
        return p->check(s, len);
    }
    if (v->re == NULL) {
        return false; /* fail closed; the unit tests compile every pattern */
    }
    return regexec(&v->re[p - v->svc->patterns], s, 0, NULL, 0) == 0;
}

static unsigned check_string(const struct vstate *v, const struct ohsm_model_shape *s,
                             const char *str, size_t len)
{
    unsigned c = 0;
    if (s->n_enums > 0) {
        bool found = false;
        for (size_t i = 0; i < s->n_enums && !found; i++) {
            found = strlen(s->enums[i]) == len && memcmp(s->enums[i], str, len) == 0;
        }
        c |= found ? 0u : C_ENUM;
    }
    c |= check_length(s, utf8_count(str, len));
    if (s->pattern != NULL && !pattern_ok(v, s->pattern, str, len)) {
        c |= C_PATTERN;
    }
    return c;
}

/* Standard base64 with padding (RFC 4648 §4), as botocore sends blobs: the decoded length, or
 * -1 when s is not that. */
static int64_t base64_len(const char *s, size_t len)
{
    size_t pad = 0;
    if (len % 4 != 0) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                     (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
        if (ch == '=' && i >= len - 2) {
            pad++;
        } else if (!alpha || pad > 0) {
            return -1;
        }
    }
    return (int64_t)(len / 4 * 3 - pad);
}

static unsigned check_scalar(const struct vstate *v, const struct ohsm_model_shape *s,
                             const json_t *val)
{
    switch (s->type) {
    case OHSM_MODEL_STRING:
        if (!json_is_string(val)) {
            return C_TYPE;
        }
        return check_string(v, s, json_string_value(val), json_string_length(val));
    case OHSM_MODEL_BLOB: {
        if (!json_is_string(val)) {
            return C_TYPE;
        }
        int64_t n = base64_len(json_string_value(val), json_string_length(val));
        return n < 0 ? C_BASE64 : check_length(s, (uint64_t)n);
    }
    case OHSM_MODEL_INTEGER:
    case OHSM_MODEL_LONG: {
        if (!json_is_integer(val)) {
            return C_TYPE;
        }
        json_int_t n = json_integer_value(val);
        if (s->type == OHSM_MODEL_INTEGER && (n < INT32_MIN || n > INT32_MAX)) {
            return C_TYPE; /* does not fit a Java int */
        }
        unsigned c = 0;
        c |= (s->flags & OHSM_MODEL_HAS_MIN) && n < s->min ? C_MIN : 0u;
        c |= (s->flags & OHSM_MODEL_HAS_MAX) && n > s->max ? C_MAX : 0u;
        return c;
    }
    case OHSM_MODEL_FLOAT:
    case OHSM_MODEL_DOUBLE: {
        if (!json_is_number(val)) {
            return C_TYPE;
        }
        double d = json_number_value(val);
        unsigned c = 0;
        c |= (s->flags & OHSM_MODEL_HAS_MIN) && d < (double)s->min ? C_MIN : 0u;
        c |= (s->flags & OHSM_MODEL_HAS_MAX) && d > (double)s->max ? C_MAX : 0u;
        return c;
    }
    case OHSM_MODEL_BOOLEAN:
        return json_is_boolean(val) ? 0u : C_TYPE;
    case OHSM_MODEL_TIMESTAMP:
        return json_is_number(val) ? 0u : C_TYPE; /* epoch seconds in AWS JSON 1.1 */
    default:
        return C_TYPE;
    }
}

/* ---- the walk ---- */

static bool is_scalar(const struct ohsm_model_shape *s)
{
    return s->type != OHSM_MODEL_STRUCTURE && s->type != OHSM_MODEL_LIST &&
           s->type != OHSM_MODEL_MAP;
}

/* Appends sep and s to the path; returns the mark to restore. A path that does not fit stays
 * cut (at a UTF-8 boundary). */
static size_t path_push(struct vstate *v, const char *sep, const char *s)
{
    size_t mark = v->plen;
    int k = snprintf(v->path + v->plen, sizeof(v->path) - v->plen, "%s%s", sep, s);
    if (k > 0) {
        size_t room = sizeof(v->path) - 1 - v->plen;
        v->plen += (size_t)k <= room ? (size_t)k : utf8_floor(v->path + v->plen, room);
        v->path[v->plen] = '\0';
    }
    return mark;
}

static void path_pop(struct vstate *v, size_t mark)
{
    v->plen = mark;
    v->path[mark] = '\0';
}

static void check(struct vstate *v, const struct ohsm_model_shape *s, const json_t *val,
                  unsigned depth);

static void check_members(struct vstate *v, const struct ohsm_model_shape *s, const json_t *obj,
                          unsigned depth)
{
    for (size_t i = 0; i < s->n_members; i++) {
        const struct ohsm_model_member *m = &s->members[i];
        const json_t *mv = json_object_get(obj, m->name);
        size_t mark = path_push(v, v->plen > 0 ? "." : "", m->path);
        if (mv == NULL || json_is_null(mv)) {
            if (m->required) {
                add_error(v, NULL, SHOW_NULL, "Member must not be null");
            }
        } else {
            check(v, m->shape, mv, depth + 1);
        }
        path_pop(v, mark);
    }
}

static void check_list(struct vstate *v, const struct ohsm_model_shape *s, const json_t *arr,
                       unsigned depth)
{
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e)
    {
        char pos[32];
        (void)snprintf(pos, sizeof(pos), "%zu.member", i + 1);
        size_t mark = path_push(v, ".", pos);
        if (json_is_null(e)) {
            add_error(v, NULL, SHOW_NULL, "Member must not be null");
        } else {
            check(v, s->value, e, depth + 1);
        }
        path_pop(v, mark);
    }
}

static void check_map(struct vstate *v, const struct ohsm_model_shape *s, const json_t *obj,
                      unsigned depth)
{
    const char *k;
    const json_t *e;
    bool keys_bad = false;
    bool values_bad = false;
    json_object_foreach((json_t *)obj, k, e)
    {
        unsigned broken = check_string(v, s->key, k, strlen(k));
        if (broken != 0 && !keys_bad) {
            keys_bad = true; /* AWS reports keys once and values once per map */
            report_map(v, s, s->key, obj, "keys", broken);
        }
        if (json_is_null(e) || is_scalar(s->value)) {
            broken = json_is_null(e) ? 0u : check_scalar(v, s->value, e);
            if ((broken != 0 || json_is_null(e)) && !values_bad) {
                values_bad = true;
                if (json_is_null(e)) {
                    add_error(v, obj, hidden(s, 0) ? SHOW_NOTHING : SHOW_VALUE,
                              "Map value must satisfy constraint: [Member must not be null]");
                } else {
                    report_map(v, s, s->value, obj, "value", broken);
                }
            }
            continue;
        }
        size_t mark = path_push(v, ".", k);
        check(v, s->value, e, depth + 1);
        path_pop(v, mark);
    }
}

static void check(struct vstate *v, const struct ohsm_model_shape *s, const json_t *val,
                  unsigned depth)
{
    if (depth > OHSM_MODEL_MAX_DEPTH) {
        add_error(v, NULL, SHOW_NOTHING, "Member must not be nested this deep");
        return;
    }
    switch (s->type) {
    case OHSM_MODEL_STRUCTURE:
        if (!json_is_object(val)) {
            report(v, s, val, C_TYPE);
            return;
        }
        check_members(v, s, val, depth);
        return;
    case OHSM_MODEL_LIST:
    case OHSM_MODEL_MAP: {
        bool list = s->type == OHSM_MODEL_LIST;
        if (list ? !json_is_array(val) : !json_is_object(val)) {
            report(v, s, val, C_TYPE);
            return;
        }
        unsigned broken = check_length(s, list ? json_array_size(val) : json_object_size(val));
        if (broken != 0) {
            report(v, s, val, broken);
        }
        if (list) {
            check_list(v, s, val, depth);
        } else {
            check_map(v, s, val, depth);
        }
        return;
    }
    default: {
        unsigned broken = check_scalar(v, s, val);
        if (broken != 0) {
            report(v, s, val, broken);
        }
        return;
    }
    }
}

/* msg = "<n> validation error(s) detected: <errors>", cut at a UTF-8 boundary. */
static void finish(const struct vstate *v, char *msg, size_t cap)
{
    struct sb b = {msg, cap, 0, false};
    if (cap == 0 || msg == NULL) {
        return;
    }
    msg[0] = '\0';
    sb_printf(&b, "%u validation error%s detected: ", v->n, v->n == 1 ? "" : "s");
    sb_put(&b, v->errs, v->elen);
}

int ohsm_model_validate(const struct ohsm_model_service *svc, const char *op, json_t *in, char *msg,
                        size_t cap)
{
    struct vstate *v = NULL;
    const struct ohsm_model_op *o = ohsm_model_find(svc, op);
    int rc = -1;

    if (msg != NULL && cap > 0) {
        msg[0] = '\0';
    }
    if (o == NULL || o->input == NULL) {
        return 0; /* unknown operations are the router's to report; no input: nothing to check */
    }
    if (in == NULL || !json_is_object(in)) {
        if (msg != NULL && cap > 0) {
            (void)snprintf(msg, cap, "Start of structure or map found where not expected.");
        }
        return -1;
    }
    /* About 2.5 KiB: kept off the handler threads' stacks. */
    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        if (msg != NULL && cap > 0) {
            (void)snprintf(msg, cap, "The request could not be validated (out of memory).");
        }
        return -1;
    }
    v->svc = svc;
    v->re = svc->regexes != NULL ? svc->regexes() : NULL;
    check(v, o->input, in, 0);
    if (v->n == 0) {
        rc = 0;
        goto out;
    }
    finish(v, msg, cap);
out:
    free(v);
    return rc;
}
