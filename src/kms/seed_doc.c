/* SPDX-License-Identifier: Apache-2.0
 *
 * A seed document (seed.c; untrusted, at most 1 MiB) into a jansson tree: JSON when its first
 * non-space character is '{', else YAML through libyaml's event parser (mappings, sequences,
 * scalars as strings). Anchors, aliases, tags and a second document are refused, so a file cannot
 * expand or change types behind the reader's back; nesting is bounded. The document holds key
 * material: libyaml's copies and the tree's strings are wiped before they are freed.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "core/errf.h"
#include "kms/seed.h"

/* ---- the document: YAML or JSON into a tree ---- */

static void tree_wipe(json_t *j)
{
    size_t i;
    const char *name;
    json_t *v;

    if (json_is_string(j)) {
        /* jansson owns the bytes; they may be key material, so clear them before the free. */
        OPENSSL_cleanse((char *)json_string_value(j), json_string_length(j));
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            tree_wipe(v);
        }
    } else if (json_is_object(j)) {
        json_object_foreach(j, name, v)
        {
            tree_wipe(v);
        }
    }
}

void ohsm_kms_seed_tree_free(json_t *tree)
{
    if (tree != NULL && tree->refcount == 1) {
        tree_wipe(tree);
    }
    json_decref(tree);
}

static size_t tree_depth(json_t *j)
{
    size_t i, d = 0;
    const char *name;
    json_t *v;

    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            size_t c = tree_depth(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_object(j)) {
        json_object_foreach(j, name, v)
        {
            size_t c = tree_depth(v);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

struct yframe {
    json_t *node;
    char *key; /* a mapping's key waiting for its value */
};

struct ybuild {
    struct yframe st[OHSM_KMS_SEED_DEPTH_MAX];
    size_t depth;
    json_t *root;
};

/* Places a new node (a reference is taken) in the open container, or as the root. */
static int yplace(struct ybuild *b, json_t *v, bool scalar, size_t line, char *err, size_t cap)
{
    if (b->depth == 0) {
        if (b->root != NULL) {
            ohsm_errf(err, cap, "line %zu: more than one document", line);
            return -1;
        }
        b->root = json_incref(v);
        return 0;
    }
    struct yframe *f = &b->st[b->depth - 1];
    if (json_is_array(f->node)) {
        return json_array_append(f->node, v) == 0 ? 0 : (ohsm_errf(err, cap, "out of memory"), -1);
    }
    if (f->key == NULL) {
        if (!scalar) {
            ohsm_errf(err, cap, "line %zu: a mapping key must be a plain string", line);
            return -1;
        }
        f->key = strdup(json_string_value(v));
        return f->key != NULL ? 0 : (ohsm_errf(err, cap, "out of memory"), -1);
    }
    if (json_object_get(f->node, f->key) != NULL) {
        ohsm_errf(err, cap, "line %zu: duplicate key %.64s", line, f->key);
        return -1;
    }
    int r = json_object_set(f->node, f->key, v);
    free(f->key);
    f->key = NULL;
    return r == 0 ? 0 : (ohsm_errf(err, cap, "out of memory"), -1);
}

/* One libyaml event into the tree. Returns 1 at the end of the stream, 0 to go on, -1 on error. */
static int yevent(struct ybuild *b, yaml_event_t *ev, char *err, size_t cap)
{
    size_t line = ev->start_mark.line + 1;
    yaml_char_t *anchor = NULL, *tag = NULL;
    json_t *v = NULL;
    int r;

    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (ev->data.document_start.tag_directives.start !=
            ev->data.document_start.tag_directives.end) {
            ohsm_errf(err, cap, "line %zu: YAML tags (%%TAG) are not supported", line);
            return -1;
        }
        if (b->root != NULL) {
            ohsm_errf(err, cap, "line %zu: more than one document", line);
            return -1;
        }
        return 0;
    case YAML_ALIAS_EVENT:
        ohsm_errf(err, cap, "line %zu: YAML anchors and aliases (*name) are not supported", line);
        return -1;
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth == 0) {
            ohsm_errf(err, cap, "line %zu: unbalanced YAML", line);
            return -1;
        }
        b->depth--;
        json_decref(b->st[b->depth].node);
        free(b->st[b->depth].key);
        b->st[b->depth].node = NULL;
        b->st[b->depth].key = NULL;
        return 0;
    default:
        ohsm_errf(err, cap, "line %zu: unexpected YAML", line);
        return -1;
    }
    if (anchor != NULL) {
        ohsm_errf(err, cap, "line %zu: YAML anchors and aliases (&name) are not supported", line);
        return -1;
    }
    if (tag != NULL) {
        ohsm_errf(err, cap, "line %zu: YAML tags (!tag) are not supported", line);
        return -1;
    }
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *s = (const char *)ev->data.scalar.value;
        size_t n = ev->data.scalar.length;
        if (memchr(s, '\0', n) != NULL) {
            ohsm_errf(err, cap, "line %zu: a NUL character in a string", line);
            return -1;
        }
        v = json_stringn(s, n);
        if (v == NULL) {
            ohsm_errf(err, cap, "line %zu: a string that is not UTF-8", line);
            return -1;
        }
        r = yplace(b, v, true, line, err, cap);
        if (json_is_string(v) && v->refcount == 1) {
            OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
        }
        json_decref(v);
        return r;
    }
    if (b->depth == OHSM_KMS_SEED_DEPTH_MAX) {
        ohsm_errf(err, cap, "line %zu: nested deeper than %d levels", line,
                  OHSM_KMS_SEED_DEPTH_MAX);
        return -1;
    }
    v = ev->type == YAML_MAPPING_START_EVENT ? json_object() : json_array();
    if (v == NULL) {
        ohsm_errf(err, cap, "out of memory");
        return -1;
    }
    r = yplace(b, v, false, line, err, cap);
    if (r != 0) {
        json_decref(v);
        return r;
    }
    b->st[b->depth].node = v; /* the frame keeps the reference */
    b->st[b->depth].key = NULL;
    b->depth++;
    return 0;
}

