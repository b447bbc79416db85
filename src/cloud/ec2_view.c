/* SPDX-License-Identifier: Apache-2.0
 *
 * What the EC2 handlers show: the XML of each resource with botocore's element names
 * (REFERENCE-CONTROL-PLANE §2.2), the filters each Describe* knows (name -> the item's value), and
 * one Describe engine over a "kind" table (id lookup, filters, paging, writer), since the four
 * Describe operations differ only in those. Items come from the model, already validated.
 */
#include "cloud/ec2_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/ec2_args.h"
#include "cloud/vpc.h"
#include "http/http.h"

/* ---- writers (element names of botocore's ec2 model) ---- */

static void text_cidr(struct ohsm_xml *x, const char *el, const struct ohsm_cidr *c)
{
    char t[OHSM_CIDR_TEXT_MAX];
    if (ohsm_cidr_format(c, t, sizeof(t)) != OHSM_OK) {
        t[0] = '\0';
    }
    ohsm_xml_text(x, el, t);
}

void ohsm_ec2_write_vpc(struct ohsm_xml *x, const void *it, const char *region)
{
    const struct ohsm_vpc_vpc *v = it;
    (void)region;
    ohsm_xml_text(x, "vpcId", v->id);
    ohsm_xml_text(x, "ownerId", v->owner);
    ohsm_xml_text(x, "state", v->state);
    text_cidr(x, "cidrBlock", &v->cidr);
    ohsm_xml_open(x, "cidrBlockAssociationSet");
    ohsm_xml_open(x, "item");
    /* One association per VPC; its id is derived from the VPC's, so it is stable. */
    ohsm_xml_textf(x, "associationId", "vpc-cidr-assoc-%s", v->id + 4);
    text_cidr(x, "cidrBlock", &v->cidr);
    ohsm_xml_open(x, "cidrBlockState");
    ohsm_xml_text(x, "state", "associated");
    ohsm_xml_close(x, "cidrBlockState");
    ohsm_xml_close(x, "item");
    ohsm_xml_close(x, "cidrBlockAssociationSet");
    ohsm_xml_text(x, "dhcpOptionsId", "default");
    ohsm_xml_text(x, "instanceTenancy", "default");
    ohsm_xml_bool(x, "isDefault", v->is_default);
}

void ohsm_ec2_write_subnet(struct ohsm_xml *x, const void *it, const char *region)
{
    const struct ohsm_vpc_subnet *s = it;
    ohsm_xml_text(x, "subnetId", s->id);
    ohsm_xml_textf(x, "subnetArn", "arn:aws:ec2:%s:%s:subnet/%s", region, s->owner, s->id);
    ohsm_xml_text(x, "state", s->state);
    ohsm_xml_text(x, "ownerId", s->owner);
    ohsm_xml_text(x, "vpcId", s->vpc_id);
    text_cidr(x, "cidrBlock", &s->cidr);
    ohsm_xml_textf(x, "availableIpAddressCount", "%llu", (unsigned long long)s->available);
    ohsm_xml_text(x, "availabilityZone", s->az);
    ohsm_xml_text(x, "availabilityZoneId", s->az_id);
    ohsm_xml_bool(x, "defaultForAz", s->default_for_az);
    ohsm_xml_bool(x, "mapPublicIpOnLaunch", s->default_for_az);
    ohsm_xml_bool(x, "assignIpv6AddressOnCreation", false);
}

static void dns_name(const struct ohsm_vpc_eni *e, char *out, size_t cap)
{
    char ip[OHSM_CIDR_IP_MAX];
    snprintf(ip, sizeof(ip), "%s", e->ip_text);
    for (char *p = ip; *p != '\0'; p++) {
        *p = *p == '.' ? '-' : *p;
    }
    /* EC2's private DNS names: ec2.internal in us-east-1, <region>.compute.internal elsewhere. */
    if (strcmp(e->region, "us-east-1") == 0) {
        snprintf(out, cap, "ip-%s.ec2.internal", ip);
    } else {
        snprintf(out, cap, "ip-%s.%s.compute.internal", ip, e->region);
    }
}

