/* SPDX-License-Identifier: Apache-2.0
 *
 * The grammar of openhsm-cli: the one table of commands (CloudHSM CLI's command words, options and
 * roles), each row with its options, handler, help text and the permission-table operation it
 * needs. The parser (grammar.c), help (help.c) and the shell all read this table; to add a command,
 * add its options and a row here and write its handler. Static data only.
 */
#include "cli/cli.h"

#define NOOP OHSM_OP_COUNT_ /* the command needs no permission-table operation */

/* Roles a user may be created, deleted or logged in with. */
static const struct ohsm_cli_choice roles[] = {
    {"crypto-user", "a crypto user creates, manages and uses keys"},
    {"admin", "an admin manages users (and, before activation, names the unactivated admin)"},
    {NULL, NULL},
};

static const struct ohsm_cli_opt global_opts[] = {
    {"cluster-config", '\0', "PATH", 0, NULL,
     "Cluster configuration file (client.json written by openhsmd).\n"
     "Default: the file named by " OHSM_CLUSTER_CONFIG_ENV},
    {"cluster-id", '\0', "CLUSTER_ID", 0, NULL,
     "Run against this cluster; it must be the cluster of the configuration"},
    {NULL, '\0', NULL, 0, NULL, NULL},
};

/* Initializer macros read better unwrapped. */
/* clang-format off */
#define OPT_USERNAME(what)                                                                         \
    {"username", '\0', "USERNAME", OHSM_CLI_O_REQUIRED, NULL,                                     \
     what "\n1 to 31 letters, digits or '_'; not case sensitive, shown in lower case"}
#define OPT_ROLE(what) {"role", '\0', "ROLE", OHSM_CLI_O_REQUIRED, roles, what}
#define OPT_PASSWORD(what, asked)                                                                  \
    {"password", '\0', "PASSWORD", OHSM_CLI_O_SECRET, NULL,                                       \
     what " (7 to 32 characters).\nOptional: when left out, it is asked for without echo" asked}
#define END_OPTS {NULL, '\0', NULL, 0, NULL, NULL}
/* clang-format on */

static const struct ohsm_cli_opt login_opts[] = {
    OPT_USERNAME("Name of the user logging in."),
    OPT_ROLE("Role of the user logging in"),
    OPT_PASSWORD("Password of the user", ""),
    END_OPTS,
};

/* clang-format off */
#define OPT_APPROVAL(service)                                                                      \
    {"approval", '\0', "APPROVAL", 0, NULL,                                                       \
     "Filepath of a signed quorum token file that approves the operation.\nNeeded when the "      \
     service " service's quorum value is above 1"}
#define OPT_TOKEN(flags, what)                                                                     \
    {"token", '\0', "TOKEN", flags, NULL,                                                         \
     "Filepath where the unsigned token file will be written (one token per HSM)" what}
#define OPT_SIGNED_TOKEN                                                                           \
    {"signed-token", '\0', "SIGNED_TOKEN", 0, NULL,                                               \
     "The signed token file (openhsm extension, for scripts). Instead of prompting\n"             \
     "for its path, wait for this file to exist with every token signed, up to the\n"             \
     "tokens' lifetime; write it whole (a temporary file, then rename)"}
/* clang-format on */

static const struct ohsm_cli_opt login_mfa_opts[] = {
    OPT_USERNAME("Name of the user logging in."),
    OPT_ROLE("Role of the user logging in"),
    {"password", '\0', "PASSWORD", OHSM_CLI_O_SECRET, NULL,
     "Password of the user (7 to 32 characters).\nOptional: when left out, single-command mode "
     "takes it from CLOUDHSM_PIN\n(<username>:<password>) when that names this user; otherwise "
     "it is asked\nfor without echo"},
    OPT_TOKEN(OHSM_CLI_O_REQUIRED, ""),
    OPT_SIGNED_TOKEN,
    END_OPTS,
};

static const struct ohsm_cli_opt user_create_opts[] = {
    OPT_USERNAME("Name of the new user."),
    OPT_ROLE("Role of the new user"),
    OPT_PASSWORD("Password of the new user", ", twice"),
    OPT_APPROVAL("user"),
    END_OPTS,
};

static const struct ohsm_cli_opt user_delete_opts[] = {
    OPT_USERNAME("Name of the user to delete."),
    OPT_ROLE("Role of the user to delete"),
    OPT_APPROVAL("user"),
    END_OPTS,
};

static const struct ohsm_cli_opt user_change_password_opts[] = {
    OPT_USERNAME("Name of the user whose password changes."),
    OPT_ROLE("Role of that user"),
    OPT_PASSWORD("The new password", ", twice"),
    OPT_APPROVAL("user"),
    END_OPTS,
};

static const struct ohsm_cli_opt user_change_mfa_opts[] = {
    OPT_USERNAME("Name of the user whose MFA changes."),
    OPT_ROLE("Role of that user"),
    {"change-password", '\0', "CHANGE_PASSWORD", OHSM_CLI_O_SECRET, NULL,
     "The user's new password (7 to 32 characters), set with the MFA change.\nOptional: when "
     "left out, it is asked for without echo, twice"},
    OPT_TOKEN(OHSM_CLI_O_ONE_OF, ".\nRequired for enabling MFA for a user"),
    {"deregister", '\0', NULL, OHSM_CLI_O_FLAG | OHSM_CLI_O_ONE_OF, NULL,
     "Deregister the MFA public key, if present"},
    OPT_APPROVAL("user"),
    {"change-quorum", '\0', NULL, OHSM_CLI_O_FLAG, NULL,
     "Change the quorum public key along with the MFA key"},
    OPT_SIGNED_TOKEN,
    {"public-key", '\0', "PUBLIC_KEY", 0, NULL,
     "The public key PEM file (openhsm extension, for scripts): given here, it is\nnot asked "
     "for"},
    END_OPTS,
};

