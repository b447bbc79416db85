/* SPDX-License-Identifier: Apache-2.0
 *
 * `openhsmd events`: reads the KMS audit trail (DIR/kms/trail.jsonl, trail.h) and prints the
 * events that match every filter given, one JSON line each as stored, or checks its hash chain:
 *
 *   openhsmd events [--data-dir DIR] [--name NAME] [--key ID|ARN] [--since TIME] [--verify]
 *
 * --key matches an event whose resources hold that key ARN (an argument starting with "arn:") or
 * a key ARN ending in key/ID. --since keeps events whose eventTime is at or after TIME (ISO 8601
 * UTC, e.g. 2026-12-06T19:00:00Z or 2026-12-06, or Unix seconds). Exit status: 0 done, 1 the
 * trail is missing, unreadable or (--verify) broken, 2 bad arguments.
 *
 * Trusted: nothing. argv and the trail file are parsed with checks; lines are capped at 4 MiB.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kms/trail.h"

#define EVENTS_LINE_MAX (4u << 20)

struct filters {
    const char *name;
    const char *key;
    bool have_since;
    int64_t since_ms;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: openhsmd events [--data-dir DIR] [--name NAME] [--key ID|ARN] [--since TIME]\n"
            "       openhsmd events [--data-dir DIR] --verify\n"
            "\n"
            "Prints the KMS audit trail DIR/kms/trail.jsonl (DIR defaults to ./var), one\n"
            "CloudTrail-shaped JSON event per line; the filters are AND-ed.\n"
            "  --data-dir DIR  openhsmd's data directory (default ./var)\n"
            "  --name NAME     only events with this eventName (e.g. Encrypt, DeleteKey)\n"
            "  --key ID|ARN    only events on this key (key id or key ARN)\n"
            "  --since TIME    only events at or after TIME: ISO 8601 UTC\n"
            "                  (2026-12-06T19:00:00Z, 2026-12-06) or Unix seconds\n"
            "  --verify        check the hash chain instead: prints \"trail ok: N events\" or the\n"
            "                  first broken line (exit 1)\n"
            "  --help          this text\n");
}

/* n decimal digits at s, as an int. */
static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* ISO 8601 UTC: YYYY-MM-DD[THH:MM[:SS[.fraction]][Z]], or Unix seconds (1 to 12 digits). */
static bool parse_time(const char *s, int64_t *ms)
{
    size_t len = strlen(s);
    size_t ndig = strspn(s, "0123456789");
    if (ndig == len) {
        if (len == 0 || len > 12) {
            return false;
        }
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0') {
            return false;
        }
        *ms = (int64_t)v * 1000;
        return true;
    }
    struct tm tm = {0};
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (len < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d)) {
        return false;
    }
    const char *p = s + 10;
    if (*p == 'T') {
        if (strlen(p) < 6 || !digits(p + 1, 2, &h) || p[3] != ':' || !digits(p + 4, 2, &mi)) {
            return false;
        }
        p += 6;
        if (*p == ':') {
            if (!digits(p + 1, 2, &sec) || strnlen(p, 3) < 3) {
                return false;
            }
            p += 3;
            if (*p == '.') {
                size_t nf = strspn(p + 1, "0123456789");
                if (nf == 0) {
                    return false;
                }
                p += 1 + nf; /* CloudTrail times are whole seconds: the fraction is dropped */
            }
        }
        if (*p == 'Z') {
            p++;
        }
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) {
        return false;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    struct tm back;
    /* timegm normalises 2026-02-30 to March 2nd: such a date is not a date. */
    if (gmtime_r(&t, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1) {
        return false;
    }
    *ms = (int64_t)t * 1000;
    return true;
}

static bool key_matches(json_t *ev, const char *key)
{
    bool is_arn = strncmp(key, "arn:", 4) == 0;
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(ev, "resources"), i, r) {
        const char *arn = json_string_value(json_object_get(r, "ARN"));
        if (arn == NULL) {
            continue;
        }
        if (is_arn) {
            if (strcmp(arn, key) == 0) {
                return true;
            }
            continue;
        }
        const char *slash = strstr(arn, ":key/");
        if (slash != NULL && strcmp(slash + 5, key) == 0) {
            return true;
        }
    }
    return false;
}

