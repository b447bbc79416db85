/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-cli's grammar table (src/cli/table.c) as data: every row is well formed
 * (handler and help, groups have children, parents exist, no duplicates), option specs are
 * consistent, the parser enforces each row's required options and refuses duplicates, the help
 * printed for each row names every option it accepts (help cannot drift from the grammar), and
 * the MFA and quorum commands parse as the guide writes them, refusing bad combinations, and
 * the key quorum options (quorum values, approvals, key tokens) parse where the guide has them
 * and are refused, with a clear message and before anything is sent, when their values are bad.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const struct ohsm_cli_grammar *G = &ohsm_cli_grammar;

/* Splits a row's path into words (pointers into buf). */
static size_t words(const char *path, char *buf, size_t cap, char **w)
{
    size_t n = 0;
    snprintf(buf, cap, "%s", path);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        w[n++] = t;
    }
    return n;
}

/* Every row has a clean path, a summary, and a handler unless it is a group with children. */
static void test_cli_table_rows(void **state)
{
    (void)state;
    assert_true(G->ncmds > 0);
    for (size_t i = 0; i < G->ncmds; i++) {
        const struct ohsm_cli_cmd *c = &G->cmds[i];
        assert_non_null(c->path);
        assert_true(c->path[0] != '\0' && c->path[0] != ' ');
        assert_null(strstr(c->path, "  "));
        assert_true(c->path[strlen(c->path) - 1] != ' ');
        assert_true(ohsm_cli_path_words(c->path) <= OHSM_CLI_MAX_WORDS);
        assert_non_null(c->summary);
        assert_true(strlen(c->summary) > 0);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(G->cmds[j].path, c->path);
        }
        bool kids = false;
        for (size_t j = 0; j < G->ncmds; j++) {
            size_t l = strlen(c->path);
            kids = kids || (strncmp(G->cmds[j].path, c->path, l) == 0 && G->cmds[j].path[l] == ' ');
        }
        if (c->handler == NULL) {
            assert_true(kids);
            assert_null(c->opts);
        }
    }
}

/* Every proper prefix of a row's path is itself a row (a group or a command). */
static void test_cli_table_parents(void **state)
{
    (void)state;
    for (size_t i = 0; i < G->ncmds; i++) {
        char buf[128];
        char *w[OHSM_CLI_MAX_WORDS];
        size_t n = words(G->cmds[i].path, buf, sizeof(buf), w);
        for (size_t k = 1; k < n; k++) {
            assert_non_null(ohsm_cli_find(G, (const char *const *)w, k));
        }
    }
}

static void check_opts(const struct ohsm_cli_opt *opts, const struct ohsm_cli_opt *others)
{
    for (const struct ohsm_cli_opt *o = opts; o != NULL && o->name != NULL; o++) {
        assert_true(strlen(o->name) > 0 && o->name[0] != '-');
        assert_string_not_equal(o->name, "help");
        assert_true(o->short_name != 'h');
        assert_non_null(o->help);
        bool flag = (o->flags & OHSM_CLI_O_FLAG) != 0;
        assert_true(flag ? o->metavar == NULL : o->metavar != NULL);
        assert_false(flag && (o->flags & (OHSM_CLI_O_MULTI | OHSM_CLI_O_SECRET)) != 0);
        assert_false(flag && (o->flags & OHSM_CLI_O_REQUIRED) != 0);
        if (o->choices != NULL) {
            assert_non_null(o->choices[0].value);
            for (const struct ohsm_cli_choice *ch = o->choices; ch->value != NULL; ch++) {
                assert_non_null(ch->help);
            }
        }
        for (const struct ohsm_cli_opt *p = opts; p != o; p++) {
            assert_string_not_equal(p->name, o->name);
            assert_true(o->short_name == '\0' || p->short_name != o->short_name);
        }
        for (const struct ohsm_cli_opt *p = others; p != NULL && p->name != NULL; p++) {
            assert_string_not_equal(p->name, o->name);
        }
    }
}

