/* SPDX-License-Identifier: Apache-2.0
 *
 * Help and usage text of openhsm-cli, printed only from the grammar table (grammar.h): the
 * summary and about paragraph of a row, a usage line built from its option specs, each option with
 * its allowed values, the subcommands of a group, and who may run the command (from the
 * permission table, the same data the HSM enforces). Layout follows the CloudHSM CLI's help.
 * Trusts its inputs: they are the program's own static tables.
 */
#include <string.h>

#include "cli/grammar.h"
#include "openhsm/user.h"

/* Prints text with every line indented by ind spaces. */
static void put_indented(FILE *f, const char *text, int ind)
{
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        if (len > 0) {
            fprintf(f, "%*s%.*s\n", ind, "", len, p);
        } else {
            fputc('\n', f);
        }
        if (nl == NULL) {
            break;
        }
        p = nl + 1;
    }
}

static bool append(char *buf, size_t cap, size_t *off, const char *fmt, const char *a,
                   const char *b)
{
    int r = snprintf(buf + *off, cap - *off, fmt, a, b);
    if (r < 0 || (size_t)r >= cap - *off) {
        return false;
    }
    *off += (size_t)r;
    return true;
}

/* Does some row extend c's path by one or more words? */
static bool has_children(const struct ohsm_cli_grammar *g, const char *path)
{
    size_t len = strlen(path);
    for (size_t i = 0; i < g->ncmds; i++) {
        const char *p = g->cmds[i].path;
        if (strncmp(p, path, len) == 0 && p[len] == ' ') {
            return true;
        }
    }
    return false;
}

bool ohsm_cli_usage_line(const struct ohsm_cli_grammar *g, const struct ohsm_cli_cmd *c, char *buf,
                         size_t cap)
{
    size_t off = 0;
    bool ok = append(buf, cap, &off, "%s %s [OPTIONS]", g->prog, c->path);
    for (int pass = 0; pass < 3 && ok; pass++) {
        /* Required options first, then the group of which one is needed ("<--a <A>|--b>"), then
         * the optional ones that take a value. */
        const char *sep = " <";
        for (const struct ohsm_cli_opt *o = c->opts; ok && o != NULL && o->name != NULL; o++) {
            bool req = (o->flags & OHSM_CLI_O_REQUIRED) != 0;
            bool one = (o->flags & OHSM_CLI_O_ONE_OF) != 0;
            bool flag = (o->flags & OHSM_CLI_O_FLAG) != 0;
            if (pass == 1 && one) {
                ok = append(buf, cap, &off, "%s--%s", sep, o->name);
                ok = ok && (flag || append(buf, cap, &off, " <%s>%s", o->metavar, ""));
                sep = "|";
                continue;
            }
            if (pass == 1 || one || flag || req != (pass == 0)) {
                continue;
            }
            const char *dots = (o->flags & OHSM_CLI_O_MULTI) != 0 ? "..." : "";
            ok = append(buf, cap, &off, req ? " --%s <%s>" : " [--%s <%s>", o->name, o->metavar);
            ok = ok && append(buf, cap, &off, "%s%s", dots, req ? "" : "]");
        }
        if (ok && pass == 1 && sep[0] == '|') {
            ok = append(buf, cap, &off, ">%s%s", "", "");
        }
    }
    if (ok && c->positional != NULL) {
        ok = append(buf, cap, &off, " [%s]%s", c->positional, "...");
    }
    if (ok && has_children(g, c->path)) {
        ok = append(buf, cap, &off, " [COMMAND]%s%s", "", "");
    }
    return ok;
}

static void put_opt(FILE *f, const struct ohsm_cli_opt *o)
{
    char sh[8] = "    ";
    if (o->short_name != '\0') {
        (void)ohsm_cli_fmt(sh, sizeof(sh), "-%c, ", o->short_name); /* 4 bytes: always fits */
    }
    if ((o->flags & OHSM_CLI_O_FLAG) != 0) {
        fprintf(f, "  %s--%s\n", sh, o->name);
    } else {
        fprintf(f, "  %s--%s <%s>%s\n", sh, o->name, o->metavar,
                (o->flags & OHSM_CLI_O_MULTI) != 0 ? "..." : "");
    }
    put_indented(f, o->help, 10);
    if (o->choices != NULL) {
        int w = 0;
        for (const struct ohsm_cli_choice *ch = o->choices; ch->value != NULL; ch++) {
            int l = (int)strlen(ch->value) + 1;
            w = l > w ? l : w;
        }
        fprintf(f, "\n          Possible values:\n");
        for (const struct ohsm_cli_choice *ch = o->choices; ch->value != NULL; ch++) {
            fprintf(f, "          - %s:%*s%s\n", ch->value, w - (int)strlen(ch->value), "",
                    ch->help);
        }
    }
    fputc('\n', f);
}

static void put_opts(FILE *f, const struct ohsm_cli_grammar *g, const struct ohsm_cli_opt *own)
{
    fprintf(f, "Options:\n");
    for (const struct ohsm_cli_opt *o = own; o != NULL && o->name != NULL; o++) {
        put_opt(f, o);
    }
    for (const struct ohsm_cli_opt *o = g->global; o != NULL && o->name != NULL; o++) {
        put_opt(f, o);
    }
    fprintf(f, "  -h, --help\n          Print help\n");
}

