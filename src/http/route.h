/* SPDX-License-Identifier: Apache-2.0
 *
 * The routing table and the protocol envelopes of the front door, without sockets: a request
 * (method, raw path and query, headers, body) goes in, a complete reply (status, content type,
 * body) comes out. server.c feeds it from libmicrohttpd; the unit tests feed it directly.
 * Trusts nothing of the request. Read-only after the services are added: handle() may run on
 * several threads at once.
 */
#ifndef OHSM_HTTP_ROUTE_H
#define OHSM_HTTP_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "http/creds.h"
#include "http/http.h"
#include "http/sigv4.h"

#define OHSM_ROUTE_MAX_JSON 16
#define OHSM_ROUTE_LABEL 96

struct ohsm_router {
    const struct ohsm_json_service *json[OHSM_ROUTE_MAX_JSON];
    size_t n_json;
    const struct ohsm_query_service *query;
    char region[33];
    char account_id[13];
    struct ohsm_creds *creds; /* owned; NULL: signatures not checked */
    uint32_t max_skew_s;
    size_t max_body;
    size_t max_reply;
};

struct ohsm_route_req {
    const char *method;
    const char *path;  /* raw path of the request line */
    const char *query; /* raw query string without '?'; NULL: none */
    const struct ohsm_sigv4_hdr *hdrs;
    size_t n_hdrs;
    const uint8_t *body;
    size_t body_len; /* for ohsm_router_too_big: the size announced or seen */
    int64_t now;     /* seconds since the epoch */
    const char *request_id;
};

struct ohsm_route_reply {
    unsigned status;
    const char *content_type; /* static */
    char *body;               /* malloc'd (NULL when out of memory: send it empty) */
    size_t len;
    char label[OHSM_ROUTE_LABEL]; /* target or Action for the log, printable ASCII */
};

/* Sets up r from cfg (reads the credentials file). Errors: OHSM_ARGUMENTS_BAD (region or
 * account id malformed), OHSM_CONFIG (credentials file; message in msg), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_router_init(struct ohsm_router *r, const struct ohsm_http_cfg *cfg,
                                        char *msg, size_t cap);
void ohsm_router_fini(struct ohsm_router *r);
OHSM_NODISCARD ohsm_rv ohsm_router_add_json(struct ohsm_router *r,
                                            const struct ohsm_json_service *s);
OHSM_NODISCARD ohsm_rv ohsm_router_add_query(struct ohsm_router *r,
                                             const struct ohsm_query_service *s);

/* Answers req into out (always filled; free with ohsm_route_reply_free). */
void ohsm_router_handle(const struct ohsm_router *r, const struct ohsm_route_req *req,
                        struct ohsm_route_reply *out);
/* The 413 reply for a request whose body (req->body_len bytes, not read) is over the bound,
 * in the protocol its headers announce. */
void ohsm_router_too_big(const struct ohsm_router *r, const struct ohsm_route_req *req,
                         struct ohsm_route_reply *out);
void ohsm_route_reply_free(struct ohsm_route_reply *rep);

/* The first value of header name (case-insensitive) in req, or NULL. */
const char *ohsm_route_header(const struct ohsm_route_req *req, const char *name);
/* Strict parse of a JSON 1.1 body: an object at the top, no duplicate keys, no NUL; an empty
 * body is {}. Returns a new reference or NULL with a message in msg. */
json_t *ohsm_route_parse_json(const uint8_t *body, size_t len, char *msg, size_t cap);

#endif