static const struct ohsm_cli_opt user_quorum_register_opts[] = {
    {"public-key", '\0', "PUBLIC_KEY", OHSM_CLI_O_REQUIRED, NULL,
     "Filepath to the public key PEM file (an RSA-2048 key)"},
    {"signed-token", '\0', "SIGNED_TOKEN", OHSM_CLI_O_REQUIRED, NULL,
     "Filepath of the registration token file, signed with the user's private key"},
    END_OPTS,
};

/* ---- quorum ---- */

static const struct ohsm_cli_choice gen_services[] = {
    {"user", "User management service, for quorum authorized user management operations"},
    {"quorum", "Quorum management service, for setting quorum values of any service"},
    {"cluster", "Cluster management service"},
    {"registration", "Registration service, for registering a public key for quorum auth"},
    {"key-usage", "Key usage service, for quorum authorized use of one key (crypto sign)"},
    {"key-management", "Key management service, for quorum authorized management of one key"},
    {NULL, NULL},
};

static const struct ohsm_cli_choice set_services[] = {
    {"user", "User management service (user create, delete, change-password, change-mfa)"},
    {"quorum", "Quorum management service (set-quorum-value)"},
    {"cluster", "Cluster management service"},
    {NULL, NULL},
};

static const struct ohsm_cli_choice scopes[] = {
    {"user", "Deletes every token of the user logged in"},
    {"all", "Deletes every token on the HSMs"},
    {NULL, NULL},
};

static const struct ohsm_cli_opt quorum_generate_opts[] = {
    {"service", '\0', "SERVICE", OHSM_CLI_O_REQUIRED, gen_services,
     "Service the token will be used for"},
    OPT_TOKEN(OHSM_CLI_O_REQUIRED, ""),
    {"filter", '\0', "FILTER", OHSM_CLI_O_MULTI, NULL,
     "The key the token is for (key-usage and key-management only, where it is\n"
     "required): key-reference=0x... or attr.NAME=VALUE terms; exactly one key must\n"
     "match"},
    END_OPTS,
};

static const struct ohsm_cli_opt quorum_set_opts[] = {
    {"service", '\0', "SERVICE", OHSM_CLI_O_REQUIRED, set_services,
     "Service whose quorum value is set"},
    {"value", '\0', "VALUE", OHSM_CLI_O_REQUIRED | OHSM_CLI_O_NUMBER, NULL,
     "Value to set for the service: 1 to 8, and no more than the admins with a\nregistered "
     "quorum key"},
    OPT_APPROVAL("quorum"),
    END_OPTS,
};

static const struct ohsm_cli_opt quorum_delete_opts[] = {
    {"scope", '\0', "SCOPE", OHSM_CLI_O_REQUIRED, scopes,
     "Scope of which token(s) will be deleted"},
    END_OPTS,
};

static const struct ohsm_cli_opt cluster_activate_opts[] = {
    OPT_PASSWORD("The new password of the admin user", ", twice"),
    END_OPTS,
};

/* ---- keys and cryptography ---- */

static const struct ohsm_cli_choice hashes[] = {
    {"sha1", "SHA-1"},     {"sha224", "SHA-224"}, {"sha256", "SHA-256"},
    {"sha384", "SHA-384"}, {"sha512", "SHA-512"}, {NULL, NULL},
};

static const struct ohsm_cli_choice mgfs[] = {
    {"mgf1-sha1", "MGF1 with SHA-1"},     {"mgf1-sha224", "MGF1 with SHA-224"},
    {"mgf1-sha256", "MGF1 with SHA-256"}, {"mgf1-sha384", "MGF1 with SHA-384"},
    {"mgf1-sha512", "MGF1 with SHA-512"}, {NULL, NULL},
};

static const struct ohsm_cli_choice curves[] = {
    {"prime256v1", "NIST P-256 (same as secp256r1)"},
    {"secp256r1", "NIST P-256"},
    {"secp224r1", "NIST P-224"},
    {"secp384r1", "NIST P-384"},
    {"secp521r1", "NIST P-521"},
    {"secp256k1", "the SEC 2 Koblitz curve of Bitcoin"},
    {NULL, NULL},
};

static const struct ohsm_cli_choice import_classes[] = {
    {"rsa-public", "an RSA public key (\"PUBLIC KEY\" or \"RSA PUBLIC KEY\")"},
    {"ec-public", "an EC public key (\"PUBLIC KEY\")"},
    {"rsa-private", "an RSA private key in the clear (openhsm extension)"},
    {"ec-private", "an EC private key in the clear (openhsm extension)"},
    {NULL, NULL},
};

static const struct ohsm_cli_choice unwrap_classes[] = {
    {"aes", "an AES key"},
    {"des3", "a Triple DES key (24 bytes)"},
    {"generic-secret", "a generic secret (HMAC) key"},
    {"rsa-private", "an RSA private key (PKCS#8)"},
    {"ec-private", "an EC private key (PKCS#8)"},
    {NULL, NULL},
};

static const struct ohsm_cli_choice data_types[] = {
    {"raw", "the data is hashed in the HSM (default)"},
    {"digest", "the data is already the digest of --hash-function"},
    {NULL, NULL},
};

static const struct ohsm_cli_choice cu_role[] = {
    {"crypto-user", "keys are shared with crypto users only"},
    {NULL, NULL},
};

static const struct ohsm_cli_choice encodings[] = {
    {"reference-pem", "PEM formatted key reference (supports private keys)"},
    {"pem", "the public key as a PEM \"PUBLIC KEY\" block"},
    {NULL, NULL},
};

