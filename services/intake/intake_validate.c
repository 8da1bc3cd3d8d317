/*  intake_validate: turns the raw fields of a submission from any channel
    into a validated intake_sub_t, or a typed error naming the field.
    Bad input never reaches the database.  */
#include "intake.h"
#include "gz_text.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *s_channel_names[] = {"",        "QR",    "OPEN311", "BUS",
                                        "MEETING", "RIDER", "PATROL",  "HOTLINE"};
static const char *s_channel_labels[] = {"",        "qr",    "open311", "bus",
                                         "meeting", "rider", "patrol",  "hotline"};

const char *
intake_channel_name (int channel)
{
    return channel > 0 && channel < 8 ? s_channel_names[channel] : "BUS";
}

const char *
intake_channel_label (int channel)
{
    return channel > 0 && channel < 8 ? s_channel_labels[channel] : "bus";
}

static int
s_fail (intake_err_t *err, int code, const char *field, const char *msg)
{
    err->error = code;
    err->field = field;
    snprintf (err->message, sizeof err->message, "%s", msg);
    return -1;
}

//  A short optional text field: valid UTF-8, at most max bytes.
static int
s_check_text (const char *v, const char *field, size_t max, intake_err_t *err)
{
    if (!v)
        return 0;
    size_t len = strlen (v);
    if (!gz_utf8_valid (v, len)) {
        char msg[160];
        snprintf (msg, sizeof msg,
                  "%s is not valid UTF-8 text or holds a character XML forbids"
                  " (a control, U+FFFE, U+FFFF)",
                  field);
        return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_UTF8, field, msg);
    }
    if (len > max) {
        char msg[128];
        snprintf (msg, sizeof msg, "%s is longer than %zu bytes", field, max);
        return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, field, msg);
    }
    return 0;
}

bool
intake_reporter_valid (const char *reporter)
{
    assert (reporter);
    static const char *prefixes[] = {"rider:", "resident:"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t plen = strlen (prefixes[i]);
        if (strncmp (reporter, prefixes[i], plen) != 0)
            continue;
        const char *id = reporter + plen;
        size_t len = strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789._-");
        return len >= 1 && len <= 64 && id[len] == 0;
    }
    return false;
}

static bool
s_parse_double (const char *s, double *out)
{
    if (!s || !*s)
        return false;
    //  Decimal only: strtod also takes hex floats ("0x1A.9p0"), "inf"
    //  and "nan", which no client means as a coordinate.
    if (strspn (s, "0123456789+-.eE") != strlen (s))
        return false;
    char *end = NULL;
    errno = 0;
    double d = strtod (s, &end);
    if (errno || end == s || *end || !isfinite (d))
        return false;
    *out = d;
    return true;
}

static char *
s_dup (const char *s)
{
    return s && *s ? strdup (s) : NULL;
}

//  Copies of trimmed text: leading/trailing ASCII whitespace removed.
static char *
s_trimmed (const char *s)
{
    if (!s)
        return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen (s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return strndup (s, n);
}

static int
s_check_attrs (const gz_category_t *cat, const intake_raw_t *raw, intake_err_t *err)
{
    for (size_t i = 0; i < raw->nattrs; i++) {
        if (s_check_text (raw->attr_codes[i], "attribute", 64, err) ||
            s_check_text (raw->attr_values[i], "attribute", 200, err))
            return -1;
        const gz_attr_t *a = cat->attrs;
        while (a && a->code && strcmp (a->code, raw->attr_codes[i]) != 0)
            a++;
        if (!a || !a->code) {
            char msg[160];
            snprintf (msg, sizeof msg, "attribute[%.64s] is not an attribute of service %s",
                      raw->attr_codes[i], cat->code);
            return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "attribute", msg);
        }
        const char *v = raw->attr_values[i];
        if (strcmp (a->datatype, "singlevaluelist") == 0) {
            const gz_attr_value_t *val = a->values;
            while (val && val->key && strcmp (val->key, v) != 0)
                val++;
            if (!val || !val->key) {
                char msg[160];
                snprintf (msg, sizeof msg, "attribute[%s] has no value '%.32s'", a->code, v);
                return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "attribute", msg);
            }
        }
        else if (strcmp (a->datatype, "number") == 0) {
            double d;
            if (!s_parse_double (v, &d)) {
                char msg[160];
                snprintf (msg, sizeof msg, "attribute[%s] must be a number", a->code);
                return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "attribute", msg);
            }
        }
    }
    for (const gz_attr_t *a = cat->attrs; a && a->code; a++) {
        if (!a->required)
            continue;
        bool found = false;
        for (size_t i = 0; i < raw->nattrs && !found; i++)
            found = strcmp (raw->attr_codes[i], a->code) == 0 && *raw->attr_values[i];
        if (!found) {
            char msg[160];
            snprintf (msg, sizeof msg, "attribute[%s] is required for service %s", a->code,
                      cat->code);
            return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "attribute", msg);
        }
    }
    return 0;
}

