/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's commands as one static table (name, flags, handler, help) and the paths every
 * command takes: an interactive line (split, checked against its row, run) and a singlecmd argv
 * (several commands in a row, stopping at the first failure). Help and each command's -h usage are
 * printed from the table. Also the session commands: loginHSM/logoutHSM (crypto users only, as
 * key_mgmt_util), listAttributes, listUsers, Error2String, help and exit. Input is untrusted and
 * may carry a password (-p): a typed password lives in a stack buffer wiped on every path, and a
 * line holding one never enters the history.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kmu/attrs.h"
#include "kmu/kmu.h"

/* Typed passwords: room to see that one is too long rather than cut it. */
#define PW_BUF 256

static int h_login(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    const struct ohsm_kmu_val *u = ohsm_kmu_get(p, "u"), *s = ohsm_kmu_get(p, "s");
    const struct ohsm_kmu_val *pw = ohsm_kmu_get(p, "p");
    char user[OHSM_USERNAME_MAX + 1], typed[PW_BUF];
    enum ohsm_utype type = OHSM_UT_NONE;
    const char *password = NULL;
    struct ohsm_result *res = NULL;
    int done = OHSM_KMU_FAILED;

    typed[0] = '\0';
    if (ohsm_utype_from_cmu(u->text, &type) != OHSM_OK) {
        return ohsm_kmu_error(k, "Invalid user type '%.8s' for -u: expected CU", u->text);
    }
    if (type != OHSM_UT_CU) {
        /* key_mgmt_util is the crypto users' tool (guide, Error2String 0xdb). */
        ohsm_kmu_returned(k, "Cfm3LoginHSM", OHSM_USER_TYPE_INVALID);
        return OHSM_KMU_FAILED;
    }
    if (ohsm_username_canon(s->text, user, sizeof(user)) != OHSM_OK) {
        return ohsm_kmu_error(k, "Invalid user name for -s: %s",
                              ohsm_rv_str(OHSM_USERNAME_INVALID));
    }
    if (pw != NULL) {
        password = pw->text;
    } else {
        enum ohsm_cmu_read st = ohsm_cmu_io_secret(&k->io, "Enter password:", typed, sizeof(typed));
        if (st != OHSM_CMU_READ_OK) {
            (void)ohsm_kmu_error(k, "No password entered; not logged in");
            goto out;
        }
        password = typed;
    }
    if (ohsm_password_check(password, strnlen(password, OHSM_PASSWORD_MAX + 1)) != OHSM_OK) {
        /* The password itself is never shown. */
        (void)ohsm_kmu_error(k, "Invalid password: %s", ohsm_rv_str(OHSM_PIN_LEN_RANGE));
        goto out;
    }
    res = ohsm_kmu_results(k);
    if (res == NULL) {
        goto out;
    }
    ohsm_rv rv = ohsm_client_login(k->client, OHSM_UT_CU, user, password, res, NULL);
    ohsm_kmu_results_fill(k, res, rv);
    rv = ohsm_kmu_overall(k, res, rv);
    ohsm_kmu_returned(k, "Cfm3LoginHSM", rv);
    ohsm_kmu_cluster(k, res);
    done = rv == OHSM_OK ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
out:
    OPENSSL_cleanse(typed, sizeof(typed));
    free(res);
    return done;
}

static int h_logout(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    (void)p;
    struct ohsm_result *res = ohsm_kmu_results(k);
    if (res == NULL) {
        return OHSM_KMU_FAILED;
    }
    ohsm_rv rv = ohsm_client_logout(k->client, res);
    ohsm_kmu_results_fill(k, res, rv);
    rv = ohsm_kmu_overall(k, res, rv);
    ohsm_kmu_returned(k, "Cfm3LogoutHSM", rv);
    ohsm_kmu_cluster(k, res);
    free(res);
    return rv == OHSM_OK ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
}

static int h_list_attributes(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    (void)p;
    (void)fputc('\n', k->out);
    ohsm_kmu_attr_list(k->out);
    return OHSM_KMU_DONE;
}

