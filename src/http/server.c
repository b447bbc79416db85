/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd's front door on libmicrohttpd (0.9.75): an internal polling thread that accepts and a
 * thread for each connection, bounded connections (a per-IP limit, a total limit, a per-connection
 * memory pool that holds the request line and headers, an idle timeout), and the body bound checked
 * on the announced Content-Length before any byte is read and again while a chunked body arrives:
 * over it, the 413 goes out at once and nothing is dispatched. The raw request URI comes from the
 * URI-log callback (libmicrohttpd hands the access handler only the decoded path), because SigV4
 * signs the query string as sent. Everything about AWS lives in route.c.
 *
 * Why a thread per connection rather than a pool of event loops: handlers block (a KMS call waits
 * for the audit trail's fdatasync, a CloudHSM call for an HSM), and in MHD's pool every thread
 * serves several connections, so one blocked handler stalls the others of its thread while the
 * CPUs idle. With a thread each, requests blocked on one fdatasync are exactly the batch the
 * trail's group commit wants (bench/kms: Encrypt at 16 clients from ~5,300 to ~8,500 req/s on the
 * 2-core VM, p99 from 12 to ~4 ms). The connection limits bound the threads.
 *
 * Trusts nothing of a request. Thread-safe after ohsm_http_start: the router is read-only and each
 * connection's state is its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "http/awserr.h"
#include "http/route.h"

#define SERVER_MAX_HEADERS 128
#define SERVER_CONN_TIMEOUT_S 30u
#define SERVER_PER_IP_LIMIT 64u
#define SERVER_CONN_LIMIT 512u
#define SERVER_CONN_MEMORY (64u * 1024u)

struct ohsm_http {
    struct ohsm_router router;
    struct MHD_Daemon *d;
    FILE *log;
    struct sockaddr_in addr;
};

/* One request's state, from the URI-log callback to the completion callback. */
struct conn {
    char *uri; /* raw request target; split at '?' when dispatched */
    bool started;
    bool done;    /* a reply is queued: later body bytes are discarded */
    bool too_big; /* the body crossed the bound: the rest is discarded, 413 at its end */
    size_t seen;  /* body bytes seen once too_big */
    uint8_t *body;
    size_t len;
    size_t cap;
    struct timespec t0;
    char request_id[37];
};

/* ---- setup ---- */

static ohsm_rv parse_listen(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    OHSM_ENSURE(colon != NULL && colon != s && (size_t)(colon - s) < sizeof(host),
                OHSM_ARGUMENTS_BAD);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    OHSM_ENSURE(colon[1] >= '0' && colon[1] <= '9' && errno == 0 && end != NULL && *end == '\0' &&
                    port <= 65535,
                OHSM_ARGUMENTS_BAD);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    OHSM_ENSURE(inet_pton(AF_INET, host, &sa->sin_addr) == 1, OHSM_ARGUMENTS_BAD);
    return OHSM_OK;
}

