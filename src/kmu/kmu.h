/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's session and the pieces its handlers share: the cluster client and how many HSMs
 * (nodes) it has, the input reader (the CMU's: libedit on a terminal, plain lines from a script),
 * the output shapes of key_mgmt_util (out.c: "Cfm3X returned: 0x00 : HSM Return: SUCCESS", the
 * "Cluster Error Status" block with one "Node id N and err state ..." line per HSM), bounded file
 * reading and 0600 file writing, and user id <-> name lookups (key_mgmt_util names users by their
 * HSM user id; openhsm records owners and shares by name). Handlers live in cmds.c (session and
 * helpers), keys.c (key management, with attest.c for -attest), keyinfo.c (one existing key),
 * wrap.c (wrapping, symmetric import and export), privkey.c (private key import and export),
 * aeswrap.c (aesWrapUnwrap), masked.c (extractMaskedObject), fakepem.c (getCaviumPrivKey) and
 * sign.c; each parses nothing itself (it gets a checked struct ohsm_kmu_parsed), calls libopenhsm
 * and prints.
 * Single-threaded: one session per process.
 */
#ifndef OHSM_KMU_KMU_H
#define OHSM_KMU_KMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmu/io.h"
#include "kmu/errs.h"
#include "kmu/parse.h"
#include "openhsm/client.h"

#define OHSM_KMU_PROMPT "Command: "
#define OHSM_KMU_LINE_MAX 4096 /* longest command line accepted */

/* Files the tool reads: messages and wrapped keys, and key files. */
#define OHSM_KMU_DATA_MAX (256 * 1024)
#define OHSM_KMU_KEYFILE_MAX (16 * 1024)

struct ohsm_kmu {
    struct ohsm_client *client; /* borrowed */
    size_t n;                   /* HSMs (nodes) in the config, numbered 0..n-1 */
    struct ohsm_cmu_io io;
    FILE *out;
    bool quit;
};

/* A handler's result: 0 when the command did what it was asked, 1 otherwise (singlecmd's exit
 * status comes from it). */
#define OHSM_KMU_DONE 0
#define OHSM_KMU_FAILED 1
/* Exit status of a script or singlecmd in which a command failed (as openhsm-cmu's). */
#define OHSM_KMU_EXIT_FAILED 3

/* cmds.c: runs one command line (modified in place; the caller wipes it). */
int ohsm_kmu_run_line(struct ohsm_kmu *k, char *line);
/* cmds.c: runs the commands of a singlecmd argv one after the other; stops at the first failure.
 * Returns the process exit status. */
int ohsm_kmu_run_argv(struct ohsm_kmu *k, char **argv, size_t argc);
/* The command table itself (static, *n rows), for the shell's completion and history rule. */
const struct ohsm_kmu_cmd *ohsm_kmu_commands(size_t *n);

/* out.c: result lines. */
/* "\n\t<fn> returned: 0xNN : <text>\n". */
void ohsm_kmu_returned(struct ohsm_kmu *k, const char *fn, ohsm_rv rv);
/* "\n\tCluster Error Status\n" and "\tNode id i and err state 0x%08x : <text>" per HSM. */
void ohsm_kmu_cluster(struct ohsm_kmu *k, const struct ohsm_result *res);
/* The cluster's verdict on a change sent to every HSM: the first failure that is not an
 * unreachable HSM; else success when at least one HSM did it (the client brings unreachable HSMs
 * up to date when they come back); else the unreachable HSMs' code (or `rv` when none was
 * filled). */
ohsm_rv ohsm_kmu_overall(const struct ohsm_kmu *k, const struct ohsm_result *res, ohsm_rv rv);
/* A result array for every HSM, each slot marked unfilled; NULL (message printed) when out of
 * memory. ohsm_kmu_results_fill gives unfilled slots the call's code. */
struct ohsm_result *ohsm_kmu_results(struct ohsm_kmu *k);
void ohsm_kmu_results_fill(struct ohsm_kmu *k, struct ohsm_result *res, ohsm_rv rv);
/* A one-line message about bad input (nothing was sent). Returns OHSM_KMU_FAILED. */
int ohsm_kmu_error(struct ohsm_kmu *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* out.c: the same lines with `indent` before the returned line and the block's lines instead of
 * a tab (some guide pages print them flush left: importPrivateKey, exportPrivateKey). */
void ohsm_kmu_returned_ind(struct ohsm_kmu *k, const char *indent, const char *fn, ohsm_rv rv);
void ohsm_kmu_cluster_ind(struct ohsm_kmu *k, const char *indent, const struct ohsm_result *res);

/* wrap.c: RFC 3394 with PKCS#5 padding on this host with a -wk AES key (key_mgmt_util's
 * mechanism 4): wrap in -> out (in_len rounded up to 8, plus 8), or unwrap in -> out without the
 * padding. out has cap bytes. False on any failure (out wiped). */
/* -m_value at most the key's users (-u ids + the owner), -min_srv at most the cluster's HSMs;
 * false (error printed) otherwise. */
bool ohsm_kmu_check_counts(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
/* The key the HSM wrapped with w, in clear on this host (see wrap.c). */
ohsm_rv ohsm_kmu_open_wrapped(struct ohsm_kmu *k, uint64_t w, const uint8_t *kek, size_t kek_len,
                              const uint8_t *wrapped, size_t wrapped_len, uint8_t *host, size_t cap,
                              uint8_t **plain, size_t *plain_len, bool report_host);
bool ohsm_kmu_host_kw(bool wrap, const uint8_t *key, size_t key_len, const uint8_t *in,
                      size_t in_len, uint8_t *out, size_t cap, size_t *out_len);
/* wrap.c: reads a -wk AES key file (16, 24 or 32 bytes; *key freed with ohsm_kmu_free_secret).
 * False (message printed) otherwise. */
bool ohsm_kmu_key_file(struct ohsm_kmu *k, const char *path, uint8_t **key, size_t *len);

/* out.c: files. Reads all of path (at most max bytes) into *out (malloc'd; caller frees, wiping
 * first when it held a secret). Errors print one line and return false. */
bool ohsm_kmu_read_file(struct ohsm_kmu *k, const char *path, size_t max, uint8_t **out,
                        size_t *len);
/* Writes data to path as a new 0600 file renamed over it (an existing file is replaced, as
 * key_mgmt_util overwrites it, and ends up 0600); a symbolic link there is refused, never
 * followed. Errors print one line and return false, leaving path as it was. */
bool ohsm_kmu_write_file(struct ohsm_kmu *k, const char *path, const void *data, size_t len);
/* Frees a buffer that held a secret, wiping it first. NULL ok. */
void ohsm_kmu_free_secret(uint8_t *p, size_t len);

/* out.c: users. The HSM user id of user `name`, from the user list of the first HSM that answers.
 * False when there is none (a message is printed only when no HSM answered). */
bool ohsm_kmu_user_id(struct ohsm_kmu *k, const char *name, uint32_t *id);
/* The crypto users named by -u ids, as names for the client's share lists (names[i] points into
 * store). False (message printed) when an id is unknown or not a crypto user. */
bool ohsm_kmu_share_names(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p,
                          char store[][OHSM_USERNAME_MAX + 1], const char *names[], size_t *n);

/* keyinfo.c: is key h visible to this session on at least one HSM? When on none, prints the
 * guide's lookup failure ("Cfm3FindKey returned: 0xa8 : ...") and each node's answer. */
bool ohsm_kmu_find_handle(struct ohsm_kmu *k, uint64_t h);

/* keys.c / wrap.c / sign.c handlers (rows in cmds.c). */
int ohsm_kmu_gen_sym(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
/* The sizes -s / an imported file may have for secret key type t, as error text. */
const char *ohsm_kmu_sym_sizes(uint32_t t);
int ohsm_kmu_gen_rsa(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_gen_ecc(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_find_key(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_get_attribute(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_set_attribute(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_delete_key(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_get_key_info(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_export_pub(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_import_pub(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_wrap_key(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_unwrap_key(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_ex_sym(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_im_sym(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_sign(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_verify(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_aes_wrap_unwrap(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_extract_masked(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_insert_masked(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_get_cavium_priv(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_export_priv(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);
int ohsm_kmu_import_priv(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);

#endif
