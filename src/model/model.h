/* SPDX-License-Identifier: Apache-2.0
 *
 * Input validation of AWS JSON 1.1 requests against botocore's service models.
 *
 * scripts/gen_model.py turns a botocore service-2.json into a table (model_<service>.c) of every
 * operation's input shape tree; model.c walks a request (a jansson object) along that tree and
 * reports what AWS's own validation reports, in AWS's words:
 *
 *   1 validation error detected: Value 'x' at 'clusterId' failed to satisfy constraint: Member
 *   must satisfy regular expression pattern: cluster-[2-7a-zA-Z]{11,16}
 *
 * Checked: required members (JSON null counts as absent, as botocore never sends null), the JSON
 * type of each member (strings; integer/long as JSON integers within 32/64 bits; booleans; blobs
 * as standard padded base64; timestamps as numbers; lists as arrays; maps and structures as
 * objects), string lengths in Unicode code points, blob lengths in decoded bytes, list and map
 * counts, integer ranges, enum membership and patterns (full match, as java.util.regex's
 * matches()). Unknown members are ignored, as AWS services ignore them, so newer SDKs keep
 * working. Member paths are lower camel case with 1-based list positions ("tagList.1.member.key").
 * Values of sensitive shapes and blobs never appear in messages; other values are echoed as Java
 * prints them, cut with "..." after 160 bytes. Errors that do not fit the message are counted.
 *
 * Trusts nothing of the request; trusts the generated tables. Thread-safe: patterns are compiled
 * once (pthread_once) and only read afterwards; each call keeps its state on its stack.
 */
#ifndef OHSM_MODEL_H
#define OHSM_MODEL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- entry points (the ohsm_json_service.validate hook of src/http/http.h) ---- */

/* Checks the input of operation op (e.g. "CreateCluster"; in borrowed) against the model.
 * Returns 0 when it conforms or when the service has no such operation (routing reports unknown
 * operations), -1 with an AWS-style message in msg (NUL-terminated, truncated to cap bytes at a
 * UTF-8 boundary; msg may be NULL when cap is 0). */
int ohsm_model_cloudhsmv2_validate(const char *op, json_t *in, char *msg, size_t cap);
int ohsm_model_kms_validate(const char *op, json_t *in, char *msg, size_t cap);

/* ---- the tables (written by scripts/gen_model.py; read by model.c and the tests) ---- */

enum ohsm_model_type {
    OHSM_MODEL_STRUCTURE = 1,
    OHSM_MODEL_LIST,
    OHSM_MODEL_MAP,
    OHSM_MODEL_STRING,
    OHSM_MODEL_INTEGER,
    OHSM_MODEL_LONG,
    OHSM_MODEL_BOOLEAN,
    OHSM_MODEL_BLOB,
    OHSM_MODEL_TIMESTAMP,
    OHSM_MODEL_FLOAT,
    OHSM_MODEL_DOUBLE,
};

#define OHSM_MODEL_HAS_MIN 0x1u
#define OHSM_MODEL_HAS_MAX 0x2u
#define OHSM_MODEL_SENSITIVE 0x4u

/* How deep the validator follows a shape tree (the models' deepest input is 4 levels). */
#define OHSM_MODEL_MAX_DEPTH 16

struct ohsm_model_shape;

struct ohsm_model_member {
    const char *name; /* JSON key: "ClusterId" */
    const char *path; /* in messages: "clusterId" */
    const struct ohsm_model_shape *shape;
    bool required;
};

/* A closed range of Unicode code points. */
struct ohsm_model_cprange {
    uint32_t lo, hi;
};

struct ohsm_model_pattern {
    const char *java; /* as in the model; quoted in messages */
    const char *ere;  /* anchored POSIX ERE, or NULL when check decides */
    bool (*check)(const char *s, size_t len);
};

struct ohsm_model_shape {
    const char *name; /* the model's shape name */
    enum ohsm_model_type type;
    unsigned flags;   /* OHSM_MODEL_HAS_MIN | OHSM_MODEL_HAS_MAX | OHSM_MODEL_SENSITIVE */
    int64_t min, max; /* length, count or value, by type */
    const struct ohsm_model_pattern *pattern;
    const char *const *enums;
    size_t n_enums;
    const struct ohsm_model_member *members; /* structure */
    size_t n_members;
    const struct ohsm_model_shape *key;   /* map */
    const struct ohsm_model_shape *value; /* map value, list member */
};

struct ohsm_model_op {
    const char *name;                     /* sorted by strcmp within a service */
    const struct ohsm_model_shape *input; /* NULL: the operation takes no input */
};

struct ohsm_model_service {
    const char *name;   /* "cloudhsmv2" */
    const char *source; /* "botocore 1.43.11 cloudhsmv2 2017-04-28" */
    const struct ohsm_model_op *ops;
    size_t n_ops;
    const struct ohsm_model_pattern *patterns;
    size_t n_patterns;
    /* The compiled EREs, index for index with patterns (compiled on the first call); NULL if
     * one failed to compile, which the unit tests rule out. */
    const regex_t *(*regexes)(void);
};

extern const struct ohsm_model_service ohsm_model_cloudhsmv2;
extern const struct ohsm_model_service ohsm_model_kms;

/* The validator behind the entry points; same contract. */
int ohsm_model_validate(const struct ohsm_model_service *svc, const char *op, json_t *in, char *msg,
                        size_t cap);

/* The operation named op, or NULL. */
const struct ohsm_model_op *ohsm_model_find(const struct ohsm_model_service *svc, const char *op);

/* Compiles the n patterns that have an ERE into out[i] (REG_EXTENDED | REG_NOSUB); entries of
 * check patterns are left untouched. Returns 0, or -1 with nothing left allocated. */
int ohsm_model_compile(const struct ohsm_model_pattern *p, size_t n, regex_t *out);

/* True when s (len bytes) is valid UTF-8 of at least min code points, each inside one of the n
 * ranges or, with non_ascii, any code point above U+007F. For the patterns POSIX EREs over bytes
 * cannot express (\p{L}, \u00FF, ...). */
bool ohsm_model_cpclass_match(const char *s, size_t len, const struct ohsm_model_cprange *r,
                              size_t n, bool non_ascii, size_t min);

#endif