void ohsm_ec2_write_eni(struct ohsm_xml *x, const void *it, const char *region)
{
    const struct ohsm_vpc_eni *e = it;
    char dns[96];
    (void)region;
    dns_name(e, dns, sizeof(dns));
    ohsm_xml_text(x, "networkInterfaceId", e->id);
    ohsm_xml_text(x, "subnetId", e->subnet_id);
    ohsm_xml_text(x, "vpcId", e->vpc_id);
    ohsm_xml_text(x, "availabilityZone", e->az);
    ohsm_xml_text(x, "description", e->description);
    ohsm_xml_text(x, "ownerId", e->owner);
    ohsm_xml_bool(x, "requesterManaged", e->requester_managed);
    ohsm_xml_text(x, "status", e->status);
    ohsm_xml_text(x, "macAddress", e->mac);
    ohsm_xml_text(x, "privateIpAddress", e->ip_text);
    ohsm_xml_text(x, "privateDnsName", dns);
    ohsm_xml_bool(x, "sourceDestCheck", true);
    ohsm_xml_text(x, "interfaceType", "interface");
    ohsm_xml_open(x, "groupSet");
    if (e->group_id[0] != '\0') {
        ohsm_xml_open(x, "item");
        ohsm_xml_text(x, "groupId", e->group_id);
        ohsm_xml_text(x, "groupName", e->group_name);
        ohsm_xml_close(x, "item");
    }
    ohsm_xml_close(x, "groupSet");
    ohsm_xml_open(x, "privateIpAddressesSet");
    ohsm_xml_open(x, "item");
    ohsm_xml_text(x, "privateIpAddress", e->ip_text);
    ohsm_xml_text(x, "privateDnsName", dns);
    ohsm_xml_bool(x, "primary", true);
    ohsm_xml_close(x, "item");
    ohsm_xml_close(x, "privateIpAddressesSet");
    ohsm_xml_open(x, "ipv6AddressesSet");
    ohsm_xml_close(x, "ipv6AddressesSet");
}

static void write_az(struct ohsm_xml *x, const void *it, const char *region)
{
    const struct ohsm_ec2_az *z = it;
    (void)region;
    ohsm_xml_text(x, "zoneName", z->name);
    ohsm_xml_text(x, "zoneId", z->id);
    ohsm_xml_text(x, "zoneState", "available");
    ohsm_xml_text(x, "regionName", z->region);
    ohsm_xml_text(x, "zoneType", "availability-zone");
    ohsm_xml_text(x, "optInStatus", "opt-in-not-required");
    ohsm_xml_text(x, "groupName", z->region);
    ohsm_xml_text(x, "networkBorderGroup", z->region);
    ohsm_xml_open(x, "messageSet");
    ohsm_xml_close(x, "messageSet");
}

/* ---- filters: name -> the item's value (NULL: the item has none, e.g. tags) ---- */

typedef const char *(*field_fn)(const void *it, char *buf, size_t cap);

struct fdef {
    const char *name;
    field_fn get;
};

static const char *bool_s(bool b)
{
    return b ? "true" : "false";
}

static const char *cidr_s(const struct ohsm_cidr *c, char *buf, size_t cap)
{
    return ohsm_cidr_format(c, buf, cap) == OHSM_OK ? buf : NULL;
}

static const char *no_value(const void *it, char *buf, size_t cap)
{
    (void)it, (void)buf, (void)cap;
    return NULL; /* nothing here has tags */
}

#define VF(fn, expr)                                                                               \
    static const char *fn(const void *it, char *buf, size_t cap)                                   \
    {                                                                                              \
        const struct ohsm_vpc_vpc *v = it;                                                         \
        (void)buf, (void)cap, (void)v;                                                             \
        return (expr);                                                                             \
    }
VF(v_id, v->id)
VF(v_cidr, cidr_s(&v->cidr, buf, cap))
VF(v_default, bool_s(v->is_default))
VF(v_owner, v->owner)
VF(v_state, v->state)
VF(v_dhcp, "default")
VF(v_assoc_state, "associated")

#define SF(fn, expr)                                                                               \
    static const char *fn(const void *it, char *buf, size_t cap)                                   \
    {                                                                                              \
        const struct ohsm_vpc_subnet *s = it;                                                      \
        (void)buf, (void)cap, (void)s;                                                             \
        return (expr);                                                                             \
    }
SF(s_id, s->id)
SF(s_vpc, s->vpc_id)
SF(s_az, s->az)
SF(s_azid, s->az_id)
SF(s_cidr, cidr_s(&s->cidr, buf, cap))
SF(s_default, bool_s(s->default_for_az))
SF(s_owner, s->owner)
SF(s_state, s->state)
SF(s_avail, snprintf(buf, cap, "%llu", (unsigned long long)s->available) > 0 ? buf : NULL)

#define EF(fn, expr)                                                                               \
    static const char *fn(const void *it, char *buf, size_t cap)                                   \
    {                                                                                              \
        const struct ohsm_vpc_eni *e = it;                                                         \
        (void)buf, (void)cap, (void)e;                                                             \
        return (expr);                                                                             \
    }
EF(e_id, e->id)
EF(e_subnet, e->subnet_id)
EF(e_vpc, e->vpc_id)
EF(e_az, e->az)
EF(e_ip, e->ip_text)
EF(e_desc, e->description)
EF(e_rm, bool_s(e->requester_managed))
EF(e_status, e->status)
EF(e_mac, e->mac)
EF(e_owner, e->owner)
EF(e_gid, e->group_id[0] != '\0' ? e->group_id : NULL)
EF(e_gname, e->group_id[0] != '\0' ? e->group_name : NULL)
EF(e_type, "interface")
EF(e_dns, (dns_name(e, buf, cap), buf))

