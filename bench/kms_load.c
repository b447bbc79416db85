/* SPDX-License-Identifier: Apache-2.0
 *
 * kms_load: an HTTP load generator for openhsmd's AWS JSON 1.1 APIs, for the bench/kms runner
 * (which starts openhsmd and compares with `openssl speed`). For each operation and each client
 * count it starts that many threads, each with one HTTP/1.1 keep-alive connection (TCP_NODELAY),
 * sending requests one at a time, every one SigV4-signed (AWS4-HMAC-SHA256; the signing key is
 * derived once per UTC day and thread). Each cell runs a warm-up, then a measured window; only
 * 200 responses are counted, and any other status (or a broken connection) aborts the whole run
 * with the status and body printed. One line per cell:
 *
 *   RESULT op=encrypt clients=16 reqs=31234 seconds=3.000 rate=10411.3 p50_us=1402.1
 *   p99_us=3310.8 max_us=9120.0 connects=16 reconnects=0
 *
 * (connects: connections opened in the cell, warm-up included; equal to clients when every
 * connection was kept alive throughout.)
 *
 * Operations: encrypt (TrentService.Encrypt of 1 KiB), decrypt (TrentService.Decrypt of one blob
 * made at the start, checked once to give back the plaintext), gdk (TrentService.GenerateDataKey,
 * KeySpec AES_256), all signed for "kms"; describe-clusters (BaldrApiService.DescribeClusters,
 * signed for "cloudhsm"), which needs no key. Default: encrypt,decrypt,gdk. Without --key-id,
 * the KMS operations use a key made by one CreateKey at the start. The client side of SigV4 is
 * written here from the AWS General Reference, independent of the server's src/http/sigv4.c, so one
 * cannot hide the other's bug.
 *
 * Trusts its command line as the operator's; the secret key given there is never printed. Parses
 * responses only as far as it needs (status line, Content-Length framing, a few JSON string
 * fields), bounded by RESP_MAX.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define MAX_CLIENTS 256
#define MAX_LIST 16
#define PLAIN_LEN 1024          /* Encrypt payload, as openssl speed -bytes 1024 */
#define RESP_MAX (256u * 1024u) /* bytes of one response, headers and body */
#define REQ_MAX (16u * 1024u)   /* bytes of one request */
#define BODY_MAX 8192
#define FIELD_MAX 4096
#define SAMPLES_MAX (1u << 24) /* latencies kept per thread */
#define IO_TIMEOUT_S 10

struct op {
    const char *name;
    const char *service; /* SigV4 signing name */
    const char *target;  /* X-Amz-Target */
};

static const struct op OPS[] = {
    {"encrypt", "kms", "TrentService.Encrypt"},
    {"decrypt", "kms", "TrentService.Decrypt"},
    {"gdk", "kms", "TrentService.GenerateDataKey"},
    {"describe-clusters", "cloudhsm", "BaldrApiService.DescribeClusters"},
};
#define N_OPS (sizeof(OPS) / sizeof(OPS[0]))

/* The run's settings and shared inputs; read-only once the threads start. */
struct cfg {
    struct sockaddr_in addr;
    char host[64]; /* Host header: ADDR:PORT as in the endpoint */
    const char *region;
    const char *akid;
    const char *secret;
    double seconds;
    double warmup;
    char key_id[256];
    char plain_b64[2 * PLAIN_LEN];
    char *blob_b64; /* Decrypt's input */
};

/* One cell's shared state. */
struct cell {
    const struct cfg *c;
    const struct op *op;
    char body[BODY_MAX];
    struct timespec t_start, t_measure, t_end;
    pthread_barrier_t ready;
    atomic_bool abort;
    pthread_mutex_t err_lock;
    char err[2048]; /* the first failure, printed by main */
};

struct conn {
    int fd;
    char *buf; /* response bytes: [0, have) read so far */
    size_t have;
};

struct worker {
    struct cell *cell;
    pthread_t th;
    uint64_t *lat_ns;
    size_t n;
    size_t cap;
    unsigned connects;   /* connections opened: 1 when keep-alive held for the whole cell */
    unsigned reconnects; /* of them, after a kept-alive connection broke under a request */
    /* signing state */
    char day[9];
    EVP_MAC_CTX *mac; /* HMAC-SHA256 keyed with the day's signing key */
};

/* ---- small helpers ---- */

