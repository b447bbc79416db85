/* SPDX-License-Identifier: Apache-2.0
 *
 * The routing table and envelopes (see route.h). One table: JSON 1.1 services by X-Amz-Target
 * prefix, then operation by name; the EC2 Query service by Action. Order of checks, as AWS
 * front ends do it: path and method, protocol (target or form), SigV4, operation, body, the
 * service's validation, the handler. Error bodies:
 *   JSON 1.1: {"__type": type, "message": msg}, the request id in x-amzn-RequestId (server.c);
 *   EC2:      <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/auth.h"
#include "http/awserr.h"
#include "http/form.h"
#include "http/route.h"
#include "http/xml.h"

static const char ctype_json[] = "application/x-amz-json-1.1";
static const char ctype_xml[] = "text/xml;charset=UTF-8";
static const char xml_decl[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/* ---- setup ---- */

static bool charset_ok(const char *s, size_t min, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n < min || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(extra, c) != NULL) ||
            c == '\0') {
            return false;
        }
    }
    return true;
}

ohsm_rv ohsm_router_init(struct ohsm_router *r, const struct ohsm_http_cfg *cfg, char *msg,
                         size_t cap)
{
    OHSM_ENSURE(r != NULL && cfg != NULL && msg != NULL && cap > 0, OHSM_ARGUMENTS_BAD);
    memset(r, 0, sizeof(*r));
    msg[0] = '\0';
    const char *region = cfg->region != NULL ? cfg->region : "us-east-1";
    const char *account = cfg->account_id != NULL ? cfg->account_id : "111122223333";
    if (!charset_ok(region, 1, sizeof(r->region) - 1, "-")) {
        snprintf(msg, cap, "malformed region");
        return OHSM_ARGUMENTS_BAD;
    }
    if (strlen(account) != 12 || strspn(account, "0123456789") != 12) {
        snprintf(msg, cap, "the account id must be 12 digits");
        return OHSM_ARGUMENTS_BAD;
    }
    snprintf(r->region, sizeof(r->region), "%s", region);
    snprintf(r->account_id, sizeof(r->account_id), "%s", account);
    r->max_skew_s = cfg->max_skew_s != 0 ? cfg->max_skew_s : 900;
    r->max_body = cfg->max_body != 0 ? cfg->max_body : OHSM_HTTP_MAX_BODY_DEFAULT;
    r->max_reply = OHSM_XML_MAX_DEFAULT;
    if (cfg->credentials_file != NULL) {
        OHSM_TRY(ohsm_creds_load(cfg->credentials_file, &r->creds, msg, cap));
    }
    return OHSM_OK;
}

void ohsm_router_fini(struct ohsm_router *r)
{
    if (r != NULL) {
        ohsm_creds_free(r->creds);
        r->creds = NULL;
    }
}