/* clang-format off */
/* --data may be a plaintext: secret, so it is wiped after use and kept out of the history. */
#define REQ OHSM_CLI_O_REQUIRED
#define MULTI OHSM_CLI_O_MULTI
#define OPT_FILTER(name, what)                                                                     \
    {name, '\0', "FILTER", REQ | MULTI, NULL,                                                     \
     "Selects " what ":\nkey-reference=0x... (hex or decimal) or attr.NAME=VALUE terms (CLI\n"  \
     "attribute names) that must all hold; exactly one key must match"}
#define OPT_LABEL(name, what) {name, '\0', "LABEL", REQ, NULL, "Label of " what " (at most 127 bytes)"}
#define OPT_SESSION(what)                                                                          \
    {"session", '\0', NULL, OHSM_CLI_O_FLAG, NULL,                                                \
     "Make " what " a session key: it lives only on one HSM and is gone when this\n"            \
     "session ends (token=false)"}
#define OPT_ATTRS(name, what)                                                                      \
    {name, '\0', "KEY_ATTRIBUTES", MULTI, NULL,                                                   \
     "Attributes of " what " as NAME=VALUE terms, e.g. encrypt=true extractable=false"}
#define OPT_SHARE(what)                                                                            \
    {"share-crypto-users", '\0', "USERNAMES", MULTI, NULL,                                        \
     "Crypto users to share " what " with (they may use it, not manage it)"}
#define OPT_QUORUM                                                                                 \
    {"manage-key-quorum-value", '\0', "MANAGE_KEY_QUORUM_VALUE", OHSM_CLI_O_NUMBER, NULL,        \
     "Approvals needed to manage the key (key wrap, unwrap, share, unshare,\n"                    \
     "set-attribute): 0 to 8; 0 and 1 mean none. Above 1, at most the users associated\n"        \
     "with the key (owner and crypto users it is shared with)"},                                   \
    {"use-key-quorum-value", '\0', "USE_KEY_QUORUM_VALUE", OHSM_CLI_O_NUMBER, NULL,              \
     "Approvals needed to use the key (crypto sign): 0 to 8; 0 and 1 mean none.\n"               \
     "Above 1, at most the users associated with the key"}
#define OPT_KEY_APPROVAL(name, what)                                                               \
    {name, '\0', "APPROVAL", 0, NULL,                                                             \
     "Filepath of a signed quorum token file that approves the operation.\nNeeded when " what}
#define OPT_HASH(flags) {"hash-function", '\0', "HASH_FUNCTION", flags, hashes, "Hash function"}
#define OPT_MGF {"mgf", '\0', "MGF", REQ, mgfs, "Mask generation function (MGF1 with a hash)"}
#define OPT_DATA(what)                                                                             \
    {"data", '\0', "DATA", OHSM_CLI_O_SECRET, NULL, "Base64 of " what " (or give --data-path)"},                       \
    {"data-path", '\0', "DATA_PATH", 0, NULL, "File holding " what " (or give --data)"}
#define OPT_SIG                                                                                    \
    {"signature", '\0', "SIGNATURE", 0, NULL, "The signature, base64 (or give --signature-path)"}, \
    {"signature-path", '\0', "SIGNATURE_PATH", 0, NULL,                                           \
     "File holding the signature (or give --signature)"}
#define OPT_DATA_TYPE                                                                              \
    {"data-type", '\0', "DATA_TYPE", 0, data_types, "What --data holds (default raw)"}
#define OPT_TAG(flags, dflt) {"tag-length-bits", '\0', "TAG_LENGTH_BITS", flags, NULL,            \
                              "AES-GCM tag length in bits (96 to 128" dflt ")"}
#define OPT_AAD {"aad", '\0', "AAD", 0, NULL, "AES-GCM additional authenticated data, in hex"}
#define OPT_IV(flags, what) {"iv", '\0', "IV", flags, NULL, what}
/* clang-format on */

static const struct ohsm_cli_opt gen_sym_opts[] = {
    OPT_LABEL("label", "the key"),
    OPT_SESSION("the key"),
    {"key-length-bytes", '\0', "KEY_LENGTH_BYTES", REQ, NULL,
     "Key length in bytes: 16, 24 or 32 for AES; 1 to 800 for a generic secret"},
    OPT_ATTRS("attributes", "the key"),
    OPT_SHARE("the key"),
    OPT_QUORUM,
    END_OPTS,
};

#define PAIR_COMMON                                                                                \
    OPT_LABEL("public-label", "the public key"), OPT_LABEL("private-label", "the private key"),    \
        OPT_SESSION("the pair"), OPT_ATTRS("public-attributes", "the public key"),                 \
        OPT_ATTRS("private-attributes", "the private key"), OPT_SHARE("the private key"),          \
        OPT_QUORUM

static const struct ohsm_cli_opt gen_rsa_opts[] = {
    PAIR_COMMON,
    {"modulus-size-bits", '\0', "MODULUS_SIZE_BITS", REQ, NULL,
     "Modulus size in bits: 2048 to 4096, a multiple of 8"},
    {"public-exponent", '\0', "PUBLIC_EXPONENT", REQ, NULL,
     "Public exponent: odd and at least 65537 (decimal or 0x-hex)"},
    END_OPTS,
};

static const struct ohsm_cli_opt gen_ec_opts[] = {
    PAIR_COMMON,
    {"curve", '\0', "CURVE", REQ, curves, "Elliptic curve"},
    END_OPTS,
};

static const struct ohsm_cli_opt import_pem_opts[] = {
    {"path", '\0', "PATH", REQ, NULL, "PEM file holding the key"},
    OPT_LABEL("label", "the imported key"),
    {"key-type-class", '\0', "KEY_TYPE_CLASS", REQ, import_classes, "Type and class of the key"},
    OPT_ATTRS("attributes", "the imported key"),
    OPT_SHARE("the imported key"),
    OPT_QUORUM,
    END_OPTS,
};

