/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm against fake HSMs in this process (TLS 1.3 on 127.0.0.1, a self-signed certificate
 * as the trust anchor): pipelining (frames written together, at most `window` in flight),
 * spreading and fail-over of batches, re-login after a lost connection and its limits, routing
 * and the engine's bookkeeping, replication of new keys, and sync repair (automatic and asked
 * for). The fakes answer hello, login, logout, change-password, verify (signature = the message
 * reversed; handle 0xdead is unknown to HSM 0), and keep a table of objects for key generation,
 * masked insert/extract (a "masked object" here is the text "M|T handle version"), delete and
 * sync status.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client/internal.h"
#include "openhsm/frame.h"

#define NFAKE 2
#define UNKNOWN_ON_0 0xdeadu
#define MAXCONN 64

struct fake {
    uint32_t slot;
    int lfd;
    uint16_t port;
    pthread_t thr;
    pthread_mutex_t mu;
    char password[64];
    int logins;       /* login attempts */
    int served;       /* verify requests answered */
    size_t max_batch; /* most requests read before answering */
    int fds[MAXCONN];
    size_t nfds;
    volatile bool stop;
    /* a tiny object table: what KEY_GEN, MASKED_INSERT, KEY_DELETE and SYNC_STATUS see */
    struct {
        uint64_t handle, version;
        bool deleted;
    } obj[16];
    size_t nobj;
    uint64_t seq;
    int gens, inserts, syncs;
    bool refuse_changes; /* MASKED_INSERT and KEY_DELETE fail with OHSM_DEVICE_ERROR */
    int hang_gen_ms;     /* KEY_GEN answers this late */
};

static struct fake fakes[NFAKE];
static SSL_CTX *server_ctx;
static char anchor[128];
static struct ohsm_cfg cfg;
static struct ohsm_cfg_hsm cfg_hsms[NFAKE];

/* ---- the fake HSM ---- */

static void put_frame(uint8_t **buf, size_t *len, const Ohsm__Response *r)
{
    size_t n = protobuf_c_message_get_packed_size(&r->base);
    *buf = realloc(*buf, *len + OHSM_FRAME_HDR + n);
    assert_non_null(*buf);
    assert_int_equal(ohsm_frame_hdr_write(n, *buf + *len), OHSM_OK);
    (void)protobuf_c_message_pack(&r->base, *buf + *len + OHSM_FRAME_HDR);
    *len += OHSM_FRAME_HDR + n;
}

