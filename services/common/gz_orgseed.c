/*  gz_orgseed: the synthetic Huaguoyuan (花果园) demo directory, as a JSON
    document in the import format, so `gzctl seed huaguoyuan` goes through
    the same validation and write path as `gzctl org import`. See
    gz_orgdoc_huaguoyuan in gz_orgdoc.h.

    Sizes follow the reported Huaguoyuan figures: 5 sub-districts, 38 communities,
    101 district departments (区直部门) paired with communities, 2,763
    cadres sent into grids; planning figures of ~1,300 grids and ~4,000
    buildings (one QR code per ~100 of ~400,000 residents).

    DESIGN: a fixed-seed splitmix64 generator makes every run identical.
    Layout, in metres east/north of the centre: community centres on a
    jittered sunflower (Vogel) spiral within 1.5 km; sub-districts are
    contiguous angular sectors of communities; grids on a sunflower within
    230 m of their community centre; buildings within 20 m of their grid
    centre. So nearby buildings share a grid and grids share a community,
    and everything lies within 2 km of the centre (clamped to be sure).
    Counts per community/grid are apportioned by random weights with the
    largest-remainder method, so totals are exact.  */
#include "gz_orgdoc.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SUBDISTRICTS 5
#define S_COMMUNITIES 38
#define S_GRIDS 1300
#define S_BUILDINGS 4000
#define S_CADRES 2763
#define S_DEPARTMENTS 101
#define S_LEADERS 5
#define S_M_PER_DEG (6371008.8 * M_PI / 180.0)
#define S_GOLDEN_ANGLE 2.399963229728653

//  Plausible district department names (generic titles, no real people).
//  Past the end of this list departments are numbered 示例区直部门NNN.
static const char *s_departments[] = {
    "区住建局",         "区城管局",       "区民政局",
    "区卫健局",         "区市场监管局",   "公安分局",
    "区委办公室",       "区政府办公室",   "区人大常委会办公室",
    "区政协办公室",     "区纪委监委",     "区委组织部",
    "区委宣传部",       "区委统战部",     "区委政法委",
    "区委社会工作部",   "区委编办",       "区委党校",
    "区发改局",         "区教育局",       "区科技局",
    "区工信局",         "区民族宗教局",   "区司法局",
    "区财政局",         "区人社局",       "区自然资源局",
    "区生态环境分局",   "区交通运输局",   "区水务局",
    "区农业农村局",     "区商务局",       "区文旅局",
    "区退役军人事务局", "区应急管理局",   "区审计局",
    "区国资局",         "区统计局",       "区医保局",
    "区综合行政执法局", "区信访局",       "区投资促进局",
    "区大数据局",       "区政务服务中心", "区机关事务局",
    "区体育局",         "区林业局",       "区人防办",
    "区档案馆",         "区融媒体中心",   "区住房保障中心",
    "区疾控中心",       "区妇幼保健院",   "区人民医院",
    "区红十字会",       "区总工会",       "团区委",
    "区妇联",           "区残联",         "区科协",
    "区工商联",         "区侨联",         "区文联",
    "区供销社",         "区人民法院",     "区人民检察院",
    "区消防救援大队",   "区税务局",       "区老龄办",
    "区关工委",         "区网信办",       "区国动办",
};
#define S_NAMED_DEPARTMENTS (sizeof s_departments / sizeof s_departments[0])

static const char *s_surnames[] = {
    "张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "林", "高", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
    "彭", "曾", "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏",
    "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "石", "廖",
    "贾", "夏", "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段",
    "雷", "侯", "龙", "史", "陶", "黎", "贺", "顾", "毛", "龚", "邵", "万", "严", "覃", "莫",
};
#define S_SURNAMES (sizeof s_surnames / sizeof s_surnames[0])

//  --------------------------------------------------------------------
//  Deterministic randomness (splitmix64)

typedef struct {
    uint64_t state;
} s_rng_t;