static const struct ohsm_cli_opt key_list_opts[] = {
    {"filter", '\0', "FILTER", MULTI, NULL,
     "Only keys matching key-reference=0x... and/or attr.NAME=VALUE terms"},
    {"max-items", '\0', "MAX_ITEMS", 0, NULL, "Keys per page (default 10)"},
    {"starting-token", '\0', "STARTING_TOKEN", 0, NULL,
     "Where the page starts: the next_token of the previous page"},
    {"verbose", 'v', NULL, OHSM_CLI_O_FLAG, NULL, "Show every attribute and the key info"},
    END_OPTS,
};

static const struct ohsm_cli_opt key_delete_opts[] = {
    OPT_FILTER("filter", "the key to delete"),
    END_OPTS,
};

#define MANAGE_APPROVAL                                                                            \
    "the key's manage-key-quorum-value is above 1 (a key-management\ntoken for the key)"

static const struct ohsm_cli_opt key_set_attr_opts[] = {
    OPT_FILTER("filter", "the key to change"),
    {"name", '\0', "KEY_ATTRIBUTE", REQ, NULL, "Attribute to set (a CLI attribute name)"},
    {"value", '\0', "KEY_ATTRIBUTE_VALUE", REQ, NULL, "Its new value"},
    OPT_KEY_APPROVAL("approval", MANAGE_APPROVAL),
    END_OPTS,
};

static const struct ohsm_cli_opt key_share_opts[] = {
    OPT_FILTER("filter", "the key"),
    {"username", '\0', "USERNAME", REQ, NULL, "The crypto user"},
    {"role", '\0', "ROLE", REQ, cu_role, "Role of that user"},
    OPT_KEY_APPROVAL("approval", MANAGE_APPROVAL),
    END_OPTS,
};

static const struct ohsm_cli_opt gen_file_opts[] = {
    {"encoding", '\0', "ENCODING", REQ, encodings, "Format of the file"},
    {"path", '\0', "PATH", REQ, NULL, "File to write"},
    OPT_FILTER("filter", "an RSA or EC key (either half of a pair)"),
    END_OPTS,
};

/* clang-format off */
#define WRAP_COMMON                                                                                \
    OPT_FILTER("payload-filter", "the key to wrap (extractable, owned by you)"),                   \
    OPT_FILTER("wrapping-filter", "the wrapping key (wrap=true)"),                                 \
    {"path", '\0', "PATH", 0, NULL, "Write the wrapped key to this file instead of printing it"}, \
    OPT_KEY_APPROVAL("payload-approval",                                                           \
                     "the payload key's manage-key-quorum-value is above 1\n"                      \
                     "(a key-management token for the payload key)"),                              \
    OPT_KEY_APPROVAL("wrapping-approval",                                                          \
                     "the wrapping key's manage-key-quorum-value is above 1\n"                     \
                     "(a key-management token for the wrapping key)")
/* clang-format on */

static const struct ohsm_cli_opt wrap_opts[] = {WRAP_COMMON, END_OPTS};
static const struct ohsm_cli_opt wrap_gcm_opts[] = {WRAP_COMMON, OPT_TAG(REQ, ""), OPT_AAD,
                                                    END_OPTS};
static const struct ohsm_cli_opt wrap_oaep_opts[] = {WRAP_COMMON, OPT_HASH(REQ), OPT_MGF, END_OPTS};

#define UNWRAP_COMMON                                                                              \
    OPT_FILTER("filter", "the unwrapping key (unwrap=true)"),                                      \
        {"key-type-class", '\0',                                                                   \
         "KEY_TYPE_CLASS", REQ,                                                                    \
         unwrap_classes,   "Type and class of the wrapped key"},                                   \
        OPT_LABEL("label", "the unwrapped key"), OPT_DATA("the wrapped key"),                      \
        OPT_ATTRS("attributes", "the unwrapped key"), OPT_SHARE("the unwrapped key"),              \
        OPT_SESSION("the unwrapped key"), OPT_QUORUM,                                              \
        OPT_KEY_APPROVAL("approval", "the unwrapping key's manage-key-quorum-value is above 1\n"   \
                                     "(a key-management token for the unwrapping key)")

static const struct ohsm_cli_opt unwrap_opts[] = {UNWRAP_COMMON, END_OPTS};
static const struct ohsm_cli_opt unwrap_gcm_opts[] = {
    UNWRAP_COMMON, OPT_TAG(REQ, ""), OPT_AAD,
    OPT_IV(REQ, "The IV of the wrapping (the first 12 bytes of the data), in hex"), END_OPTS};
static const struct ohsm_cli_opt unwrap_oaep_opts[] = {UNWRAP_COMMON, OPT_HASH(REQ), OPT_MGF,
                                                       END_OPTS};
/* cloudhsm-aes-gcm takes the IV from the wrapped data (the HSM put it first): no --iv. */
static const struct ohsm_cli_opt unwrap_cgcm_opts[] = {UNWRAP_COMMON, OPT_TAG(REQ, ""), OPT_AAD,
                                                       END_OPTS};

#define SIGN_COMMON OPT_FILTER("key-filter", "the key"), OPT_HASH(REQ), OPT_DATA("the data")
#define USE_APPROVAL                                                                               \
    OPT_KEY_APPROVAL("approval", "the key's use-key-quorum-value is above 1 (a key-usage\n"        \
                                 "token for the key)")