/* Option specs are consistent and never clash with the global options. */
static void test_cli_table_options(void **state)
{
    (void)state;
    check_opts(G->global, NULL);
    for (size_t i = 0; i < G->ncmds; i++) {
        check_opts(G->cmds[i].opts, G->global);
    }
}

/* The parser enforces each row's required options and refuses an option given twice. */
static void test_cli_table_required_and_duplicates(void **state)
{
    (void)state;
    for (size_t i = 0; i < G->ncmds; i++) {
        const struct ohsm_cli_cmd *c = &G->cmds[i];
        char buf[128], err[256];
        char *tok[64];
        struct ohsm_cli_args a;
        char x[] = "x7654321";
        char num[] = "7";
        if (c->handler == NULL) {
            continue;
        }
        size_t n = words(c->path, buf, sizeof(buf), tok);
        size_t base = n;
        char names[16][40];
        size_t nn = 0;
        bool any_required = false;
        bool one_of = false;
        /* All required options, with an allowed value, and the first of a ONE_OF group. */
        for (const struct ohsm_cli_opt *o = c->opts; o != NULL && o->name != NULL; o++) {
            bool one = (o->flags & OHSM_CLI_O_ONE_OF) != 0;
            if ((o->flags & OHSM_CLI_O_REQUIRED) == 0 && (!one || one_of)) {
                continue;
            }
            one_of = one_of || one;
            any_required = true;
            snprintf(names[nn], sizeof(names[nn]), "--%s", o->name);
            tok[n++] = names[nn++];
            if ((o->flags & OHSM_CLI_O_FLAG) == 0) {
                tok[n++] = o->choices != NULL                    ? (char *)o->choices[0].value
                           : (o->flags & OHSM_CLI_O_NUMBER) != 0 ? num
                                                                 : x;
            }
        }
        assert_int_equal(ohsm_cli_parse(G, tok, n, &a, err, sizeof(err)), OHSM_OK);
        assert_ptr_equal(a.cmd, c);
        if (any_required) {
            assert_int_equal(ohsm_cli_parse(G, tok, base, &a, err, sizeof(err)),
                             OHSM_ARGUMENTS_BAD);
            assert_non_null(strstr(err, "missing required option"));
        }
        /* Each non-repeatable option twice. */
        for (const struct ohsm_cli_opt *o = c->opts; o != NULL && o->name != NULL; o++) {
            if ((o->flags & OHSM_CLI_O_REPEAT) != 0) {
                continue;
            }
            size_t m = n;
            char nm[40];
            snprintf(nm, sizeof(nm), "--%s", o->name);
            for (int k = 0; k < 2; k++) {
                tok[m++] = nm;
                if ((o->flags & OHSM_CLI_O_FLAG) == 0) {
                    tok[m++] = o->choices != NULL                    ? (char *)o->choices[0].value
                               : (o->flags & OHSM_CLI_O_NUMBER) != 0 ? num
                                                                     : x;
                }
            }
            assert_int_equal(ohsm_cli_parse(G, tok, m, &a, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
            assert_non_null(strstr(err, "more than once"));
        }
        /* A stray word is refused unless the row takes words. It goes right after the command
         * words: after an option that takes several values it would be one more value. */
        char stray[] = "stray";
        memmove(&tok[base + 1], &tok[base], (n - base) * sizeof(tok[0]));
        tok[base] = stray;
        ohsm_rv rv = ohsm_cli_parse(G, tok, n + 1, &a, err, sizeof(err));
        assert_int_equal(rv, c->positional != NULL ? OHSM_OK : OHSM_ARGUMENTS_BAD);
    }
}

/* Each row's help names every option it accepts, and the usage line fits. */
static void test_cli_table_help_matches(void **state)
{
    (void)state;
    for (size_t i = 0; i < G->ncmds; i++) {
        const struct ohsm_cli_cmd *c = &G->cmds[i];
        char buf[128], usage[512], err[256];
        char *w[OHSM_CLI_MAX_WORDS];
        size_t n = words(c->path, buf, sizeof(buf), w);
        FILE *f = tmpfile();
        assert_non_null(f);
        assert_true(ohsm_cli_help(f, G, (const char *const *)w, n, err, sizeof(err)));
        long len = ftell(f);
        assert_true(len > 0);
        char *text = calloc(1, (size_t)len + 1);
        assert_non_null(text);
        rewind(f);
        assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        assert_non_null(strstr(text, c->summary));
        assert_non_null(strstr(text, "--help"));
        for (const struct ohsm_cli_opt *o = c->opts; o != NULL && o->name != NULL; o++) {
            char nm[48];
            snprintf(nm, sizeof(nm), "--%s", o->name);
            assert_non_null(strstr(text, nm));
            for (const struct ohsm_cli_choice *ch = o->choices; ch != NULL && ch->value != NULL;
                 ch++) {
                assert_non_null(strstr(text, ch->value));
            }
        }
        for (const struct ohsm_cli_opt *o = G->global; c->handler != NULL && o->name != NULL; o++) {
            assert_non_null(strstr(text, o->name));
        }
        free(text);
        if (c->handler != NULL) {
            assert_true(ohsm_cli_usage_line(G, c, usage, sizeof(usage)));
        }
    }
}

/* The CloudHSM CLI's user commands take exactly these roles and options. */
static void test_cli_table_user_commands(void **state)
{
    (void)state;
    const char *w[] = {"user", "create"};
    const struct ohsm_cli_cmd *c = ohsm_cli_find(G, w, 2);
    assert_non_null(c);
    const struct ohsm_cli_opt *o = c->opts;
    assert_string_equal(o[0].name, "username");
    assert_true((o[0].flags & OHSM_CLI_O_REQUIRED) != 0);
    assert_string_equal(o[1].name, "role");
    assert_string_equal(o[1].choices[0].value, "crypto-user");
    assert_string_equal(o[1].choices[1].value, "admin");
    assert_null(o[1].choices[2].value);
    assert_string_equal(o[2].name, "password");
    assert_true((o[2].flags & OHSM_CLI_O_SECRET) != 0);
    assert_true((o[2].flags & OHSM_CLI_O_REQUIRED) == 0);
    const char *login[] = {"login"};
    assert_non_null(ohsm_cli_find(G, login, 1));
    const char *quit[] = {"quit"};
    assert_non_null(ohsm_cli_find(G, quit, 1));
}

/* Parses a space-separated line against the real table. */
static ohsm_rv parse(const char *line, struct ohsm_cli_args *a, char *buf, size_t cap, char *err,
                     size_t errcap)
{
    char *tok[64];
    size_t n = 0;
    snprintf(buf, cap, "%s", line);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t != NULL && n < 64;
         t = strtok_r(NULL, " ", &save)) {
        tok[n++] = t;
    }
    return ohsm_cli_parse(G, tok, n, a, err, errcap);
}

#define PARSE(line) parse((line), &a, buf, sizeof(buf), err, sizeof(err))

/* The guide's MFA commands parse, in the guide's word order and with the openhsm extensions. */
static void test_cli_table_mfa_commands(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[512], err[256];
    assert_int_equal(PARSE("login --username test_user --role admin mfa-token-sign --token "
                           "/home/valid.token"),
                     OHSM_OK);
    assert_string_equal(a.cmd->path, "login mfa-token-sign");
    assert_string_equal(ohsm_cli_arg(&a, "username"), "test_user");
    assert_string_equal(ohsm_cli_arg(&a, "token"), "/home/valid.token");
    assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_login_mfa);
    assert_int_equal(PARSE("login mfa-token-sign --username u --role crypto-user --token t "
                           "--signed-token s --password secret1"),
                     OHSM_OK);
    assert_string_equal(ohsm_cli_arg(&a, "signed-token"), "s");
    assert_int_equal(PARSE("login --username u --role admin --password pw12345 mfa-token-sign "
                           "--token t"),
                     OHSM_OK);
    assert_string_equal(a.cmd->path, "login mfa-token-sign");
    assert_int_equal(PARSE("login --username u --role admin mfa-token-sign"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "missing required option '--token <TOKEN>'"));
    assert_int_equal(PARSE("login --username u --role admin --token t"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("login --username u --role boss mfa-token-sign --token t"),
                     OHSM_ARGUMENTS_BAD);

    assert_int_equal(PARSE("user change-mfa token-sign --username cu1 --change-password password "
                           "--role crypto-user --token /path/myfile"),
                     OHSM_OK);
    assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_user_change_mfa);
    assert_int_equal(PARSE("user change-mfa token-sign --username u --role admin --deregister "
                           "--change-quorum --approval q.json"),
                     OHSM_OK);
    assert_true(ohsm_cli_flag(&a, "change-quorum"));
    assert_int_equal(PARSE("user change-mfa token-sign --username u --role admin --token t "
                           "--signed-token s --public-key k.pem"),
                     OHSM_OK);
    /* --token and --deregister: one, not both, not neither. */
    assert_int_equal(PARSE("user change-mfa token-sign --username u --role admin --token t "
                           "--deregister"),
                     OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "cannot be used together"));
    assert_int_equal(PARSE("user change-mfa token-sign --username u --role admin"),
                     OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "needs one of '--token' or '--deregister'"));
    assert_int_equal(PARSE("user change-mfa token-sign --username u --role admin --deregister x"),
                     OHSM_ARGUMENTS_BAD);
    /* The new password is a secret: wiped after use. */
    assert_int_equal(PARSE("user change-mfa token-sign --username u --role admin --deregister "
                           "--change-password hunter22"),
                     OHSM_OK);
    char *pw = ohsm_cli_arg(&a, "change-password");
    ohsm_cli_args_wipe(&a);
    assert_int_equal(pw[0], 0);
}