static size_t find_obj(struct fake *f, uint64_t handle)
{
    for (size_t i = 0; i < f->nobj; i++) {
        if (f->obj[i].handle == handle) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Object requests; buffers live in the caller's frame until the answer is packed. */
struct objbufs {
    Ohsm__KeyResp key;
    Ohsm__MaskedResp masked;
    Ohsm__SyncStatusResp sync;
    Ohsm__SyncObject so[16];
    Ohsm__SyncObject *sop[16];
    uint8_t digest[16][32];
    ProtobufCBinaryData recs[1], blobs[1];
    uint8_t rec[OHSM_OBJ_ENC_MAX];
    char text[64];
};

static void answer_obj(struct fake *f, const Ohsm__Request *q, Ohsm__Response *r, struct objbufs *b)
{
    switch (q->op_case) {
    case OHSM__REQUEST__OP_KEY_GEN: {
        struct ohsm_obj o;
        size_t len = 0;
        f->gens++;
        if (f->hang_gen_ms > 0) {
            (void)pthread_mutex_unlock(&f->mu);
            usleep((useconds_t)f->hang_gen_ms * 1000u);
            (void)pthread_mutex_lock(&f->mu);
        }
        ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
        o.value_len = 32;
        (void)snprintf(o.owner, sizeof(o.owner), "alice");
        o.handle = ohsm_handle_make(f->slot, ++f->seq);
        assert_int_equal(ohsm_obj_encode(&o, b->rec, sizeof(b->rec), &len), OHSM_OK);
        f->obj[f->nobj].handle = o.handle;
        f->obj[f->nobj].version = 1;
        f->obj[f->nobj].deleted = false;
        f->nobj++;
        (void)snprintf(b->text, sizeof(b->text), "M %llu 1", (unsigned long long)o.handle);
        ohsm__key_resp__init(&b->key);
        b->recs[0].data = b->rec;
        b->recs[0].len = len;
        b->blobs[0].data = (uint8_t *)b->text;
        b->blobs[0].len = strlen(b->text);
        b->key.n_records = b->key.n_masked = 1;
        b->key.records = b->recs;
        b->key.masked = b->blobs;
        r->body_case = OHSM__RESPONSE__BODY_KEY;
        r->key = &b->key;
        return;
    }
    case OHSM__REQUEST__OP_MASKED_INSERT: {
        char kind = 0;
        unsigned long long h = 0, v = 0;
        char text[64];
        (void)snprintf(text, sizeof(text), "%.*s", (int)q->masked_insert->masked.len,
                       (const char *)q->masked_insert->masked.data);
        if (f->refuse_changes || sscanf(text, "%c %llu %llu", &kind, &h, &v) != 3) {
            r->rv = f->refuse_changes ? OHSM_DEVICE_ERROR : OHSM_MASKED_OBJECT_INVALID;
            return;
        }
        size_t i = find_obj(f, h);
        if (i != SIZE_MAX && (!q->masked_insert->replace || f->obj[i].version >= v)) {
            r->rv = OHSM_OBJECT_EXISTS;
            return;
        }
        if (i == SIZE_MAX) {
            i = f->nobj++;
        }
        f->obj[i].handle = h;
        f->obj[i].version = v;
        f->obj[i].deleted = kind == 'T';
        f->inserts++;
        return;
    }
    case OHSM__REQUEST__OP_MASKED_EXTRACT: {
        size_t i = find_obj(f, q->masked_extract->handle);
        if (i == SIZE_MAX) {
            r->rv = OHSM_KEY_HANDLE_INVALID;
            return;
        }
        (void)snprintf(b->text, sizeof(b->text), "%c %llu %llu", f->obj[i].deleted ? 'T' : 'M',
                       (unsigned long long)f->obj[i].handle, (unsigned long long)f->obj[i].version);
        ohsm__masked_resp__init(&b->masked);
        b->masked.masked.data = (uint8_t *)b->text;
        b->masked.masked.len = strlen(b->text);
        r->body_case = OHSM__RESPONSE__BODY_MASKED;
        r->masked = &b->masked;
        return;
    }
    case OHSM__REQUEST__OP_KEY_DELETE: {
        size_t i = find_obj(f, q->key_delete->handle);
        if (f->refuse_changes || i == SIZE_MAX || f->obj[i].deleted) {
            r->rv = f->refuse_changes ? OHSM_DEVICE_ERROR : OHSM_KEY_HANDLE_INVALID;
            return;
        }
        f->obj[i].deleted = true;
        f->obj[i].version++;
        return;
    }
    default: { /* OHSM__REQUEST__OP_SYNC_STATUS */
        f->syncs++;
        ohsm__sync_status_resp__init(&b->sync);
        for (size_t i = 0; i < f->nobj; i++) {
            ohsm__sync_object__init(&b->so[i]);
            b->so[i].handle = f->obj[i].handle;
            b->so[i].version = f->obj[i].version;
            b->so[i].deleted = f->obj[i].deleted;
            if (!f->obj[i].deleted) {
                memset(b->digest[i], (int)(f->obj[i].handle + f->obj[i].version), 32);
                b->so[i].digest.data = b->digest[i];
                b->so[i].digest.len = 32;
            }
            b->sop[i] = &b->so[i];
        }
        b->sync.n_objects = f->nobj;
        b->sync.objects = b->sop;
        r->body_case = OHSM__RESPONSE__BODY_SYNC;
        r->sync = &b->sync;
        return;
    }
    }
}

static void answer(struct fake *f, bool *logged_in, const Ohsm__Request *q, uint8_t **out,
                   size_t *out_len)
{
    struct objbufs *ob = calloc(1, sizeof(*ob));
    assert_non_null(ob);
    Ohsm__Response r = OHSM__RESPONSE__INIT;
    Ohsm__HelloResp hello = OHSM__HELLO_RESP__INIT;
    Ohsm__LoginResp login = OHSM__LOGIN_RESP__INIT;
    Ohsm__UserResp user = OHSM__USER_RESP__INIT;

    r.id = q->id;
    (void)pthread_mutex_lock(&f->mu);
    switch (q->op_case) {
    case OHSM__REQUEST__OP_HELLO:
        hello.version = 1;
        hello.hsm_id = f == &fakes[0] ? "hsm-a" : "hsm-b";
        hello.cluster_id = "cluster-x";
        hello.slot = f->slot;
        r.body_case = OHSM__RESPONSE__BODY_HELLO;
        r.hello = &hello;
        break;
    case OHSM__REQUEST__OP_LOGIN:
        f->logins++;
        if (q->login->password.len != strlen(f->password) ||
            memcmp(q->login->password.data, f->password, q->login->password.len) != 0) {
            r.rv = OHSM_PIN_INCORRECT;
            break;
        }
        *logged_in = true;
        login.user_type = OHSM_UT_CU;
        login.username = q->login->username;
        r.body_case = OHSM__RESPONSE__BODY_LOGIN;
        r.login = &login;
        break;
    case OHSM__REQUEST__OP_LOGOUT:
        *logged_in = false;
        break;
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        (void)snprintf(f->password, sizeof(f->password), "%.*s",
                       (int)q->change_password->password.len,
                       (const char *)q->change_password->password.data);
        user.user_type = OHSM_UT_CU;
        r.body_case = OHSM__RESPONSE__BODY_USER;
        r.user = &user;
        break;
    case OHSM__REQUEST__OP_CRYPTO: {
        const Ohsm__CryptoReq *c = q->crypto;
        bool match = c->signature.len == c->data.len;
        for (size_t i = 0; match && i < c->data.len; i++) {
            match = c->signature.data[i] == c->data.data[c->data.len - 1 - i];
        }
        r.rv = !*logged_in                                   ? OHSM_USER_NOT_LOGGED_IN
               : c->handle == UNKNOWN_ON_0 && f == &fakes[0] ? OHSM_KEY_HANDLE_INVALID
               : c->op != OHSM__CRYPTO_OP__VERIFY            ? OHSM_MECHANISM_INVALID
               : match                                       ? OHSM_OK
                                                             : OHSM_SIGNATURE_INVALID;
        f->served += *logged_in;
        break;
    }
    case OHSM__REQUEST__OP_KEY_GEN:
    case OHSM__REQUEST__OP_MASKED_INSERT:
    case OHSM__REQUEST__OP_MASKED_EXTRACT:
    case OHSM__REQUEST__OP_KEY_DELETE:
    case OHSM__REQUEST__OP_SYNC_STATUS:
        if (!*logged_in) {
            r.rv = OHSM_USER_NOT_LOGGED_IN;
            break;
        }
        answer_obj(f, q, &r, ob);
        break;
    default:
        r.rv = OHSM_PROTOCOL;
        break;
    }
    (void)pthread_mutex_unlock(&f->mu);
    put_frame(out, out_len, &r);
    free(ob);
}

struct session_arg {
    struct fake *f;
    int fd;
};

/* Reads every request already here, then answers them with one write (as the real HSM). */
static void *session(void *p)
{
    struct session_arg *a = p;
    struct fake *f = a->f;
    SSL *ssl = SSL_new(server_ctx);
    bool logged_in = false;

    if (ssl != NULL && SSL_set_fd(ssl, a->fd) == 1 && SSL_accept(ssl) == 1) {
        for (;;) {
            uint8_t *out = NULL;
            size_t out_len = 0, batch = 0;
            bool ok = true;
            do {
                uint8_t *buf = NULL;
                size_t len = 0;
                if (ohsm_wire_read(ssl, &buf, &len) != OHSM_OK) {
                    ok = false;
                    break;
                }
                Ohsm__Request *q = ohsm__request__unpack(NULL, len, buf);
                free(buf);
                if (q == NULL) {
                    ok = false;
                    break;
                }
                answer(f, &logged_in, q, &out, &out_len);
                ohsm__request__free_unpacked(q, NULL);
                batch++;
            } while (SSL_has_pending(ssl));
            (void)pthread_mutex_lock(&f->mu);
            f->max_batch = batch > f->max_batch ? batch : f->max_batch;
            (void)pthread_mutex_unlock(&f->mu);
            size_t w = 0;
            if (ok && out_len > 0 && SSL_write_ex(ssl, out, out_len, &w) != 1) {
                ok = false;
            }
            free(out);
            if (!ok) {
                break;
            }
        }
    }
    SSL_free(ssl);
    ERR_clear_error();
    close(a->fd);
    free(a);
    return NULL;
}

static void *acceptor(void *p)
{
    struct fake *f = p;
    /* The fakes may write to a closed client; the library's own SIGPIPE handling is what the
     * main thread (default disposition) tests. Sessions inherit this mask. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    (void)pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    for (;;) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0 || f->stop) {
            if (fd >= 0) {
                close(fd);
            }
            return NULL;
        }
        struct session_arg *a = calloc(1, sizeof(*a));
        assert_non_null(a);
        a->f = f;
        a->fd = fd;
        (void)pthread_mutex_lock(&f->mu);
        if (f->nfds < MAXCONN) {
            f->fds[f->nfds++] = fd;
        }
        (void)pthread_mutex_unlock(&f->mu);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, session, a), 0);
        (void)pthread_detach(t);
    }
}

/* Cuts every session of fake i (the HSM "restarted"); the listener stays. */
static void cut(size_t i)
{
    struct fake *f = &fakes[i];
    (void)pthread_mutex_lock(&f->mu);
    for (size_t k = 0; k < f->nfds; k++) {
        (void)shutdown(f->fds[k], SHUT_RDWR);
    }
    f->nfds = 0;
    (void)pthread_mutex_unlock(&f->mu);
    usleep(20000);
}

static void make_cert(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(k);
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fake", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509V3_CTX v;
    X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    (void)snprintf(anchor, sizeof(anchor), "/tmp/ohsm-test-client-%d.pem", (int)getpid());
    FILE *fp = fopen(anchor, "w");
    assert_non_null(fp);
    PEM_write_X509(fp, x);
    fclose(fp);
    server_ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(server_ctx);
    SSL_CTX_set_min_proto_version(server_ctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(server_ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(server_ctx, k), 1);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    (void)state;
    make_cert();
    memset(&cfg, 0, sizeof(cfg));
    (void)snprintf(cfg.cluster_id, sizeof(cfg.cluster_id), "cluster-x");
    (void)snprintf(cfg.trust_anchor, sizeof(cfg.trust_anchor), "%s", anchor);
    cfg.timeout_ms = 3000;
    cfg.n = NFAKE;
    cfg.hsms = cfg_hsms;
    for (size_t i = 0; i < NFAKE; i++) {
        struct fake *f = &fakes[i];
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        memset(f, 0, sizeof(*f));
        f->slot = (uint32_t)i;
        (void)pthread_mutex_init(&f->mu, NULL);
        f->lfd = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->lfd, 16), 0);
        assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
        f->port = ntohs(sa.sin_port);
        (void)snprintf(cfg_hsms[i].id, sizeof(cfg_hsms[i].id), "%s", i == 0 ? "hsm-a" : "hsm-b");
        (void)snprintf(cfg_hsms[i].host, sizeof(cfg_hsms[i].host), "127.0.0.1");
        cfg_hsms[i].port = f->port;
        assert_int_equal(pthread_create(&f->thr, NULL, acceptor, f), 0);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFAKE; i++) {
        fakes[i].stop = true;
        (void)shutdown(fakes[i].lfd, SHUT_RDWR);
        close(fakes[i].lfd);
        (void)pthread_join(fakes[i].thr, NULL);
        cut(i);
    }
    SSL_CTX_free(server_ctx);
    unlink(anchor);
    return 0;
}

/* Per test: fresh counters and password "secret-pw1", a logged-in client. */
static struct ohsm_client *fresh(void)
{
    struct ohsm_client *c = NULL;
    struct ohsm_result res[NFAKE];
    for (size_t i = 0; i < NFAKE; i++) {
        cut(i);
        (void)pthread_mutex_lock(&fakes[i].mu);
        (void)snprintf(fakes[i].password, sizeof(fakes[i].password), "secret-pw1");
        fakes[i].logins = fakes[i].served = 0;
        fakes[i].max_batch = 0;
        fakes[i].nobj = 0;
        fakes[i].gens = fakes[i].inserts = fakes[i].syncs = 0;
        fakes[i].refuse_changes = false;
        fakes[i].hang_gen_ms = 0;
        (void)pthread_mutex_unlock(&fakes[i].mu);
    }
    assert_int_equal(ohsm_client_new(&cfg, &c), OHSM_OK);
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "alice", "secret-pw1", res, NULL), OHSM_OK);
    return c;
}