static int h_list_users(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    (void)p;
    struct ohsm_user_info *u = NULL;
    size_t n = 0;
    ohsm_rv rv = OHSM_NOT_CONNECTED;

    for (size_t i = 0; i < k->n && rv != OHSM_OK; i++) {
        rv = ohsm_client_list_users(k->client, i, &u, &n);
    }
    if (rv != OHSM_OK) {
        ohsm_kmu_returned(k, "Cfm3ListUsers", rv);
        return OHSM_KMU_FAILED;
    }
    (void)fprintf(k->out, "\nNumber Of Users found %zu\n\n", n);
    (void)fprintf(k->out,
                  "    Index       User ID     User Type       User Name%27sMofnPubKey    "
                  "LoginFailureCnt         2FA\n",
                  "");
    for (size_t i = 0; i < n; i++) {
        /* The HSM's answer is data: the name is bounded before printing. */
        (void)fprintf(k->out, "%9zu%14" PRIu32 "%14s%6s%-31.*s%16s%19" PRIu32 "%12s\n", i + 1,
                      u[i].id, ohsm_utype_cmu_name(u[i].type), "", OHSM_USERNAME_MAX, u[i].username,
                      u[i].mofn_pubkey ? "YES" : "NO", u[i].login_failures,
                      u[i].mfa ? "YES" : "NO");
    }
    free(u);
    ohsm_kmu_returned(k, "Cfm3ListUsers", OHSM_OK);
    return OHSM_KMU_DONE;
}

static int h_error2string(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    const struct ohsm_kmu_val *r = ohsm_kmu_get(p, "r");
    const char *text = NULL;

    if (r->num > UINT32_MAX || !ohsm_kmu_text_of((uint32_t)r->num, &text)) {
        (void)fprintf(k->out, "\n\tError Code %" PRIx64 " is not a known code\n", r->num);
        return OHSM_KMU_FAILED;
    }
    (void)fprintf(k->out, "\n\tError Code %" PRIx64 " maps to %s\n", r->num, text);
    return OHSM_KMU_DONE;
}

static int h_help(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);

static int h_exit(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    (void)p;
    k->quit = true;
    return OHSM_KMU_DONE;
}

/* The table reads best as rows; the formatter would split every field. */
/* clang-format off */
#define F_SW(n) {n, OHSM_KMU_V_SWITCH, "", false, 0, 0, 0}
#define F_HANDLE(n, req) {n, OHSM_KMU_V_HANDLE, "<key handle>", req, 0, 0, 0}
#define F_UINT(n, mv, req, lo, hi) {n, OHSM_KMU_V_UINT, mv, req, 0, lo, hi}
#define F_TEXT(n, mv, req, max) {n, OHSM_KMU_V_TEXT, mv, req, 0, 0, max}
#define F_FILE(n, mv, req) {n, OHSM_KMU_V_FILE, mv, req, 0, 0, 4096}
#define F_LABEL(req) F_TEXT("l", "<label>", req, OHSM_LABEL_MAX)
#define F_ID F_TEXT("id", "<key ID>", false, OHSM_OBJ_ID_MAX)
#define F_MIN_SRV F_UINT("min_srv", "<minimum number of servers>", false, 1, OHSM_SLOT_MAX + 1)
#define F_TIMEOUT F_UINT("timeout", "<number of seconds>", false, 0, 86400)
#define F_M_VALUE F_UINT("m_value", "<0..8>", false, 0, 8)
#define F_USERS {"u", OHSM_KMU_V_IDS, "<user-ids>", false, 0, 0, 0}
#define F_NEW_KEY F_ID, F_MIN_SRV, F_M_VALUE, F_SW("nex"), F_SW("sess"), F_TIMEOUT, F_USERS, \
    F_SW("attest")