ohsm_rv ohsm_http_new(const struct ohsm_http_cfg *cfg, struct ohsm_http **out)
{
    char msg[256];
    OHSM_ENSURE(cfg != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    struct ohsm_http *h = calloc(1, sizeof(*h));
    OHSM_ENSURE(h != NULL, OHSM_HOST_MEMORY);
    ohsm_rv rv =
        parse_listen(cfg->listen != NULL ? cfg->listen : OHSM_HTTP_LISTEN_DEFAULT, &h->addr);
    if (rv == OHSM_OK) {
        rv = ohsm_router_init(&h->router, cfg, msg, sizeof(msg));
        if (rv != OHSM_OK && cfg->log != NULL && msg[0] != '\0') {
            fprintf(cfg->log, "http: %s\n", msg);
        }
    }
    if (rv != OHSM_OK) {
        ohsm_router_fini(&h->router);
        free(h);
        return rv;
    }
    /* Seed jansson's hash tables now, on one thread, before handlers build objects on many. */
    json_object_seed(0);
    h->log = cfg->log;
    *out = h;
    return OHSM_OK;
}

ohsm_rv ohsm_http_add_json(struct ohsm_http *h, const struct ohsm_json_service *s)
{
    OHSM_ENSURE(h != NULL && h->d == NULL, OHSM_ARGUMENTS_BAD);
    return ohsm_router_add_json(&h->router, s);
}

ohsm_rv ohsm_http_add_query(struct ohsm_http *h, const struct ohsm_query_service *s)
{
    OHSM_ENSURE(h != NULL && h->d == NULL, OHSM_ARGUMENTS_BAD);
    return ohsm_router_add_query(&h->router, s);
}

/* ---- per request ---- */

static void make_request_id(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        /* The id only correlates logs; a clock-derived one is acceptable when the DRBG fails. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memset(b, 0, sizeof(b));
        memcpy(b, &ts, sizeof(ts) < sizeof(b) ? sizeof(ts) : sizeof(b));
    }
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* RFC 4122 version 4 */
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* variant 10 */
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    (void)mc;
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->uri = strdup(uri != NULL ? uri : "");
    if (c->uri == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void on_done(void *cls, struct MHD_Connection *mc, void **req_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)mc;
    (void)toe;
    struct conn *c = *req_cls;
    if (c == NULL) {
        return;
    }
    if (c->body != NULL) {
        OPENSSL_cleanse(c->body, c->cap); /* bodies carry secrets (KMS plaintexts, passwords) */
    }
    free(c->body);
    free(c->uri);
    free(c);
    *req_cls = NULL;
}

static void log_line(const struct ohsm_http *h, const struct conn *c,
                     const struct ohsm_route_reply *rep)
{
    if (h->log == NULL) {
        return;
    }
    struct timespec now, wall;
    struct tm tm;
    char ts[32] = "-";
    clock_gettime(CLOCK_MONOTONIC, &now);
    clock_gettime(CLOCK_REALTIME, &wall);
    if (gmtime_r(&wall.tv_sec, &tm) != NULL) {
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    long long ms =
        (long long)(now.tv_sec - c->t0.tv_sec) * 1000 + (now.tv_nsec - c->t0.tv_nsec) / 1000000;
    /* One fprintf per line: stdio locks the stream, so lines of concurrent requests do not mix. */
    fprintf(h->log, "%s http %s %u %lldms %s\n", ts, rep->label, rep->status, ms, c->request_id);
    fflush(h->log);
}

static enum MHD_Result send_reply(const struct ohsm_http *h, struct MHD_Connection *mc,
                                  struct conn *c, struct ohsm_route_reply *rep)
{
    struct MHD_Response *resp;
    c->done = true;
    if (rep->body != NULL) {
        resp = MHD_create_response_from_buffer(rep->len, rep->body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            ohsm_route_reply_free(rep);
            return MHD_NO;
        }
        rep->body = NULL; /* libmicrohttpd frees it */
    } else {
        rep->status = 500; /* out of memory while shaping the reply */
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (resp == NULL) {
            return MHD_NO;
        }
    }
    if (rep->content_type != NULL) {
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rep->content_type);
    }
    (void)MHD_add_response_header(resp, "x-amzn-RequestId", c->request_id);
    enum MHD_Result ret = MHD_queue_response(mc, rep->status, resp);
    MHD_destroy_response(resp);
    log_line(h, c, rep);
    return ret;
}

struct hdr_list {
    struct ohsm_sigv4_hdr h[SERVER_MAX_HEADERS];
    size_t n;
    bool overflow;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct hdr_list *l = cls;
    if (l->n == SERVER_MAX_HEADERS) {
        l->overflow = true;
        return MHD_NO;
    }
    l->h[l->n].name = key;
    l->h[l->n].value = value != NULL ? value : "";
    l->n++;
    return MHD_YES;
}

static enum MHD_Result dispatch(const struct ohsm_http *h, struct MHD_Connection *mc,
                                struct conn *c, const char *method, bool too_big, size_t size)
{
    struct hdr_list *hl = calloc(1, sizeof(*hl));
    struct ohsm_route_reply rep;
    struct timespec wall;
    if (hl == NULL) {
        return MHD_NO;
    }
    (void)MHD_get_connection_values(mc, MHD_HEADER_KIND, collect_header, hl);
    clock_gettime(CLOCK_REALTIME, &wall);
    char *q = strchr(c->uri, '?');
    if (q != NULL) {
        *q++ = '\0';
    }
    struct ohsm_route_req req = {
        .method = method,
        .path = c->uri,
        .query = q,
        .hdrs = hl->h,
        .n_hdrs = hl->n,
        .body = c->body,
        .body_len = too_big ? size : c->len,
        .now = (int64_t)wall.tv_sec,
        .request_id = c->request_id,
    };
    if (hl->overflow) {
        struct ohsm_aws_err err;
        memset(&rep, 0, sizeof(rep));
        ohsm_awserr_set(&err, OHSM_AWSERR_INVALID_REQUEST, false, NULL,
                        "more than %d request headers", SERVER_MAX_HEADERS);
        json_t *j = json_pack("{s:s, s:s}", "__type", err.type, "message", err.msg);
        rep.status = err.status;
        rep.content_type = "application/x-amz-json-1.1";
        rep.body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
        rep.len = rep.body != NULL ? strlen(rep.body) : 0;
        snprintf(rep.label, sizeof(rep.label), "%s", method);
        json_decref(j);
    } else if (too_big) {
        ohsm_router_too_big(&h->router, &req, &rep);
    } else {
        ohsm_router_handle(&h->router, &req, &rep);
    }
    enum MHD_Result ret = send_reply(h, mc, c, &rep);
    ohsm_route_reply_free(&rep);
    free(hl);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)url;
    (void)version;
    struct ohsm_http *h = cls;
    struct conn *c = *req_cls;
    size_t max = h->router.max_body;
    if (c == NULL) {
        return MHD_NO; /* out of memory in on_uri */
    }
    if (!c->started) {
        c->started = true;
        clock_gettime(CLOCK_MONOTONIC, &c->t0);
        make_request_id(c->request_id);
        const char *cl =
            MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            bool huge = errno == ERANGE || (end != cl && (*end == '\0' && n > max));
            if (huge) {
                /* Refused before one byte of the body is read. */
                return dispatch(h, mc, c, method, true, n > SIZE_MAX ? SIZE_MAX : (size_t)n);
            }
        }
        return MHD_YES;
    }
    if (c->done) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->too_big || max - c->len < n) {
            /* A chunked body crossed the bound. libmicrohttpd 0.9.75 takes no reply while a body
             * is arriving, so the rest is discarded unstored and the 413 goes out at its end; a
             * client that keeps sending past four times the bound is cut off without one. */
            if (!c->too_big) {
                c->too_big = true;
                c->seen = c->len;
                if (c->body != NULL) {
                    OPENSSL_cleanse(c->body, c->cap);
                }
            }
            if (c->seen > 4 * max) {
                return MHD_NO;
            }
            c->seen += n;
            return MHD_YES;
        }
        if (c->cap - c->len < n) {
            size_t want = c->cap == 0 ? 4096 : c->cap;
            while (want - c->len < n) {
                want = want > max / 2 ? max : want * 2;
            }
            uint8_t *nb = malloc(want);
            if (nb == NULL) {
                return MHD_NO;
            }
            if (c->body != NULL) {
                memcpy(nb, c->body, c->len);
                OPENSSL_cleanse(c->body, c->cap);
                free(c->body);
            }
            c->body = nb;
            c->cap = want;
        }
        memcpy(c->body + c->len, upload_data, n);
        c->len += n;
        return MHD_YES;
    }
    return dispatch(h, mc, c, method, c->too_big, c->seen);
}

/* ---- start / stop ---- */

ohsm_rv ohsm_http_start(struct ohsm_http *h, uint16_t *port)
{
    OHSM_ENSURE(h != NULL && port != NULL && h->d == NULL, OHSM_ARGUMENTS_BAD);
    errno = 0; /* what bind() leaves is the caller's reason */
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_AUTO | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&h->addr, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)SERVER_CONN_TIMEOUT_S, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                            (unsigned int)SERVER_PER_IP_LIMIT, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)SERVER_CONN_LIMIT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)SERVER_CONN_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
                            MHD_OPTION_NOTIFY_COMPLETED, on_done, h, MHD_OPTION_END);
    if (h->d == NULL) {
        if (errno == 0) {
            errno = EADDRINUSE;
        }
        return OHSM_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        MHD_stop_daemon(h->d);
        h->d = NULL;
        errno = EINVAL;
        return OHSM_IO;
    }
    *port = info->port;
    return OHSM_OK;
}

void ohsm_http_free(struct ohsm_http *h)
{
    if (h == NULL) {
        return;
    }
    if (h->d != NULL) {
        MHD_stop_daemon(h->d);
    }
    ohsm_router_fini(&h->router);
    free(h);
}