static int logins(size_t i)
{
    (void)pthread_mutex_lock(&fakes[i].mu);
    int n = fakes[i].logins;
    (void)pthread_mutex_unlock(&fakes[i].mu);
    return n;
}

static const uint8_t msg[] = "the message";
static uint8_t good_sig[sizeof(msg)];
static const struct ohsm_mech_params mech = {.mech = OHSM_M_ECDSA, .hash = OHSM_H_SHA256};

static void fill_ops(struct ohsm_cop *ops, size_t n, uint64_t handle)
{
    for (size_t i = 0; i < sizeof(msg); i++) {
        good_sig[i] = msg[sizeof(msg) - 1 - i];
    }
    memset(ops, 0, n * sizeof(*ops));
    for (size_t i = 0; i < n; i++) {
        ops[i].kind = OHSM_COP_VERIFY;
        ops[i].handle = handle;
        ops[i].m = &mech;
        ops[i].in = msg;
        ops[i].in_len = sizeof(msg);
        ops[i].sig = good_sig;
        ops[i].sig_len = sizeof(good_sig);
    }
}

/* The hello's slot is recorded; login works on both; logged-in state shows. */
static void test_client_fake_connect_and_login(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_hsm_status st;
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(ohsm_client_hsm_status(c, i, &st), OHSM_OK);
        assert_true(st.connected && st.logged_in);
        assert_int_equal(c->hsm[i].slot, (int32_t)i);
        assert_int_equal(logins(i), 1);
    }
    ohsm_client_free(c);
}