/* libyaml keeps copies of the input in its buffers and in tokens not yet handed out: wipe them
 * (the structure is public in yaml.h) before yaml_parser_delete frees them. */
static void yparser_wipe(yaml_parser_t *p)
{
    if (p->raw_buffer.start != NULL) {
        OPENSSL_cleanse(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
    }
    if (p->buffer.start != NULL) {
        OPENSSL_cleanse(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
    }
    for (yaml_token_t *t = p->tokens.head; t != NULL && t != p->tokens.tail; t++) {
        if (t->type == YAML_SCALAR_TOKEN && t->data.scalar.value != NULL) {
            OPENSSL_cleanse(t->data.scalar.value, t->data.scalar.length);
        }
    }
}

static ohsm_rv parse_yaml(const char *buf, size_t len, json_t **out, char *err, size_t cap)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct ybuild b;
    ohsm_rv rv = OHSM_CONFIG;
    int r = 0;

    memset(&b, 0, sizeof(b));
    if (yaml_parser_initialize(&p) == 0) {
        return OHSM_HOST_MEMORY;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    /* Bounded: the input is at most 1 MiB, so are the events; the loop ends at the stream end
     * or the first error (libyaml always makes progress or fails). */
    while (r == 0) {
        if (yaml_parser_parse(&p, &ev) == 0) {
            ohsm_errf(err, cap, "line %zu: %s%s%s", p.problem_mark.line + 1,
                      p.problem != NULL ? p.problem : "bad YAML", p.context != NULL ? " " : "",
                      p.context != NULL ? p.context : "");
            r = -1;
            break;
        }
        r = yevent(&b, &ev, err, cap);
        if (ev.type == YAML_SCALAR_EVENT) {
            OPENSSL_cleanse(ev.data.scalar.value, ev.data.scalar.length);
        }
        yaml_event_delete(&ev);
    }
    if (r == 1) {
        if (b.root == NULL) {
            ohsm_errf(err, cap, "the file is empty");
        } else {
            *out = b.root;
            b.root = NULL;
            rv = OHSM_OK;
        }
    }
    while (b.depth > 0) {
        b.depth--;
        json_decref(b.st[b.depth].node);
        free(b.st[b.depth].key);
    }
    ohsm_kms_seed_tree_free(b.root);
    yparser_wipe(&p);
    yaml_parser_delete(&p);
    return rv;
}

ohsm_rv ohsm_kms_seed_parse(const char *buf, size_t len, json_t **out, char *err, size_t cap)
{
    size_t i = 0;
    json_error_t je;
    json_t *t;

    OHSM_ENSURE(buf != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    if (len > OHSM_KMS_SEED_FILE_MAX) {
        ohsm_errf(err, cap, "larger than %u bytes", OHSM_KMS_SEED_FILE_MAX);
        return OHSM_CONFIG;
    }
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')) {
        i++;
    }
    if (i == len || buf[i] != '{') {
        return parse_yaml(buf, len, out, err, cap);
    }
    t = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (t == NULL) {
        /* je.text may quote the input: say only where and what kind of error. */
        ohsm_errf(err, cap, "line %d: not valid JSON", je.line);
        return OHSM_CONFIG;
    }
    if (tree_depth(t) > OHSM_KMS_SEED_DEPTH_MAX) {
        ohsm_kms_seed_tree_free(t);
        ohsm_errf(err, cap, "nested deeper than %d levels", OHSM_KMS_SEED_DEPTH_MAX);
        return OHSM_CONFIG;
    }
    *out = t;
    return OHSM_OK;
}
