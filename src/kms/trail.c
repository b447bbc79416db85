/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS audit trail (trail.h): CloudTrail-shaped JSON lines, group-committed and hash-chained.
 *
 * Shape. Members in the order of AWS's KMS CloudTrail examples (developer guide, "Logging AWS KMS
 * API calls with AWS CloudTrail": ct-encrypt, ct-createkey, ct-delete-key, ct-rotatekey):
 * eventVersion, userIdentity, eventTime, eventSource, eventName, awsRegion, sourceIPAddress,
 * userAgent, errorCode, errorMessage, requestParameters, responseElements, additionalEventData,
 * requestID, eventID, readOnly, resources, eventType, managementEvent, recipientAccountId,
 * eventCategory, then ours: openhsmChain. requestParameters/responseElements are null when absent
 * (as AWS writes them); additionalEventData, requestID (service events), resources (no key) and
 * errorCode/errorMessage are left out when absent, as in AWS's records.
 *
 * Chain. A line is the compact JSON B of the event without openhsmChain, with
 * `,"openhsmChain":"<64 hex>"` inserted before B's closing brace; the member is always last, so
 * "the line without the member" is B, byte for byte. chain(i) = SHA-256(chain(i-1) || B(i)),
 * chain(0) = 32 zero bytes. A removed, edited, reordered or inserted line breaks the chain at the
 * first line after the change (or at the edited line). Without a key the chain cannot stop an
 * attacker who rewrites every following line, nor one who cuts the tail: it detects accidents and
 * careless edits, and makes a consistent forgery rewrite everything after it.
 *
 * Group commit. An appender builds its line without the lock, queues it and waits. Whoever finds
 * the queue non-empty and no batch in flight becomes the leader: it takes the whole queue, chains
 * the lines in queue order, writes them to trail.jsonl with one write (looping over short writes)
 * and makes them durable with one record of the write-ahead log and its fdatasync (trail_wal.h:
 * an overwrite of a preallocated file, which syncs without touching an inode), then marks the
 * batch done and wakes everyone. Lines queued meanwhile form the next
 * batch, led by one of their own appenders. A leader among the waiters (rather than a writer
 * thread) costs a lone appender no thread hand-off and leaves nothing to start or stop at close.
 * A failed write or fdatasync fails the batch and everything queued behind it with OHSM_IO, and
 * the trail refuses every later append: an acknowledged line after a lost one would be a gap the
 * chain promises cannot exist.
 *
 * Trusted: the caller's events (already free of secrets). Untrusted: the file's contents at open
 * and verify (line length capped, every line parsed before it is believed).
 */
#include "kms/trail.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "kms/trail_test.h"
#include "kms/trail_wal.h"

#define CHAIN_LEN 32
#define CHAIN_HEX (2 * CHAIN_LEN)
#define MEMBER_HEAD ",\"openhsmChain\":\""
#define MEMBER_HEAD_LEN (sizeof(MEMBER_HEAD) - 1)
/* `,"openhsmChain":"` + hex + `"` inserted before the final '}'. */
#define MEMBER_LEN (MEMBER_HEAD_LEN + CHAIN_HEX + 1)
/* The longest line open and verify accept, and record writes. KMS requests are at most a few
 * tens of KiB (a key policy is <= 32 KiB). */
#define LINE_MAX_BYTES (4u << 20)

struct pending {
    struct pending *next;
    const char *body; /* B: the compact JSON without openhsmChain */
    size_t len;
    ohsm_rv rv;
    bool done;
    pthread_cond_t cv; /* its appender waits here: woken when done, or to lead the queue */
};

struct ohsm_kms_trail {
    int fd;
    pthread_mutex_t mu;
    struct pending *head, *tail; /* queued, not yet taken by a leader (mu) */
    bool writing;                /* a leader has a batch in flight (mu) */
    bool failed;                 /* a write or fdatasync failed: refuse appends (mu) */
    bool fail_next;              /* test hook (mu) */
    uint64_t syncs;              /* fdatasync calls (mu) */
    uint8_t chain[CHAIN_LEN];    /* the last line's chain: touched only by the leader */
    uint64_t end;                /* the trail's size: touched only by the leader */
    struct ohsm_kms_wal *wal;    /* touched only by the leader */
};

