/*  gz_metrics: a metrics registry rendered as Prometheus text. See
    gz_metrics.h.

    DESIGN: one mutex guards everything. The registry is a list of
    families in the order they were described, each with its series in
    order of first use. A series is keyed by its canonical label text:
    label pairs are parsed, checked and sorted by name, so "b=\"2\",a=\"1\""
    and "a=\"1\",b=\"2\"" are one series (as they are to Prometheus).
    Lookups are linear: a service has tens of families with a handful of
    series each, and the lock is held for well under a microsecond.

    Label text that does not parse (it may carry values from outside, e.g.
    a channel name) would make the whole exposition unreadable to
    Prometheus, so such an update is dropped and logged once per family
    instead. Everything else that is wrong (unknown family, wrong type, a
    negative counter increment) is a programmer error and asserts.

    Histograms keep a count per bucket (not cumulative); render sums them
    up, so observing is one comparison walk and one increment.  */
#include "gz_metrics.h"
#include "gz_log.h"
#include "gz_text.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GZ_METRICS_MAX_LABELS 32

static const double s_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const char *s_bound_text[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                     "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};
#define GZ_METRICS_NBOUNDS (sizeof s_bounds / sizeof s_bounds[0])

typedef struct {
    char *labels; //  canonical label text, "" for none
    double value; //  counter, gauge
    double sum;   //  histogram
    uint64_t count;
    uint64_t buckets[GZ_METRICS_NBOUNDS]; //  observations in (bound[i-1], bound[i]]
} s_series_t;

typedef struct {
    char *name;
    char *help;
    gz_metric_type_t type;
    bool warned; //  a bad label set was logged already
    s_series_t **series;
    size_t nseries, cap;
} s_family_t;

struct _gz_metrics_t {
    pthread_mutex_t mutex;
    s_family_t **families;
    size_t nfamilies, cap;
};

//  ---- growable string for rendering

typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

static void
s_buf_init (s_buf_t *buf)
{
    buf->cap = 1024;
    buf->len = 0;
    buf->data = malloc (buf->cap);
    assert (buf->data);
    buf->data[0] = 0;
}

static void s_buf_printf (s_buf_t *buf, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_buf_printf (s_buf_t *buf, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (buf->data + buf->len, buf->cap - buf->len, fmt, ap);
        va_end (ap);
        assert (n >= 0);
        if (buf->len + (size_t) n < buf->cap) {
            buf->len += (size_t) n;
            return;
        }
        buf->cap = (buf->len + (size_t) n + 1) * 2;
        buf->data = realloc (buf->data, buf->cap);
        assert (buf->data);
    }
}

//  Shortest text that reads back as the same double; Prometheus spelling
//  of the special values.
static void
s_format_double (char *out, size_t size, double v)
{
    if (isnan (v))
        snprintf (out, size, "NaN");
    else if (isinf (v))
        snprintf (out, size, v > 0 ? "+Inf" : "-Inf");
    else {
        snprintf (out, size, "%.15g", v);
        if (strtod (out, NULL) != v)
            snprintf (out, size, "%.17g", v);
    }
}

//  ---- names and labels

static bool
s_name_valid (const char *name, bool colon_ok)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon_ok && c == ':') || (p > name && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

typedef struct {
    const char *name;
    size_t name_len;
    const char *value; //  escaped, as given
    size_t value_len;
} s_pair_t;

//  Parse label text into canonical form (pairs sorted by name, no
//  spaces). Returns a new string, or NULL when the text is malformed.
static char *
s_labels_canonical (const char *labels, bool histogram)
{
    if (!labels || !*labels)
        return strdup ("");
    s_pair_t pairs[GZ_METRICS_MAX_LABELS];
    size_t npairs = 0;
    const char *p = labels;
    while (*p) {
        if (npairs == GZ_METRICS_MAX_LABELS)
            return NULL;
        s_pair_t *pair = &pairs[npairs];
        pair->name = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
               (p > pair->name && *p >= '0' && *p <= '9'))
            p++;
        pair->name_len = (size_t) (p - pair->name);
        if (pair->name_len == 0 || p[0] != '=' || p[1] != '"')
            return NULL;
        if (pair->name_len >= 2 && pair->name[0] == '_' && pair->name[1] == '_')
            return NULL; //  reserved for Prometheus itself
        if (histogram && pair->name_len == 2 && memcmp (pair->name, "le", 2) == 0)
            return NULL;
        p += 2;
        pair->value = p;
        while (*p && *p != '"') {
            if (*p == '\\') {
                if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                    return NULL;
                p++;
            }
            p++;
        }
        if (*p != '"')
            return NULL;
        pair->value_len = (size_t) (p - pair->value);
        if (!gz_utf8_valid (pair->value, pair->value_len))
            return NULL;
        p++;
        npairs++;
        if (*p == ',' && p[1])
            p++;
        else if (*p)
            return NULL;
    }
    //  Insertion sort by name; a duplicate name is malformed.
    for (size_t i = 1; i < npairs; i++) {
        s_pair_t pair = pairs[i];
        size_t j = i;
        while (j > 0) {
            s_pair_t *prev = &pairs[j - 1];
            size_t n = prev->name_len < pair.name_len ? prev->name_len : pair.name_len;
            int cmp = memcmp (prev->name, pair.name, n);
            if (cmp == 0 && prev->name_len == pair.name_len)
                return NULL;
            if (cmp < 0 || (cmp == 0 && prev->name_len < pair.name_len))
                break;
            pairs[j] = *prev;
            j--;
        }
        pairs[j] = pair;
    }
    size_t size = 1;
    for (size_t i = 0; i < npairs; i++)
        size += pairs[i].name_len + pairs[i].value_len + 4;
    char *out = malloc (size);
    assert (out);
    char *o = out;
    for (size_t i = 0; i < npairs; i++) {
        if (i > 0)
            *o++ = ',';
        memcpy (o, pairs[i].name, pairs[i].name_len);
        o += pairs[i].name_len;
        *o++ = '=';
        *o++ = '"';
        memcpy (o, pairs[i].value, pairs[i].value_len);
        o += pairs[i].value_len;
        *o++ = '"';
    }
    *o = 0;
    return out;
}

