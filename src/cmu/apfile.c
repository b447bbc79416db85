/* SPDX-License-Identifier: Apache-2.0
 *
 * approveToken's approval file (apfile.h). Reads the text a line at a time into a bounded buffer;
 * a line or value that does not fit, a NUL byte, an unknown approver type, a name that breaks the
 * user-name rules, an approver given out of order or a count that does not match ends the parse
 * with a reason. Unknown keys are ignored, as comments are.
 */
#include "cmu/apfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* "Key = value;  # comment" -> key and value, trimmed, without the ';'. false: no '='. */
static bool kv(char *line, char **key, char **value)
{
    char *hash = strchr(line, '#');
    if (hash != NULL) {
        *hash = '\0';
    }
    char *eq = strchr(line, '=');
    if (eq == NULL) {
        return false;
    }
    *eq = '\0';
    char *k = line, *v = eq + 1;
    while (blank(*k)) {
        k++;
    }
    size_t kl = strlen(k);
    while (kl > 0 && blank(k[kl - 1])) {
        k[--kl] = '\0';
    }
    while (blank(*v)) {
        v++;
    }
    size_t vl = strlen(v);
    while (vl > 0 && (blank(v[vl - 1]) || v[vl - 1] == ';')) {
        v[--vl] = '\0';
    }
    *key = k;
    *value = v;
    return true;
}

struct state {
    char multi[OHSM_CMU_APFILE_FIELD];
    long want;
    bool have_type, have_name;
};

static bool field(struct ohsm_cmu_apfile *out, struct state *st, const char *k, const char *v,
                  char *why, size_t cap)
{
    if (strlen(v) >= OHSM_CMU_APFILE_FIELD) {
        (void)snprintf(why, cap, "the value of '%.40s' is too long", k);
        return false;
    }
    if (strcmp(k, "Multi Token File Path") == 0) {
        (void)snprintf(st->multi, sizeof(st->multi), "%s", v);
    } else if (strcmp(k, "Token File Path") == 0) {
        (void)snprintf(out->token_path, sizeof(out->token_path), "%s", v);
    } else if (strcmp(k, "Number of Approvals") == 0) {
        char *end = NULL;
        errno = 0;
        st->want = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || st->want < 1 ||
            st->want > OHSM_APPROVAL_SIGS_MAX) {
            (void)snprintf(why, cap, "Number of Approvals must be 1 to %d",
                           OHSM_APPROVAL_SIGS_MAX);
            return false;
        }
    } else if (strcmp(k, "Approver Type") == 0) {
        if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0) {
            (void)snprintf(why, cap, "Approver Type must be 2 (CO) or 1 (CU)");
            return false;
        }
        if (st->have_type || out->n >= OHSM_APPROVAL_SIGS_MAX) {
            (void)snprintf(why, cap, "Approver Type without the previous approver's Approval "
                                     "File, or more than %d approvers", OHSM_APPROVAL_SIGS_MAX);
            return false;
        }
        st->have_type = true;
    } else if (strcmp(k, "Approver Name") == 0) {
        if (!st->have_type || st->have_name ||
            ohsm_username_canon(v, out->name[out->n], sizeof(out->name[out->n])) != OHSM_OK) {
            (void)snprintf(why, cap,
                           "Approver Name '%.40s' is not a user name after an Approver Type", v);
            return false;
        }
        st->have_name = true;
    } else if (strcmp(k, "Approval File") == 0) {
        if (!st->have_name || v[0] == '\0') {
            (void)snprintf(why, cap, "Approval File must name a file after an Approver Name");
            return false;
        }
        (void)snprintf(out->sig_path[out->n], sizeof(out->sig_path[out->n]), "%s", v);
        out->n++;
        st->have_type = st->have_name = false;
    }
    return true;
}

bool ohsm_cmu_apfile_parse(const char *text, size_t len, struct ohsm_cmu_apfile *out, char *why,
                           size_t cap)
{
    struct state st;
    char line[OHSM_CMU_APFILE_LINE];
    size_t off = 0;

    memset(out, 0, sizeof(*out));
    memset(&st, 0, sizeof(st));
    st.want = -1;
    while (off < len) {
        size_t n = 0;
        while (off < len && text[off] != '\n') {
            if (text[off] == '\0') {
                (void)snprintf(why, cap, "the file holds a NUL byte");
                return false;
            }
            if (n + 1 >= sizeof(line)) {
                (void)snprintf(why, cap, "a line is longer than %d bytes",
                               OHSM_CMU_APFILE_LINE - 1);
                return false;
            }
            line[n++] = text[off++];
        }
        off += off < len; /* the '\n' */
        line[n] = '\0';
        char *k = NULL, *v = NULL;
        if (kv(line, &k, &v) && !field(out, &st, k, v, why, cap)) {
            return false;
        }
    }
    if (st.multi[0] != '\0') {
        (void)snprintf(out->token_path, sizeof(out->token_path), "%s", st.multi);
    }
    if (out->token_path[0] == '\0') {
        (void)snprintf(why, cap, "no Multi Token File Path (or Token File Path)");
        return false;
    }
    if (st.have_type || st.have_name) {
        (void)snprintf(why, cap, "the last approver has no Approval File");
        return false;
    }
    if (st.want < 0 || (size_t)st.want != out->n) {
        (void)snprintf(why, cap, "Number of Approvals is %ld but %zu approvers are given",
                       st.want, out->n);
        return false;
    }
    return true;
}