#define ZF(fn, expr)                                                                               \
    static const char *fn(const void *it, char *buf, size_t cap)                                   \
    {                                                                                              \
        const struct ohsm_ec2_az *z = it;                                                          \
        (void)buf, (void)cap, (void)z;                                                             \
        return (expr);                                                                             \
    }
ZF(z_name, z->name)
ZF(z_id, z->id)
ZF(z_region, z->region)
ZF(z_state, "available")
ZF(z_type, "availability-zone")
ZF(z_optin, "opt-in-not-required")

static const struct fdef vpc_filters[] = {
    {"vpc-id", v_id},
    {"cidr", v_cidr},
    {"cidr-block-association.cidr-block", v_cidr},
    {"cidr-block-association.state", v_assoc_state},
    {"is-default", v_default},
    {"owner-id", v_owner},
    {"state", v_state},
    {"dhcp-options-id", v_dhcp},
    {"tag-key", no_value},
    {NULL, NULL},
};
static const struct fdef subnet_filters[] = {
    {"subnet-id", s_id},
    {"vpc-id", s_vpc},
    {"availability-zone", s_az},
    {"availabilityZone", s_az},
    {"availability-zone-id", s_azid},
    {"availabilityZoneId", s_azid},
    {"cidr-block", s_cidr},
    {"cidr", s_cidr},
    {"cidrBlock", s_cidr},
    {"default-for-az", s_default},
    {"defaultForAz", s_default},
    {"owner-id", s_owner},
    {"state", s_state},
    {"available-ip-address-count", s_avail},
    {"tag-key", no_value},
    {NULL, NULL},
};
static const struct fdef eni_filters[] = {
    {"network-interface-id", e_id},
    {"subnet-id", e_subnet},
    {"vpc-id", e_vpc},
    {"availability-zone", e_az},
    {"private-ip-address", e_ip},
    {"addresses.private-ip-address", e_ip},
    {"description", e_desc},
    {"requester-managed", e_rm},
    {"status", e_status},
    {"mac-address", e_mac},
    {"owner-id", e_owner},
    {"group-id", e_gid},
    {"group-name", e_gname},
    {"interface-type", e_type},
    {"private-dns-name", e_dns},
    {"tag-key", no_value},
    {NULL, NULL},
};
static const struct fdef az_filters[] = {
    {"zone-name", z_name},
    {"zone-id", z_id},
    {"region-name", z_region},
    {"state", z_state},
    {"zone-type", z_type},
    {"opt-in-status", z_optin},
    {"group-name", z_region},
    {"network-border-group", z_region},
    {NULL, NULL},
};

/* The field getter of filter name, or NULL when the name is unknown. "tag:<key>" filters are
 * known and match nothing (these resources carry no tags). */
static field_fn filter_get(const struct fdef *defs, const char *name)
{
    if (strncmp(name, "tag:", 4) == 0 && name[4] != '\0') {
        return no_value;
    }
    for (size_t i = 0; defs[i].name != NULL; i++) {
        if (strcmp(defs[i].name, name) == 0) {
            return defs[i].get;
        }
    }
    return NULL;
}

/* ---- the Describe engine ---- */

struct ohsm_ec2_kind {
    size_t size;
    const struct fdef *filters;
    const char *notfound_code; /* for an unknown id in the id list */
    const char *notfound_fmt;  /* "The subnet ID '%s' does not exist" */
    const char *set_el;        /* "subnetSet" */
    bool paged;
    field_fn id, id2; /* id2: a second id list (zone ids), or NULL */
    int64_t (*seq)(const void *it);
    void (*write)(struct ohsm_xml *x, const void *it, const char *region);
};

int ohsm_ec2_check_filters(const struct ohsm_ec2_kind *k, const struct ohsm_ec2_args *a,
                           struct ohsm_aws_err *err)
{
    for (size_t i = 0; i < a->n_f; i++) {
        if (filter_get(k->filters, a->f[i].name) == NULL) {
            return ohsm_ec2_fail(err, 400, "InvalidParameterValue", "The filter '%.64s' is invalid",
                                 a->f[i].name);
        }
    }
    return 0;
}