char *
gz_metrics_label_escape (const char *value)
{
    assert (value);
    size_t len = 0;
    for (const char *p = value; *p; p++)
        len += (*p == '\\' || *p == '"' || *p == '\n') ? 2 : 1;
    char *out = malloc (len + 1);
    assert (out);
    char *o = out;
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            *o++ = '\\';
        else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
            continue;
        }
        *o++ = *p;
    }
    *o = 0;
    return out;
}

//  ---- registry

gz_metrics_t *
gz_metrics_new (void)
{
    gz_metrics_t *self = calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->mutex, NULL);
    return self;
}

void
gz_metrics_destroy (gz_metrics_t **self_p)
{
    assert (self_p);
    gz_metrics_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nfamilies; i++) {
        s_family_t *family = self->families[i];
        for (size_t j = 0; j < family->nseries; j++) {
            free (family->series[j]->labels);
            free (family->series[j]);
        }
        free (family->series);
        free (family->name);
        free (family->help);
        free (family);
    }
    free (self->families);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}

static s_family_t *
s_family_find (gz_metrics_t *self, const char *name)
{
    for (size_t i = 0; i < self->nfamilies; i++)
        if (strcmp (self->families[i]->name, name) == 0)
            return self->families[i];
    return NULL;
}

void
gz_metrics_describe (gz_metrics_t *self, const char *name, gz_metric_type_t type, const char *help)
{
    assert (self);
    bool name_valid = s_name_valid (name, true);
    assert (name_valid);
    (void) name_valid; //  unused where NDEBUG compiles assert out
    assert (help && *help);
    assert (type == GZ_COUNTER || type == GZ_GAUGE || type == GZ_HISTOGRAM);
    size_t name_len = strlen (name);
    if (type == GZ_COUNTER && (name_len < 6 || strcmp (name + name_len - 6, "_total") != 0))
        gz_warn ("metrics", "msg=\"counter name should end in _total\" name=%s", name);

    pthread_mutex_lock (&self->mutex);
    s_family_t *family = s_family_find (self, name);
    if (family)
        //  Describing again (another actor sharing the registry) is fine;
        //  changing the type is not.
        assert (family->type == type);
    else {
        family = calloc (1, sizeof *family);
        assert (family);
        family->name = strdup (name);
        family->type = type;
        //  HELP escapes backslash and newline.
        s_buf_t buf;
        s_buf_init (&buf);
        for (const char *p = help ? help : ""; *p; p++) {
            if (*p == '\\')
                s_buf_printf (&buf, "\\\\");
            else if (*p == '\n')
                s_buf_printf (&buf, "\\n");
            else
                s_buf_printf (&buf, "%c", *p);
        }
        family->help = buf.data;
        if (self->nfamilies == self->cap) {
            self->cap = self->cap ? self->cap * 2 : 16;
            self->families = realloc (self->families, self->cap * sizeof *self->families);
            assert (self->families);
        }
        self->families[self->nfamilies++] = family;
    }
    pthread_mutex_unlock (&self->mutex);
}