static const struct ohsm_kmu_cmd cmds[] = {
    {"aesWrapUnwrap", {F_UINT("m", "<wrap-unwrap mode>", true, 0, 1),
                       F_FILE("f", "<file-to-wrap-unwrap>", true), F_HANDLE("w", true),
                       F_TEXT("i", "<wrapping-IV>", false, 18),
                       F_FILE("out", "<output-file>", false)},
     ohsm_kmu_aes_wrap_unwrap, "Wraps (-m 1) or unwraps (-m 0) a file with an AES key",
     "RFC 3394 AES key wrap of a file under 4096 bytes (a multiple of 8) with an AES key in the\n"
     "HSM; the default IV is 0xA6A6A6A6A6A6A6A6. The result is shown and written to -out\n"
     "(default wrapped_key or unwrapped_key)."},
    {"deleteKey", {F_HANDLE("k", true)}, ohsm_kmu_delete_key,
     "Deletes a key from every HSM",
     "Only the key's owner may delete it; users it is shared with may only use it."},
    {"Error2String", {{"r", OHSM_KMU_V_HEX, "<response code>", true, 0, 0, UINT32_MAX}},
     h_error2string, "Shows the text of a key_mgmt_util return code", NULL},
    {"exit", {{0}}, h_exit, "Exits this application", NULL},
    {"exportPrivateKey", {F_HANDLE("k", true), F_HANDLE("w", true),
                          F_FILE("out", "<key file>", true), F_UINT("m", "4", false, 4, 4),
                          F_FILE("wk", "<wrapping key file>", false)},
     ohsm_kmu_export_priv, "Exports a private key to a PEM file",
     "The key is wrapped by the HSM with the -w AES key and unwrapped on this host (with the AES\n"
     "key in the -wk file when given) into an unencrypted PKCS#8 PEM file (0600). Only the owner\n"
     "of an extractable key may export it."},
    {"exportPubKey", {F_HANDLE("k", true), F_FILE("out", "<key file>", true)},
     ohsm_kmu_export_pub, "Writes a public key to a PEM file", NULL},
    {"exSymKey", {F_HANDLE("k", true), F_HANDLE("w", true), F_FILE("out", "<key file>", true),
                  F_UINT("m", "4", false, 4, 4), F_FILE("wk", "<unwrapping key file>", false)},
     ohsm_kmu_ex_sym, "Exports a symmetric key in plaintext to a file",
     "The key is wrapped by the HSM with the -w key and unwrapped on this host (with the AES key\n"
     "in the -wk file when given). Only the owner of an extractable key may export it."},
    {"extractMaskedObject", {{"o", OHSM_KMU_V_HANDLE, "<object-handle>", true, 0, 0, 0},
                             F_FILE("out", "<object-file>", true)},
     ohsm_kmu_extract_masked, "Writes a key's masked object to a file",
     "The masked object (the key sealed under the cluster's masking key) opens only inside this\n"
     "cluster. Only keys the current user owns or shares can be extracted."},
    {"findKey", {F_UINT("c", "<key class>", false, 0, UINT32_MAX),
                 F_UINT("t", "<key type>", false, 0, UINT32_MAX), F_LABEL(false), F_ID,
                 F_UINT("sess", "<0 | 1>", false, 0, 1), F_USERS,
                 F_FILE("m", "<modulus file>", false),
                 F_TEXT("kcv", "<key check value>", false, 16)},
     ohsm_kmu_find_key, "Finds keys by their attributes",
     "Lists the keys the current user can use: owned, shared with them, and all public keys.\n"
     "Classes: 2 public, 3 private, 4 secret. Types: 0 RSA, 3 EC, 16 generic secret, 31 AES."},
    {"genECCKeyPair", {F_UINT("i", "<EC curve id>", true, 1, 16), F_LABEL(true), F_NEW_KEY},
     ohsm_kmu_gen_ecc, "Generates an elliptic curve key pair",
     "Curves: 2 prime256v1 (P-256), 13 secp224r1, 14 secp384r1, 15 secp521r1, 16 secp256k1."},
    {"genRSAKeyPair", {F_UINT("m", "<modulus length>", true, 1, 65536),
                       F_UINT("e", "<public exponent>", true, 1, UINT64_MAX), F_LABEL(true),
                       F_NEW_KEY},
     ohsm_kmu_gen_rsa, "Generates an RSA key pair",
     "Modulus 2048 to 4096 bits; the exponent must be odd and at least 65537."},
    {"genSymKey", {F_UINT("t", "<key type>", true, 0, UINT32_MAX),
                   F_UINT("s", "<key size>", true, 1, 65536), F_LABEL(true), F_NEW_KEY},
     ohsm_kmu_gen_sym, "Generates a symmetric key",
     "Types: 16 generic secret (1 to 3583 bytes), 21 3DES (24 bytes), 31 AES (16, 24 or 32 "
     "bytes)."},
    {"getAttribute", {{"o", OHSM_KMU_V_HANDLE, "<key handle>", true, 0, 0, 0},
                      F_UINT("a", "<attribute constant>", true, 0, UINT32_MAX),
                      F_FILE("out", "<file>", true)},
     ohsm_kmu_get_attribute, "Writes one or all (512) attributes of a key to a file",
     "Use listAttributes for the attribute constants."},
    {"getCaviumPrivKey", {F_HANDLE("k", true), F_FILE("out", "<fake-PEM-file>", true)},
     ohsm_kmu_get_cavium_priv, "Writes a fake PEM file referencing a private key in the HSM",
     "The file has the key's real public part and, for its private part, the key handle (RSA:\n"
     "private exponent = handle, CRT values 1; EC: private scalar = handle): no key material."},
    {"getKeyInfo", {F_HANDLE("k", true)}, ohsm_kmu_get_key_info,
     "Shows who owns a key and who it is shared with", NULL},
    {"help", {{0}}, h_help, "Displays this information", NULL},
    {"importPrivateKey", {F_LABEL(true), F_FILE("f", "<key file>", true), F_HANDLE("w", true),
                          F_SW("sess"), F_ID, F_M_VALUE, F_MIN_SRV, F_TIMEOUT, F_USERS,
                          F_FILE("wk", "<wrapping key file>", false), F_SW("attest")},
     ohsm_kmu_import_priv, "Imports a PEM private key",
     "The RSA or EC key (PKCS#8, PKCS#1 or SEC1 PEM, unencrypted) is wrapped (with the AES key in\n"
     "the -wk file when given) and unwrapped by the HSM with the -w key. The key is extractable."},
    {"importPubKey", {F_LABEL(true), F_FILE("f", "<key file>", true), F_SW("sess"), F_ID,
                      F_MIN_SRV, F_TIMEOUT},
     ohsm_kmu_import_pub, "Imports a PEM public key", NULL},
    {"imSymKey", {F_FILE("f", "<key file>", true), F_HANDLE("w", true),
                  F_UINT("t", "<key type>", true, 0, UINT32_MAX), F_LABEL(true), F_ID,
                  F_SW("sess"), F_FILE("wk", "<wrapping key file>", false), F_SW("attest"),
                  F_MIN_SRV, F_TIMEOUT, F_USERS},
     ohsm_kmu_im_sym, "Imports a plaintext symmetric key from a file",
     "The key is wrapped (with the AES key in the -wk file when given) and unwrapped by the HSM\n"
     "with the -w key. Types: 16 generic secret, 31 AES."},
    {"insertMaskedObject", {F_FILE("f", "<filename>", true), F_MIN_SRV, F_TIMEOUT},
     ohsm_kmu_insert_masked, "Inserts a masked object from a file as a new key",
     "The file is one extractMaskedObject wrote in this cluster, of a key the current user owns;\n"
     "the key it holds becomes a new key of the user (a new handle) on every HSM."},
    {"listAttributes", {{0}}, h_list_attributes, "Lists the attribute constants", NULL},
    {"listUsers", {{0}}, h_list_users, "Lists the HSM users", NULL},
    {"loginHSM", {F_TEXT("u", "<user type>", true, 8), F_TEXT("s", "<username>", true, 64),
                  {"p", OHSM_KMU_V_SECRET, "<password>", false, 'p', 0, 64},
                  {"hpswd", OHSM_KMU_V_SWITCH, "", false, 'p', 0, 0}},
     h_login, "Logs in to every HSM as a crypto user (CU)",
     "With -hpswd the password is asked for without echo."},
    {"logoutHSM", {{0}}, h_logout, "Logs out of every HSM", NULL},
    {"setAttribute", {{"o", OHSM_KMU_V_HANDLE, "<key handle>", true, 0, 0, 0},
                      F_UINT("a", "1", true, 0, UINT32_MAX)},
     ohsm_kmu_set_attribute, "Makes a session key a persistent (token) key",
     "The only attribute key_mgmt_util sets is OBJ_ATTR_TOKEN (1); the value (1) is asked for."},
    {"sign", {F_FILE("f", "<file name>", true), F_HANDLE("k", true),
              F_UINT("m", "<signature mechanism>", true, 0, 19),
              F_FILE("out", "<signed file name>", true)},
     ohsm_kmu_sign, "Signs a file with a private key",
     "Mechanisms: 0 SHA1_RSA_PKCS, 1 SHA256_RSA_PKCS, 2 SHA384_RSA_PKCS, 3 SHA512_RSA_PKCS,\n"
     "4 SHA224_RSA_PKCS, 5 SHA1_RSA_PKCS_PSS, 6 SHA256_RSA_PKCS_PSS, 7 SHA384_RSA_PKCS_PSS,\n"
     "8 SHA512_RSA_PKCS_PSS, 9 SHA224_RSA_PKCS_PSS, 15 ECDSA_SHA1, 16 ECDSA_SHA224,\n"
     "17 ECDSA_SHA256, 18 ECDSA_SHA384, 19 ECDSA_SHA512. ECDSA signatures are written\n"
     "DER-encoded; verify takes DER or r || s."},
    {"unWrapKey", {F_FILE("f", "<key file name>", true), F_HANDLE("w", true), F_SW("sess"),
                   F_MIN_SRV, F_TIMEOUT, F_FILE("aad", "<aad file>", false),
                   F_UINT("tag_size", "<tag size>", false, 12, 16),
                   F_FILE("iv_file", "<IV file>", false), F_SW("attest"),
                   F_UINT("m", "<wrapping mechanism>", false, 0, 64),
                   F_UINT("t", "<hash type>", false, 0, 16), F_SW("nex"), F_USERS, F_M_VALUE,
                   F_SW("noheader"), F_LABEL(false), F_ID,
                   F_UINT("kt", "<key type>", false, 0, UINT32_MAX),
                   F_UINT("kc", "<key class>", false, 0, UINT32_MAX),
                   F_TEXT("i", "<unwrapping IV>", false, 64)},
     ohsm_kmu_unwrap_key, "Imports a wrapped key from a file",
     "Mechanisms as wrapKey. Files without the key_mgmt_util header need -noheader, -l, -kc\n"
     "and -kt."},
    {"verify", {F_FILE("f", "<message file>", true), F_FILE("s", "<signature file>", true),
                F_HANDLE("k", true), F_UINT("m", "<signature mechanism>", true, 0, 19)},
     ohsm_kmu_verify, "Verifies a file's signature with a public key", "Mechanisms as sign."},
    {"wrapKey", {F_HANDLE("k", true), F_HANDLE("w", true), F_FILE("out", "<output file>", true),
                 F_UINT("m", "<wrapping mechanism>", false, 0, 64),
                 F_FILE("aad", "<aad file>", false), F_UINT("t", "<hash type>", false, 0, 16),
                 F_SW("noheader"), F_TEXT("i", "<wrapping IV>", false, 64),
                 F_FILE("iv_file", "<IV file>", false),
                 F_UINT("tag_size", "<tag size>", false, 12, 16)},
     ohsm_kmu_wrap_key, "Writes a key wrapped by another key to a file",
     "Mechanisms: 4 AES_KEY_WRAP_PAD_PKCS5 (default), 5 NIST_AES_WRAP_NO_PAD (RFC 3394),\n"
     "6 NIST_AES_WRAP_PAD (RFC 5649), 8 RSA_OAEP, 10 AES_GCM, 12 RSA_PKCS. Hash types for\n"
     "RSA_OAEP (-t): 2 SHA1 (default), 3 SHA256, 4 SHA384, 5 SHA512, 6 SHA224."},
};
/* clang-format on */
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void print_usage(struct ohsm_kmu *k, const struct ohsm_kmu_cmd *c)
{
    char usage[2048];
    if (ohsm_kmu_usage(c, usage, sizeof(usage))) {
        (void)fprintf(k->out, "\n\tUsage: %s\n", usage);
    }
}

