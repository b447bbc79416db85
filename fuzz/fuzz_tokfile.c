/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for the CLI's token file parsers (src/cli/tokfile.c): the input is parsed as an
 * MFA, a registration and a quorum token file. Whatever parses must satisfy the parsers' promises
 * (sizes, NULL-ness, canonical usernames), and its tokens re-formatted by the matching writer must
 * parse back to the same values; any difference aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/tokfile.h"
#include "openhsm/user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void check_pair(const struct ohsm_tokpair *p, bool with_approval)
{
    check((p->sig == NULL) == (p->sig_len == 0) && p->sig_len <= OHSM_TOKEN_SIG_MAX);
    if (!with_approval) {
        check(p->approval == NULL && p->approval_len == 0);
        return;
    }
    check(p->approval != NULL && p->approval_len > 0 &&
          p->approval_len % OHSM_APPROVAL_REC_LEN == 0 &&
          p->approval_len <= (size_t)OHSM_APPROVAL_REC_LEN * OHSM_APPROVAL_MAX_RECS);
}

/* An MFA file's tokens, written unsigned and read back, are the same tokens. */
static void mfa(const char *buf, size_t len)
{
    struct ohsm_tokfile f = {NULL, 0};
    struct ohsm_tokfile g = {NULL, 0};
    char err[256];
    char *json = NULL;
    uint8_t(*toks)[OHSM_TOKEN_LEN] = NULL;
    if (ohsm_tokfile_parse(buf, len, false, &f, err, sizeof(err)) != OHSM_OK) {
        check(f.pairs == NULL && f.n == 0 && strlen(err) < sizeof(err));
        return;
    }
    check(f.n >= 1 && f.n <= OHSM_APPROVAL_MAX_RECS);
    toks = malloc(f.n * sizeof(*toks));
    check(toks != NULL);
    for (size_t i = 0; i < f.n; i++) {
        check_pair(&f.pairs[i], false);
        memcpy(toks[i], f.pairs[i].unsigned_tok, OHSM_TOKEN_LEN);
    }
    check(ohsm_tokfile_format_mfa((const uint8_t(*)[OHSM_TOKEN_LEN])toks, f.n, &json) == OHSM_OK);
    check(ohsm_tokfile_parse(json, strlen(json), false, &g, err, sizeof(err)) == OHSM_OK);
    check(g.n == f.n);
    for (size_t i = 0; i < f.n; i++) {
        check(memcmp(g.pairs[i].unsigned_tok, toks[i], OHSM_TOKEN_LEN) == 0);
        check(g.pairs[i].sig == NULL);
    }
    ohsm_tokfile_free(&g);
    ohsm_tokfile_free(&f);
    free(json);
    free(toks);
}

/* Each registration entry re-formatted from its approval data gives back its unsigned token. */
static void registration(const char *buf, size_t len)
{
    struct ohsm_tokfile f = {NULL, 0};
    char err[256];
    if (ohsm_tokfile_parse(buf, len, true, &f, err, sizeof(err)) != OHSM_OK) {
        check(f.pairs == NULL && f.n == 0);
        return;
    }
    for (size_t i = 0; i < f.n; i++) {
        struct ohsm_tokfile g = {NULL, 0};
        char *json = NULL;
        const struct ohsm_tokpair *p = &f.pairs[i];
        check_pair(p, true);
        check(ohsm_tokfile_format_registration(p->approval, p->approval_len, &json) == OHSM_OK);
        check(ohsm_tokfile_parse(json, strlen(json), true, &g, err, sizeof(err)) == OHSM_OK);
        check(g.n == 1 && g.pairs[0].approval_len == p->approval_len);
        check(memcmp(g.pairs[0].approval, p->approval, p->approval_len) == 0);
        check(memcmp(g.pairs[0].unsigned_tok, p->unsigned_tok, OHSM_TOKEN_LEN) == 0);
        /* A registration file is never an MFA file. */
        struct ohsm_tokfile h = {NULL, 0};
        check(ohsm_tokfile_parse(json, strlen(json), false, &h, err, sizeof(err)) ==
              OHSM_DATA_INVALID);
        ohsm_tokfile_free(&g);
        free(json);
    }
    ohsm_tokfile_free(&f);
}

/* A quorum file re-formatted from its approval data has the same token and no signatures. */
static void quorum(const char *buf, size_t len)
{
    struct ohsm_qtokfile f;
    struct ohsm_qtokfile g;
    char err[256];
    char *json = NULL;
    if (ohsm_qtokfile_parse(buf, len, &f, err, sizeof(err)) != OHSM_OK) {
        check(f.approval == NULL && f.sigs == NULL && f.n == 0);
        return;
    }
    check(f.n <= OHSM_APPROVAL_SIGS_MAX && (f.n == 0) == (f.sigs == NULL));
    for (size_t i = 0; i < f.n; i++) {
        char canon[OHSM_USERNAME_MAX + 1];
        const struct ohsm_qsig *s = &f.sigs[i];
        check(s->sig != NULL && s->sig_len >= 1 && s->sig_len <= OHSM_TOKEN_SIG_MAX);
        check(ohsm_username_canon(s->username, canon, sizeof(canon)) == OHSM_OK);
        check(strcmp(canon, s->username) == 0);
    }
    check(ohsm_qtokfile_format(f.approval, f.approval_len, &json) == OHSM_OK);
    check(ohsm_qtokfile_parse(json, strlen(json), &g, err, sizeof(err)) == OHSM_OK);
    check(g.approval_len == f.approval_len && g.n == 0);
    check(memcmp(g.approval, f.approval, f.approval_len) == 0);
    check(memcmp(g.token, f.token, OHSM_TOKEN_LEN) == 0);
    ohsm_qtokfile_free(&g);
    ohsm_qtokfile_free(&f);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    mfa(buf, size);
    registration(buf, size);
    quorum(buf, size);
    return 0;
}