/* Lists the rows one word below w[0..nw), aligned. */
static void put_children(FILE *f, const struct ohsm_cli_grammar *g, const char *const *w, size_t nw)
{
    int width = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < g->ncmds; i++) {
            const struct ohsm_cli_cmd *c = &g->cmds[i];
            if ((c->flags & OHSM_CLI_C_HIDDEN) != 0 || ohsm_cli_path_words(c->path) != nw + 1 ||
                !ohsm_cli_path_prefix(c->path, w, nw)) {
                continue;
            }
            const char *last = strrchr(c->path, ' ');
            last = last != NULL ? last + 1 : c->path;
            int l = (int)strlen(last);
            if (pass == 0) {
                width = l > width ? l : width;
            } else {
                fprintf(f, "  %s%*s  %s\n", last, width - l, "", c->summary);
            }
        }
    }
}

static void put_roles(FILE *f, enum ohsm_op op)
{
    static const enum ohsm_utype roles[] = {OHSM_UT_PRECO, OHSM_UT_CO, OHSM_UT_CU};
    if ((unsigned)op >= OHSM_OP_COUNT_) {
        return;
    }
    if (ohsm_perm_allowed(op, OHSM_UT_NONE)) {
        fprintf(f, "\nWho can run it: all users; no login needed\n");
        return;
    }
    fprintf(f, "\nWho can run it:");
    const char *sep = " ";
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (ohsm_perm_allowed(op, roles[i])) {
            fprintf(f, "%s%s", sep, ohsm_utype_cli_name(roles[i]));
            sep = ", ";
        }
    }
    fputc('\n', f);
}

void ohsm_cli_help_cmd(FILE *f, const struct ohsm_cli_grammar *g, const struct ohsm_cli_cmd *c)
{
    char usage[512];
    fprintf(f, "%s\n", c->summary);
    if (c->about != NULL) {
        fputc('\n', f);
        put_indented(f, c->about, 0);
    }
    if (!ohsm_cli_usage_line(g, c, usage, sizeof(usage))) {
        /* Too long to list every option: the short form (itself cut with "..." if need be). */
        (void)ohsm_cli_fmt(usage, sizeof(usage), "%s %s [OPTIONS]", g->prog, c->path);
    }
    fprintf(f, "\nUsage: %s\n\n", usage);
    if (has_children(g, c->path)) {
        const char *w[OHSM_CLI_MAX_WORDS];
        char copy[128];
        size_t nw = 0;
        int r = snprintf(copy, sizeof(copy), "%s", c->path);
        if (r > 0 && (size_t)r < sizeof(copy)) {
            for (char *save = NULL, *t = strtok_r(copy, " ", &save);
                 t != NULL && nw < OHSM_CLI_MAX_WORDS; t = strtok_r(NULL, " ", &save)) {
                w[nw++] = t;
            }
            fprintf(f, "Commands:\n");
            put_children(f, g, w, nw);
            fputc('\n', f);
        }
    }
    put_opts(f, g, c->opts);
    put_roles(f, c->op);
}

static void help_group(FILE *f, const struct ohsm_cli_grammar *g, const char *const *w, size_t nw,
                       const struct ohsm_cli_cmd *row)
{
    char path[128];
    size_t off = 0;
    path[0] = '\0';
    for (size_t k = 0; k < nw; k++) {
        if (!append(path, sizeof(path), &off, "%s%s", k > 0 ? " " : "", w[k])) {
            break;
        }
    }
    if (row != NULL) {
        fprintf(f, "%s\n", row->summary);
        if (row->about != NULL) {
            fputc('\n', f);
            put_indented(f, row->about, 0);
        }
    }
    fprintf(f, "\nUsage: %s %s <COMMAND>\n\nCommands:\n", g->prog, path);
    put_children(f, g, w, nw);
    fprintf(f, "\nOptions:\n  -h, --help\n          Print help\n");
}

void ohsm_cli_help_top(FILE *f, const struct ohsm_cli_grammar *g)
{
    fprintf(f, "%s\n\nUsage: %s [OPTIONS] <COMMAND>\n\nCommands:\n", g->summary, g->prog);
    put_children(f, g, NULL, 0);
    fputc('\n', f);
    put_opts(f, g, NULL);
    fprintf(f, "\nRun '%s help <COMMAND>...' or '<COMMAND>... --help' for a command's options.\n",
            g->prog);
}

bool ohsm_cli_help(FILE *f, const struct ohsm_cli_grammar *g, const char *const *w, size_t nw,
                   char *err, size_t cap)
{
    if (nw == 0) {
        ohsm_cli_help_top(f, g);
        return true;
    }
    const struct ohsm_cli_cmd *c = ohsm_cli_find(g, w, nw);
    if (c != NULL && c->handler != NULL) {
        ohsm_cli_help_cmd(f, g, c);
        return true;
    }
    /* A group: some row must lie below it. */
    for (size_t i = 0; i < g->ncmds; i++) {
        if (ohsm_cli_path_words(g->cmds[i].path) > nw &&
            ohsm_cli_path_prefix(g->cmds[i].path, w, nw)) {
            help_group(f, g, w, nw, c);
            return true;
        }
    }
    char path[128];
    size_t off = 0;
    path[0] = '\0';
    for (size_t k = 0; k < nw; k++) {
        if (!append(path, sizeof(path), &off, "%s%s", k > 0 ? " " : "", w[k])) {
            break;
        }
    }
    (void)ohsm_cli_fmt(err, cap, "no help for '%s': unrecognized command", path);
    return false;
}
