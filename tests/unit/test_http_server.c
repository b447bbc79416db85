/* SPDX-License-Identifier: Apache-2.0
 * The server on a real socket: a free port, x-amzn-RequestId on every reply, the body bound on
 * Content-Length (before the body is sent) and on chunked bodies, and one log line per request
 * without the body. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http.h"

static json_t *echo(void *ctx, const struct ohsm_http_call *call, json_t *in,
                    struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)err;
    return json_deep_copy(in);
}

static const struct ohsm_json_op ops[] = {{"Echo", echo}};
static const struct ohsm_json_service svc = {
    .target_prefix = "BaldrApiService",
    .invalid_request_type = "CloudHsmInvalidRequestException",
    .unknown_op_type = "UnknownOperationException",
    .ops = ops,
    .n_ops = 1,
};

/* Sends req on a new connection and reads the reply until the server closes or 5 s pass. */
static size_t roundtrip(uint16_t port, const char *req, size_t req_len, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    size_t off = 0;
    while (off < req_len) {
        ssize_t n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            break; /* the server may close early (413) */
        }
        off += (size_t)n;
    }
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

/* A real server answers JSON, refuses big bodies both ways, and logs a line per request. */
static void test_server_roundtrips(void **state)
{
    (void)state;
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *log = open_memstream(&logbuf, &loglen);
    assert_non_null(log);
    struct ohsm_http_cfg cfg = {.listen = "127.0.0.1:0",
                                .max_body = 64,
                                .region = "us-east-1",
                                .account_id = "111122223333",
                                .log = log};
    struct ohsm_http *h = NULL;
    uint16_t port = 0;
    assert_int_equal(ohsm_http_new(&cfg, &h), OHSM_OK);
    assert_int_equal(ohsm_http_add_json(h, &svc), OHSM_OK);
    assert_int_equal(ohsm_http_start(h, &port), OHSM_OK);
    assert_true(port != 0);
    assert_int_equal(ohsm_http_add_json(h, &svc), OHSM_ARGUMENTS_BAD); /* after start */
    char out[4096];

    static const char ok[] = "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Type: application/x-amz-json-1.1\r\n"
                             "X-Amz-Target: BaldrApiService.Echo\r\nContent-Length: 17\r\n\r\n"
                             "{\"secret\":\"abcd\"}";
    roundtrip(port, ok, sizeof(ok) - 1, out, sizeof(out));
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "x-amzn-RequestId: "));
    assert_non_null(strstr(out, "{\"secret\":\"abcd\"}"));

    /* Announced too big: refused from the headers alone (no body is sent at all). */
    static const char big[] = "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Content-Type: application/x-amz-json-1.1\r\n"
                              "X-Amz-Target: BaldrApiService.Echo\r\nContent-Length: 65\r\n\r\n";
    roundtrip(port, big, sizeof(big) - 1, out, sizeof(out));
    assert_non_null(strstr(out, "HTTP/1.1 413"));
    assert_non_null(strstr(out, "CloudHsmInvalidRequestException"));
    assert_non_null(strstr(out, "x-amzn-RequestId: "));

    /* Chunked: crosses the bound while arriving (two 40-byte chunks, bound 64). */
    char chunked[512];
    int n = snprintf(chunked, sizeof(chunked),
                     "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Type: application/x-amz-json-1.1\r\n"
                     "X-Amz-Target: BaldrApiService.Echo\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "28\r\n{\"a\":\"01234567890123456789012345678901\"}\r\n"
                     "28\r\n{\"a\":\"01234567890123456789012345678901\"}\r\n0\r\n\r\n");
    roundtrip(port, chunked, (size_t)n, out, sizeof(out));
    assert_non_null(strstr(out, "HTTP/1.1 413"));

    /* Anything but / is 404 with a JSON body. */
    static const char nf[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    roundtrip(port, nf, sizeof(nf) - 1, out, sizeof(out));
    assert_non_null(strstr(out, "HTTP/1.1 404"));
    assert_non_null(strstr(out, "\"__type\""));

    ohsm_http_free(h);
    fclose(log);
    /* One line per request, none with the body's secret. */
    size_t lines = 0;
    for (size_t i = 0; i < loglen; i++) {
        lines += logbuf[i] == '\n';
    }
    assert_int_equal(lines, 4);
    assert_null(strstr(logbuf, "abcd"));
    assert_non_null(strstr(logbuf, "BaldrApiService.Echo 200"));
    assert_non_null(strstr(logbuf, "BaldrApiService.Echo 413"));
    free(logbuf);
}

/* A port already taken: OHSM_IO with errno saying why. */
static void test_server_port_in_use(void **state)
{
    (void)state;
    struct ohsm_http_cfg cfg = {.listen = "127.0.0.1:0"};
    struct ohsm_http *a = NULL, *b = NULL;
    uint16_t port = 0, port2 = 0;
    char listen[32];
    assert_int_equal(ohsm_http_new(&cfg, &a), OHSM_OK);
    assert_int_equal(ohsm_http_start(a, &port), OHSM_OK);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)port);
    cfg.listen = listen;
    assert_int_equal(ohsm_http_new(&cfg, &b), OHSM_OK);
    assert_int_equal(ohsm_http_start(b, &port2), OHSM_IO);
    assert_int_equal(errno, EADDRINUSE);
    ohsm_http_free(b);
    ohsm_http_free(a);
}

/* Bad listen addresses are refused before anything binds. */
static void test_server_listen_parse(void **state)
{
    (void)state;
    static const char *bad[] = {"127.0.0.1",    "127.0.0.1:",   "127.0.0.1:65536", ":80",
                                "localhost:80", "127.0.0.1:8x", "::1:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ohsm_http_cfg cfg = {.listen = bad[i]};
        struct ohsm_http *h = NULL;
        assert_int_equal(ohsm_http_new(&cfg, &h), OHSM_ARGUMENTS_BAD);
        assert_null(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_roundtrips),
        cmocka_unit_test(test_server_port_in_use),
        cmocka_unit_test(test_server_listen_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