/* The guide's quorum commands parse; unknown services and scopes and a --value that is not a
 * number are refused. */
static void test_cli_table_quorum_commands(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[512], err[256];
    const char *gen[] = {"user", "quorum", "cluster", "registration"};
    for (size_t i = 0; i < 4; i++) {
        char line[128];
        snprintf(line, sizeof(line), "quorum token-sign generate --service %s --token /t", gen[i]);
        assert_int_equal(PARSE(line), OHSM_OK);
        assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_quorum_generate);
    }
    assert_int_equal(PARSE("quorum token-sign generate --service key-use --token /t"),
                     OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "invalid value 'key-use' for '--service'"));
    assert_int_equal(PARSE("quorum token-sign generate --service user"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("quorum token-sign list"), OHSM_OK);
    assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_quorum_list);
    assert_int_equal(PARSE("quorum token-sign list --all"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("quorum token-sign list-quorum-values"), OHSM_OK);
    assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_quorum_values);
    assert_int_equal(PARSE("quorum token-sign set-quorum-value --service quorum --value 2"),
                     OHSM_OK);
    assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_quorum_set);
    assert_int_equal(PARSE("quorum token-sign set-quorum-value --service user --value 2 "
                           "--approval /a"),
                     OHSM_OK);
    assert_int_equal(PARSE("quorum token-sign set-quorum-value --service user --value two"),
                     OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "expected a number"));
    assert_int_equal(PARSE("quorum token-sign set-quorum-value --service user --value -2"),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("quorum token-sign set-quorum-value --service registration --value 2"),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("quorum token-sign set-quorum-value --service user"),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("quorum token-sign delete --scope user"), OHSM_OK);
    assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_quorum_delete);
    assert_int_equal(PARSE("quorum token-sign delete --scope all"), OHSM_OK);
    assert_int_equal(PARSE("quorum token-sign delete --scope everyone"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "possible values: user, all"));
    assert_int_equal(PARSE("quorum token-sign delete"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("user change-quorum token-sign register --public-key /p.pem "
                           "--signed-token /t"),
                     OHSM_OK);
    assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_user_quorum_register);
    assert_int_equal(PARSE("user change-quorum token-sign register --public-key /p.pem"),
                     OHSM_ARGUMENTS_BAD);
    /* --approval on the guarded user commands. */
    assert_int_equal(PARSE("user create --username user1 --role crypto-user --approval /a"),
                     OHSM_OK);
    assert_int_equal(PARSE("user delete --username user1 --role crypto-user --approval /a"),
                     OHSM_OK);
    assert_int_equal(PARSE("user change-password --username u --role admin --approval /a"),
                     OHSM_OK);
}

