/*  gz_metrics: counters, gauges and histograms rendered in Prometheus text
    format (accepted by `promtool check metrics`). Thread-safe: HTTP
    threads and the actor update one registry.

    A metric is a family name plus a label set given as Prometheus label
    text, e.g. "channel=\"qr\",outcome=\"accepted\"" (NULL or "" = none).
    Label values must be escaped (\\ \" \n; see gz_metrics_label_escape);
    label order does not matter (it is normalised). An update whose label
    text is malformed (or uses "le" on a histogram, or a __ name) is
    dropped and logged once per family, because it would break the whole
    exposition.

    Families are described once (type, help) before use; using a family
    that was not described, with the wrong type, is a programmer error
    (assert). Names follow Prometheus conventions, which promtool checks:
    counters end in _total, base units (_seconds, _bytes), snake_case.  */
#ifndef GZ_METRICS_H_INCLUDED
#define GZ_METRICS_H_INCLUDED

typedef struct _gz_metrics_t gz_metrics_t;

typedef enum { GZ_COUNTER, GZ_GAUGE, GZ_HISTOGRAM } gz_metric_type_t;

gz_metrics_t *gz_metrics_new (void);
void gz_metrics_destroy (gz_metrics_t **self_p);

//  Declare a family. Histograms use buckets in seconds:
//  .0005 .001 .0025 .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 +Inf.
//  Families render in the order they are described. Describing a family
//  again with the same type is harmless (help stays the first one). A
//  counter name without _total is logged as a warning (promtool rejects
//  it).
void gz_metrics_describe (gz_metrics_t *self, const char *name, gz_metric_type_t type,
                          const char *help);

//  Counter: add v (>= 0). Gauge: add v (may be negative). Gauge or
//  counter: set to v (set on a counter is for mirroring a count kept
//  elsewhere). Histogram: observe v (NaN is ignored).
void gz_metrics_add (gz_metrics_t *self, const char *name, const char *labels, double v);
void gz_metrics_set (gz_metrics_t *self, const char *name, const char *labels, double v);
void gz_metrics_observe (gz_metrics_t *self, const char *name, const char *labels, double v);

//  Current value of a counter or gauge (0 if never touched); for a
//  histogram the number of observations. For tests.
double gz_metrics_value (gz_metrics_t *self, const char *name, const char *labels);

//  The whole registry as Prometheus text. Caller frees.
char *gz_metrics_render (gz_metrics_t *self);

//  value escaped for use between the quotes of label text (\ " and
//  newline). Caller frees.
char *gz_metrics_label_escape (const char *value);

#endif