//  The series of family for canonical labels, created on first use.
static s_series_t *
s_series_get (s_family_t *family, const char *canonical)
{
    for (size_t i = 0; i < family->nseries; i++)
        if (strcmp (family->series[i]->labels, canonical) == 0)
            return family->series[i];
    if (family->nseries == family->cap) {
        family->cap = family->cap ? family->cap * 2 : 8;
        family->series = realloc (family->series, family->cap * sizeof *family->series);
        assert (family->series);
    }
    s_series_t *series = calloc (1, sizeof *series);
    assert (series);
    series->labels = strdup (canonical);
    family->series[family->nseries++] = series;
    return series;
}

//  Look up (creating) the series for an update; NULL when the labels are
//  malformed (logged once per family). Called with the lock held.
static s_series_t *
s_series_for_update (s_family_t *family, const char *labels)
{
    char *canonical = s_labels_canonical (labels, family->type == GZ_HISTOGRAM);
    if (!canonical) {
        if (!family->warned) {
            family->warned = true;
            gz_warn ("metrics", "msg=\"malformed labels, update dropped\" name=%s", family->name);
        }
        return NULL;
    }
    s_series_t *series = s_series_get (family, canonical);
    free (canonical);
    return series;
}

static s_family_t *
s_family_checked (gz_metrics_t *self, const char *name)
{
    assert (name);
    s_family_t *family = s_family_find (self, name);
    //  Families are described at start-up; an unknown name is a typo.
    //  (Where NDEBUG removes the assert, the update is dropped.)
    assert (family);
    if (!family)
        gz_error ("metrics", "msg=\"metric used before describe\" name=%s", name);
    return family;
}

void
gz_metrics_add (gz_metrics_t *self, const char *name, const char *labels, double v)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    s_family_t *family = s_family_checked (self, name);
    assert (!family || family->type != GZ_HISTOGRAM);
    assert (!family || family->type != GZ_COUNTER || v >= 0);
    s_series_t *series = family ? s_series_for_update (family, labels) : NULL;
    if (series)
        series->value += v;
    pthread_mutex_unlock (&self->mutex);
}

void
gz_metrics_set (gz_metrics_t *self, const char *name, const char *labels, double v)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    s_family_t *family = s_family_checked (self, name);
    assert (!family || family->type != GZ_HISTOGRAM);
    s_series_t *series = family ? s_series_for_update (family, labels) : NULL;
    if (series)
        series->value = v;
    pthread_mutex_unlock (&self->mutex);
}