/* A batch keeps exactly `window` requests in flight, written together: the HSM finds them all
 * buffered at once, and never more. */
static void test_client_fake_batch_window(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_cop ops[100];
    fill_ops(ops, 100, 7);
    assert_int_equal(ohsm_client_batch(c, ops, 100, 8, 0), OHSM_OK);
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(ops[i].rv, OHSM_OK);
    }
    assert_int_equal(fakes[0].served, 100);
    assert_int_equal(fakes[1].served, 0);
    assert_int_equal(fakes[0].max_batch, 8);
    fakes[0].max_batch = 0;
    assert_int_equal(ohsm_client_batch(c, ops, 20, 1, 0), OHSM_OK);
    assert_int_equal(fakes[0].max_batch, 1);
    ohsm_client_free(c);
}

/* Without `only`, a batch spreads over both HSMs; per-op results are kept apart. */
static void test_client_fake_batch_spreads(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_cop ops[200];
    fill_ops(ops, 200, 7);
    ops[17].sig_len = 3;
    ops[150].sig = msg;
    assert_int_equal(ohsm_client_batch(c, ops, 200, 4, SIZE_MAX), OHSM_SIGNATURE_INVALID);
    for (size_t i = 0; i < 200; i++) {
        assert_int_equal(ops[i].rv, i == 17 || i == 150 ? OHSM_SIGNATURE_INVALID : OHSM_OK);
    }
    assert_true(fakes[0].served > 0 && fakes[1].served > 0);
    assert_int_equal(fakes[0].served + fakes[1].served, 200);
    ohsm_client_free(c);
}