static bool matches(json_t *ev, const struct filters *f)
{
    if (f->name != NULL) {
        const char *name = json_string_value(json_object_get(ev, "eventName"));
        if (name == NULL || strcmp(name, f->name) != 0) {
            return false;
        }
    }
    if (f->key != NULL && !key_matches(ev, f->key)) {
        return false;
    }
    if (f->have_since) {
        const char *when = json_string_value(json_object_get(ev, "eventTime"));
        int64_t ms = 0;
        if (when == NULL || !parse_time(when, &ms) || ms < f->since_ms) {
            return false;
        }
    }
    return true;
}

/* Prints the matching lines of path. Returns the exit status. */
static int list(const char *path, const struct filters *f)
{
    FILE *in = fopen(path, "re");
    if (in == NULL) {
        fprintf(stderr, "openhsmd events: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    char *line = malloc(EVENTS_LINE_MAX + 1);
    if (line == NULL) {
        fclose(in);
        fprintf(stderr, "openhsmd events: out of memory\n");
        return 1;
    }
    int status = 0;
    size_t lineno = 0;
    for (;;) {
        size_t n = 0;
        int c = EOF;
        bool too_long = false;
        while ((c = getc_unlocked(in)) != EOF && c != '\n') {
            if (n < EVENTS_LINE_MAX) {
                line[n++] = (char)c;
            } else {
                too_long = true;
            }
        }
        if (c == EOF && n == 0 && !too_long) {
            break;
        }
        lineno++;
        json_t *ev = too_long ? NULL : json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(ev)) {
            fprintf(stderr, "openhsmd events: %s line %zu: not a JSON event, skipped\n", path,
                    lineno);
            status = 1;
        } else if (matches(ev, f)) {
            fwrite(line, 1, n, stdout);
            fputc('\n', stdout);
        }
        json_decref(ev);
        if (c == EOF) {
            break;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "openhsmd events: read error on %s\n", path);
        status = 1;
    }
    free(line);
    fclose(in);
    fflush(stdout);
    return status;
}

static int verify(const char *path)
{
    size_t n = 0;
    size_t bad = 0;
    char why[256];
    ohsm_rv rv = ohsm_kms_trail_verify(path, &n, &bad, why, sizeof(why));
    if (rv == OHSM_OK) {
        printf("trail ok: %zu events\n", n);
        fflush(stdout);
        return 0;
    }
    if (rv == OHSM_DATA_INVALID) {
        printf("trail broken at %s (%zu good events before it)\n", why, n);
        fflush(stdout);
        return 1;
    }
    fprintf(stderr, "openhsmd events: cannot read %s: %s\n", path, ohsm_rv_str(rv));
    return 1;
}

__attribute__((format(printf, 1, 2))) static int bad_args(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("openhsmd events: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    usage(stderr);
    return 2;
}

int ohsm_kms_events_main(int argc, char **argv)
{
    const char *dir = NULL;
    const char *since = NULL;
    bool do_verify = false;
    struct filters f = {NULL, NULL, false, 0};
    /* argv: openhsmd events [options] (as `openhsmd ctl`). */
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--verify") == 0) {
            do_verify = true;
            continue;
        }
        if (strcmp(a, "--data-dir") == 0) {
            slot = &dir;
        } else if (strcmp(a, "--name") == 0) {
            slot = &f.name;
        } else if (strcmp(a, "--key") == 0) {
            slot = &f.key;
        } else if (strcmp(a, "--since") == 0) {
            slot = &since;
        } else {
            return bad_args("unknown argument '%s'", a);
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            return bad_args("%s needs a non-empty value", a);
        }
        if (*slot != NULL) {
            return bad_args("%s given twice", a);
        }
        *slot = argv[++i];
    }
    if (since != NULL) {
        if (!parse_time(since, &f.since_ms)) {
            return bad_args("--since '%s' is not a time: use ISO 8601 UTC "
                            "(2026-12-06T19:00:00Z) or Unix seconds",
                            since);
        }
        f.have_since = true;
    }
    if (do_verify && (f.name != NULL || f.key != NULL || since != NULL)) {
        return bad_args("%s takes no filters", "--verify");
    }
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/kms/trail.jsonl", dir != NULL ? dir : "./var");
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return bad_args("--data-dir '%s' is too long", dir);
    }
    return do_verify ? verify(path) : list(path, &f);
}