static struct timespec ts_add(struct timespec t, double s)
{
    int64_t ns = (int64_t)t.tv_nsec + (int64_t)(s * 1e9);
    t.tv_sec += (time_t)(ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(d, n, md);
    hex(md, sizeof(md), out);
}

/* Records the cell's first failure (prefix, then text) and stops every thread of it. */
static void cell_fail(struct cell *cl, const char *prefix, const char *text)
{
    pthread_mutex_lock(&cl->err_lock);
    if (!atomic_load(&cl->abort)) {
        snprintf(cl->err, sizeof(cl->err), "%s%s", prefix, text);
        atomic_store(&cl->abort, true);
    }
    pthread_mutex_unlock(&cl->err_lock);
}

/* The string value of the first "name": "..." in json (no escapes expected in the fields read
 * here: UUIDs, ARNs, base64). False when missing, escaped or longer than cap - 1. */
static bool json_str(const char *json, const char *name, char *out, size_t cap)
{
    char pat[64];
    int pn = snprintf(pat, sizeof(pat), "\"%s\"", name);
    if (pn < 0 || (size_t)pn >= sizeof(pat)) {
        return false;
    }
    const char *p = strstr(json, pat);
    if (p == NULL) {
        return false;
    }
    p += pn;
    p += strspn(p, " \t\r\n");
    if (*p++ != ':') {
        return false;
    }
    p += strspn(p, " \t\r\n");
    if (*p++ != '"') {
        return false;
    }
    size_t n = strcspn(p, "\"\\");
    if (p[n] != '"' || n >= cap) {
        return false;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* ---- SigV4, client side (AWS General Reference, "Create a signed AWS API request") ---- */

static bool hmac_raw(const uint8_t *key, size_t klen, const char *msg, uint8_t out[32])
{
    unsigned int olen = 0;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out,
                &olen) != NULL &&
           olen == 32;
}

/* Keys w->mac for the UTC day `day` (YYYYMMDD), unless it is keyed for it already:
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request"). */
static bool signer_for_day(struct worker *w, const char *day)
{
    const struct cfg *c = w->cell->c;
    uint8_t k0[4 + 128], k[32];
    bool ok = false;
    size_t slen = strlen(c->secret);
    if (w->mac != NULL && strcmp(w->day, day) == 0) {
        return true;
    }
    if (slen > 128) {
        return false;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, c->secret, slen);
    if (hmac_raw(k0, 4 + slen, day, k) && hmac_raw(k, 32, c->region, k) &&
        hmac_raw(k, 32, w->cell->op->service, k) && hmac_raw(k, 32, "aws4_request", k)) {
        EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end()};
        EVP_MAC_CTX_free(w->mac);
        w->mac = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
        EVP_MAC_free(m);
        ok = w->mac != NULL && EVP_MAC_init(w->mac, k, sizeof(k), params) == 1;
        memcpy(w->day, day, 9);
    }
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(k, sizeof(k));
    return ok;
}

/* Writes the whole signed request (headers and body) to out; its length, or 0 on failure. */
static size_t build_request(struct worker *w, const char *body, char *out, size_t cap)
{
    const struct cfg *c = w->cell->c;
    const struct op *op = w->cell->op;
    static const char ctype[] = "application/x-amz-json-1.1";
    static const char signed_hdrs[] = "content-type;host;x-amz-date;x-amz-target";
    char amz_date[17], body_hash[65], creq_hash[65], sig_hex[65];
    char creq[1024], sts[256];
    uint8_t sig[32];
    size_t sig_len = 0;
    struct tm tm;
    time_t now = time(NULL);
    size_t blen = strlen(body);

    if (gmtime_r(&now, &tm) == NULL ||
        strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
        return 0;
    }
    char day[9];
    memcpy(day, amz_date, 8);
    day[8] = '\0';
    if (!signer_for_day(w, day)) {
        return 0;
    }
    sha256_hex(body, blen, body_hash);
    /* Canonical request: method, URI, query, canonical headers (lowercase, sorted), a blank
     * line, the signed-header list, the payload hash. */
    int n =
        snprintf(creq, sizeof(creq),
                 "POST\n/\n\ncontent-type:%s\nhost:%s\nx-amz-date:%s\nx-amz-target:%s\n\n%s\n%s",
                 ctype, c->host, amz_date, op->target, signed_hdrs, body_hash);
    if (n < 0 || (size_t)n >= sizeof(creq)) {
        return 0;
    }
    sha256_hex(creq, (size_t)n, creq_hash);
    n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, day,
                 c->region, op->service, creq_hash);
    if (n < 0 || (size_t)n >= sizeof(sts)) {
        return 0;
    }
    /* Re-initialising with no key keeps the day's key and restarts the MAC. */
    if (EVP_MAC_init(w->mac, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(w->mac, (const unsigned char *)sts, (size_t)n) != 1 ||
        EVP_MAC_final(w->mac, sig, &sig_len, sizeof(sig)) != 1 || sig_len != sizeof(sig)) {
        return 0;
    }
    hex(sig, sizeof(sig), sig_hex);
    n = snprintf(out, cap,
                 "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nX-Amz-Date: %s\r\n"
                 "X-Amz-Target: %s\r\nContent-Length: %zu\r\n"
                 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                 "SignedHeaders=%s, Signature=%s\r\n\r\n",
                 c->host, ctype, amz_date, op->target, blen, c->akid, day, c->region, op->service,
                 signed_hdrs, sig_hex);
    if (n < 0 || (size_t)n >= cap || cap - (size_t)n <= blen) {
        return 0;
    }
    memcpy(out + n, body, blen + 1);
    return (size_t)n + blen;
}

/* ---- HTTP/1.1 over one keep-alive connection ---- */

static void conn_close(struct conn *k)
{
    if (k->fd >= 0) {
        close(k->fd);
    }
    k->fd = -1;
    k->have = 0;
    if (k->buf != NULL) {
        k->buf[0] = '\0';
    }
}

static bool conn_open(struct conn *k, const struct cfg *c)
{
    int one = 1;
    struct timeval tv = {IO_TIMEOUT_S, 0};
    conn_close(k);
    k->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (k->fd < 0) {
        return false;
    }
    if (setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(k->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(k->fd, (const struct sockaddr *)&c->addr, sizeof(c->addr)) != 0) {
        close(k->fd);
        k->fd = -1;
        return false;
    }
    return true;
}

static bool send_all(int fd, const char *d, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, d, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        d += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads more bytes into k->buf; false on EOF, error, timeout or a full buffer. */
static bool fill(struct conn *k)
{
    if (k->have >= RESP_MAX - 1) {
        return false;
    }
    for (;;) {
        ssize_t r = recv(k->fd, k->buf + k->have, RESP_MAX - 1 - k->have, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        k->have += (size_t)r;
        k->buf[k->have] = '\0';
        return true;
    }
}

/* Reads one response: its status, its body (NUL-terminated, in a copy of cap bytes at most,
 * cut if longer) and whether the server will close the connection. Content-Length framing only
 * (openhsmd answers from a buffer; chunked or close-delimited bodies are refused); bytes of a
 * next response stay in the buffer. False: the connection broke or the framing is not that. */
static bool read_response(struct conn *k, int *status, char *body, size_t cap, bool *closing)
{
    char *eoh, *end = NULL;
    while ((eoh = strstr(k->buf, "\r\n\r\n")) == NULL) {
        if (!fill(k)) {
            return false;
        }
    }
    size_t hlen = (size_t)(eoh - k->buf) + 4, clen = 0;
    char *sp = memchr(k->buf, ' ', hlen);
    long st = sp != NULL ? strtol(sp + 1, &end, 10) : 0;
    if (strncmp(k->buf, "HTTP/1.", 7) != 0 || sp == NULL || end == sp + 1 || st < 100 || st > 599) {
        return false;
    }
    *status = (int)st;
    bool have_len = false;
    *closing = strncmp(k->buf, "HTTP/1.0", 8) == 0;
    for (char *line = strstr(k->buf, "\r\n") + 2; line < eoh; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            unsigned long long v = strtoull(line + 15, &end, 10);
            if (end == line + 15 || v >= RESP_MAX) {
                return false;
            }
            clen = (size_t)v;
            have_len = true;
        } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
            return false;
        } else if (strncasecmp(line, "Connection:", 11) == 0 &&
                   strncasecmp(line + 11 + strspn(line + 11, " "), "close", 5) == 0) {
            *closing = true;
        }
    }
    if (!have_len) {
        return false;
    }
    while (k->have - hlen < clen) {
        if (!fill(k)) {
            return false;
        }
    }
    size_t out = clen < cap - 1 ? clen : cap - 1, pos = hlen + clen;
    memcpy(body, k->buf + hlen, out);
    body[out] = '\0';
    memmove(k->buf, k->buf + pos, k->have - pos + 1);
    k->have -= pos;
    return true;
}

/* One request and its response; reconnects once if a kept-alive connection was closed by the
 * server before the request got there. */
static bool round_trip(struct worker *w, struct conn *k, const char *body, int *status, char *resp,
                       size_t cap)
{
    char req[REQ_MAX];
    bool closing = false;
    size_t n = build_request(w, body, req, sizeof(req));
    if (n == 0) {
        snprintf(resp, cap, "could not build or sign the request");
        return false;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (k->fd < 0) {
            if (!conn_open(k, w->cell->c)) {
                snprintf(resp, cap, "connect: %s", strerror(errno));
                return false;
            }
            w->connects++;
        }
        if (send_all(k->fd, req, n) && read_response(k, status, resp, cap, &closing)) {
            if (closing) {
                conn_close(k);
            }
            return true;
        }
        conn_close(k);
        if (attempt == 0) {
            w->reconnects++;
        }
    }
    snprintf(resp, cap, "the connection broke (no complete response with a Content-Length)");
    return false;
}

/* ---- one cell: op x clients ---- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct cell *cl = w->cell;
    struct conn k = {-1, NULL, 0};
    static const size_t resp_cap = FIELD_MAX * 2;
    char *resp = malloc(resp_cap);
    int status = 0;
    k.buf = malloc(RESP_MAX);
    if (k.buf == NULL || resp == NULL) {
        cell_fail(cl, "out of memory", "");
    } else {
        k.buf[0] = '\0';
        if (!conn_open(&k, cl->c)) {
            cell_fail(cl, "connect: ", strerror(errno));
        }
        w->connects++;
    }
    pthread_barrier_wait(&cl->ready); /* connected */
    pthread_barrier_wait(&cl->ready); /* the times are set */
    for (;;) {
        struct timespec t0, t1;
        if (atomic_load(&cl->abort)) {
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!ts_before(&t0, &cl->t_end)) {
            break;
        }
        if (!round_trip(w, &k, cl->body, &status, resp, resp_cap)) {
            cell_fail(cl, "", resp);
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (status != 200) {
            char st[32];
            snprintf(st, sizeof(st), "HTTP %d: ", status);
            cell_fail(cl, st, resp);
            break;
        }
        /* Only requests sent and answered inside the measured window count. */
        if (ts_before(&t0, &cl->t_measure) || !ts_before(&t1, &cl->t_end)) {
            continue;
        }
        if (w->n == w->cap) {
            size_t nc = w->cap == 0 ? 4096 : w->cap * 2;
            uint64_t *p = nc <= SAMPLES_MAX ? realloc(w->lat_ns, nc * sizeof(*p)) : NULL;
            if (p == NULL) {
                cell_fail(cl, "too many samples (out of memory)", "");
                break;
            }
            w->lat_ns = p;
            w->cap = nc;
        }
        w->lat_ns[w->n++] =
            (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
    }
    conn_close(&k);
    /* Responses held data keys (GenerateDataKey) and plaintexts. */
    if (k.buf != NULL) {
        OPENSSL_cleanse(k.buf, RESP_MAX);
    }
    if (resp != NULL) {
        OPENSSL_cleanse(resp, resp_cap);
    }
    free(k.buf);
    free(resp);
    EVP_MAC_CTX_free(w->mac);
    w->mac = NULL;
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The body of op's requests. */
static bool make_body(const struct cfg *c, const struct op *op, char *out, size_t cap)
{
    int n;
    if (strcmp(op->name, "encrypt") == 0) {
        n = snprintf(out, cap, "{\"KeyId\":\"%s\",\"Plaintext\":\"%s\"}", c->key_id, c->plain_b64);
    } else if (strcmp(op->name, "decrypt") == 0) {
        n = snprintf(out, cap, "{\"CiphertextBlob\":\"%s\",\"KeyId\":\"%s\"}", c->blob_b64,
                     c->key_id);
    } else if (strcmp(op->name, "gdk") == 0) {
        n = snprintf(out, cap, "{\"KeyId\":\"%s\",\"KeySpec\":\"AES_256\"}", c->key_id);
    } else {
        n = snprintf(out, cap, "{}");
    }
    return n > 0 && (size_t)n < cap;
}

/* Runs one cell and prints its RESULT line; false (after printing why) when it was aborted. */
static bool run_cell(const struct cfg *c, const struct op *op, unsigned clients)
{
    struct cell *cl = calloc(1, sizeof(*cl));
    struct worker *ws = calloc(clients, sizeof(*ws));
    uint64_t *all = NULL;
    unsigned started = 0;
    bool ok = false;
    if (cl == NULL || ws == NULL) {
        fprintf(stderr, "kms_load: out of memory\n");
        goto out;
    }
    cl->c = c;
    cl->op = op;
    atomic_init(&cl->abort, false);
    pthread_mutex_init(&cl->err_lock, NULL);
    if (!make_body(c, op, cl->body, sizeof(cl->body))) {
        fprintf(stderr, "kms_load: request body too long\n");
        goto out_destroy;
    }
    /* Twice through the barrier: once all threads are connected main starts the clock, and the
     * second pass publishes the times to them. */
    pthread_barrier_init(&cl->ready, NULL, clients + 1);
    for (; started < clients; started++) {
        ws[started].cell = cl;
        if (pthread_create(&ws[started].th, NULL, worker_main, &ws[started]) != 0) {
            /* The threads started wait at a barrier that would never open. */
            fprintf(stderr, "kms_load: cannot start thread %u\n", started);
            exit(1);
        }
    }
    pthread_barrier_wait(&cl->ready);
    clock_gettime(CLOCK_MONOTONIC, &cl->t_start);
    cl->t_measure = ts_add(cl->t_start, c->warmup);
    cl->t_end = ts_add(cl->t_measure, c->seconds);
    pthread_barrier_wait(&cl->ready);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(ws[i].th, NULL);
    }
    if (atomic_load(&cl->abort)) {
        fprintf(stderr, "kms_load: %s with %u clients aborted: %s\n", op->name, clients, cl->err);
        goto out_barrier;
    }
    size_t total = 0, at = 0;
    unsigned reconnects = 0, connects = 0;
    for (unsigned i = 0; i < clients; i++) {
        total += ws[i].n;
        connects += ws[i].connects;
        reconnects += ws[i].reconnects;
    }
    all = malloc((total > 0 ? total : 1) * sizeof(*all));
    if (all == NULL) {
        fprintf(stderr, "kms_load: out of memory\n");
        goto out_barrier;
    }
    for (unsigned i = 0; i < clients; i++) {
        memcpy(all + at, ws[i].lat_ns, ws[i].n * sizeof(*all));
        at += ws[i].n;
    }
    qsort(all, total, sizeof(*all), cmp_u64);
    double p50 = total ? (double)all[(total - 1) / 2] / 1e3 : 0;
    double p99 = total ? (double)all[(size_t)((double)(total - 1) * 0.99)] / 1e3 : 0;
    double mx = total ? (double)all[total - 1] / 1e3 : 0;
    printf("RESULT op=%s clients=%u reqs=%zu seconds=%.3f rate=%.1f p50_us=%.1f p99_us=%.1f "
           "max_us=%.1f connects=%u reconnects=%u\n",
           op->name, clients, total, c->seconds, (double)total / c->seconds, p50, p99, mx, connects,
           reconnects);
    fflush(stdout);
    ok = true;
out_barrier:
    pthread_barrier_destroy(&cl->ready);
out_destroy:
    pthread_mutex_destroy(&cl->err_lock);
out:
    for (unsigned i = 0; ws != NULL && i < clients; i++) {
        free(ws[i].lat_ns);
    }
    free(all);
    free(ws);
    free(cl);
    return ok;
}

/* ---- setup: a key and a blob ---- */

/* One signed request outside any cell; status and body (cap bytes) out. */
static bool call_once(const struct cfg *c, const struct op *op, const char *body, int *status,
                      char *resp, size_t cap)
{
    struct cell cl = {.c = c, .op = op};
    struct worker w = {.cell = &cl};
    struct conn k = {-1, malloc(RESP_MAX), 0};
    bool ok = false;
    if (k.buf != NULL) {
        k.buf[0] = '\0';
        ok = round_trip(&w, &k, body, status, resp, cap);
    }
    conn_close(&k);
    free(k.buf);
    EVP_MAC_CTX_free(w.mac);
    return ok;
}

static const struct op *op_named(const char *name)
{
    for (size_t i = 0; i < N_OPS; i++) {
        if (strcmp(OPS[i].name, name) == 0) {
            return &OPS[i];
        }
    }
    return NULL;
}

/* Makes a key (unless --key-id gave one) and Decrypt's blob, and checks that the blob decrypts
 * to the plaintext. */
static bool kms_setup(struct cfg *c, bool need_blob)
{
    static const struct op create = {"create-key", "kms", "TrentService.CreateKey"};
    char *resp = malloc(FIELD_MAX * 2);
    char body[BODY_MAX], got[2 * PLAIN_LEN];
    int status = 0;
    bool ok = false;
    if (resp == NULL) {
        return false;
    }
    if (c->key_id[0] == '\0') {
        if (!call_once(c, &create, "{\"Description\":\"bench/kms\"}", &status, resp,
                       FIELD_MAX * 2) ||
            status != 200 || !json_str(resp, "KeyId", c->key_id, sizeof(c->key_id))) {
            fprintf(stderr, "kms_load: CreateKey failed: HTTP %d: %s\n", status, resp);
            goto out;
        }
        fprintf(stderr, "kms_load: created key %s\n", c->key_id);
    }
    if (need_blob) {
        c->blob_b64 = malloc(FIELD_MAX);
        if (c->blob_b64 == NULL || !make_body(c, op_named("encrypt"), body, sizeof(body)) ||
            !call_once(c, op_named("encrypt"), body, &status, resp, FIELD_MAX * 2) ||
            status != 200 || !json_str(resp, "CiphertextBlob", c->blob_b64, FIELD_MAX)) {
            fprintf(stderr, "kms_load: Encrypt for Decrypt's blob failed: HTTP %d: %s\n", status,
                    resp);
            goto out;
        }
        if (!make_body(c, op_named("decrypt"), body, sizeof(body)) ||
            !call_once(c, op_named("decrypt"), body, &status, resp, FIELD_MAX * 2) ||
            status != 200 || !json_str(resp, "Plaintext", got, sizeof(got)) ||
            strcmp(got, c->plain_b64) != 0) {
            fprintf(stderr,
                    "kms_load: Decrypt of the blob did not give the plaintext: HTTP %d: "
                    "%s\n",
                    status, resp);
            goto out;
        }
    }
    ok = true;
out:
    free(resp);
    return ok;
}

/* ---- command line ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: kms_load --endpoint http://ADDR:PORT --access-key AKID --secret-key SECRET\n"
            "                [--region R] [--ops encrypt,decrypt,gdk,describe-clusters]\n"
            "                [--clients 1,4,16] [--seconds S] [--warmup S] [--key-id ID]\n");
}

/* "a,b,c" of unsigned in [1, max]; false if malformed or more than MAX_LIST. */
static bool parse_uint_list(const char *s, unsigned *out, size_t *n, unsigned max)
{
    *n = 0;
    while (*s != '\0' && *n < MAX_LIST) {
        char *end = NULL;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v < 1 || v > max || (*end != ',' && *end != '\0')) {
            return false;
        }
        out[(*n)++] = (unsigned)v;
        s = *end == ',' ? end + 1 : end;
    }
    return *s == '\0' && *n > 0;
}

/* "op,op" of OPS' names; false if one is unknown or there are none or more than MAX_LIST. */
static bool parse_ops(const char *s, const struct op **out, size_t *n)
{
    *n = 0;
    while (*s != '\0' && *n < MAX_LIST) {
        size_t len = strcspn(s, ","), j = 0;
        while (j < N_OPS && (strlen(OPS[j].name) != len || strncmp(OPS[j].name, s, len) != 0)) {
            j++;
        }
        if (j == N_OPS) {
            return false;
        }
        out[(*n)++] = &OPS[j];
        s += len;
        s += *s == ',';
    }
    return *s == '\0' && *n > 0;
}

static bool parse_seconds(const char *s, double *out, double min)
{
    char *end = NULL;
    double v = strtod(s, &end);
    *out = v;
    return end != s && *end == '\0' && v >= min && v <= 3600;
}

static bool parse_endpoint(const char *ep, struct cfg *c)
{
    char ip[32];
    if (strncmp(ep, "http://", 7) != 0) {
        return false;
    }
    const char *p = ep + 7;
    size_t hl = strcspn(p, "/");
    const char *colon = memchr(p, ':', hl);
    if (colon == NULL || (size_t)(colon - p) >= sizeof(ip) || hl >= sizeof(c->host) ||
        (p[hl] != '\0' && strcmp(p + hl, "/") != 0)) {
        return false;
    }
    memcpy(ip, p, (size_t)(colon - p));
    ip[colon - p] = '\0';
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (end != p + hl || port < 1 || port > 65535) {
        return false;
    }
    memset(&c->addr, 0, sizeof(c->addr));
    c->addr.sin_family = AF_INET;
    c->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &c->addr.sin_addr) != 1) {
        return false;
    }
    memcpy(c->host, p, hl);
    c->host[hl] = '\0';
    return true;
}