/* An op whose HSM does not know the key moves to another HSM; pinned to that HSM it fails. */
static void test_client_fake_batch_unknown_key_moves(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_cop ops[50];
    fill_ops(ops, 50, UNKNOWN_ON_0);
    assert_int_equal(ohsm_client_batch(c, ops, 50, 8, SIZE_MAX), OHSM_OK);
    assert_int_equal(fakes[1].served, 50);
    assert_int_equal(ohsm_client_batch(c, ops, 50, 8, 0), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ops[49].rv, OHSM_KEY_HANDLE_INVALID);
    ohsm_client_free(c);
}

/* Bad arguments: a bad op fails alone; a bad `only` fails the call; n = 0 is fine. */
static void test_client_fake_batch_bad_input(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_cop ops[4];
    fill_ops(ops, 4, 7);
    ops[1].m = NULL;
    ops[2].kind = (enum ohsm_cop_kind)99;
    assert_int_equal(ohsm_client_batch(c, ops, 4, 2, SIZE_MAX), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ops[0].rv, OHSM_OK);
    assert_int_equal(ops[1].rv, OHSM_ARGUMENTS_BAD);
    assert_int_equal(ops[2].rv, OHSM_ARGUMENTS_BAD);
    assert_int_equal(ops[3].rv, OHSM_OK);
    assert_int_equal(ohsm_client_batch(c, ops, 4, 2, NFAKE), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_batch(c, NULL, 0, 2, SIZE_MAX), OHSM_OK);
    assert_int_equal(ohsm_client_batch(NULL, ops, 4, 2, SIZE_MAX), OHSM_ARGUMENTS_BAD);
    ohsm_client_free(c);
}

/* After the HSMs drop every session, the next call reconnects, logs in again with the saved
 * credentials and succeeds, with no error shown to the caller. */
static void test_client_fake_relogin_after_restart(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    cut(0);
    cut(1);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)), OHSM_OK);
    }
    assert_int_equal(logins(0), 2);
    assert_int_equal(logins(1), 2);
    struct ohsm_cop ops[10];
    fill_ops(ops, 10, 7);
    cut(1);
    assert_int_equal(ohsm_client_batch(c, ops, 10, 4, 1), OHSM_OK); /* reconnected */
    assert_int_equal(logins(1), 3);
    assert_int_equal(ohsm_client_batch(c, ops, 10, 4, 1), OHSM_OK);
    assert_int_equal(logins(1), 3);
    ohsm_client_free(c);
}

/* When the saved password is refused (changed elsewhere), the client says so once per HSM and
 * stops trying, so it cannot lock the user out. */