static void
s_secret (char out[33])
{
    char uuid[37];
    gz_uuid (uuid);
    size_t j = 0;
    for (size_t i = 0; uuid[i] && j < 32; i++)
        if (uuid[i] != '-')
            out[j++] = uuid[i];
    out[j] = 0;
}

static int
s_validate (intake_t *ctx, gz_org_t *org, const intake_raw_t *raw, intake_err_t *err,
            const gz_category_t **cat_p, const gz_building_t **bld_p, double *lat, double *lon,
            bool *has_latlon)
{
    //  Every text field first: nothing that is not UTF-8 goes further.
    if (s_check_text (raw->service_code, "service_code", 64, err) ||
        s_check_text (raw->description, "description", INTAKE_MAX_BODY, err) ||
        s_check_text (raw->address_id, "address_id", 64, err) ||
        s_check_text (raw->address_string, "address_string", 500, err) ||
        s_check_text (raw->lat_s, "lat", 64, err) || s_check_text (raw->long_s, "long", 64, err) ||
        s_check_text (raw->phone, "phone", 64, err) || s_check_text (raw->name, "name", 200, err) ||
        s_check_text (raw->email, "email", 200, err) ||
        s_check_text (raw->media_url, "media_url", INTAKE_MAX_FIELD, err) ||
        s_check_text (raw->meeting_id, "meeting_id", 64, err) ||
        s_check_text (raw->external_id, "external_id", 200, err) ||
        s_check_text (raw->idempotency_key, "idempotency_key", 200, err))
        return -1;

    const gz_category_t *cat = gz_category_find (raw->service_code);
    if (!raw->service_code || !*raw->service_code)
        return s_fail (err, GONGZHI__V1__ERROR_CODE__UNKNOWN_SERVICE, "service_code",
                       "service_code is required");
    if (!cat)
        return s_fail (err, GONGZHI__V1__ERROR_CODE__UNKNOWN_SERVICE, "service_code",
                       "service_code is not a known service");
    *cat_p = cat;

    //  Description: 1..4,000 characters once trimmed.
    size_t chars = 0;
    if (raw->description) {
        char *t = s_trimmed (raw->description);
        chars = gz_utf8_chars (t, strlen (t));
        free (t);
    }
    if (chars == 0)
        return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_DESCRIPTION, "description",
                       "description is required");
    if (chars > INTAKE_MAX_DESCRIPTION)
        return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_DESCRIPTION, "description",
                       "description is longer than 4000 characters");

    //  Location: address_id (building code), or lat/long in the area, or
    //  a free-text address_string.
    bool lat_given = raw->lat_s && *raw->lat_s, long_given = raw->long_s && *raw->long_s;
    if (lat_given != long_given)
        return s_fail (err, GONGZHI__V1__ERROR_CODE__MISSING_LOCATION, lat_given ? "long" : "lat",
                       "lat and long must be given together");
    if (lat_given) {
        if (!s_parse_double (raw->lat_s, lat) || !s_parse_double (raw->long_s, lon) || *lat < -90 ||
            *lat > 90 || *lon < -180 || *lon > 180)
            return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "lat",
                           "lat/long must be decimal degrees (WGS84)");
        *has_latlon = true;
    }
    if (raw->address_id && *raw->address_id) {
        *bld_p = gz_org_building (org, raw->address_id);
        if (!*bld_p)
            return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "address_id",
                           "address_id is not a known building code");
    }
    else if (*has_latlon) {
        *bld_p = gz_org_nearest (org, *lat, *lon, ctx->cfg->area_radius_m, NULL);
        if (!*bld_p)
            return s_fail (err, GONGZHI__V1__ERROR_CODE__OUT_OF_AREA, "lat",
                           "lat/long is outside the served area");
    }
    else if (!raw->address_string || !*raw->address_string)
        return s_fail (err, GONGZHI__V1__ERROR_CODE__MISSING_LOCATION, "lat",
                       "a location is required: lat/long, address_id or address_string");

    if (raw->phone && *raw->phone && !gz_phone_valid (raw->phone))
        return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "phone",
                       "phone is not a valid phone number");
    if (raw->media_url && *raw->media_url && !gz_url_http (raw->media_url))
        return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "media_url",
                       "media_url must be an http or https URL");
    //  Any bytes that are not the format (not UTF-8 included) are a bad
    //  field: the id is ASCII by definition.
    if (raw->reporter_id && *raw->reporter_id && !intake_reporter_valid (raw->reporter_id))
        return s_fail (err, GONGZHI__V1__ERROR_CODE__BAD_FIELD, "reporter_id",
                       "reporter_id must be rider:<id> or resident:<id>, id 1 to 64 of"
                       " A-Z a-z 0-9 . _ -");
    return s_check_attrs (cat, raw, err);
}