void
gz_metrics_observe (gz_metrics_t *self, const char *name, const char *labels, double v)
{
    assert (self);
    //  A NaN would poison _sum for good; nothing sensible to count.
    if (isnan (v))
        return;
    pthread_mutex_lock (&self->mutex);
    s_family_t *family = s_family_checked (self, name);
    assert (!family || family->type == GZ_HISTOGRAM);
    s_series_t *series = family ? s_series_for_update (family, labels) : NULL;
    if (series) {
        for (size_t i = 0; i < GZ_METRICS_NBOUNDS; i++)
            if (v <= s_bounds[i]) {
                series->buckets[i]++;
                break;
            }
        series->count++;
        series->sum += v;
    }
    pthread_mutex_unlock (&self->mutex);
}

double
gz_metrics_value (gz_metrics_t *self, const char *name, const char *labels)
{
    assert (self);
    assert (name);
    double value = 0;
    char *canonical = s_labels_canonical (labels, false);
    pthread_mutex_lock (&self->mutex);
    s_family_t *family = s_family_find (self, name);
    for (size_t i = 0; family && canonical && i < family->nseries; i++)
        if (strcmp (family->series[i]->labels, canonical) == 0) {
            s_series_t *series = family->series[i];
            value = family->type == GZ_HISTOGRAM ? (double) series->count : series->value;
            break;
        }
    pthread_mutex_unlock (&self->mutex);
    free (canonical);
    return value;
}

//  One sample line: name{labels[,extra]} value
static void
s_render_sample (s_buf_t *buf, const char *name, const char *suffix, const char *labels,
                 const char *extra, const char *value)
{
    bool has_labels = *labels != 0;
    bool has_extra = extra != NULL;
    s_buf_printf (buf, "%s%s", name, suffix);
    if (has_labels || has_extra)
        s_buf_printf (buf, "{%s%s%s}", labels, has_labels && has_extra ? "," : "",
                      has_extra ? extra : "");
    s_buf_printf (buf, " %s\n", value);
}

char *
gz_metrics_render (gz_metrics_t *self)
{
    assert (self);
    static const char *type_names[] = {"counter", "gauge", "histogram"};
    s_buf_t buf;
    s_buf_init (&buf);
    char value[64], extra[64];
    pthread_mutex_lock (&self->mutex);
    for (size_t i = 0; i < self->nfamilies; i++) {
        s_family_t *family = self->families[i];
        s_buf_printf (&buf, "# HELP %s %s\n", family->name, family->help);
        s_buf_printf (&buf, "# TYPE %s %s\n", family->name, type_names[family->type]);
        for (size_t j = 0; j < family->nseries; j++) {
            s_series_t *series = family->series[j];
            if (family->type != GZ_HISTOGRAM) {
                s_format_double (value, sizeof value, series->value);
                s_render_sample (&buf, family->name, "", series->labels, NULL, value);
                continue;
            }
            uint64_t cumulative = 0;
            for (size_t k = 0; k < GZ_METRICS_NBOUNDS; k++) {
                cumulative += series->buckets[k];
                snprintf (extra, sizeof extra, "le=\"%s\"", s_bound_text[k]);
                snprintf (value, sizeof value, "%llu", (unsigned long long) cumulative);
                s_render_sample (&buf, family->name, "_bucket", series->labels, extra, value);
            }
            snprintf (value, sizeof value, "%llu", (unsigned long long) series->count);
            s_render_sample (&buf, family->name, "_bucket", series->labels, "le=\"+Inf\"", value);
            s_format_double (value, sizeof value, series->sum);
            s_render_sample (&buf, family->name, "_sum", series->labels, NULL, value);
            snprintf (value, sizeof value, "%llu", (unsigned long long) series->count);
            s_render_sample (&buf, family->name, "_count", series->labels, NULL, value);
        }
    }
    pthread_mutex_unlock (&self->mutex);
    return buf.data;
}