static void test_client_fake_relogin_refused_stops(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    for (size_t i = 0; i < NFAKE; i++) {
        (void)snprintf(fakes[i].password, sizeof(fakes[i].password), "changed-pw");
        cut(i);
    }
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_PIN_INCORRECT);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
            OHSM_USER_NOT_LOGGED_IN);
    }
    assert_int_equal(logins(0), 2);
    assert_int_equal(logins(1), 2);
    /* An explicit login with the new password works and is saved again. */
    struct ohsm_result res[NFAKE];
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "alice", "changed-pw", res, NULL), OHSM_OK);
    cut(0);
    struct ohsm_cop op;
    fill_ops(&op, 1, 7);
    assert_int_equal(ohsm_client_batch(c, &op, 1, 1, 0), OHSM_OK);
    assert_int_equal(logins(0), 4); /* failed re-login, explicit login, re-login */
    ohsm_client_free(c);
}

/* Changing one's own password updates the saved one: a later re-login uses the new password. */
static void test_client_fake_change_password_then_relogin(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    assert_int_equal(ohsm_client_change_password(c, OHSM_UT_CU, "alice", "new-secret-9", res, NULL),
                     OHSM_OK);
    cut(0);
    cut(1);
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_OK);
    assert_int_equal(logins(0) + logins(1), 3);
    ohsm_client_free(c);
}

/* After logout nothing is replayed: a reconnected HSM stays logged out. */
static void test_client_fake_logout_forgets(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    assert_int_equal(ohsm_client_logout(c, res), OHSM_OK);
    assert_null(c->cred_pw);
    cut(0);
    cut(1);
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(logins(0) + logins(1), 2);
    ohsm_client_free(c);
}

/* Balanced calls alternate between HSMs and skip one that went away. */
static void test_client_fake_balance_and_failover(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    for (int k = 0; k < 10; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)), OHSM_OK);
    }
    assert_int_equal(fakes[0].served, 5);
    assert_int_equal(fakes[1].served, 5);
    /* An unknown key on HSM 0 is found on HSM 1. */
    for (int k = 0; k < 4; k++) {
        assert_int_equal(ohsm_client_verify(c, UNKNOWN_ON_0, &mech, msg, sizeof(msg), good_sig,
                                            sizeof(good_sig)),
                         OHSM_OK);
    }
    assert_int_equal(fakes[1].served, 9);
    ohsm_client_free(c);
}

/* Engine bookkeeping: session objects are routed to their HSM and die with its connection;
 * a change that failed on one HSM only marks that HSM for repair. */