/* Runs one command line through its handler with no cluster behind it (ctx.client is NULL): only
 * a command that refuses its input before it would reach a cluster can pass through here. */
static void run_offline(const char *line, struct ohsm_cli_out *out)
{
    struct ohsm_cli_args a;
    struct ohsm_cli_ctx ctx;
    char buf[1024], err[256];
    memset(&ctx, 0, sizeof(ctx));
    memset(out, 0, sizeof(*out));
    ctx.g = G;
    if (PARSE(line) != OHSM_OK) {
        fail_msg("'%s' does not parse: %s", line, err);
    }
    a.cmd->handler(&ctx, &a, out);
    assert_null(ctx.client);
}

/* The error message of an offline run, which must have failed. */
static const char *offline_err(const char *line, struct ohsm_cli_out *out)
{
    run_offline(line, out);
    assert_int_equal(out->error_code, 1);
    assert_true(json_is_string(out->data));
    return json_string_value(out->data);
}

/* The key quorum values parse on every creating command (numbers only, checked by the grammar);
 * the handlers refuse values above 8 before anything is sent. */
static void test_cli_table_key_quorum_values(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[1024], err[256];
    struct ohsm_cli_out out;
    static const char *const create[] = {
        "key generate-symmetric aes --label k --key-length-bytes 16",
        "key generate-symmetric generic-secret --label k --key-length-bytes 32",
        "key generate-asymmetric-pair rsa --public-label p --private-label k "
        "--modulus-size-bits 2048 --public-exponent 65537",
        "key generate-asymmetric-pair ec --public-label p --private-label k --curve secp256r1",
        "key import pem --path /p.pem --label k --key-type-class rsa-public",
        "key unwrap aes-gcm --filter attr.label=w --key-type-class aes --label k --data AAAA "
        "--tag-length-bits 128 --iv 00112233445566778899aabb",
        "key unwrap aes-kwp --filter attr.label=w --key-type-class aes --label k --data AAAA",
        "key unwrap aes-no-pad --filter attr.label=w --key-type-class aes --label k --data AAAA",
        "key unwrap aes-pkcs5-pad --filter attr.label=w --key-type-class aes --label k --data AAAA",
        "key unwrap aes-zero-pad --filter attr.label=w --key-type-class aes --label k --data AAAA",
        "key unwrap rsa-oaep --filter attr.label=w --key-type-class aes --label k --data AAAA "
        "--hash-function sha256 --mgf mgf1-sha256",
        "key unwrap rsa-pkcs --filter attr.label=w --key-type-class aes --label k --data AAAA",
    };
    for (size_t i = 0; i < sizeof(create) / sizeof(create[0]); i++) {
        char line[512];
        snprintf(line, sizeof(line), "%s --manage-key-quorum-value 2 --use-key-quorum-value 0",
                 create[i]);
        if (PARSE(line) != OHSM_OK) {
            fail_msg("'%s': %s", line, err);
        }
        assert_string_equal(ohsm_cli_arg(&a, "manage-key-quorum-value"), "2");
        assert_string_equal(ohsm_cli_arg(&a, "use-key-quorum-value"), "0");
        const char *bad[] = {"two", "-1", "0x2", "1.5"};
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            snprintf(line, sizeof(line), "%s --use-key-quorum-value %s", create[i], bad[k]);
            assert_int_equal(PARSE(line), OHSM_ARGUMENTS_BAD);
            assert_non_null(strstr(err, "expected a number"));
        }
        /* Out of range: refused by the handler, before any cluster is needed. */
        snprintf(line, sizeof(line), "%s --manage-key-quorum-value 9", create[i]);
        assert_non_null(strstr(offline_err(line, &out),
                               "--manage-key-quorum-value must be a number from 0 to 8"));
        ohsm_cli_out_clear(&out);
        snprintf(line, sizeof(line), "%s --use-key-quorum-value 99999999", create[i]);
        assert_non_null(
            strstr(offline_err(line, &out), "--use-key-quorum-value must be a number from 0 to 8"));
        ohsm_cli_out_clear(&out);
        /* Given twice (as an option and as a key attribute): refused. */
        const char *attrs = strstr(create[i], "generate-asymmetric-pair") != NULL
                                ? "--private-attributes"
                                : "--attributes";
        snprintf(line, sizeof(line),
                 "%s --use-key-quorum-value 2 %s use-key-quorum-value=2 sign=true", create[i],
                 attrs);
        const char *msg = offline_err(line, &out);
        assert_true(strstr(msg, "cannot both be given") != NULL ||
                    strstr(msg, "use-key-quorum-value") != NULL);
        ohsm_cli_out_clear(&out);
    }
    /* Commands that create nothing take no quorum values. */
    assert_int_equal(PARSE("key delete --filter attr.label=k --manage-key-quorum-value 2"),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("key share --filter attr.label=k --username u --role crypto-user "
                           "--use-key-quorum-value 2"),
                     OHSM_ARGUMENTS_BAD);
}

