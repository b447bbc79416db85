/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd's front door: one HTTP port (libmicrohttpd, thread pool) serving the AWS protocols the
 * aws CLI and boto3 speak, with one routing table:
 *
 *   POST /  X-Amz-Target: <Prefix>.<Operation>, Content-Type: application/x-amz-json-1.1
 *           -> the JSON 1.1 service registered under <Prefix> (BaldrApiService = CloudHSM v2,
 *              TrentService = KMS, OpenHsmAdmin = fault injection), operation by name
 *   POST /  Content-Type: application/x-www-form-urlencoded, body Action=<Op>&Version=...
 *           -> the EC2 Query service, operation by Action
 *
 * The server owns everything about HTTP and the AWS envelopes: the body bound (1 MiB by default,
 * checked before the body is read), strict JSON parsing (jansson: an object at the top, no
 * duplicate keys, no NUL), form decoding, SigV4 (parsed always; verified when credentials are
 * configured), the x-amzn-RequestId header, and error shaping:
 *   JSON 1.1: HTTP <status>, body {"__type": "<type>", "message": "<msg>"}
 *   EC2:      HTTP <status>, <Response><Errors><Error><Code>..</Code><Message>..</Message></Error>
 *             </Errors><RequestID>..</RequestID></Response>
 * Handlers see only validated, decoded input and write only the payload. They run on the
 * server's threads, several at once: a handler serialises its own state.
 *
 * Trusts nothing of a request. Thread-safe after ohsm_http_start.
 */
#ifndef OHSM_HTTP_H
#define OHSM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "openhsm/rv.h"

#define OHSM_HTTP_MAX_BODY_DEFAULT (1024u * 1024u)
#define OHSM_HTTP_LISTEN_DEFAULT "127.0.0.1:4599"

/* An AWS error: what the caller gets instead of a result. */
struct ohsm_aws_err {
    unsigned status; /* HTTP status: 400 for client errors unless AWS says otherwise */
    char type[96];   /* JSON __type, or the EC2 error Code */
    char msg[512];   /* message text: never a secret */
};

/* Fills e (printf-style message, truncated to fit). Returns e for chaining. */
struct ohsm_aws_err *ohsm_aws_errf(struct ohsm_aws_err *e, unsigned status, const char *type,
                                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* What a handler learns about the call besides its input (all borrowed for the call). */
struct ohsm_http_call {
    const char *request_id;    /* the x-amzn-RequestId / requestId of the reply (a UUID) */
    const char *access_key_id; /* from the SigV4 credential; "" when the request is unsigned */
    const char *region;        /* from the SigV4 credential scope; the server's when unsigned */
    const char *account_id;    /* the server's account id (12 digits) */
};

/* ---- AWS JSON 1.1 services ---- */

/* Returns a new reference to the result object ({} at least), or NULL with err filled. in is the
 * parsed request body (an object; borrowed). */
typedef json_t *(*ohsm_json_fn)(void *ctx, const struct ohsm_http_call *call, json_t *in,
                                struct ohsm_aws_err *err);

struct ohsm_json_op {
    const char *name; /* "DescribeClusters" */
    ohsm_json_fn fn;
};

struct ohsm_json_service {
    const char *target_prefix;        /* "BaldrApiService" */
    const char *signing_name;         /* credential scope service, e.g. "cloudhsm"; NULL: any */
    const char *invalid_request_type; /* bad JSON, wrong types, too big, failed validation */
    const char *unknown_op_type;      /* an operation this service does not have */
    const struct ohsm_json_op *ops;   /* borrowed for the server's life */
    size_t n_ops;
    /* Checks the input of operation op against the service's model (src/model: tables generated
     * from botocore's service model) before the handler runs: 0, or -1 with a message in msg
     * (cap bytes), answered as invalid_request_type. NULL: handlers validate themselves. */
    int (*validate)(const char *op, json_t *in, char *msg, size_t cap);
    void *ctx;
};

/* ---- EC2 Query services ---- */

/* Decoded form parameters of one request, in order; names and values are NUL-terminated UTF-8
 * (a NUL byte in the input is refused before a handler runs). */
struct ohsm_form;
/* The value of name, or NULL when absent (a name given twice is refused before a handler runs). */
const char *ohsm_form_get(const struct ohsm_form *f, const char *name);
size_t ohsm_form_count(const struct ohsm_form *f);
const char *ohsm_form_name(const struct ohsm_form *f, size_t i);
const char *ohsm_form_value(const struct ohsm_form *f, size_t i);

/* The reply payload being written inside <ActionResponse xmlns=...><requestId>..</requestId>.
 * Text is XML-escaped; element names are the caller's constants. A write that does not fit the
 * reply bound marks the writer failed and the server answers 500 InternalError. */
struct ohsm_xml;
void ohsm_xml_open(struct ohsm_xml *x, const char *el);
void ohsm_xml_close(struct ohsm_xml *x, const char *el);
void ohsm_xml_text(struct ohsm_xml *x, const char *el, const char *text);
void ohsm_xml_textf(struct ohsm_xml *x, const char *el, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ohsm_xml_bool(struct ohsm_xml *x, const char *el, bool v);

/* Returns 0 with the payload written, or -1 with err filled (the payload is then discarded). */
typedef int (*ohsm_query_fn)(void *ctx, const struct ohsm_http_call *call,
                             const struct ohsm_form *in, struct ohsm_xml *out,
                             struct ohsm_aws_err *err);

struct ohsm_query_op {
    const char *action; /* "DescribeSubnets" */
    ohsm_query_fn fn;
};

struct ohsm_query_service {
    const char *signing_name; /* "ec2" */
    const char *version;      /* "2016-11-15": a request naming another Version is refused */
    const char *xmlns;        /* "http://ec2.amazonaws.com/doc/2016-11-15/" */
    const struct ohsm_query_op *ops;
    size_t n_ops;
    void *ctx;
};

/* ---- the server ---- */

struct ohsm_http_cfg {
    const char *listen;           /* "ADDR:PORT" (IPv4); NULL: OHSM_HTTP_LISTEN_DEFAULT; port 0
                                     picks a free one */
    size_t max_body;              /* 0: OHSM_HTTP_MAX_BODY_DEFAULT */
    const char *region;           /* default region for unsigned requests, e.g. "us-east-1" */
    const char *account_id;       /* 12 digits */
    const char *credentials_file; /* NULL: any key is accepted (signatures are not checked) */
    uint32_t max_skew_s;          /* allowed clock difference of X-Amz-Date; 0: 900 (AWS's) */
    FILE *log;                    /* one line per request (target, status, ms); NULL: none */
};

struct ohsm_http;

/* Reads the credentials file (if any) and prepares the server; nothing listens yet.
 * Errors: OHSM_ARGUMENTS_BAD, OHSM_CONFIG (unreadable or malformed credentials file),
 * OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_http_new(const struct ohsm_http_cfg *cfg, struct ohsm_http **out);
/* Registers a service (borrowed for the server's life). Before ohsm_http_start only.
 * Errors: OHSM_ARGUMENTS_BAD (a prefix or query service already registered), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_http_add_json(struct ohsm_http *h, const struct ohsm_json_service *s);
OHSM_NODISCARD ohsm_rv ohsm_http_add_query(struct ohsm_http *h,
                                           const struct ohsm_query_service *s);
/* Binds and starts serving; the bound port goes to *port. Errors: OHSM_IO (bind failed, errno
 * set), OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_http_start(struct ohsm_http *h, uint16_t *port);
/* Stops serving (waits for running handlers) and frees. NULL ok. */
void ohsm_http_free(struct ohsm_http *h);

#endif