intake_sub_t *
intake_sub_new (intake_t *ctx, const intake_raw_t *raw, intake_err_t *err)
{
    memset (err, 0, sizeof *err);
    const gz_category_t *cat = NULL;
    const gz_building_t *bld = NULL;
    double lat = 0, lon = 0;
    bool has_latlon = false;
    intake_org_t *org = intake_org_take (ctx);
    if (s_validate (ctx, org->org, raw, err, &cat, &bld, &lat, &lon, &has_latlon)) {
        intake_org_drop (&org);
        return NULL;
    }

    intake_sub_t *self = calloc (1, sizeof *self);
    assert (self);
    self->org = org;
    self->channel = raw->channel ? raw->channel : GONGZHI__V1__CHANNEL__BUS;
    self->service_code = strdup (cat->code);
    self->description = s_trimmed (raw->description);
    self->building = bld;
    self->has_latlon = has_latlon;
    self->lat = lat;
    self->lon = lon;
    if (bld && !has_latlon) {
        self->has_latlon = true;
        self->lat = bld->lat;
        self->lon = bld->lon;
    }
    self->address = s_dup (raw->address_string);
    if (!self->address && bld)
        self->address = strdup (bld->address ? bld->address : bld->name);
    self->media_url = s_dup (raw->media_url);
    self->phone = s_dup (raw->phone);
    self->name = s_dup (raw->name);
    self->email = s_dup (raw->email);
    self->meeting_id = s_dup (raw->meeting_id);
    self->external_id = s_dup (raw->external_id);
    self->reporter_id = s_dup (raw->reporter_id);
    self->client_id = strdup (raw->client_id ? raw->client_id : "anonymous");
    self->idempotency_key = s_dup (raw->idempotency_key);
    if (self->idempotency_key)
        self->canonical = intake_canonical_form (raw);
    if (raw->nattrs) {
        self->attrs = calloc (raw->nattrs, sizeof *self->attrs);
        assert (self->attrs);
        for (size_t i = 0; i < raw->nattrs; i++) {
            self->attrs[i].code = strdup (raw->attr_codes[i]);
            self->attrs[i].value = strdup (raw->attr_values[i]);
        }
        self->nattrs = raw->nattrs;
    }
    s_secret (self->secret);
    return self;
}

void
intake_sub_destroy (intake_sub_t **self_p)
{
    intake_sub_t *self = *self_p;
    if (!self)
        return;
    intake_org_drop (&self->org);
    free (self->service_code);
    free (self->description);
    free (self->address);
    free (self->media_url);
    free (self->phone);
    free (self->name);
    free (self->email);
    free (self->meeting_id);
    free (self->external_id);
    free (self->reporter_id);
    free (self->client_id);
    free (self->idempotency_key);
    free (self->canonical);
    for (size_t i = 0; i < self->nattrs; i++) {
        free (self->attrs[i].code);
        free (self->attrs[i].value);
    }
    free (self->attrs);
    for (size_t i = 0; i < self->nphotos; i++)
        intake_photo_clear (&self->photos[i]);
    gz_actor_peer_clear (&self->peer);
    free (self);
    *self_p = NULL;
}