static bool matches(const struct ohsm_ec2_kind *k, const struct ohsm_ec2_args *a, const void *it)
{
    char buf[128], idb[8];
    const char *id = k->id(it, idb, sizeof(idb));
    bool want = a->n_ids == 0 && a->n_ids2 == 0;
    for (size_t i = 0; !want && i < a->n_ids; i++) {
        want = strcmp(a->ids[i], id) == 0;
    }
    for (size_t i = 0; !want && k->id2 != NULL && i < a->n_ids2; i++) {
        want = strcmp(a->ids2[i], k->id2(it, idb, sizeof(idb))) == 0;
    }
    if (!want) {
        return false;
    }
    for (size_t i = 0; i < a->n_f; i++) {
        const char *v = filter_get(k->filters, a->f[i].name)(it, buf, sizeof(buf));
        bool any = false;
        for (size_t j = 0; !any && v != NULL && j < a->f[i].count; j++) {
            any = ohsm_ec2_glob(a->vals[a->f[i].first + j].v, v);
        }
        if (!any) {
            return false;
        }
    }
    return true;
}

/* Every id asked for must exist (AWS answers NotFound rather than a shorter list). */
static int check_ids(const struct ohsm_ec2_kind *k, const char *const *ids, size_t n_ids,
                     field_fn get, const void *items, size_t n, struct ohsm_aws_err *err)
{
    char idb[8];
    for (size_t i = 0; i < n_ids; i++) {
        bool found = false;
        for (size_t j = 0; !found && j < n; j++) {
            found = strcmp(ids[i], get((const char *)items + j * k->size, idb, sizeof(idb))) == 0;
        }
        if (!found) {
            return ohsm_ec2_fail(err, 400, k->notfound_code, k->notfound_fmt, ids[i]);
        }
    }
    return 0;
}

int ohsm_ec2_describe(const struct ohsm_ec2_kind *k, const struct ohsm_ec2_args *a,
                      const void *items, size_t n, const char *region, struct ohsm_xml *out,
                      struct ohsm_aws_err *err)
{
    size_t shown = 0;
    if (check_ids(k, a->ids, a->n_ids, k->id, items, n, err) != 0 ||
        (k->id2 != NULL && check_ids(k, a->ids2, a->n_ids2, k->id2, items, n, err) != 0)) {
        return -1;
    }
    ohsm_xml_open(out, k->set_el);
    for (size_t i = 0; i < n; i++) {
        const void *it = (const char *)items + i * k->size;
        if (k->seq(it) < a->token || !matches(k, a, it)) {
            continue;
        }
        if (shown == a->max) {
            ohsm_xml_close(out, k->set_el);
            ohsm_xml_textf(out, "nextToken", "%lld", (long long)k->seq(it));
            return 0;
        }
        ohsm_xml_open(out, "item");
        k->write(out, it, region);
        ohsm_xml_close(out, "item");
        shown++;
    }
    ohsm_xml_close(out, k->set_el);
    return 0;
}

static int64_t vpc_seq(const void *it)
{
    return ((const struct ohsm_vpc_vpc *)it)->seq;
}
static int64_t subnet_seq(const void *it)
{
    return ((const struct ohsm_vpc_subnet *)it)->seq;
}
static int64_t eni_seq(const void *it)
{
    return ((const struct ohsm_vpc_eni *)it)->seq;
}
static int64_t az_seq(const void *it)
{
    return ((const struct ohsm_ec2_az *)it)->seq;
}

const struct ohsm_ec2_kind ohsm_ec2_k_vpc = {sizeof(struct ohsm_vpc_vpc),
                                             vpc_filters,
                                             "InvalidVpcID.NotFound",
                                             "The vpc ID '%.64s' does not exist",
                                             "vpcSet",
                                             true,
                                             v_id,
                                             NULL,
                                             vpc_seq,
                                             ohsm_ec2_write_vpc};
const struct ohsm_ec2_kind ohsm_ec2_k_subnet = {sizeof(struct ohsm_vpc_subnet),
                                                subnet_filters,
                                                "InvalidSubnetID.NotFound",
                                                "The subnet ID '%.64s' does not exist",
                                                "subnetSet",
                                                true,
                                                s_id,
                                                NULL,
                                                subnet_seq,
                                                ohsm_ec2_write_subnet};
const struct ohsm_ec2_kind ohsm_ec2_k_eni = {sizeof(struct ohsm_vpc_eni),
                                             eni_filters,
                                             "InvalidNetworkInterfaceID.NotFound",
                                             "The networkInterface ID '%.64s' does not exist",
                                             "networkInterfaceSet",
                                             true,
                                             e_id,
                                             NULL,
                                             eni_seq,
                                             ohsm_ec2_write_eni};
const struct ohsm_ec2_kind ohsm_ec2_k_az = {sizeof(struct ohsm_ec2_az),
                                            az_filters,
                                            "InvalidParameterValue",
                                            "Invalid availability zone: [%.64s]",
                                            "availabilityZoneInfo",
                                            false,
                                            z_name,
                                            z_id,
                                            az_seq,
                                            write_az};