static uint64_t
s_next (s_rng_t *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

//  Uniform in [lo, hi).
static double
s_uniform (s_rng_t *rng, double lo, double hi)
{
    return lo + (hi - lo) * ((double) (s_next (rng) >> 11) * 0x1.0p-53);
}

static const char *
s_surname (s_rng_t *rng)
{
    return s_surnames[s_next (rng) % S_SURNAMES];
}

//  Split total into n parts, each >= min, in proportion to weights; the
//  parts add up to total exactly (largest remainder, ties to lower index).
static void
s_apportion (size_t total, size_t n, const double *weights, size_t min, size_t *out)
{
    assert (n > 0 && total >= n * min);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += weights[i];
    double *rest = calloc (n, sizeof *rest);
    assert (rest);
    size_t spare = total - n * min, given = 0;
    for (size_t i = 0; i < n; i++) {
        double exact = (double) spare * weights[i] / sum;
        size_t whole = (size_t) floor (exact);
        out[i] = min + whole;
        rest[i] = exact - (double) whole;
        given += whole;
    }
    for (size_t left = spare - given; left > 0; left--) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (rest[i] > rest[best])
                best = i;
        out[best]++;
        rest[best] = -1;
    }
    free (rest);
}

//  --------------------------------------------------------------------
//  JSON helpers

static char *s_format (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static char *
s_format (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    char *text = NULL;
    int n = vasprintf (&text, fmt, args);
    va_end (args);
    if (n < 0)
        abort (); //  out of memory
    return text;
}

//  Sets key to a string we formatted (and free).
static void
s_set_owned (json_t *obj, const char *key, char *text)
{
    json_object_set_new (obj, key, json_string (text));
    free (text);
}

static json_t *
s_unit (const char *code, const char *level, const char *parent, const char *name,
        const char *phone, int sort_order)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "code", json_string (code));
    json_object_set_new (obj, "level", json_string (level));
    if (parent)
        json_object_set_new (obj, "parent", json_string (parent));
    json_object_set_new (obj, "name", json_string (name));
    if (phone)
        json_object_set_new (obj, "phone", json_string (phone));
    json_object_set_new (obj, "sort_order", json_integer (sort_order));
    json_object_set_new (obj, "synthetic", json_true ());
    return obj;
}

static void
s_add_staff (json_t *list, const char *id, char *name, const char *role, const char *unit,
             size_t *phone_seq, int sort_order)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "id", json_string (id));
    s_set_owned (obj, "name", name);
    json_object_set_new (obj, "role", json_string (role));
    json_object_set_new (obj, "unit", json_string (unit));
    //  Synthetic numbers: 1380000 followed by a sequence number.
    s_set_owned (obj, "phone", s_format ("1380000%04zu", ++*phone_seq));
    json_object_set_new (obj, "on_duty", json_true ());
    json_object_set_new (obj, "sort_order", json_integer (sort_order));
    json_object_set_new (obj, "synthetic", json_true ());
    json_array_append_new (list, obj);
}

//  Offsets in metres from the centre to a rounded position (1e-7 degree,
//  about 1 cm), pulled inside the area if jitter pushed it out.
static void
s_position (double east, double north, double *lat, double *lon)
{
    double limit = GZ_ORGDOC_HGY_RADIUS_M - 25.0;
    double d = hypot (east, north);
    if (d > limit) {
        east *= limit / d;
        north *= limit / d;
    }
    *lat = round ((GZ_ORGDOC_HGY_LAT + north / S_M_PER_DEG) * 1e7) / 1e7;
    *lon =
        round ((GZ_ORGDOC_HGY_LON + east / (S_M_PER_DEG * cos (GZ_ORGDOC_HGY_LAT * M_PI / 180.0))) *
               1e7) /
        1e7;
}

//  --------------------------------------------------------------------
//  The area

typedef struct {
    double east, north, angle;
} s_place_t;

static int
s_by_angle (const void *a, const void *b)
{
    const s_place_t *x = a, *y = b;
    return x->angle < y->angle ? -1 : x->angle > y->angle;
}