/* ---- chain ---------------------------------------------------------------------------------- */

/* out = SHA-256(prev || a || b). */
static ohsm_rv chain_next(const uint8_t prev[CHAIN_LEN], const char *a, size_t alen, const char *b,
                          size_t blen, uint8_t out[CHAIN_LEN])
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL) {
        return OHSM_HOST_MEMORY;
    }
    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(md, prev, CHAIN_LEN) == 1 && EVP_DigestUpdate(md, a, alen) == 1 &&
        EVP_DigestUpdate(md, b, blen) == 1 && EVP_DigestFinal_ex(md, out, &n) == 1 &&
        n == CHAIN_LEN) {
        rv = OHSM_OK;
    }
    EVP_MD_CTX_free(md);
    return rv;
}

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1; /* we write lowercase only: anything else is not ours */
}

/* Splits a line (no newline) into its body B and its chain. The line must end with the member
 * and parse as a JSON object whose openhsmChain is that same string. *body_len excludes the
 * closing brace, which the caller hashes separately (B = line[0, body_len) || "}"). */
static ohsm_rv split_line(const char *line, size_t len, size_t *body_len, uint8_t chain[CHAIN_LEN])
{
    ohsm_rv rv = OHSM_DATA_INVALID;
    json_t *obj = NULL;
    OHSM_ENSURE(len >= MEMBER_LEN + 3 && line[0] == '{' && line[len - 1] == '}', rv);
    size_t at = len - 1 - MEMBER_LEN;
    OHSM_ENSURE(memcmp(line + at, MEMBER_HEAD, MEMBER_HEAD_LEN) == 0, rv);
    OHSM_ENSURE(line[len - 2] == '"', rv);
    const char *hex = line + at + MEMBER_HEAD_LEN;
    for (size_t i = 0; i < CHAIN_LEN; i++) {
        int hi = hex_val(hex[2 * i]);
        int lo = hex_val(hex[2 * i + 1]);
        OHSM_ENSURE(hi >= 0 && lo >= 0, rv);
        chain[i] = (uint8_t)(hi << 4 | lo);
    }
    obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(obj)) {
        const char *member = json_string_value(json_object_get(obj, "openhsmChain"));
        if (member != NULL && strlen(member) == CHAIN_HEX && memcmp(member, hex, CHAIN_HEX) == 0) {
            *body_len = at;
            rv = OHSM_OK;
        }
    }
    json_decref(obj);
    return rv;
}

/* ---- building a line ------------------------------------------------------------------------ */

/* RFC 3629 well-formed UTF-8 (what jansson accepts); NULL counts as valid (absent). */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p == NULL) {
        return true;
    }
    while (*p != 0) {
        unsigned c = *p++;
        size_t more;
        unsigned min;
        if (c < 0x80) {
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            more = 1, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2, min = 0x800;
            c &= 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3, min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        if (more == 1) {
            c &= 0x1f;
        }
        for (size_t i = 0; i < more; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return false;
            }
            c = c << 6 | (*p & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return false;
        }
    }
    return true;
}

static bool obj_or_null(const json_t *j)
{
    return j == NULL || json_is_object(j);
}

/* eventTime: "2026-12-06T19:00:00Z" (CloudTrail prints whole seconds). */
static bool format_time(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL) {
        return false;
    }
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return n == 20;
}