int main(int argc, char **argv)
{
    struct cfg c = {.region = "us-east-1"};
    const char *endpoint = "", *ops_arg = "encrypt,decrypt,gdk", *clients_arg = "1,4,16";
    const char *seconds_arg = "3", *warmup_arg = "0.5", *key_arg = "";
    const struct {
        const char *name;
        const char **dst;
    } opts[] = {{"--endpoint", &endpoint},   {"--region", &c.region},   {"--access-key", &c.akid},
                {"--secret-key", &c.secret}, {"--ops", &ops_arg},       {"--clients", &clients_arg},
                {"--seconds", &seconds_arg}, {"--warmup", &warmup_arg}, {"--key-id", &key_arg}};
    const struct op *ops[MAX_LIST];
    unsigned clients[MAX_LIST];
    size_t n_ops = 0, n_clients = 0, n_opts = sizeof(opts) / sizeof(opts[0]);
    uint8_t plain[PLAIN_LEN];
    int rc = 1;

    for (int i = 1; i < argc; i += 2) {
        size_t j = 0;
        while (j < n_opts && strcmp(argv[i], opts[j].name) != 0) {
            j++;
        }
        if (j == n_opts || i + 1 == argc) {
            fprintf(stderr, "kms_load: unknown option or no value: '%s'\n", argv[i]);
            usage();
            return 2;
        }
        *opts[j].dst = argv[i + 1];
    }
    if (!parse_endpoint(endpoint, &c) || c.akid == NULL || c.secret == NULL || c.akid[0] == '\0' ||
        strlen(c.secret) > 128 || strcspn(c.akid, "/ ,\r\n") != strlen(c.akid) ||
        strcspn(c.region, "/ \r\n") != strlen(c.region) ||
        !parse_uint_list(clients_arg, clients, &n_clients, MAX_CLIENTS) ||
        !parse_ops(ops_arg, ops, &n_ops) || !parse_seconds(seconds_arg, &c.seconds, 0.1) ||
        !parse_seconds(warmup_arg, &c.warmup, 0) || strlen(key_arg) >= sizeof(c.key_id) ||
        strcspn(key_arg, "\"\\") != strlen(key_arg)) {
        fprintf(stderr,
                "kms_load: bad arguments: --endpoint http://IPV4:PORT, --access-key and "
                "--secret-key (at most 128 characters) are required; --clients 1..%d each, "
                "--seconds 0.1..3600, --warmup 0..3600\n",
                MAX_CLIENTS);
        usage();
        return 2;
    }
    memcpy(c.key_id, key_arg, strlen(key_arg) + 1);
    bool need_key = false, need_blob = false;
    for (size_t i = 0; i < n_ops; i++) {
        need_key |= strcmp(ops[i]->service, "kms") == 0;
        need_blob |= strcmp(ops[i]->name, "decrypt") == 0;
    }
    if (RAND_bytes(plain, sizeof(plain)) != 1 ||
        EVP_EncodeBlock((unsigned char *)c.plain_b64, plain, sizeof(plain)) <= 0) {
        fprintf(stderr, "kms_load: cannot make the plaintext\n");
        return 1;
    }
    if (need_key && !kms_setup(&c, need_blob)) {
        goto out;
    }
    for (size_t i = 0; i < n_ops; i++) {
        for (size_t j = 0; j < n_clients; j++) {
            if (!run_cell(&c, ops[i], clients[j])) {
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(c.blob_b64);
    OPENSSL_cleanse(plain, sizeof(plain));
    return rc;
}