static int h_help(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    (void)p;
    (void)fprintf(k->out, "\nHelp Commands Available:\n\nSyntax: <command> -h\n\n");
    (void)fprintf(k->out, "   %-20s %s\n   %-20s %s\n", "Command", "Description",
                  "=======", "===========");
    for (size_t i = 0; i < NCMDS; i++) {
        (void)fprintf(k->out, "   %-20s %s\n", cmds[i].name, cmds[i].summary);
    }
    return OHSM_KMU_DONE;
}

static void command_help(struct ohsm_kmu *k, const struct ohsm_kmu_cmd *c)
{
    print_usage(k, c);
    (void)fprintf(k->out, "\n\t%s.\n", c->summary);
    if (c->help != NULL) {
        (void)fprintf(k->out, "%s\n", c->help);
    }
}

/* Reports a parse outcome that is not OK; returns the command's result. */
static int report(struct ohsm_kmu *k, enum ohsm_kmu_status st, const struct ohsm_kmu_parsed *p,
                  const char *err)
{
    switch (st) {
    case OHSM_KMU_EMPTY:
    case OHSM_KMU_OK:
        return OHSM_KMU_DONE;
    case OHSM_KMU_UNKNOWN:
        (void)fprintf(k->out, "\n\t%s\n\tType 'help' to list the commands.\n", err);
        return OHSM_KMU_FAILED;
    case OHSM_KMU_HELP:
        command_help(k, p->cmd);
        return OHSM_KMU_DONE;
    case OHSM_KMU_BAD:
        (void)fprintf(k->out, "\n\t%s\n", err);
        if (p->cmd != NULL) {
            print_usage(k, p->cmd);
        }
        return OHSM_KMU_FAILED;
    }
    return OHSM_KMU_FAILED;
}