static const struct ohsm_cli_opt sign_opts[] = {SIGN_COMMON, OPT_DATA_TYPE, USE_APPROVAL, END_OPTS};
static const struct ohsm_cli_opt sign_pss_opts[] = {
    SIGN_COMMON,  OPT_DATA_TYPE,
    OPT_MGF,      {"salt-length", '\0', "SALT_LENGTH", REQ, NULL, "PSS salt length in bytes"},
    USE_APPROVAL, END_OPTS,
};
static const struct ohsm_cli_opt sign_hmac_opts[] = {SIGN_COMMON, USE_APPROVAL, END_OPTS};
static const struct ohsm_cli_opt verify_opts[] = {SIGN_COMMON, OPT_SIG, OPT_DATA_TYPE, END_OPTS};
static const struct ohsm_cli_opt verify_pss_opts[] = {
    SIGN_COMMON,
    OPT_SIG,
    OPT_DATA_TYPE,
    OPT_MGF,
    {"salt-length", '\0', "SALT_LENGTH", REQ, NULL, "PSS salt length in bytes"},
    END_OPTS};
static const struct ohsm_cli_opt verify_hmac_opts[] = {SIGN_COMMON, OPT_SIG, END_OPTS};

#define CIPHER_COMMON OPT_FILTER("key-filter", "the key"), OPT_DATA("the input")

static const struct ohsm_cli_opt enc_gcm_opts[] = {
    CIPHER_COMMON, OPT_IV(0, "Refused: the HSM makes every AES-GCM IV (printed as iv)"), OPT_AAD,
    OPT_TAG(0, "; default 128"), END_OPTS};
static const struct ohsm_cli_opt dec_gcm_opts[] = {CIPHER_COMMON,
                                                   OPT_IV(REQ, "The IV of the encryption, in hex"),
                                                   OPT_AAD, OPT_TAG(0, "; default 128"), END_OPTS};
static const struct ohsm_cli_opt enc_iv_opts[] = {
    CIPHER_COMMON, OPT_IV(0, "16-byte IV in hex (default: one made by the HSM, printed)"),
    END_OPTS};
static const struct ohsm_cli_opt dec_iv_opts[] = {
    CIPHER_COMMON, OPT_IV(REQ, "The IV of the encryption, in hex"), END_OPTS};
static const struct ohsm_cli_opt ecb_opts[] = {CIPHER_COMMON, END_OPTS};
static const struct ohsm_cli_opt oaep_opts[] = {CIPHER_COMMON, OPT_HASH(REQ), OPT_MGF, END_OPTS};

static const struct ohsm_cli_opt digest_opts[] = {OPT_HASH(REQ), OPT_DATA("the data"), END_OPTS};
static const struct ohsm_cli_opt random_opts[] = {
    {"length-bytes", '\0', "LENGTH_BYTES", REQ, NULL, "How many bytes (1 to 65536)"},
    END_OPTS,
};