ohsm_rv ohsm_router_add_json(struct ohsm_router *r, const struct ohsm_json_service *s)
{
    OHSM_ENSURE(r != NULL && s != NULL && s->target_prefix != NULL && s->target_prefix[0] != '\0' &&
                    strchr(s->target_prefix, '.') == NULL && (s->ops != NULL || s->n_ops == 0) &&
                    s->invalid_request_type != NULL && s->unknown_op_type != NULL,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(r->n_json < OHSM_ROUTE_MAX_JSON, OHSM_HOST_MEMORY);
    for (size_t i = 0; i < r->n_json; i++) {
        OHSM_ENSURE(strcmp(r->json[i]->target_prefix, s->target_prefix) != 0, OHSM_ARGUMENTS_BAD);
    }
    r->json[r->n_json++] = s;
    return OHSM_OK;
}

ohsm_rv ohsm_router_add_query(struct ohsm_router *r, const struct ohsm_query_service *s)
{
    OHSM_ENSURE(r != NULL && s != NULL && s->version != NULL && s->xmlns != NULL &&
                    (s->ops != NULL || s->n_ops == 0) && strchr(s->xmlns, '"') == NULL,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(r->query == NULL, OHSM_ARGUMENTS_BAD);
    r->query = s;
    return OHSM_OK;
}

/* ---- helpers ---- */

const char *ohsm_route_header(const struct ohsm_route_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_hdrs; i++) {
        if (strcasecmp(req->hdrs[i].name, name) == 0) {
            return req->hdrs[i].value;
        }
    }
    return NULL;
}

void ohsm_route_reply_free(struct ohsm_route_reply *rep)
{
    if (rep != NULL) {
        free(rep->body);
        rep->body = NULL;
        rep->len = 0;
    }
}

/* The log label: printable ASCII without spaces, truncated. */
static void set_label(struct ohsm_route_reply *out, const char *prefix, const char *s)
{
    snprintf(out->label, sizeof(out->label), "%s%s", prefix, s);
    for (char *p = out->label; *p != '\0'; p++) {
        if (*p <= ' ' || *p > '~') {
            *p = '?';
        }
    }
}

/* Does the media type of ctype (parameters after ';' ignored) equal want, case-insensitively? */
static bool media_is(const char *ctype, const char *want)
{
    if (ctype == NULL) {
        return false;
    }
    while (*ctype == ' ') {
        ctype++;
    }
    size_t n = strlen(want);
    if (strncasecmp(ctype, want, n) != 0) {
        return false;
    }
    const char *rest = ctype + n;
    while (*rest == ' ') {
        rest++;
    }
    return *rest == '\0' || *rest == ';';
}

json_t *ohsm_route_parse_json(const uint8_t *body, size_t len, char *msg, size_t cap)
{
    json_error_t jerr;
    if (len == 0) {
        return json_object(); /* botocore sends {} for no input; an empty body means the same */
    }
    /* jansson refuses \u0000 in strings unless JSON_ALLOW_NUL is given (the brief's
     * "JSON_DISALLOW_NUL" is that default); duplicates must be asked for. */
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        snprintf(msg, cap, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(msg, cap, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

static void reply_json_error(struct ohsm_route_reply *out, const struct ohsm_aws_err *e)
{
    unsigned st = e->status == 0 ? 400 : e->status;
    if (st < 400 || st > 599) {
        st = 500;
    }
    out->status = st;
    out->content_type = ctype_json;
    json_t *j = json_pack("{s:s, s:s}", "__type", e->type, "message", e->msg);
    free(out->body);
    out->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    out->len = out->body != NULL ? strlen(out->body) : 0;
    json_decref(j);
}

static void reply_xml_error(struct ohsm_route_reply *out, const struct ohsm_aws_err *e,
                            const char *request_id)
{
    struct ohsm_xml x;
    unsigned st = e->status == 0 ? 400 : e->status;
    if (st < 400 || st > 599) {
        st = 500;
    }
    ohsm_xml_init(&x, 64 * 1024);
    ohsm_xml_raw(&x, xml_decl);
    ohsm_xml_raw(&x, "<Response><Errors><Error>");
    ohsm_xml_text(&x, "Code", e->type);
    ohsm_xml_text(&x, "Message", e->msg);
    ohsm_xml_raw(&x, "</Error></Errors>");
    ohsm_xml_text(&x, "RequestID", request_id);
    ohsm_xml_raw(&x, "</Response>");
    out->status = st;
    out->content_type = ctype_xml;
    free(out->body);
    out->body = NULL;
    out->len = 0;
    if (!x.failed) {
        out->body = x.buf;
        out->len = x.len;
        x.buf = NULL;
    }
    ohsm_xml_done(&x);
}

static void reply_error(struct ohsm_route_reply *out, bool ec2, const struct ohsm_aws_err *e,
                        const char *request_id)
{
    if (ec2) {
        reply_xml_error(out, e, request_id);
    } else {
        reply_json_error(out, e);
    }
}

/* ---- JSON 1.1 ---- */

static const struct ohsm_json_service *find_json(const struct ohsm_router *r, const char *prefix,
                                                 size_t n)
{
    for (size_t i = 0; i < r->n_json; i++) {
        const char *p = r->json[i]->target_prefix;
        if (strlen(p) == n && memcmp(p, prefix, n) == 0) {
            return r->json[i];
        }
    }
    return NULL;
}

static void handle_json(const struct ohsm_router *r, const struct ohsm_route_req *req,
                        const char *target, struct ohsm_route_reply *out)
{
    struct ohsm_aws_err err = {0};
    struct ohsm_auth_out who;
    char msg[256];
    json_t *in = NULL, *res = NULL;

    set_label(out, "", target != NULL ? target : "(no X-Amz-Target)");
    const char *dot = target != NULL ? strchr(target, '.') : NULL;
    const struct ohsm_json_service *s =
        dot != NULL ? find_json(r, target, (size_t)(dot - target)) : NULL;
    const char *ctype = ohsm_route_header(req, "Content-Type");
    if (!media_is(ctype, "application/x-amz-json-1.1") &&
        !media_is(ctype, "application/x-amz-json-1.0")) {
        ohsm_awserr_set(&err, OHSM_AWSERR_INVALID_REQUEST, false,
                        s != NULL ? s->invalid_request_type : NULL,
                        "Content-Type must be application/x-amz-json-1.1 with X-Amz-Target");
        goto fail;
    }
    if (!ohsm_auth_check(r, req, s != NULL ? s->signing_name : NULL, false, "x-amz-target", &who,
                         &err)) {
        goto fail;
    }
    if (s == NULL) {
        ohsm_awserr_set(&err, OHSM_AWSERR_UNKNOWN_OP, false, NULL,
                        target == NULL ? "Missing X-Amz-Target" : "Unknown target");
        goto fail;
    }
    const char *opname = dot + 1;
    const struct ohsm_json_op *op = NULL;
    for (size_t i = 0; i < s->n_ops; i++) {
        if (strcmp(s->ops[i].name, opname) == 0) {
            op = &s->ops[i];
            break;
        }
    }
    if (op == NULL) {
        ohsm_awserr_set(&err, OHSM_AWSERR_UNKNOWN_OP, false, s->unknown_op_type,
                        "Unknown operation %.64s", opname);
        goto fail;
    }
    in = ohsm_route_parse_json(req->body, req->body_len, msg, sizeof(msg));
    if (in == NULL) {
        ohsm_awserr_set(&err, OHSM_AWSERR_BAD_JSON, false, NULL, "%s", msg);
        goto fail;
    }
    if (s->validate != NULL && s->validate(op->name, in, msg, sizeof(msg)) != 0) {
        msg[sizeof(msg) - 1] = '\0';
        ohsm_awserr_set(&err, OHSM_AWSERR_INVALID_REQUEST, false, s->invalid_request_type, "%s",
                        msg);
        goto fail;
    }
    struct ohsm_http_call call = {
        .request_id = req->request_id,
        .access_key_id = who.akid,
        .region = who.region,
        .account_id = r->account_id,
    };
    res = op->fn(s->ctx, &call, in, &err);
    if (res == NULL) {
        if (err.type[0] == '\0') {
            ohsm_awserr_set(&err, OHSM_AWSERR_INTERNAL, false, NULL, "internal failure");
        }
        goto fail;
    }
    char *body = json_is_object(res) ? json_dumps(res, JSON_COMPACT) : NULL;
    if (body == NULL) {
        ohsm_awserr_set(&err, OHSM_AWSERR_INTERNAL, false, NULL, "internal failure");
        goto fail;
    }
    out->status = 200;
    out->content_type = ctype_json;
    out->body = body;
    out->len = strlen(body);
    goto out;
fail:
    reply_error(out, false, &err, req->request_id);
out:
    json_decref(in);
    json_decref(res);
}

/* ---- EC2 Query ---- */

static void handle_query(const struct ohsm_router *r, const struct ohsm_route_req *req,
                         const char *form, size_t form_len, struct ohsm_route_reply *out)
{
    struct ohsm_aws_err err = {0};
    struct ohsm_auth_out who;
    struct ohsm_form *f = NULL;
    struct ohsm_xml x;
    char msg[256];
    const struct ohsm_query_service *s = r->query;

    ohsm_xml_init(&x, r->max_reply);
    set_label(out, "", "(EC2 Query)");
    if (!ohsm_auth_check(r, req, s != NULL ? s->signing_name : NULL, true, NULL, &who, &err)) {
        goto fail;
    }
    if (ohsm_form_parse(form, form_len, 0, &f, msg, sizeof(msg)) != OHSM_OK) {
        ohsm_awserr_set(&err, OHSM_AWSERR_BAD_FORM, true, NULL, "%s",
                        msg[0] != '\0' ? msg : "out of memory");
        goto fail;
    }
    const char *action = ohsm_form_get(f, "Action");
    if (action == NULL || action[0] == '\0') {
        ohsm_awserr_set(&err, OHSM_AWSERR_MISSING_ACTION, true, NULL,
                        "The request must contain the parameter Action");
        goto fail;
    }
    set_label(out, "ec2:", action);
    const struct ohsm_query_op *op = NULL;
    for (size_t i = 0; s != NULL && i < s->n_ops; i++) {
        if (strcmp(s->ops[i].action, action) == 0) {
            op = &s->ops[i];
            break;
        }
    }
    if (op == NULL) {
        ohsm_awserr_set(&err, OHSM_AWSERR_INVALID_ACTION, true, NULL,
                        "The action %.64s is not valid for this web service.", action);
        goto fail;
    }
    const char *version = ohsm_form_get(f, "Version");
    if (version == NULL) {
        ohsm_awserr_set(&err, OHSM_AWSERR_MISSING_VERSION, true, NULL,
                        "The request must contain the parameter Version");
        goto fail;
    }
    if (strcmp(version, s->version) != 0) {
        ohsm_awserr_set(&err, OHSM_AWSERR_BAD_VERSION, true, NULL,
                        "The requested version (%.32s) of service AmazonEC2 does not exist",
                        version);
        goto fail;
    }
    struct ohsm_http_call call = {
        .request_id = req->request_id,
        .access_key_id = who.akid,
        .region = who.region,
        .account_id = r->account_id,
    };
    ohsm_xml_raw(&x, xml_decl);
    ohsm_xml_raw(&x, "<");
    ohsm_xml_raw(&x, op->action);
    ohsm_xml_raw(&x, "Response xmlns=\"");
    ohsm_xml_raw(&x, s->xmlns);
    ohsm_xml_raw(&x, "\">");
    ohsm_xml_text(&x, "requestId", req->request_id);
    if (op->fn(s->ctx, &call, f, &x, &err) != 0) {
        if (err.type[0] == '\0') {
            ohsm_awserr_set(&err, OHSM_AWSERR_INTERNAL, true, NULL,
                            "An internal error has occurred");
        }
        goto fail;
    }
    ohsm_xml_raw(&x, "</");
    ohsm_xml_raw(&x, op->action);
    ohsm_xml_raw(&x, "Response>");
    if (x.failed) {
        ohsm_awserr_set(&err, OHSM_AWSERR_INTERNAL, true, NULL,
                        "An internal error has occurred (reply too large)");
        goto fail;
    }
    out->status = 200;
    out->content_type = ctype_xml;
    out->body = x.buf;
    out->len = x.len;
    x.buf = NULL;
    goto out;
fail:
    reply_error(out, true, &err, req->request_id);
out:
    ohsm_xml_done(&x);
    ohsm_form_free(f);
}

/* ---- entry points ---- */

static bool is_form(const struct ohsm_route_req *req)
{
    return media_is(ohsm_route_header(req, "Content-Type"), "application/x-www-form-urlencoded");
}

void ohsm_router_handle(const struct ohsm_router *r, const struct ohsm_route_req *req,
                        struct ohsm_route_reply *out)
{
    struct ohsm_aws_err err = {0};
    memset(out, 0, sizeof(*out));
    const char *target = ohsm_route_header(req, "X-Amz-Target");
    bool has_query = req->query != NULL && req->query[0] != '\0';

    set_label(out, "", req->method);
    if (strcmp(req->path, "/") != 0) {
        ohsm_awserr_set(&err, OHSM_AWSERR_NOT_FOUND, false, NULL,
                        "No service at this path: requests go to /");
        reply_json_error(out, &err);
        return;
    }
    if (strcmp(req->method, "POST") == 0) {
        if (target != NULL) {
            handle_json(r, req, target, out);
        } else if (is_form(req)) {
            handle_query(r, req, (const char *)req->body, req->body_len, out);
        } else if (media_is(ohsm_route_header(req, "Content-Type"), "application/x-amz-json-1.1") ||
                   media_is(ohsm_route_header(req, "Content-Type"), "application/x-amz-json-1.0")) {
            handle_json(r, req, NULL, out);
        } else {
            ohsm_awserr_set(&err, OHSM_AWSERR_UNKNOWN_OP, false, NULL,
                            "POST / needs X-Amz-Target (AWS JSON 1.1) or a form body (EC2 Query)");
            reply_json_error(out, &err);
        }
        return;
    }
    if (strcmp(req->method, "GET") == 0 && has_query && target == NULL) {
        handle_query(r, req, req->query, strlen(req->query), out);
        return;
    }
    ohsm_awserr_set(&err, OHSM_AWSERR_METHOD, false, NULL,
                    "Method not allowed: POST / (or GET / with an EC2 query string)");
    reply_json_error(out, &err);
}

void ohsm_router_too_big(const struct ohsm_router *r, const struct ohsm_route_req *req,
                         struct ohsm_route_reply *out)
{
    struct ohsm_aws_err err = {0};
    memset(out, 0, sizeof(*out));
    const char *target = ohsm_route_header(req, "X-Amz-Target");
    bool ec2 = target == NULL && is_form(req);
    const char *type = NULL;
    if (target != NULL) {
        const char *dot = strchr(target, '.');
        const struct ohsm_json_service *s =
            dot != NULL ? find_json(r, target, (size_t)(dot - target)) : NULL;
        type = s != NULL ? s->invalid_request_type : NULL;
        set_label(out, "", target);
    } else {
        set_label(out, "", ec2 ? "(EC2 Query)" : req->method);
    }
    ohsm_awserr_set(&err, OHSM_AWSERR_TOO_BIG, ec2, type,
                    "Request body of %zu bytes is over the limit of %zu bytes", req->body_len,
                    r->max_body);
    reply_error(out, ec2, &err, req->request_id);
}