json_t *
gz_orgdoc_huaguoyuan (void)
{
    s_rng_t rng = {0x4847592d32303234ULL}; //  "HGY-2024": fixed forever
    json_t *units = json_array ();
    json_t *buildings = json_array ();
    json_t *staff = json_array ();
    json_t *pairings = json_array ();
    size_t phone_seq = 0, unit_phone_seq = 0;
    const char *district = "HGY-D";

    json_array_append_new (units, s_unit (district, "district", NULL, "南明区", NULL, 0));

    //  Community centres, numbered by angle so that sub-districts (sectors)
    //  hold consecutive communities.
    s_place_t places[S_COMMUNITIES];
    for (int i = 0; i < S_COMMUNITIES; i++) {
        double r = 1500.0 * sqrt ((i + 0.5) / S_COMMUNITIES);
        double theta = i * S_GOLDEN_ANGLE;
        places[i].east = r * cos (theta) + s_uniform (&rng, -50, 50);
        places[i].north = r * sin (theta) + s_uniform (&rng, -50, 50);
        places[i].angle = atan2 (places[i].north, places[i].east);
    }
    qsort (places, S_COMMUNITIES, sizeof places[0], s_by_angle);
    //  5 sectors of 8, 8, 8, 7, 7 communities
    int first_community[S_SUBDISTRICTS + 1];
    for (int s = 0, c = 0; s <= S_SUBDISTRICTS; s++) {
        first_community[s] = c;
        c += S_COMMUNITIES / S_SUBDISTRICTS + (s < S_COMMUNITIES % S_SUBDISTRICTS);
    }

    double weights[S_GRIDS];
    size_t grids_in[S_COMMUNITIES];
    for (int c = 0; c < S_COMMUNITIES; c++)
        weights[c] = s_uniform (&rng, 0.75, 1.25);
    s_apportion (S_GRIDS, S_COMMUNITIES, weights, 20, grids_in);
    size_t buildings_in[S_GRIDS];
    for (int g = 0; g < S_GRIDS; g++)
        weights[g] = s_uniform (&rng, 0.15, 1.85);
    s_apportion (S_BUILDINGS, S_GRIDS, weights, 1, buildings_in);
    size_t cadres_in[S_GRIDS]; //  bigger grids get more cadres
    for (int g = 0; g < S_GRIDS; g++)
        weights[g] = (double) buildings_in[g] + s_uniform (&rng, 0, 1);
    s_apportion (S_CADRES, S_GRIDS, weights, 1, cadres_in);

    //  District leaders: one linked to each sub-district (三级联系).
    for (int s = 1; s <= S_LEADERS; s++) {
        char id[32];
        snprintf (id, sizeof id, "HGY-LEAD%d", s);
        s_add_staff (staff, id, s_format ("示例区领导%s某(联系示例街道%d)", s_surname (&rng), s),
                     "district_leader", district, &phone_seq, s);
    }

    int grid_no = 0, building_no = 0, compound_no = 0;
    for (int s = 0; s < S_SUBDISTRICTS; s++) {
        char sub_code[24], sub_id[40];
        snprintf (sub_code, sizeof sub_code, "HGY-S%d", s + 1);
        char *name = s_format ("示例街道%d", s + 1);
        char *phone = s_format ("0851-0000%04zu", ++unit_phone_seq);
        json_array_append_new (units,
                               s_unit (sub_code, "subdistrict", district, name, phone, s + 1));
        free (name);
        free (phone);
        snprintf (sub_id, sizeof sub_id, "%s-COORD", sub_code);
        s_add_staff (staff, sub_id, s_format ("示例协调员%s某(街道%d)", s_surname (&rng), s + 1),
                     "subdistrict_coordinator", sub_code, &phone_seq, 0);

        for (int c = first_community[s]; c < first_community[s + 1]; c++) {
            char com_code[24], com_id[40];
            snprintf (com_code, sizeof com_code, "HGY-C%02d", c + 1);
            name = s_format ("示例社区%d", c + 1);
            phone = s_format ("0851-0000%04zu", ++unit_phone_seq);
            json_array_append_new (units,
                                   s_unit (com_code, "community", sub_code, name, phone, c + 1));
            free (name);
            free (phone);
            snprintf (com_id, sizeof com_id, "%s-DUTY", com_code);
            s_add_staff (staff, com_id,
                         s_format ("示例值班员%s某(社区%d)", s_surname (&rng), c + 1),
                         "community_duty", com_code, &phone_seq, 0);
            snprintf (com_id, sizeof com_id, "%s-SEC", com_code);
            s_add_staff (staff, com_id, s_format ("示例书记%s某(社区%d)", s_surname (&rng), c + 1),
                         "community_secretary", com_code, &phone_seq, 0);

            size_t ngrids = grids_in[c];
            double spin = s_uniform (&rng, 0, 2 * M_PI);
            int compound_left = 0, in_compound = 0;
            for (size_t j = 0; j < ngrids; j++) {
                grid_no++;
                char grid_code[24];
                snprintf (grid_code, sizeof grid_code, "HGY-G%04d", grid_no);
                name = s_format ("示例网格%04d", grid_no);
                json_array_append_new (
                    units, s_unit (grid_code, "grid", com_code, name, NULL, (int) j + 1));
                free (name);
                char id[32];
                snprintf (id, sizeof id, "HGY-W%04d", grid_no);
                s_add_staff (staff, id,
                             s_format ("示例网格员%s某(%04d)", s_surname (&rng), grid_no),
                             "grid_worker", grid_code, &phone_seq, 0);
                for (size_t k = 1; k <= cadres_in[grid_no - 1]; k++) {
                    snprintf (id, sizeof id, "HGY-K%04d-%zu", grid_no, k);
                    s_add_staff (staff, id,
                                 s_format ("示例干部%s某(%04d-%zu)", s_surname (&rng), grid_no, k),
                                 "grid_cadre", grid_code, &phone_seq, (int) k);
                }

                double r = 230.0 * sqrt ((j + 0.5) / (double) ngrids);
                double theta = spin + (double) j * S_GOLDEN_ANGLE;
                double grid_east = places[c].east + r * cos (theta) + s_uniform (&rng, -8, 8);
                double grid_north = places[c].north + r * sin (theta) + s_uniform (&rng, -8, 8);

                //  A compound (小区) spans one to three neighbouring grids.
                if (compound_left == 0) {
                    compound_no++;
                    compound_left = 1 + (int) (s_next (&rng) % 3);
                    in_compound = 0;
                }
                compound_left--;
                size_t nb = buildings_in[grid_no - 1];
                double turn = s_uniform (&rng, 0, 2 * M_PI);
                for (size_t k = 0; k < nb; k++) {
                    building_no++;
                    in_compound++;
                    double a =
                        turn + 2 * M_PI * (double) k / (double) nb + s_uniform (&rng, -0.4, 0.4);
                    double d = nb == 1 ? s_uniform (&rng, 0, 8) : s_uniform (&rng, 8, 20);
                    double lat, lon;
                    s_position (grid_east + d * cos (a), grid_north + d * sin (a), &lat, &lon);
                    json_t *b = json_object ();
                    s_set_owned (b, "code", s_format ("HGY-B%04d", building_no));
                    json_object_set_new (b, "grid", json_string (grid_code));
                    s_set_owned (b, "name", s_format ("示例小区%d %d栋", compound_no, in_compound));
                    s_set_owned (b, "address",
                                 s_format ("贵阳市南明区示例街道%d示例社区%d 示例小区%d %d栋",
                                           s + 1, c + 1, compound_no, in_compound));
                    json_object_set_new (b, "lat", json_real (lat));
                    json_object_set_new (b, "lon", json_real (lon));
                    json_object_set_new (b, "households",
                                         json_integer (24 + (json_int_t) (s_next (&rng) % 25)));
                    json_object_set_new (b, "sort_order", json_integer ((json_int_t) k + 1));
                    json_object_set_new (b, "synthetic", json_true ());
                    json_array_append_new (buildings, b);
                }
            }
        }
    }

    //  Departments, their contacts, and pairings spread over communities
    //  (101 over 38: each community gets two or three).
    for (int d = 1; d <= S_DEPARTMENTS; d++) {
        char code[24], id[48];
        snprintf (code, sizeof code, "HGY-DEPT%03d", d);
        char *name = (size_t) d <= S_NAMED_DEPARTMENTS ? strdup (s_departments[d - 1])
                                                       : s_format ("示例区直部门%03d", d);
        char *phone = s_format ("0851-0000%04zu", ++unit_phone_seq);
        json_array_append_new (units, s_unit (code, "department", district, name, phone, d));
        free (phone);
        snprintf (id, sizeof id, "%s-LIAISON", code);
        s_add_staff (staff, id, s_format ("示例联络员%s某(%s)", s_surname (&rng), name),
                     "department_contact", code, &phone_seq, 0);
        free (name);
        json_t *pair = json_object ();
        json_object_set_new (pair, "department", json_string (code));
        s_set_owned (pair, "community", s_format ("HGY-C%02d", (d - 1) % S_COMMUNITIES + 1));
        json_array_append_new (pairings, pair);
    }

    //  A call-back operator (回访员) per sub-district, last: the people
    //  and phones above stay what they were before the role existed.
    for (int s = 0; s < S_SUBDISTRICTS; s++) {
        char sub_code[24], id[40];
        snprintf (sub_code, sizeof sub_code, "HGY-S%d", s + 1);
        snprintf (id, sizeof id, "%s-CALLBACK", sub_code);
        s_add_staff (staff, id, s_format ("示例回访员(街道%d)", s + 1), "callback_operator",
                     sub_code, &phone_seq, 0);
    }

    json_t *root = json_object ();
    json_object_set_new (root, "format", json_string ("gongzhi-org/1"));
    json_object_set_new (root, "units", units);
    json_object_set_new (root, "buildings", buildings);
    json_object_set_new (root, "staff", staff);
    json_object_set_new (root, "pairings", pairings);
    return root;
}