static bool new_uuid(char out[37])
{
    uint8_t b[16];
    char hex[32];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        return false;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* RFC 9562 version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    hex_encode(b, sizeof(b), hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return true;
}

/* Adds (key, value) to o, taking value; a NULL value (jansson out of memory) fails. */
static bool put(json_t *o, const char *key, json_t *value)
{
    return value != NULL && json_object_set_new(o, key, value) == 0;
}

/* A borrowed object (incref'd) or JSON null. */
static json_t *borrowed(json_t *j)
{
    return j != NULL ? json_incref(j) : json_null();
}

static json_t *user_identity(const struct ohsm_kms_event *e)
{
    json_t *u = json_object();
    bool ok = u != NULL;
    if (e->service_event) {
        /* AWS writes {"accountId", "invokedBy": "AWS Internal"} for its own events; we name the
         * service (as sourceIPAddress does, trail.h) and give the identity a type. */
        ok = ok && put(u, "type", json_string("AWSService"));
        ok = ok && put(u, "accountId", json_string(e->account));
        ok = ok && put(u, "invokedBy", json_string("kms.amazonaws.com"));
    } else {
        /* openhsmd's callers are access keys of the account; the key stands for the principal. */
        const char *akid = e->access_key_id != NULL ? e->access_key_id : "";
        const char *who = akid[0] != '\0' ? akid : "anonymous";
        char arn[512];
        int n = snprintf(arn, sizeof(arn), "arn:aws:iam::%s:user/%s", e->account, who);
        ok = ok && n > 0 && (size_t)n < sizeof(arn);
        ok = ok && put(u, "type", json_string("IAMUser"));
        ok = ok && put(u, "principalId", json_string(who));
        ok = ok && put(u, "arn", json_string(arn));
        ok = ok && put(u, "accountId", json_string(e->account));
        ok = ok && put(u, "accessKeyId", json_string(akid));
    }
    if (!ok) {
        json_decref(u);
        return NULL;
    }
    return u;
}

static json_t *resources(const struct ohsm_kms_event *e)
{
    json_t *r = json_object();
    json_t *a = json_array();
    bool ok = r != NULL && a != NULL;
    ok = ok && put(r, "accountId", json_string(e->account));
    ok = ok && put(r, "type", json_string("AWS::KMS::Key"));
    ok = ok && put(r, "ARN", json_string(e->key_arn));
    ok = ok && json_array_append_new(a, r) == 0;
    if (!ok) {
        if (json_array_size(a) == 0) {
            json_decref(r);
        }
        json_decref(a);
        return NULL;
    }
    return a;
}

/* The body B of e's line (compact JSON without openhsmChain). Caller frees *out. */
static ohsm_rv build_body(const struct ohsm_kms_event *e, char **out, size_t *len)
{
    const char *svc = "kms.amazonaws.com";
    char when[32];
    char event_id[37];
    OHSM_ENSURE(e->name != NULL && e->region != NULL && e->account != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(e->name[0] != '\0', OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(utf8_ok(e->name) && utf8_ok(e->region) && utf8_ok(e->account) &&
                    utf8_ok(e->access_key_id) && utf8_ok(e->request_id) && utf8_ok(e->source_ip) &&
                    utf8_ok(e->user_agent) && utf8_ok(e->key_arn) && utf8_ok(e->error_code) &&
                    utf8_ok(e->error_message),
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(obj_or_null(e->request) && obj_or_null(e->response) && obj_or_null(e->additional),
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(format_time(e->time_ms, when), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(new_uuid(event_id), OHSM_DEVICE_ERROR);

    const char *ip = e->source_ip != NULL ? e->source_ip : (e->service_event ? svc : "");
    const char *agent = e->user_agent != NULL ? e->user_agent : (e->service_event ? svc : "");
    json_t *o = json_object();
    bool ok = o != NULL;
    ok = ok && put(o, "eventVersion", json_string("1.08"));
    ok = ok && put(o, "userIdentity", user_identity(e));
    ok = ok && put(o, "eventTime", json_string(when));
    ok = ok && put(o, "eventSource", json_string(svc));
    ok = ok && put(o, "eventName", json_string(e->name));
    ok = ok && put(o, "awsRegion", json_string(e->region));
    ok = ok && put(o, "sourceIPAddress", json_string(ip));
    ok = ok && put(o, "userAgent", json_string(agent));
    if (e->error_code != NULL) {
        ok = ok && put(o, "errorCode", json_string(e->error_code));
        if (e->error_message != NULL) {
            ok = ok && put(o, "errorMessage", json_string(e->error_message));
        }
    }
    ok = ok && put(o, "requestParameters", borrowed(e->request));
    ok = ok && put(o, "responseElements", borrowed(e->response));
    if (e->additional != NULL) {
        ok = ok && put(o, "additionalEventData", borrowed(e->additional));
    }
    if (e->request_id != NULL) {
        ok = ok && put(o, "requestID", json_string(e->request_id));
    }
    ok = ok && put(o, "eventID", json_string(event_id));
    ok = ok && put(o, "readOnly", json_boolean(e->read_only));
    if (e->key_arn != NULL) {
        ok = ok && put(o, "resources", resources(e));
    }
    ok =
        ok && put(o, "eventType", json_string(e->service_event ? "AwsServiceEvent" : "AwsApiCall"));
    ok = ok && put(o, "managementEvent", json_true());
    ok = ok && put(o, "recipientAccountId", json_string(e->account));
    ok = ok && put(o, "eventCategory", json_string("Management"));
    char *text = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    OHSM_ENSURE(text != NULL, OHSM_HOST_MEMORY);
    size_t n = strlen(text);
    if (n + MEMBER_LEN + 1 > LINE_MAX_BYTES) {
        free(text);
        return OHSM_DATA_LEN_RANGE;
    }
    *out = text;
    *len = n;
    return OHSM_OK;
}

/* ---- group commit --------------------------------------------------------------------------- */

static ohsm_rv pwrite_all(int fd, const char *buf, size_t len, uint64_t at)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = pwrite(fd, buf + off, len - off, (off_t)(at + off));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return OHSM_IO;
        }
        off += (size_t)n;
    }
    return OHSM_OK;
}

/* Leader, without the lock: chains and writes batch to the trail and makes it durable through
 * the write-ahead log. On success t->chain and t->end move on. */
static ohsm_rv commit(struct ohsm_kms_trail *t, struct pending *batch, bool fail, bool *synced)
{
    size_t total = 0;
    uint8_t chain[CHAIN_LEN];
    memcpy(chain, t->chain, CHAIN_LEN);
    for (const struct pending *p = batch; p != NULL; p = p->next) {
        total += p->len + MEMBER_LEN + 1;
    }
    char *buf = malloc(total);
    if (buf == NULL) {
        return OHSM_HOST_MEMORY;
    }
    size_t off = 0;
    ohsm_rv rv = OHSM_OK;
    for (const struct pending *p = batch; p != NULL && rv == OHSM_OK; p = p->next) {
        rv = chain_next(chain, p->body, p->len, "", 0, chain);
        memcpy(buf + off, p->body, p->len - 1); /* all but the closing brace */
        off += p->len - 1;
        memcpy(buf + off, MEMBER_HEAD, MEMBER_HEAD_LEN);
        off += MEMBER_HEAD_LEN;
        hex_encode(chain, CHAIN_LEN, buf + off);
        off += CHAIN_HEX;
        memcpy(buf + off, "\"}\n", 3);
        off += 3;
    }
    if (rv == OHSM_OK) {
        rv = fail ? OHSM_IO : pwrite_all(t->fd, buf, total, t->end);
    }
    if (rv == OHSM_OK) {
        *synced = true;
        rv = ohsm_kms_wal_append(t->wal, t->fd, t->end, buf, total);
        rv = rv == OHSM_HOST_MEMORY ? OHSM_IO : rv; /* the line is written: no retry */
    }
    if (rv == OHSM_OK) {
        memcpy(t->chain, chain, CHAIN_LEN);
        t->end += total;
    }
    free(buf);
    return rv;
}

/* Under mu: answers every item of list with rv and wakes its appender. Each item's waiter frees
 * it once it sees done, which it can only do after mu is let go. */
static void answer(struct pending *list, ohsm_rv rv)
{
    for (struct pending *p = list; p != NULL;) {
        struct pending *next = p->next;
        p->rv = rv;
        p->done = true;
        pthread_cond_signal(&p->cv);
        p = next;
    }
}

ohsm_rv ohsm_kms_trail_record(struct ohsm_kms_trail *t, const struct ohsm_kms_event *e)
{
    char *body = NULL;
    size_t len = 0;
    OHSM_ENSURE(t != NULL && e != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(build_body(e, &body, &len));

    struct pending me = {.next = NULL, .body = body, .len = len, .rv = OHSM_OK, .done = false};
    if (pthread_cond_init(&me.cv, NULL) != 0) {
        free(body);
        return OHSM_HOST_MEMORY;
    }
    pthread_mutex_lock(&t->mu);
    if (t->failed) {
        pthread_mutex_unlock(&t->mu);
        pthread_cond_destroy(&me.cv);
        free(body);
        return OHSM_IO;
    }
    if (t->tail != NULL) {
        t->tail->next = &me;
    } else {
        t->head = &me;
    }
    t->tail = &me;
    while (!me.done) {
        if (t->writing) {
            pthread_cond_wait(&me.cv, &t->mu);
            continue;
        }
        /* Not done and no batch in flight: me is still queued, so lead the whole queue. */
        struct pending *batch = t->head;
        bool fail = t->fail_next;
        t->head = t->tail = NULL;
        t->writing = true;
        t->fail_next = false;
        pthread_mutex_unlock(&t->mu);
        bool synced = false;
        ohsm_rv rv = commit(t, batch, fail, &synced);
        pthread_mutex_lock(&t->mu);
        t->syncs += synced ? 1u : 0u;
        answer(batch, rv);
        if (rv == OHSM_IO) {
            t->failed = true;
            answer(t->head, OHSM_IO);
            t->head = t->tail = NULL;
        }
        t->writing = false;
        if (t->head != NULL) {
            pthread_cond_signal(&t->head->cv); /* the next batch's leader */
        }
    }
    pthread_mutex_unlock(&t->mu);
    pthread_cond_destroy(&me.cv);
    free(body);
    return me.rv;
}

/* ---- open: continue the chain --------------------------------------------------------------- */

/* Offset just past the last '\n' in [0, end), or 0. */
static ohsm_rv last_newline(int fd, off_t end, off_t *after)
{
    char block[65536];
    while (end > 0) {
        off_t start = end > (off_t)sizeof(block) ? end - (off_t)sizeof(block) : 0;
        size_t want = (size_t)(end - start);
        ssize_t n = pread(fd, block, want, start);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        OHSM_ENSURE(n == (ssize_t)want, OHSM_IO);
        for (size_t i = want; i > 0; i--) {
            if (block[i - 1] == '\n') {
                *after = start + (off_t)i;
                return OHSM_OK;
            }
        }
        end = start;
    }
    *after = 0;
    return OHSM_OK;
}

/* Drops a torn last line (no newline: a crash mid-write, never acknowledged) and reads the chain
 * of the last complete line. */
static ohsm_rv read_tail(int fd, const char *path, uint8_t chain[CHAIN_LEN])
{
    struct stat st;
    off_t good = 0;
    off_t start = 0;
    OHSM_ENSURE(fstat(fd, &st) == 0, OHSM_IO);
    memset(chain, 0, CHAIN_LEN);
    OHSM_TRY(last_newline(fd, st.st_size, &good));
    if (good != st.st_size) {
        fprintf(stderr, "openhsmd: %s: dropping a torn last line (%lld bytes, no newline)\n", path,
                (long long)(st.st_size - good));
        OHSM_ENSURE(ftruncate(fd, good) == 0 && fsync(fd) == 0, OHSM_IO);
    }
    if (good == 0) {
        return OHSM_OK;
    }
    OHSM_TRY(last_newline(fd, good - 1, &start));
    size_t len = (size_t)(good - 1 - start);
    OHSM_ENSURE(len <= LINE_MAX_BYTES, OHSM_DATA_INVALID);
    char *line = malloc(len + 1);
    OHSM_ENSURE(line != NULL, OHSM_HOST_MEMORY);
    ohsm_rv rv = OHSM_IO;
    size_t body_len = 0;
    if (pread(fd, line, len, start) == (ssize_t)len) {
        rv = split_line(line, len, &body_len, chain);
    }
    free(line);
    return rv;
}

/* The write-ahead log's path: trail.jsonl -> trail.wal (else path + ".wal"). */
static ohsm_rv wal_path(const char *path, char *out, size_t cap)
{
    size_t len = strlen(path);
    const size_t ext = sizeof(".jsonl") - 1;
    if (len > ext && strcmp(path + len - ext, ".jsonl") == 0) {
        len -= ext;
    }
    int n = snprintf(out, cap, "%.*s.wal", (int)len, path);
    return n > 0 && (size_t)n < cap ? OHSM_OK : OHSM_ARGUMENTS_BAD;
}

ohsm_rv ohsm_kms_trail_test_open_sized(const char *path, size_t wal_size,
                                       struct ohsm_kms_trail **out)
{
    char wpath[4096];
    struct stat st;
    OHSM_ENSURE(path != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    OHSM_TRY(wal_path(path, wpath, sizeof(wpath)));
    struct ohsm_kms_trail *t = calloc(1, sizeof(*t));
    OHSM_ENSURE(t != NULL, OHSM_HOST_MEMORY);
    ohsm_rv rv = OHSM_IO;
    bool mu = false;
    /* Not O_APPEND: Linux's pwrite appends regardless of the offset on such a descriptor, and
     * the log's replay writes at offsets. */
    t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (t->fd < 0) {
        goto out;
    }
    rv = ohsm_kms_wal_open(wpath, t->fd, path, wal_size, &t->wal);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = read_tail(t->fd, path, t->chain);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = OHSM_IO;
    if (fstat(t->fd, &st) != 0 || st.st_size < 0) {
        goto out;
    }
    t->end = (uint64_t)st.st_size;
    rv = ohsm_kms_wal_checkpoint(t->wal, t->fd, t->end);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = OHSM_HOST_MEMORY;
    mu = pthread_mutex_init(&t->mu, NULL) == 0;
    if (!mu) {
        goto out;
    }
    *out = t;
    t = NULL;
    rv = OHSM_OK;
out:
    if (t != NULL) {
        if (mu) {
            pthread_mutex_destroy(&t->mu);
        }
        ohsm_kms_wal_close(t->wal);
        if (t->fd >= 0) {
            close(t->fd);
        }
        free(t);
    }
    return rv;
}

ohsm_rv ohsm_kms_trail_open(const char *path, struct ohsm_kms_trail **out)
{
    return ohsm_kms_trail_test_open_sized(path, 0, out);
}

static void trail_free(struct ohsm_kms_trail *t)
{
    ohsm_kms_wal_close(t->wal);
    close(t->fd);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void ohsm_kms_trail_close(struct ohsm_kms_trail *t)
{
    if (t == NULL) {
        return;
    }
    /* A last checkpoint leaves trail.jsonl synced and nothing to replay. After a failure the
     * log keeps what it has for the next open. */
    if (!t->failed && ohsm_kms_wal_checkpoint(t->wal, t->fd, t->end) != OHSM_OK) {
        fprintf(stderr, "openhsmd: kms: the audit trail's last checkpoint failed; the next start "
                        "replays its write-ahead log\n");
    }
    trail_free(t);
}

void ohsm_kms_trail_test_crash(struct ohsm_kms_trail *t)
{
    if (t != NULL) {
        trail_free(t);
    }
}

uint64_t ohsm_kms_trail_test_checkpoints(struct ohsm_kms_trail *t)
{
    return ohsm_kms_wal_checkpoints(t->wal);
}

/* ---- verify --------------------------------------------------------------------------------- */

/* Reads one line of at most LINE_MAX_BYTES into *buf (growing it). Returns 1 with a line (*nl
 * false when the file ended without a newline), 0 at the end, -1 on a too-long line. */
static int read_line(FILE *f, char **buf, size_t *cap, size_t *len, bool *nl)
{
    size_t n = 0;
    int c;
    *nl = false;
    while ((c = getc_unlocked(f)) != EOF) {
        if (c == '\n') {
            *nl = true;
            break;
        }
        if (n == LINE_MAX_BYTES) {
            return -1;
        }
        if (n == *cap) {
            size_t ncap = *cap == 0 ? 4096 : 2 * *cap;
            char *nb = realloc(*buf, ncap);
            if (nb == NULL) {
                return -1;
            }
            *buf = nb;
            *cap = ncap;
        }
        (*buf)[n++] = (char)c;
    }
    *len = n;
    return (n > 0 || *nl) ? 1 : 0;
}

ohsm_rv ohsm_kms_trail_verify(const char *path, size_t *n, size_t *bad_line, char *why, size_t cap)
{
    OHSM_ENSURE(path != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    *n = 0;
    if (bad_line != NULL) {
        *bad_line = 0;
    }
    if (why != NULL && cap > 0) {
        why[0] = '\0';
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    OHSM_ENSURE(fd >= 0, OHSM_IO);
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        return OHSM_IO;
    }
    uint8_t prev[CHAIN_LEN] = {0};
    char *buf = NULL;
    size_t bcap = 0;
    size_t len = 0;
    size_t good = 0;
    bool nl = false;
    const char *bad = NULL;
    ohsm_rv rv = OHSM_OK;
    for (;;) {
        int r = read_line(f, &buf, &bcap, &len, &nl);
        if (r == 0) {
            break;
        }
        uint8_t have[CHAIN_LEN];
        uint8_t want[CHAIN_LEN];
        size_t body_len = 0;
        if (r < 0) {
            bad = "longer than 4 MiB";
        } else if (!nl) {
            bad = "torn: no newline at the end of the file";
        } else if (split_line(buf, len, &body_len, have) != OHSM_OK) {
            bad = "not a trail line (no valid openhsmChain, or not a JSON object)";
        } else {
            rv = chain_next(prev, buf, body_len, "}", 1, want);
            if (rv != OHSM_OK) {
                break;
            }
            if (memcmp(have, want, CHAIN_LEN) != 0) {
                bad = "chain mismatch: this line was edited, or a line before it was removed, "
                      "moved or inserted";
            } else {
                memcpy(prev, have, CHAIN_LEN);
                good++;
                continue;
            }
        }
        break;
    }
    if (rv == OHSM_OK && bad == NULL && ferror(f)) {
        rv = OHSM_IO;
    }
    if (rv == OHSM_OK && bad != NULL) {
        rv = OHSM_DATA_INVALID;
        if (bad_line != NULL) {
            *bad_line = good + 1;
        }
        if (why != NULL && cap > 0) {
            snprintf(why, cap, "line %zu: %s", good + 1, bad);
        }
    }
    *n = good;
    free(buf);
    fclose(f);
    return rv;
}

/* ---- test hooks (trail_test.h) -------------------------------------------------------------- */

uint64_t ohsm_kms_trail_test_syncs(struct ohsm_kms_trail *t)
{
    pthread_mutex_lock(&t->mu);
    uint64_t n = t->syncs;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void ohsm_kms_trail_test_fail_next(struct ohsm_kms_trail *t)
{
    pthread_mutex_lock(&t->mu);
    t->fail_next = true;
    pthread_mutex_unlock(&t->mu);
}