static void test_client_fake_engine_bookkeeping(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    (void)pthread_mutex_lock(&c->lock);
    assert_int_equal(ohsm_route_sess_add(c, 65, 1), OHSM_OK);
    assert_int_equal(ohsm_route_sess_add(c, 97, 0), OHSM_OK);
    assert_int_equal(ohsm_route_sess_find(c, 65), 1);
    assert_int_equal(ohsm_route_sess_find(c, 33), OHSM_ALL);
    ohsm_route_drop(c, 1, OHSM_NOT_CONNECTED);
    assert_int_equal(ohsm_route_sess_find(c, 65), OHSM_ALL);
    assert_int_equal(ohsm_route_sess_find(c, 97), 0);
    ohsm_route_sess_del(c, 97);
    assert_int_equal(c->nsess, 0);
    struct ohsm_result r[NFAKE] = {{OHSM_OK}, {OHSM_TIMEOUT}};
    ohsm_route_note_missed(c, r, NULL);
    assert_false(c->hsm[0].missed);
    assert_true(c->hsm[1].missed);
    c->hsm[1].missed = false;
    r[0].rv = OHSM_TIMEOUT;
    ohsm_route_note_missed(c, r, NULL);
    assert_false(c->hsm[0].missed || c->hsm[1].missed); /* failed everywhere: nothing to copy */
    /* Order: logged-in HSMs first; the dropped one (credentials saved) after them. */
    size_t order[NFAKE];
    assert_int_equal(ohsm_route_order(c, 1, order), 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    c->hsm[1].relogin_failed = true;
    assert_int_equal(ohsm_route_order(c, 1, order), 1);
    (void)pthread_mutex_unlock(&c->lock);
    ohsm_client_free(c);
}

/* Mechanism parameters map field by field; records that do not decode are a protocol error. */
static void test_client_fake_conversions(void **state)
{
    (void)state;
    static const uint8_t iv[12] = {1}, aad[3] = {2}, label[2] = {3};
    struct ohsm_mech_params m = {.mech = OHSM_M_RSA_OAEP,
                                 .hash = 3,
                                 .mgf_hash = 4,
                                 .salt_len = 5,
                                 .prehashed = true,
                                 .iv = iv,
                                 .iv_len = 12,
                                 .aad = aad,
                                 .aad_len = 3,
                                 .tag_bits = 96,
                                 .label = label,
                                 .label_len = 2};
    Ohsm__Mech w;
    ohsm_conv_mech(&m, &w);
    assert_int_equal(w.mech, OHSM_M_RSA_OAEP);
    assert_int_equal(w.hash, 3);
    assert_int_equal(w.mgf_hash, 4);
    assert_int_equal(w.salt_len, 5);
    assert_true(w.prehashed);
    assert_int_equal(w.iv.len, 12);
    assert_ptr_equal(w.iv.data, iv);
    assert_int_equal(w.aad.len, 3);
    assert_int_equal(w.tag_bits, 96);
    assert_int_equal(w.label.len, 2);
    m.iv = NULL; /* a length without a buffer sends nothing */
    ohsm_conv_mech(&m, &w);
    assert_int_equal(w.iv.len, 0);
    uint8_t junk[5] = {0, 0, 0, 9, 0};
    ProtobufCBinaryData rec = {sizeof(junk), junk};
    struct ohsm_obj o;
    assert_int_equal(ohsm_conv_records(&rec, 1, &o, 1), OHSM_PROTOCOL);
    assert_int_equal(ohsm_conv_records(&rec, 2, &o, 1), OHSM_PROTOCOL);
    uint8_t *out = NULL;
    size_t len = 7;
    ProtobufCBinaryData empty = {0, NULL};
    assert_int_equal(ohsm_conv_dup(&empty, &out, &len), OHSM_OK);
    assert_null(out);
    assert_int_equal(len, 0);
}

/* Arguments the API refuses before touching the network. */
static void test_client_fake_bad_arguments(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_obj o[2];
    size_t n = 0;
    uint8_t *out = NULL;
    size_t out_len = 0;
    struct ohsm_keygen g;
    memset(&g, 0, sizeof(g));
    g.tmpl_len = 4; /* no buffer */
    assert_int_equal(ohsm_client_key_generate(c, NULL, o, &n, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_key_generate(c, &g, o, &n, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_key_import(c, OHSM_CLASS_SECRET, OHSM_KT_AES, NULL, 16, NULL, 0,
                                            NULL, 0, o, NULL),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_key_find_on(c, NFAKE, NULL, 0, (struct ohsm_obj **)&out, &n),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_encrypt(c, 7, NULL, msg, 3, &out, &out_len, NULL, NULL),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_sync_key(c, 33, 0, 0), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_sync_user(c, "alice", 0, NFAKE), OHSM_ARGUMENTS_BAD);
    char longname[40];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(ohsm_client_key_share(c, 33, longname, true, NULL), OHSM_USERNAME_INVALID);
    assert_int_equal(ohsm_client_masked_insert(c, 0, NULL, 3, true, NULL), OHSM_ARGUMENTS_BAD);
    ohsm_client_free(c);
}

static bool has_alive(size_t i, uint64_t handle)
{
    size_t k = find_obj(&fakes[i], handle);
    return k != SIZE_MAX && !fakes[i].obj[k].deleted;
}

static uint64_t generate(struct ohsm_client *c, struct ohsm_result *res, ohsm_rv want)
{
    struct ohsm_keygen g;
    struct ohsm_obj o[2];
    size_t n = 0;
    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_AES;
    g.length = 32;
    assert_int_equal(ohsm_client_key_generate(c, &g, o, &n, res), want);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].value_len, 32);
    return o[0].handle;
}

/* A new key is made on one HSM and inserted into the other with the same handle; the login
 * everywhere ran one sync status per HSM, and calls while in sync run none. */
static void test_client_fake_generate_replicates(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    assert_int_equal(fakes[0].syncs, 1);
    assert_int_equal(fakes[1].syncs, 1);
    uint64_t h = generate(c, res, OHSM_OK);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(res[1].rv, OHSM_OK);
    assert_true(has_alive(0, h) && has_alive(1, h));
    assert_int_equal(fakes[0].gens + fakes[1].gens, 1);
    assert_int_equal(fakes[0].inserts + fakes[1].inserts, 1);
    (void)generate(c, res, OHSM_OK); /* round-robin: the other HSM makes this one */
    assert_int_equal(fakes[0].gens, 1);
    assert_int_equal(fakes[1].gens, 1);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)), OHSM_OK);
    }
    assert_int_equal(fakes[0].syncs + fakes[1].syncs, 2);
    struct ohsm_sync_report *rep = NULL;
    assert_int_equal(ohsm_client_sync_status(c, &rep), OHSM_OK);
    assert_true(rep->in_sync);
    assert_int_equal(rep->nitems, 0);
    assert_int_equal(rep->hsm[0].objects, 2);
    ohsm_sync_report_free(rep);
    ohsm_client_free(c);
}