/* --approval on every guarded key command and sign mechanism, --payload-approval and
 * --wrapping-approval on every wrap mechanism; not on commands quorum does not guard. */
static void test_cli_table_key_approvals(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[1024], err[256];
    static const char *const with_approval[] = {
        "crypto sign ecdsa --key-filter attr.label=k --hash-function sha256 --data AAAA",
        "crypto sign rsa-pkcs --key-filter attr.label=k --hash-function sha256 --data AAAA",
        "crypto sign rsa-pkcs-pss --key-filter attr.label=k --hash-function sha256 --data AAAA "
        "--mgf mgf1-sha256 --salt-length 32",
        "crypto sign hmac --key-filter attr.label=k --hash-function sha256 --data AAAA",
        "key share --filter attr.label=k --username u --role crypto-user",
        "key unshare --filter attr.label=k --username u --role crypto-user",
        "key set-attribute --filter attr.label=k --name decrypt --value true",
        "key unwrap aes-no-pad --filter attr.label=w --key-type-class aes --label k --data AAAA",
        "key unwrap rsa-oaep --filter attr.label=w --key-type-class aes --label k --data AAAA "
        "--hash-function sha256 --mgf mgf1-sha256",
    };
    for (size_t i = 0; i < sizeof(with_approval) / sizeof(with_approval[0]); i++) {
        char line[512];
        snprintf(line, sizeof(line), "%s --approval /q.json", with_approval[i]);
        if (PARSE(line) != OHSM_OK) {
            fail_msg("'%s': %s", line, err);
        }
        assert_string_equal(ohsm_cli_arg(&a, "approval"), "/q.json");
    }
    static const char *const wraps[] = {"aes-gcm --tag-length-bits 128",
                                        "aes-kwp",
                                        "aes-no-pad",
                                        "aes-pkcs5-pad",
                                        "aes-zero-pad",
                                        "rsa-oaep --hash-function sha256 --mgf mgf1-sha256",
                                        "rsa-pkcs"};
    for (size_t i = 0; i < sizeof(wraps) / sizeof(wraps[0]); i++) {
        char line[512];
        snprintf(line, sizeof(line),
                 "key wrap %s --payload-filter attr.label=p --wrapping-filter attr.label=w "
                 "--payload-approval /p.json --wrapping-approval /w.json",
                 wraps[i]);
        if (PARSE(line) != OHSM_OK) {
            fail_msg("'%s': %s", line, err);
        }
        assert_string_equal(ohsm_cli_arg(&a, "payload-approval"), "/p.json");
        assert_string_equal(ohsm_cli_arg(&a, "wrapping-approval"), "/w.json");
        snprintf(line, sizeof(line),
                 "key wrap %s --payload-filter attr.label=p --wrapping-filter attr.label=w "
                 "--approval /p.json",
                 wraps[i]);
        assert_int_equal(PARSE(line), OHSM_ARGUMENTS_BAD);
    }
    assert_int_equal(PARSE("key delete --filter attr.label=k --approval /q.json"),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("crypto verify rsa-pkcs --key-filter attr.label=k --hash-function "
                           "sha256 --data AAAA --signature AAAA --approval /q.json"),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("key generate-symmetric aes --label k --key-length-bytes 16 "
                           "--approval /q.json"),
                     OHSM_ARGUMENTS_BAD);
}

