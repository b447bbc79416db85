/* SPDX-License-Identifier: Apache-2.0
 *
 * `openhsmd ctl`: fault injection from the shell. Sends one OpenHsmAdmin request to a running
 * openhsmd over HTTP/1.1 (POST /, AWS JSON 1.1) and prints the JSON reply:
 *
 *   openhsmd ctl stop-hsm|start-hsm|pause-hsm|resume-hsm HSM_ID [--endpoint http://ADDR:PORT]
 *
 * The request is unsigned: an openhsmd started with --credentials refuses it (use a signed
 * client, e.g. botocore, for that setup). Reads at most 64 KiB of reply.
 */
#include "cloud/ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cloud/args.h"
#include "cloud/ids.h"

#define REPLY_MAX 65536

static const struct {
    const char *cmd;
    const char *op;
} cmds[] = {
    {"stop-hsm", "StopHsm"},
    {"start-hsm", "StartHsm"},
    {"pause-hsm", "PauseHsm"},
    {"resume-hsm", "ResumeHsm"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: openhsmd ctl stop-hsm|start-hsm|pause-hsm|resume-hsm HSM_ID "
               "[--endpoint http://127.0.0.1:PORT]\n"
               "  stop-hsm    stop the HSM's process; it stays down until start-hsm\n"
               "  start-hsm   start it again and wait until it accepts connections\n"
               "  pause-hsm   freeze it (SIGSTOP): it keeps its port and answers nothing\n"
               "  resume-hsm  let it run again\n");
}

/* http://A.B.C.D:PORT[/] -> address. */
static int parse_endpoint(const char *url, struct sockaddr_in *a)
{
    char host[64];
    uint64_t port = 0;
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    const char *colon = strrchr(p, ':');
    if (colon == NULL || (size_t)(colon - p) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    char portbuf[8];
    size_t plen = strcspn(colon + 1, "/");
    if (plen == 0 || plen >= sizeof(portbuf) || strspn(colon + 1 + plen, "/") != strlen(colon + 1 + plen)) {
        return -1;
    }
    memcpy(portbuf, colon + 1, plen);
    portbuf[plen] = '\0';
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    if (ohsm_args_uint(portbuf, 1, 65535, &port) != OHSM_OK ||
        inet_pton(AF_INET, host, &a->sin_addr) != 1) {
        return -1;
    }
    a->sin_port = htons((uint16_t)port);
    return 0;
}

int ohsm_ctl_main(int argc, char **argv)
{
    const char *endpoint = "http://" OHSM_ARGS_LISTEN_DEFAULT;
    const char *op = NULL;
    struct sockaddr_in addr;
    char req[1024], body[128];
    static char reply[REPLY_MAX + 1];
    size_t got = 0;

    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 4 && !(argc == 6 && strcmp(argv[4], "--endpoint") == 0)) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[2], cmds[i].cmd) == 0) {
            op = cmds[i].op;
        }
    }
    if (op == NULL || !ohsm_ids_valid(OHSM_IDS_HSM_PREFIX, argv[3])) {
        fprintf(stderr, "openhsmd ctl: %s\n",
                op == NULL ? "unknown command" : "HSM_ID must be an HSM id such as hsm-abcdefghijk");
        usage(stderr);
        return 2;
    }
    if (argc == 6) {
        endpoint = argv[5];
    }
    if (parse_endpoint(endpoint, &addr) != 0) {
        fprintf(stderr, "openhsmd ctl: --endpoint must be http://A.B.C.D:PORT (got '%s')\n",
                endpoint);
        return 2;
    }
    int blen = snprintf(body, sizeof(body), "{\"HsmId\": \"%s\"}", argv[3]);
    int rlen = snprintf(req, sizeof(req),
                        "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                        "X-Amz-Target: OpenHsmAdmin.%s\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n%s",
                        endpoint + (strncmp(endpoint, "http://", 7) == 0 ? 7 : 0), op, blen, body);
    if (blen < 0 || (size_t)blen >= sizeof(body) || rlen < 0 || (size_t)rlen >= sizeof(req)) {
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {60, 0}; /* start-hsm waits for the HSM to accept connections */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        fprintf(stderr, "openhsmd ctl: cannot reach openhsmd at %s: %s\n", endpoint,
                strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return 1;
    }
    for (size_t off = 0; off < (size_t)rlen;) {
        ssize_t w = write(fd, req + off, (size_t)rlen - off);
        if (w <= 0) {
            fprintf(stderr, "openhsmd ctl: cannot send: %s\n", strerror(errno));
            close(fd);
            return 1;
        }
        off += (size_t)w;
    }
    for (;;) {
        ssize_t r = read(fd, reply + got, REPLY_MAX - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        if (got == REPLY_MAX) {
            break;
        }
    }
    close(fd);
    reply[got] = '\0';
    const char *sep = strstr(reply, "\r\n\r\n");
    int status = 0;
    if (strncmp(reply, "HTTP/1.1 ", 9) == 0) {
        status = (int)strtol(reply + 9, NULL, 10);
    }
    if (sep == NULL || status == 0) {
        fprintf(stderr, "openhsmd ctl: no HTTP reply from %s\n", endpoint);
        return 1;
    }
    printf("%s\n", sep + 4);
    return status == 200 ? 0 : 1;
}