/* An HSM that failed to take a new key is repaired at the start of the next call, once. */
static void test_client_fake_missed_key_repaired_automatically(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    fakes[0].refuse_changes = fakes[1].refuse_changes = true;
    uint64_t h = generate(c, res, OHSM_DEVICE_ERROR);
    size_t maker = has_alive(0, h) ? 0 : 1;
    size_t other = 1 - maker;
    assert_int_equal(res[maker].rv, OHSM_OK);
    assert_int_equal(res[other].rv, OHSM_DEVICE_ERROR);
    assert_false(has_alive(other, h));
    assert_true(c->hsm[other].missed);
    fakes[0].refuse_changes = fakes[1].refuse_changes = false;
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_OK);
    assert_true(has_alive(other, h));
    assert_false(c->hsm[other].missed);
    int syncs = fakes[0].syncs + fakes[1].syncs;
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_OK);
    assert_int_equal(fakes[0].syncs + fakes[1].syncs, syncs);
    ohsm_client_free(c);
}

/* With automatic repair off, a missed deletion shows as EXTRA and sync_repair applies the
 * tombstone; the HSM then holds the deletion too. */
static void test_client_fake_repair_applies_tombstone(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    ohsm_client_set_auto_repair(c, false);
    uint64_t h = generate(c, res, OHSM_OK);
    fakes[1].refuse_changes = true;
    assert_int_equal(ohsm_client_key_delete(c, h, res), OHSM_DEVICE_ERROR);
    assert_int_equal(res[0].rv, OHSM_OK);
    fakes[1].refuse_changes = false;
    struct ohsm_sync_report *rep = NULL;
    assert_int_equal(ohsm_client_sync_status(c, &rep), OHSM_OK);
    assert_false(rep->in_sync);
    assert_int_equal(rep->nitems, 1);
    assert_int_equal(rep->items[0].hsm, 1);
    assert_int_equal(rep->items[0].kind, OHSM_SYNC_EXTRA);
    assert_int_equal(rep->items[0].handle, h);
    ohsm_sync_report_free(rep);
    assert_true(has_alive(1, h)); /* status changed nothing */
    size_t fixed = 0;
    assert_int_equal(ohsm_client_sync_repair(c, &fixed), OHSM_OK);
    assert_int_equal(fixed, 1);
    assert_false(has_alive(1, h));
    assert_int_equal(ohsm_client_sync_repair(c, &fixed), OHSM_OK);
    assert_int_equal(fixed, 0);
    /* sync_key copies one object; the same version again is refused by the HSM */
    uint64_t h2 = generate(c, res, OHSM_OK);
    assert_int_equal(ohsm_client_sync_key(c, h2, 0, 1), OHSM_OBJECT_EXISTS);
    ohsm_client_free(c);
}

/* A key generation that times out is not repeated on another HSM (it may still complete). */
static void test_client_fake_generate_timeout_not_repeated(void **state)
{
    (void)state;
    int saved = cfg.timeout_ms;
    cfg.timeout_ms = 300;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    struct ohsm_keygen g;
    struct ohsm_obj o[2];
    size_t n = 9;
    fakes[0].hang_gen_ms = fakes[1].hang_gen_ms = 800;
    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_AES;
    g.length = 32;
    assert_int_equal(ohsm_client_key_generate(c, &g, o, &n, res), OHSM_TIMEOUT);
    assert_int_equal(n, 0);
    assert_int_equal(res[0].rv, OHSM_TIMEOUT);
    assert_int_equal(res[1].rv, OHSM_TIMEOUT);
    usleep(900000);
    assert_int_equal(fakes[0].gens + fakes[1].gens, 1);
    ohsm_client_free(c);
    cfg.timeout_ms = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_fake_connect_and_login),
        cmocka_unit_test(test_client_fake_batch_window),
        cmocka_unit_test(test_client_fake_batch_spreads),
        cmocka_unit_test(test_client_fake_batch_unknown_key_moves),
        cmocka_unit_test(test_client_fake_batch_bad_input),
        cmocka_unit_test(test_client_fake_relogin_after_restart),
        cmocka_unit_test(test_client_fake_relogin_refused_stops),
        cmocka_unit_test(test_client_fake_change_password_then_relogin),
        cmocka_unit_test(test_client_fake_logout_forgets),
        cmocka_unit_test(test_client_fake_balance_and_failover),
        cmocka_unit_test(test_client_fake_engine_bookkeeping),
        cmocka_unit_test(test_client_fake_conversions),
        cmocka_unit_test(test_client_fake_bad_arguments),
        cmocka_unit_test(test_client_fake_generate_replicates),
        cmocka_unit_test(test_client_fake_missed_key_repaired_automatically),
        cmocka_unit_test(test_client_fake_repair_applies_tombstone),
        cmocka_unit_test(test_client_fake_generate_timeout_not_repeated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