/* A bad approval file is refused by each guarded command before any key is looked up. */
static void test_cli_table_key_approval_files(void **state)
{
    (void)state;
    struct ohsm_cli_out out;
    char dir[] = "/tmp/ohsm-cli-XXXXXX";
    char bad[64], line[512];
    assert_non_null(mkdtemp(dir));
    snprintf(bad, sizeof(bad), "%s/bad.json", dir);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{\"version\":\"2.0\",\"approval_data\":", f);
    fclose(f);
    static const char *const cmds[] = {
        "crypto sign rsa-pkcs --key-filter attr.label=k --hash-function sha256 --data AAAA "
        "--approval %s",
        "crypto sign hmac --key-filter attr.label=k --hash-function sha256 --data AAAA "
        "--approval %s",
        "key share --filter attr.label=k --username u --role crypto-user --approval %s",
        "key unshare --filter attr.label=k --username u --role crypto-user --approval %s",
        "key set-attribute --filter attr.label=k --name decrypt --value true --approval %s",
        "key unwrap aes-no-pad --filter attr.label=w --key-type-class aes --label k --data AAAA "
        "--approval %s",
        "key wrap aes-no-pad --payload-filter attr.label=p --wrapping-filter attr.label=w "
        "--payload-approval %s",
        "key wrap rsa-pkcs --payload-filter attr.label=p --wrapping-filter attr.label=w "
        "--wrapping-approval %s",
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        const char *paths[] = {bad, "/nonexistent/q.json"};
        for (size_t k = 0; k < 2; k++) {
            snprintf(line, sizeof(line), cmds[i], paths[k]);
            const char *msg = offline_err(line, &out);
            if (strstr(msg, "pproval") == NULL) {
                fail_msg("'%s' gave '%s'", line, msg);
            }
            ohsm_cli_out_clear(&out);
        }
    }
    (void)unlink(bad);
    (void)rmdir(dir);
}