int ohsm_kmu_run_line(struct ohsm_kmu *k, char *line)
{
    char *tok[OHSM_KMU_MAX_TOKENS];
    char err[256];
    struct ohsm_kmu_parsed p;
    size_t ntok = ohsm_kmu_split(line, tok, OHSM_KMU_MAX_TOKENS);
    int done;

    if (ntok > OHSM_KMU_MAX_TOKENS) {
        (void)fprintf(k->out, "\n\tToo many words: at most %d\n", OHSM_KMU_MAX_TOKENS);
        return OHSM_KMU_FAILED;
    }
    enum ohsm_kmu_status st =
        ohsm_kmu_parse(cmds, NCMDS, tok, ntok, true, &p, NULL, err, sizeof(err));
    if (st != OHSM_KMU_OK) {
        done = report(k, st, &p, err);
    } else {
        if (!ohsm_kmu_has(&p, "p")) {
            /* The line as typed, for the history; never one holding a password. */
            char again[OHSM_KMU_LINE_MAX];
            size_t off = 0;
            again[0] = '\0';
            for (size_t i = 0; i < ntok; i++) {
                int w =
                    snprintf(again + off, sizeof(again) - off, "%s%s", i == 0 ? "" : " ", tok[i]);
                if (w < 0 || (size_t)w >= sizeof(again) - off) {
                    again[0] = '\0';
                    break;
                }
                off += (size_t)w;
            }
            ohsm_cmu_io_remember(&k->io, again);
        }
        done = p.cmd->handler(k, &p);
    }
    OPENSSL_cleanse(&p, sizeof(p));
    (void)fflush(k->out);
    return done;
}

int ohsm_kmu_run_argv(struct ohsm_kmu *k, char **argv, size_t argc)
{
    char err[256];
    size_t off = 0;
    int status = 0;

    if (argc == 0) {
        (void)fprintf(k->out, "\n\tsinglecmd: no command given\n");
        return 2;
    }
    while (off < argc && status == 0) {
        struct ohsm_kmu_parsed p;
        size_t used = 0;
        enum ohsm_kmu_status st =
            ohsm_kmu_parse(cmds, NCMDS, argv + off, argc - off, false, &p, &used, err, sizeof(err));
        if (st == OHSM_KMU_OK) {
            status = p.cmd->handler(k, &p);
        } else {
            status = report(k, st, &p, err);
        }
        OPENSSL_cleanse(&p, sizeof(p));
        off += used > 0 ? used : 1;
        (void)fflush(k->out);
    }
    return status == OHSM_KMU_DONE ? 0 : OHSM_KMU_EXIT_FAILED;
}

const struct ohsm_kmu_cmd *ohsm_kmu_commands(size_t *n)
{
    *n = NCMDS;
    return cmds;
}