static const struct ohsm_cli_cmd cmds[] = {
    {"cluster", "Manage the cluster", NULL, NULL, NULL, 0, NOOP, NULL},
    {"cluster activate", "Activate a new cluster",
     "Sets the first password of the admin user. Until this is done the cluster is not\n"
     "active and the admin is an unactivated admin; afterwards the admin logs in with the\n"
     "new password. Runs as the unactivated admin; no login needed.",
     cluster_activate_opts, NULL, OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_cluster_activate},
    {"cluster hsm-info", "List the HSMs of the cluster with their hardware and firmware details",
     NULL, NULL, NULL, 0, OHSM_OP_CLUSTER_INFO, ohsm_cli_cmd_cluster_hsm_info},
    {"cluster sync-repair", "Bring lagging HSMs up to date (openhsm extension)",
     "Copies the newest masked object of every key that an HSM lacks or holds an older\n"
     "version of, and deletes keys deleted elsewhere (with the sealed proof of deletion).\n"
     "Prints the sync status afterwards and how many objects were repaired.",
     NULL, NULL, 0, OHSM_OP_MASKED_OBJECTS, ohsm_cli_cmd_cluster_sync_repair},
    {"cluster sync-status", "Compare the keys and users of every HSM (openhsm extension)",
     "Every HSM reports digests of its keys and users; differences are listed per HSM as\n"
     "missing, extra or stale keys or users.",
     NULL, NULL, 0, OHSM_OP_SYNC_STATUS, ohsm_cli_cmd_cluster_sync_status},
    {"crypto", "Cryptographic operations with keys in the HSMs", NULL, NULL, NULL, 0, NOOP, NULL},
    {"crypto decrypt", "Decrypt data (openhsm extension)", NULL, NULL, NULL, 0, NOOP, NULL},
    {"crypto decrypt aes-cbc", "Decrypt with AES-CBC and PKCS#7 padding", NULL, dec_iv_opts, NULL,
     0, OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_decrypt},
    {"crypto decrypt aes-ctr", "Decrypt with AES-CTR", NULL, dec_iv_opts, NULL, 0,
     OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_decrypt},
    {"crypto decrypt aes-ecb", "Decrypt with AES-ECB (no padding)", NULL, ecb_opts, NULL, 0,
     OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_decrypt},
    {"crypto decrypt aes-gcm", "Decrypt and authenticate with AES-GCM",
     "The data is the ciphertext followed by the tag, as crypto encrypt aes-gcm prints it.",
     dec_gcm_opts, NULL, 0, OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_decrypt},
    {"crypto decrypt rsa-oaep", "Decrypt with an RSA private key and OAEP", NULL, oaep_opts, NULL,
     0, OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_decrypt},
    {"crypto digest", "Hash data in the HSM (openhsm extension)", NULL, digest_opts, NULL, 0,
     OHSM_OP_DIGEST_HMAC, ohsm_cli_cmd_crypto_digest},
    {"crypto encrypt", "Encrypt data (openhsm extension)", NULL, NULL, NULL, 0, NOOP, NULL},
    {"crypto encrypt aes-cbc", "Encrypt with AES-CBC and PKCS#7 padding", NULL, enc_iv_opts, NULL,
     0, OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_encrypt},
    {"crypto encrypt aes-ctr", "Encrypt with AES-CTR (the IV is the initial counter block)", NULL,
     enc_iv_opts, NULL, 0, OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_encrypt},
    {"crypto encrypt aes-ecb", "Encrypt with AES-ECB (no padding: whole 16-byte blocks)", NULL,
     ecb_opts, NULL, 0, OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_encrypt},
    {"crypto encrypt aes-gcm", "Encrypt and authenticate with AES-GCM",
     "Prints the ciphertext followed by the tag, and the IV the HSM generated for it.",
     enc_gcm_opts, NULL, 0, OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_encrypt},
    {"crypto encrypt rsa-oaep", "Encrypt with an RSA public key and OAEP", NULL, oaep_opts, NULL, 0,
     OHSM_OP_ENCRYPT_DECRYPT, ohsm_cli_cmd_crypto_encrypt},
    {"crypto random", "Random bytes from the HSM (openhsm extension)", NULL, random_opts, NULL, 0,
     NOOP, ohsm_cli_cmd_crypto_random},
    {"crypto sign", "Sign data with a private key (or make an HMAC)", NULL, NULL, NULL, 0, NOOP,
     NULL},
    {"crypto sign ecdsa", "Sign with ECDSA",
     "The signature is r || s, each the size of the curve's order (PKCS#11).", sign_opts, NULL, 0,
     OHSM_OP_SIGN_VERIFY, ohsm_cli_cmd_crypto_sign},
    {"crypto sign hmac", "Make an HMAC with a generic secret key (openhsm extension)", NULL,
     sign_hmac_opts, NULL, 0, OHSM_OP_DIGEST_HMAC, ohsm_cli_cmd_crypto_sign},
    {"crypto sign rsa-pkcs", "Sign with RSA PKCS#1 v1.5", NULL, sign_opts, NULL, 0,
     OHSM_OP_SIGN_VERIFY, ohsm_cli_cmd_crypto_sign},
    {"crypto sign rsa-pkcs-pss", "Sign with RSA-PSS", NULL, sign_pss_opts, NULL, 0,
     OHSM_OP_SIGN_VERIFY, ohsm_cli_cmd_crypto_sign},
    {"crypto verify", "Verify a signature with a public key (or an HMAC)", NULL, NULL, NULL, 0,
     NOOP, NULL},
    {"crypto verify ecdsa", "Verify an ECDSA signature (r || s)", NULL, verify_opts, NULL, 0,
     OHSM_OP_SIGN_VERIFY, ohsm_cli_cmd_crypto_verify},
    {"crypto verify hmac", "Verify an HMAC (openhsm extension)", NULL, verify_hmac_opts, NULL, 0,
     OHSM_OP_DIGEST_HMAC, ohsm_cli_cmd_crypto_verify},
    {"crypto verify rsa-pkcs", "Verify an RSA PKCS#1 v1.5 signature", NULL, verify_opts, NULL, 0,
     OHSM_OP_SIGN_VERIFY, ohsm_cli_cmd_crypto_verify},
    {"crypto verify rsa-pkcs-pss", "Verify an RSA-PSS signature", NULL, verify_pss_opts, NULL, 0,
     OHSM_OP_SIGN_VERIFY, ohsm_cli_cmd_crypto_verify},
    {"exit", "Leave the interactive shell (same as quit)", NULL, NULL, NULL,
     OHSM_CLI_C_NO_CLUSTER | OHSM_CLI_C_OWN_SESSION | OHSM_CLI_C_HIDDEN, NOOP, ohsm_cli_cmd_quit},
    {"help", "Print help for the program or for the given command", NULL, NULL, "COMMAND",
     OHSM_CLI_C_NO_CLUSTER | OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_help},
    {"interactive", "Start an interactive shell (prompt: aws-cloudhsm > )",
     "Reads commands line by line, each printing one JSON object, until quit, exit or end\n"
     "of input. A login lasts until logout or the end of the shell.",
     NULL, NULL, OHSM_CLI_C_NO_CLUSTER | OHSM_CLI_C_OWN_SESSION | OHSM_CLI_C_ARGV_ONLY, NOOP,
     ohsm_cli_cmd_interactive},
    {"key", "Manage keys", NULL, NULL, NULL, 0, NOOP, NULL},
    {"key delete", "Delete a key from every HSM",
     "Only the key's owner may delete it; users it is shared with may only use it.",
     key_delete_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_delete},
    {"key generate-asymmetric-pair", "Generate a key pair", NULL, NULL, NULL, 0, NOOP, NULL},
    {"key generate-asymmetric-pair ec", "Generate an EC key pair", NULL, gen_ec_opts, NULL, 0,
     OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_gen_pair},
    {"key generate-asymmetric-pair rsa", "Generate an RSA key pair", NULL, gen_rsa_opts, NULL, 0,
     OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_gen_pair},
    {"key generate-file", "Write a public key, or a private key's reference, to a file", NULL,
     gen_file_opts, NULL, 0, OHSM_OP_KEY_INFO, ohsm_cli_cmd_key_generate_file},
    {"key generate-symmetric", "Generate a symmetric key", NULL, NULL, NULL, 0, NOOP, NULL},
    {"key generate-symmetric aes", "Generate an AES key", NULL, gen_sym_opts, NULL, 0,
     OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_gen_symmetric},
    {"key generate-symmetric generic-secret", "Generate a generic secret key (for HMAC)", NULL,
     gen_sym_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_gen_symmetric},
    {"key import", "Import a key", NULL, NULL, NULL, 0, NOOP, NULL},
    {"key import pem", "Import a PEM key", NULL, import_pem_opts, NULL, 0, OHSM_OP_KEY_MGMT,
     ohsm_cli_cmd_key_import_pem},
    {"key list", "List the keys you may see",
     "A crypto user sees the keys it owns or is shared; an admin sees every key's\n"
     "attributes but may use none. cluster-coverage is full when every HSM holds the key\n"
     "at the same version.",
     key_list_opts, NULL, 0, OHSM_OP_KEY_INFO, ohsm_cli_cmd_key_list},
    {"key set-attribute", "Set an attribute of a key on every HSM",
     "The owner may change attributes of a modifiable key, some only one way (sensitive\n"
     "to true, modifiable to false); an admin may set only trusted.",
     key_set_attr_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_set_attribute},
    {"key share", "Share a key with a crypto user", NULL, key_share_opts, NULL, 0, OHSM_OP_KEY_MGMT,
     ohsm_cli_cmd_key_share},
    {"key unshare", "Stop sharing a key with a crypto user",
     "Refused when it would leave the key fewer associated users (owner and shares)\n"
     "than a key quorum value above 1.",
     key_share_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_share},
    {"key unwrap", "Unwrap (import) a wrapped key", NULL, NULL, NULL, 0, NOOP, NULL},
    {"key unwrap aes-gcm", "Unwrap with AES-GCM", NULL, unwrap_gcm_opts, NULL, 0, OHSM_OP_KEY_MGMT,
     ohsm_cli_cmd_key_unwrap},
    {"key unwrap aes-kwp", "Unwrap with AES key wrap with padding, RFC 5649 (openhsm extension)",
     NULL, unwrap_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_unwrap},
    {"key unwrap aes-no-pad", "Unwrap with AES key wrap, RFC 3394", NULL, unwrap_opts, NULL, 0,
     OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_unwrap},
    {"key unwrap aes-pkcs5-pad", "Unwrap with AES key wrap after PKCS#5 padding", NULL, unwrap_opts,
     NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_unwrap},
    {"key unwrap aes-zero-pad", "Unwrap with AES key wrap after zero padding", NULL, unwrap_opts,
     NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_unwrap},
    {"key unwrap cloudhsm-aes-gcm", "Unwrap with CloudHSM AES-GCM",
     "The data is IV (12 bytes) || ciphertext || tag, as key wrap cloudhsm-aes-gcm writes it.",
     unwrap_cgcm_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_unwrap},
    {"key unwrap rsa-aes", "Unwrap with an RSA private key and RSA-AES",
     "The data is the OAEP-encrypted AES key (modulus length) followed by the key wrapped\n"
     "with that AES key by AES key wrap with padding (RFC 5649), PKCS#11 CKM_RSA_AES_KEY_WRAP.",
     unwrap_oaep_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_unwrap},
    {"key unwrap rsa-oaep", "Unwrap with an RSA private key and OAEP", NULL, unwrap_oaep_opts, NULL,
     0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_unwrap},
    {"key unwrap rsa-pkcs", "Unwrap with an RSA private key and PKCS#1 v1.5", NULL, unwrap_opts,
     NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_unwrap},
    {"key wrap", "Wrap (export encrypted) a key", NULL, NULL, NULL, 0, NOOP, NULL},
    {"key wrap aes-gcm", "Wrap with AES-GCM",
     "The wrapped key is IV || ciphertext || tag, with a fresh 12-byte IV the HSM draws;\n"
     "the IV is also printed (iv, hex), as key unwrap aes-gcm takes it as --iv.",
     wrap_gcm_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"key wrap aes-kwp", "Wrap with AES key wrap with padding, RFC 5649 (openhsm extension)", NULL,
     wrap_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"key wrap aes-no-pad", "Wrap with AES key wrap, RFC 3394 (whole 8-byte blocks)", NULL,
     wrap_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"key wrap aes-pkcs5-pad", "Wrap with AES key wrap after PKCS#5 padding", NULL, wrap_opts, NULL,
     0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"key wrap aes-zero-pad", "Wrap with AES key wrap after zero padding", NULL, wrap_opts, NULL, 0,
     OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"key wrap cloudhsm-aes-gcm", "Wrap with CloudHSM AES-GCM",
     "The wrapped key is IV || ciphertext || tag, with a fresh 12-byte IV the HSM draws;\n"
     "key unwrap cloudhsm-aes-gcm reads the IV from the data.",
     wrap_gcm_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"key wrap rsa-aes", "Wrap with an RSA public key and RSA-AES",
     "A fresh AES-256 key is encrypted with the RSA key and OAEP, then wraps the key with AES key\n"
     "wrap with padding (RFC 5649): PKCS#11 CKM_RSA_AES_KEY_WRAP.",
     wrap_oaep_opts, NULL, 0, OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"key wrap rsa-oaep", "Wrap with an RSA public key and OAEP", NULL, wrap_oaep_opts, NULL, 0,
     OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"key wrap rsa-pkcs", "Wrap with an RSA public key and PKCS#1 v1.5", NULL, wrap_opts, NULL, 0,
     OHSM_OP_KEY_MGMT, ohsm_cli_cmd_key_wrap},
    {"login", "Log in to every HSM of the cluster",
     "The role admin also matches the unactivated admin of a cluster not yet activated.\n"
     "Five wrong passwords in a row lock the user out until an admin sets a new password.\n"
     "A user with MFA logs in with login mfa-token-sign.",
     login_opts, NULL, OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_login},
    {"login mfa-token-sign", "Log in with token-sign MFA",
     "For a user with an MFA key (user change-mfa token-sign). After the password, the\n"
     "CLI writes one unsigned token per HSM to --token and asks for the signed token\n"
     "file: sign each token with the private key (openssl pkeyutl -sign -inkey KEY\n"
     "-pkeyopt digest:sha256 -in token.bin), put the base64 signatures in \"signed\".\n"
     "The options may also come before mfa-token-sign (login --username U --role R\n"
     "mfa-token-sign --token FILE). Every failed or abandoned attempt counts toward\n"
     "lockout like a wrong password.",
     login_mfa_opts, NULL, OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_login_mfa},
    {"logout", "Log out of every HSM of the cluster", NULL, NULL, NULL, OHSM_CLI_C_OWN_SESSION,
     NOOP, ohsm_cli_cmd_logout},
    {"quit", "Leave the interactive shell", NULL, NULL, NULL,
     OHSM_CLI_C_NO_CLUSTER | OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_quit},
    {"quorum", "Manage quorum (M of N) authentication", NULL, NULL, NULL, 0, NOOP, NULL},
    {"quorum token-sign", "Quorum authentication with signed tokens", NULL, NULL, NULL, 0, NOOP,
     NULL},
    {"quorum token-sign delete", "Delete one or more quorum tokens",
     "Who can run it: admin (scope all); any logged-in user for their own tokens.",
     quorum_delete_opts, NULL, 0, NOOP, ohsm_cli_cmd_quorum_delete},
    {"quorum token-sign generate", "Generate a token",
     "Writes a quorum token for the service (one approval record per HSM) to --token;\n"
     "approvers sign its \"token\" with their registered private keys and add\n"
     "{\"username\", \"signature\"} to \"signatures\". One active token per user and\n"
     "service for user, quorum and cluster. A registration token is signed by the user\n"
     "registering a quorum key. key-usage and key-management tokens are for the one key\n"
     "--filter names (a crypto user who owns or is shared it), approved by crypto users\n"
     "associated with the key; a user may hold several. Tokens last for the session and\n"
     "expire (token-timeout-seconds).\n"
     "Who can run it: admin, crypto-user.",
     quorum_generate_opts, NULL, 0, NOOP, ohsm_cli_cmd_quorum_generate},
    {"quorum token-sign list", "List the token-sign tokens in your cluster",
     "Who can run it: admin, crypto-user.", NULL, NULL, 0, NOOP, ohsm_cli_cmd_quorum_list},
    {"quorum token-sign list-quorum-values", "List current quorum values", NULL, NULL, NULL, 0,
     OHSM_OP_CLUSTER_INFO, ohsm_cli_cmd_quorum_values},
    {"quorum token-sign set-quorum-value", "Set a quorum value",
     "Once the quorum service's value is above 1, changing any value needs --approval.",
     quorum_set_opts, NULL, 0, OHSM_OP_MANAGE_USERS, ohsm_cli_cmd_quorum_set},
    {"user", "Manage the users of the HSMs", NULL, NULL, NULL, 0, NOOP, NULL},
    {"user change-mfa", "Change a user's MFA strategy", NULL, NULL, NULL, 0, NOOP, NULL},
    {"user change-mfa token-sign", "Register or deregister a public key using token-sign MFA",
     "With --token: writes one unsigned token per HSM to that file, asks for the signed\n"
     "token file and the public key PEM file, checks every signature against the key\n"
     "(RSA-2048) and registers it on every HSM with the new password. --deregister\n"
     "removes the key. Any user may change their own; an admin may change anyone's.",
     user_change_mfa_opts, NULL, 0, OHSM_OP_CHANGE_OWN_PW, ohsm_cli_cmd_user_change_mfa},
    {"user change-password", "Change a user's password",
     "Any user may change their own password; an admin may change anyone's, which also\n"
     "unlocks a locked-out user. The current password is not needed.",
     user_change_password_opts, NULL, 0, OHSM_OP_CHANGE_OWN_PW, ohsm_cli_cmd_user_change_password},
    {"user change-quorum", "Change a user's quorum strategy", NULL, NULL, NULL, 0, NOOP, NULL},
    {"user change-quorum token-sign", "Quorum strategy token-sign", NULL, NULL, NULL, 0, NOOP,
     NULL},
    {"user change-quorum token-sign activate", "Same as register", NULL, user_quorum_register_opts,
     NULL, OHSM_CLI_C_HIDDEN, OHSM_OP_MANAGE_USERS, ohsm_cli_cmd_user_quorum_register},
    {"user change-quorum token-sign register",
     "Register a user for quorum authentication with a public key",
     "Registers the logged-in user's quorum public key on every HSM. The signed token\n"
     "comes from quorum token-sign generate --service registration, signed with the\n"
     "private key of the public key given.",
     user_quorum_register_opts, NULL, 0, OHSM_OP_MANAGE_USERS, ohsm_cli_cmd_user_quorum_register},
    {"user create", "Create a user on every HSM of the cluster", NULL, user_create_opts, NULL, 0,
     OHSM_OP_MANAGE_USERS, ohsm_cli_cmd_user_create},
    {"user delete", "Delete a user from every HSM of the cluster", NULL, user_delete_opts, NULL, 0,
     OHSM_OP_MANAGE_USERS, ohsm_cli_cmd_user_delete},
    {"user list", "List the users of the cluster",
     "A user is locked when locked out on any HSM; mfa and quorum show a registered MFA\n"
     "or quorum key; cluster-coverage is full when every HSM answered and has the user,\n"
     "partial otherwise.",
     NULL, NULL, 0, OHSM_OP_CLUSTER_INFO, ohsm_cli_cmd_user_list},
};

const struct ohsm_cli_grammar ohsm_cli_grammar = {
    .prog = "openhsm-cli",
    .summary = "openhsm-cli: the CloudHSM CLI for openhsm clusters (every command prints one JSON "
               "object)",
    .cmds = cmds,
    .ncmds = sizeof(cmds) / sizeof(cmds[0]),
    .global = global_opts,
};