/* quorum token-sign generate: the key services parse with --filter; the handler requires it for
 * them and refuses it for the others, before anything is sent. */
static void test_cli_table_key_tokens(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[1024], err[256];
    struct ohsm_cli_out out;
    assert_int_equal(PARSE("quorum token-sign generate --service key-usage --token /t "
                           "--filter attr.label=k attr.class=private-key"),
                     OHSM_OK);
    assert_ptr_equal(a.cmd->handler, ohsm_cli_cmd_quorum_generate);
    const char *terms[4];
    assert_int_equal(ohsm_cli_arg_values(&a, "filter", terms, 4), 2);
    assert_string_equal(terms[1], "attr.class=private-key");
    assert_int_equal(PARSE("quorum token-sign generate --service key-management --token /t "
                           "--filter key-reference=0x1f"),
                     OHSM_OK);
    assert_int_equal(PARSE("quorum token-sign generate --service key-usage --token /t --filter"),
                     OHSM_ARGUMENTS_BAD);
    assert_non_null(
        strstr(offline_err("quorum token-sign generate --service key-usage --token /t", &out),
               "needs --filter"));
    ohsm_cli_out_clear(&out);
    assert_non_null(
        strstr(offline_err("quorum token-sign generate --service key-management --token /t", &out),
               "needs --filter"));
    ohsm_cli_out_clear(&out);
    const char *admin[] = {"user", "quorum", "cluster", "registration"};
    for (size_t i = 0; i < 4; i++) {
        char line[256];
        snprintf(line, sizeof(line),
                 "quorum token-sign generate --service %s --token /t --filter attr.label=k",
                 admin[i]);
        const char *msg = offline_err(line, &out);
        assert_non_null(strstr(msg, "--filter is only for the key-usage and key-management"));
        assert_non_null(strstr(msg, admin[i]));
        ohsm_cli_out_clear(&out);
    }
    /* A bad filter term is reported as key commands report it. */
    assert_non_null(strstr(offline_err("quorum token-sign generate --service key-usage --token /t "
                                       "--filter label=k",
                                       &out),
                           "--filter"));
    ohsm_cli_out_clear(&out);
}

/* Help text of a command, as `help <words>` prints it (caller frees). */
static char *help_text(const char *const *w, size_t nw)
{
    char err[128];
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_true(ohsm_cli_help(f, G, w, nw, err, sizeof(err)));
    long len = ftell(f);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

/* Help names the key services, --filter, the quorum value range and the approval options. */
static void test_cli_table_key_help(void **state)
{
    (void)state;
    const char *gen[] = {"quorum", "token-sign", "generate"};
    char *t = help_text(gen, 3);
    assert_non_null(strstr(t, "key-usage"));
    assert_non_null(strstr(t, "key-management"));
    assert_non_null(strstr(t, "--filter"));
    free(t);
    const char *aes[] = {"key", "generate-symmetric", "aes"};
    t = help_text(aes, 3);
    assert_non_null(strstr(t, "--manage-key-quorum-value <MANAGE_KEY_QUORUM_VALUE>"));
    assert_non_null(strstr(t, "--use-key-quorum-value <USE_KEY_QUORUM_VALUE>"));
    assert_non_null(strstr(t, "0 to 8"));
    assert_null(strstr(t, "only 0"));
    free(t);
    const char *sign[] = {"crypto", "sign", "ecdsa"};
    t = help_text(sign, 3);
    assert_non_null(strstr(t, "--approval <APPROVAL>"));
    assert_non_null(strstr(t, "use-key-quorum-value"));
    free(t);
    const char *wrap[] = {"key", "wrap", "rsa-oaep"};
    t = help_text(wrap, 3);
    assert_non_null(strstr(t, "--payload-approval <APPROVAL>"));
    assert_non_null(strstr(t, "--wrapping-approval <APPROVAL>"));
    free(t);
    const char *share[] = {"key", "unshare"};
    t = help_text(share, 2);
    assert_non_null(strstr(t, "--approval <APPROVAL>"));
    free(t);
}

/* Help shows the ONE_OF group and the subcommands of login. */
static void test_cli_table_new_help(void **state)
{
    (void)state;
    char usage[512];
    const char *w[] = {"user", "change-mfa", "token-sign"};
    assert_true(ohsm_cli_usage_line(G, ohsm_cli_find(G, w, 3), usage, sizeof(usage)));
    assert_non_null(strstr(usage, "--username <USERNAME> --role <ROLE> <--token <TOKEN>|"
                                  "--deregister>"));
    FILE *f = tmpfile();
    assert_non_null(f);
    const char *login[] = {"login"};
    char err[128];
    assert_true(ohsm_cli_help(f, G, login, 1, err, sizeof(err)));
    long len = ftell(f);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    rewind(f);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    assert_non_null(strstr(text, "mfa-token-sign"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_table_rows),
        cmocka_unit_test(test_cli_table_parents),
        cmocka_unit_test(test_cli_table_options),
        cmocka_unit_test(test_cli_table_required_and_duplicates),
        cmocka_unit_test(test_cli_table_help_matches),
        cmocka_unit_test(test_cli_table_user_commands),
        cmocka_unit_test(test_cli_table_mfa_commands),
        cmocka_unit_test(test_cli_table_quorum_commands),
        cmocka_unit_test(test_cli_table_new_help),
        cmocka_unit_test(test_cli_table_key_quorum_values),
        cmocka_unit_test(test_cli_table_key_approvals),
        cmocka_unit_test(test_cli_table_key_approval_files),
        cmocka_unit_test(test_cli_table_key_tokens),
        cmocka_unit_test(test_cli_table_key_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
