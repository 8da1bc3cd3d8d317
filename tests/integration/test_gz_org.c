/*  Integration tests for the org directory: the Huaguoyuan seed, gz_org
    lookups (code, nearest building, ladder, staff), and imports, valid
    and invalid, against a fresh database per test.  */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gz_db.h"
#include "gz_org.h"
#include "gz_orgdoc.h"
#include "gz_testdb.h"
#include "gz_testfix.h"

typedef struct {
    gz_testdb_t *testdb;
    gz_db_t *db;
} s_fixture_t;

//  A small valid directory in the import format.
static const char *s_small =
    "{\n"
    "  \"format\": \"gongzhi-org/1\",\n"
    "  \"units\": [\n"
    "    {\"code\": \"T-D\", \"level\": \"district\", \"name\": \"测试区\"},\n"
    "    {\"code\": \"T-S1\", \"level\": \"subdistrict\", \"parent\": \"T-D\", \"name\": "
    "\"测试街道\"},\n"
    "    {\"code\": \"T-C1\", \"level\": \"community\", \"parent\": \"T-S1\", \"name\": "
    "\"测试社区\", \"phone\": \"0851-12345678\"},\n"
    "    {\"code\": \"T-G1\", \"level\": \"grid\", \"parent\": \"T-C1\", \"name\": "
    "\"测试网格1\"},\n"
    "    {\"code\": \"T-G2\", \"level\": \"grid\", \"parent\": \"T-C1\", \"name\": "
    "\"测试网格2\"},\n"
    "    {\"code\": \"T-DEPT1\", \"level\": \"department\", \"parent\": \"T-D\", \"name\": "
    "\"区住建局\"}\n"
    "  ],\n"
    "  \"buildings\": [\n"
    "    {\"code\": \"T-B1\", \"grid\": \"T-G1\", \"name\": \"1栋\", \"lat\": 26.5, \"lon\": "
    "106.7},\n"
    "    {\"code\": \"T-B2\", \"grid\": \"T-G1\", \"name\": \"2栋\", \"lat\": 26.5003, \"lon\": "
    "106.7},\n"
    "    {\"code\": \"T-B3\", \"grid\": \"T-G2\", \"name\": \"3栋\", \"lat\": 26.501, \"lon\": "
    "106.701, \"households\": 40, \"address\": \"测试路1号\\\\3栋\"}\n"
    "  ],\n"
    "  \"staff\": [\n"
    "    {\"id\": \"T-W1\", \"name\": \"测试网格员\", \"role\": \"grid_worker\", \"unit\": "
    "\"T-G1\", \"phone\": \"13800009999\"},\n"
    "    {\"id\": \"T-SEC\", \"name\": \"测试书记\", \"role\": \"community_secretary\", "
    "\"unit\": \"T-C1\", \"on_duty\": false, \"max_open\": 5}\n"
    "  ],\n"
    "  \"pairings\": [{\"department\": \"T-DEPT1\", \"community\": \"T-C1\"}]\n"
    "}\n";

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    fx->testdb = gz_testdb_new ("org");
    fx->db = gz_db_new (gz_testdb_url (fx->testdb), "test_gz_org");
    assert_true (gz_db_ok (fx->db));
    assert_int_equal (gz_db_migrate (fx->db, "org", gz_org_migrations), 0);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = *state;
    gz_db_destroy (&fx->db);
    gz_db_destroy (&fx->db); //  a second destroy is harmless
    gz_testdb_destroy (&fx->testdb);
    free (fx);
    return 0;
}

static void
s_seed (gz_db_t *db)
{
    json_t *root = gz_orgdoc_huaguoyuan ();
    char *errors = NULL;
    gz_orgdoc_t *doc = gz_orgdoc_new (root, &errors);
    if (!doc)
        fprintf (stderr, "seed does not validate:\n%s", errors);
    assert_non_null (doc);
    assert_null (errors);
    json_decref (root);
    assert_int_equal (gz_orgdoc_apply (doc, db), 0);
    gz_orgdoc_destroy (&doc);
    assert_null (doc);
}

static void
s_stats (gz_db_t *db, gz_orgstats_t *stats)
{
    assert_int_equal (gz_orgdoc_db_stats (db, stats), 0);
}

static char *
s_write_temp (const char *data, size_t len)
{
    char *path = strdup ("/tmp/gz_org_test_XXXXXX");
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, data, len), (ssize_t) len);
    close (fd);
    return path;
}

static double
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

//  --------------------------------------------------------------------

static void
test_seed_shape (void **state)
{
    s_fixture_t *fx = *state;
    s_seed (fx->db);
    gz_orgstats_t st;
    s_stats (fx->db, &st);
    assert_int_equal (st.units[GZ_ORG_DISTRICT], 1);
    assert_int_equal (st.units[GZ_ORG_SUBDISTRICT], 5);
    assert_int_equal (st.units[GZ_ORG_COMMUNITY], 38);
    assert_in_range (st.units[GZ_ORG_GRID], 1200, 1400);
    assert_int_equal (st.units[GZ_ORG_DEPARTMENT], 101);
    assert_in_range (st.buildings, 3800, 4200);
    assert_in_range (st.households, 100000, 200000);
    assert_int_equal (st.staff[GZ_ORG_GRID_WORKER], st.units[GZ_ORG_GRID]);
    assert_int_equal (st.staff[GZ_ORG_GRID_CADRE], 2763);
    assert_int_equal (st.staff[GZ_ORG_COMMUNITY_DUTY], 38);
    assert_int_equal (st.staff[GZ_ORG_COMMUNITY_SECRETARY], 38);
    assert_int_equal (st.staff[GZ_ORG_SUBDISTRICT_COORDINATOR], 5);
    assert_int_equal (st.staff[GZ_ORG_CALLBACK_OPERATOR], 5);
    assert_int_equal (st.staff[GZ_ORG_DEPARTMENT_CONTACT], 101);
    assert_int_equal (st.pairings, 101);

    //  Every generated name below the district says it is synthetic.
    char *v =
        gz_testfix_text (fx->db, "SELECT count(*) FROM org.units WHERE level IN ('subdistrict',"
                                 " 'community', 'grid') AND name NOT LIKE '示例%'");
    assert_string_equal (v, "0");
    free (v);
    v = gz_testfix_text (fx->db, "SELECT count(*) FROM org.buildings WHERE name NOT LIKE '示例%'"
                                 " OR NOT synthetic");
    assert_string_equal (v, "0");
    free (v);
    v = gz_testfix_text (fx->db, "SELECT count(*) FROM org.staff WHERE name NOT LIKE '示例%'"
                                 " OR phone !~ '^1380000[0-9]{4}$'");
    assert_string_equal (v, "0");
    free (v);
    //  Every community has a paired department, every sub-district 7-8
    //  communities.
    v = gz_testfix_text (fx->db,
                         "SELECT count(*) FROM org.units u WHERE level = 'community' AND NOT"
                         " EXISTS (SELECT 1 FROM org.pairings p WHERE p.community_code = u.code)");
    assert_string_equal (v, "0");
    free (v);

    gz_org_t *org = gz_org_load (fx->db);
    assert_non_null (org);
    assert_int_equal (gz_org_building_count (org), st.buildings);
    size_t same_grid = 0, samples = 0;
    for (size_t i = 0; i < gz_org_building_count (org); i++) {
        const gz_building_t *b = gz_org_building_at (org, i);
        assert_non_null (b);
        double d = gz_geo_distance_m (GZ_ORGDOC_HGY_LAT, GZ_ORGDOC_HGY_LON, b->lat, b->lon);
        assert_true (d <= 2000.0);
        //  URL-safe code, full chain to the district
        assert_int_equal (strspn (b->code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789-_."),
                          strlen (b->code));
        assert_non_null (b->grid_code);
        assert_non_null (b->community_code);
        assert_non_null (b->subdistrict_code);
        assert_non_null (b->district_code);
        assert_string_equal (gz_org_unit_level (org, b->grid_code), "grid");
        assert_string_equal (gz_org_unit_level (org, b->community_code), "community");
        assert_string_equal (gz_org_unit_level (org, b->subdistrict_code), "subdistrict");
        assert_string_equal (b->district_code, "HGY-D");
        assert_string_equal (gz_org_unit_name (org, b->district_code), "南明区");
        //  Clustered: the nearest other building mostly shares the grid.
        const gz_building_t *other = NULL;
        double best = 1e18;
        for (size_t j = 0; j < gz_org_building_count (org) && i % 10 == 0; j++) {
            const gz_building_t *c = gz_org_building_at (org, j);
            double dd = gz_geo_distance_m (b->lat, b->lon, c->lat, c->lon);
            if (j != i && dd < best) {
                best = dd;
                other = c;
            }
        }
        if (other)
            samples++;
        if (other && strcmp (other->grid_code, b->grid_code) == 0)
            same_grid++;
    }
    //  Checked on every 10th building.
    assert_true (samples >= 300);
    assert_true (same_grid * 10 >= samples * 7);
    assert_null (gz_org_building_at (org, st.buildings));
    gz_org_destroy (&org);
    assert_null (org);
    gz_org_destroy (&org);
}

static void
test_seed_twice_is_the_same (void **state)
{
    s_fixture_t *fx = *state;
    json_t *a = gz_orgdoc_huaguoyuan ();
    json_t *b = gz_orgdoc_huaguoyuan ();
    assert_true (json_equal (a, b));
    json_decref (a);
    json_decref (b);

    const char *digest = "SELECT md5(string_agg(b::text, ',' ORDER BY code)) ||"
                         " (SELECT md5(string_agg(u::text, ',' ORDER BY code)) FROM org.units u) ||"
                         " (SELECT md5(string_agg(s::text, ',' ORDER BY id)) FROM org.staff s)"
                         " FROM org.buildings b";
    s_seed (fx->db);
    gz_orgstats_t first, second;
    s_stats (fx->db, &first);
    char *d1 = gz_testfix_text (fx->db, digest);
    s_seed (fx->db);
    s_stats (fx->db, &second);
    char *d2 = gz_testfix_text (fx->db, digest);
    assert_memory_equal (&first, &second, sizeof first);
    assert_string_equal (d1, d2);
    free (d1);
    free (d2);
}

static void
test_lookup_and_nearest (void **state)
{
    s_fixture_t *fx = *state;
    s_seed (fx->db);
    gz_org_t *org = gz_org_load (fx->db);
    assert_non_null (org);

    //  1 degree of latitude is ~111.2 km.
    assert_true (fabs (gz_geo_distance_m (26, 106, 27, 106) - 111195.08) < 1.0);
    assert_true (gz_geo_distance_m (26.5, 106.7, 26.5, 106.7) == 0.0);

    const gz_building_t *b = gz_org_building (org, "HGY-B0001");
    assert_non_null (b);
    assert_string_equal (b->code, "HGY-B0001");
    assert_non_null (strstr (b->name, "示例小区"));
    assert_null (gz_org_building (org, "HGY-B9999"));
    assert_null (gz_org_building (org, ""));
    assert_null (gz_org_building (org, NULL));
    assert_string_equal (gz_org_unit_name (org, "HGY-S1"), "示例街道1");
    assert_string_equal (gz_org_unit_parent (org, "HGY-S1"), "HGY-D");
    assert_null (gz_org_unit_parent (org, "HGY-D"));
    assert_null (gz_org_unit_name (org, "nope"));

    //  Every building is found at its own position.
    double dist = -2;
    for (size_t i = 0; i < gz_org_building_count (org); i++) {
        const gz_building_t *x = gz_org_building_at (org, i);
        const gz_building_t *n = gz_org_nearest (org, x->lat, x->lon, 50, &dist);
        assert_non_null (n);
        assert_true (dist < 0.01);
        assert_true (n == x || (n->lat == x->lat && n->lon == x->lon));
    }
    //  Far away: nothing within 1 km; with a huge radius, the area's edge.
    double far_lat = GZ_ORGDOC_HGY_LAT + 0.45; //  ~50 km north
    assert_null (gz_org_nearest (org, far_lat, GZ_ORGDOC_HGY_LON, 1000, &dist));
    assert_true (dist < 0);
    const gz_building_t *edge = gz_org_nearest (org, far_lat, GZ_ORGDOC_HGY_LON, 100000, &dist);
    assert_non_null (edge);
    assert_in_range ((long) dist, 46000, 52000);
    //  Bad input is no position.
    assert_null (gz_org_nearest (org, NAN, 106.69, 100, NULL));
    assert_null (gz_org_nearest (org, 91, 106.69, 100, NULL));
    assert_null (gz_org_nearest (org, 26.5, 181, 100, NULL));
    assert_null (gz_org_nearest (org, 26.5, 106.69, -1, NULL));

    //  The ring search agrees with a linear scan at random points in and
    //  around the area, for several radii.
    uint64_t seed = 42;
    const double radii[] = {30, 150, 400, 2500};
    for (int k = 0; k < 2000; k++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        double lat = GZ_ORGDOC_HGY_LAT + ((double) (seed >> 40) / (double) (1 << 24) - 0.5) * 0.05;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        double lon = GZ_ORGDOC_HGY_LON + ((double) (seed >> 40) / (double) (1 << 24) - 0.5) * 0.05;
        double max_m = radii[k % 4];
        double best = 1e18;
        for (size_t i = 0; i < gz_org_building_count (org); i++) {
            const gz_building_t *x = gz_org_building_at (org, i);
            double d = gz_geo_distance_m (lat, lon, x->lat, x->lon);
            if (d < best)
                best = d;
        }
        const gz_building_t *n = gz_org_nearest (org, lat, lon, max_m, &dist);
        if (best <= max_m) {
            assert_non_null (n);
            assert_true (fabs (dist - best) < 1e-6);
        }
        else
            assert_null (n);
    }

    //  Speed: microseconds per lookup (generous bound for sanitizer builds).
    const int rounds = 20000;
    double start = s_now_us ();
    size_t found = 0;
    for (int k = 0; k < rounds; k++) {
        const gz_building_t *x = gz_org_building_at (org, (size_t) k % gz_org_building_count (org));
        found += gz_org_nearest (org, x->lat + 0.0001, x->lon - 0.0001, 200, NULL) != NULL;
        found += gz_org_building (org, x->code) == x;
    }
    double per = (s_now_us () - start) / rounds;
    fprintf (stderr, "nearest + code lookup: %.2f us per pair\n", per);
    assert_int_equal (found, 2 * rounds);
    assert_true (per < 200);

    //  Staff and pairings
    const gz_staff_t *staff[8];
    assert_int_equal (gz_org_unit_staff (org, "HGY-G0345", "grid_worker", staff, 8), 1);
    assert_string_equal (staff[0]->id, "HGY-W0345");
    assert_non_null (strstr (staff[0]->name, "示例网格员"));
    assert_true (staff[0]->on_duty);
    assert_int_equal (staff[0]->max_open, -1);
    assert_true (gz_org_unit_staff (org, "HGY-G0345", NULL, NULL, 0) >= 2);
    assert_int_equal (gz_org_unit_staff (org, "HGY-C01", "community_secretary", staff, 8), 1);
    assert_string_equal (staff[0]->unit_code, "HGY-C01");
    assert_ptr_equal (gz_org_staff (org, "HGY-C01-SEC"), staff[0]);
    assert_null (gz_org_staff (org, "nobody"));
    assert_int_equal (gz_org_unit_staff (org, "nope", NULL, staff, 8), 0);
    assert_int_equal (gz_org_staff_count (org), 4255); //  with 5 call-back operators
    const char *departments[4];
    size_t paired = gz_org_paired_departments (org, "HGY-C01", departments, 4);
    assert_in_range (paired, 2, 3);
    assert_string_equal (departments[0], "HGY-DEPT001");
    assert_string_equal (gz_org_unit_level (org, departments[0]), "department");
    gz_orgstats_t st;
    s_stats (fx->db, &st);
    assert_int_equal (gz_org_unit_count (org), 1 + 5 + 38 + 101 + st.units[GZ_ORG_GRID]);
    gz_org_destroy (&org);
}

static void
test_import_valid_file (void **state)
{
    s_fixture_t *fx = *state;
    s_seed (fx->db);
    char *path = s_write_temp (s_small, strlen (s_small));
    char *errors = NULL;
    gz_orgdoc_t *doc = gz_orgdoc_load (path, &errors);
    if (!doc)
        fprintf (stderr, "%s", errors);
    assert_non_null (doc);
    gz_orgstats_t st;
    gz_orgdoc_stats (doc, &st);
    assert_int_equal (st.units[GZ_ORG_GRID], 2);
    assert_int_equal (st.buildings, 3);
    assert_int_equal (gz_orgdoc_apply (doc, fx->db), 0);
    gz_orgdoc_destroy (&doc);

    gz_orgstats_t db;
    s_stats (fx->db, &db);
    assert_memory_equal (&st, &db, sizeof st); //  replaced, not merged
    assert_int_equal (db.units[GZ_ORG_DISTRICT], 1);
    assert_int_equal (db.units[GZ_ORG_COMMUNITY], 1);
    assert_int_equal (db.households, 40);
    assert_int_equal (db.staff[GZ_ORG_GRID_WORKER], 1);
    assert_int_equal (db.pairings, 1);

    gz_org_t *org = gz_org_load (fx->db);
    assert_non_null (org);
    const gz_building_t *b = gz_org_building (org, "T-B3");
    assert_non_null (b);
    assert_string_equal (b->address, "测试路1号\\3栋"); //  COPY escaping round trip
    assert_string_equal (b->grid_code, "T-G2");
    assert_string_equal (b->community_code, "T-C1");
    assert_string_equal (b->subdistrict_code, "T-S1");
    assert_string_equal (b->district_code, "T-D");
    assert_true (b->lat == 26.501 && b->lon == 106.701);
    double dist;
    assert_ptr_equal (gz_org_nearest (org, 26.5002, 106.7, 100, &dist),
                      gz_org_building (org, "T-B2"));
    assert_null (gz_org_building (org, "HGY-B0001"));
    const gz_staff_t *sec = gz_org_staff (org, "T-SEC");
    assert_non_null (sec);
    assert_false (sec->on_duty);
    assert_int_equal (sec->max_open, 5);
    assert_null (sec->phone);
    gz_org_destroy (&org);
    unlink (path);
    free (path);
    free (errors);
}

//  Writes data to a file, imports it, and expects failure with want in
//  the message and the database unchanged.
static void
s_expect_rejected (s_fixture_t *fx, const char *data, size_t len, const char *want)
{
    gz_orgstats_t before, after;
    s_stats (fx->db, &before);
    char *path = s_write_temp (data, len);
    char *errors = NULL;
    gz_orgdoc_t *doc = gz_orgdoc_load (path, &errors);
    assert_null (doc);
    assert_non_null (errors);
    if (!strstr (errors, want))
        fprintf (stderr, "want \"%s\" in:\n%s", want, errors);
    assert_non_null (strstr (errors, want));
    free (errors);
    unlink (path);
    free (path);
    s_stats (fx->db, &after);
    assert_memory_equal (&before, &after, sizeof before);
}

//  The small document with one edit applied by a jansson callback.
static char *
s_small_edited (void (*edit) (json_t *root))
{
    json_error_t error;
    json_t *root = json_loads (s_small, 0, &error);
    assert_non_null (root);
    edit (root);
    char *text = json_dumps (root, JSON_INDENT (1));
    json_decref (root);
    return text;
}

static json_t *
s_item (json_t *root, const char *section, size_t index)
{
    return json_array_get (json_object_get (root, section), index);
}

static void
s_edit_unknown_parent (json_t *root)
{
    json_object_set_new (s_item (root, "units", 3), "parent", json_string ("T-C9"));
}

static void
s_edit_bad_lat (json_t *root)
{
    json_object_set_new (s_item (root, "buildings", 2), "lat", json_real (91.5));
}

static void
s_edit_duplicate_code (json_t *root)
{
    json_object_set_new (s_item (root, "buildings", 1), "code", json_string ("T-B1"));
}

static void
s_edit_wrong_level (json_t *root)
{
    json_object_set_new (s_item (root, "units", 4), "parent", json_string ("T-S1"));
}

static void
s_edit_many (json_t *root)
{
    json_object_set_new (s_item (root, "units", 1), "level", json_string ("street"));
    json_object_set_new (s_item (root, "buildings", 0), "lattitude", json_real (26.5));
    json_object_set_new (s_item (root, "buildings", 0), "code", json_string ("T B1/../x"));
    json_object_set_new (s_item (root, "staff", 0), "unit", json_string ("T-C1"));
    json_object_set_new (s_item (root, "pairings", 0), "community", json_string ("T-G1"));
    json_object_set_new (s_item (root, "staff", 1), "max_open", json_real (2.5));
}

static void
test_import_invalid_changes_nothing (void **state)
{
    s_fixture_t *fx = *state;
    s_seed (fx->db);
    struct {
        void (*edit) (json_t *);
        const char *want;
    } cases[] = {
        {s_edit_unknown_parent, "units[3].parent: unknown unit \"T-C9\""},
        {s_edit_bad_lat, "buildings[2].lat: out of range"},
        {s_edit_duplicate_code, "buildings[1].code: duplicate \"T-B1\" (first at buildings[0])"},
        {s_edit_wrong_level, "units[4].parent: \"T-S1\" is a subdistrict; the parent of a grid "
                             "must be a community"},
        {s_edit_many, "units[1].level: unknown level"},
        {s_edit_many, "buildings[0]: unknown field \"lattitude\""},
        {s_edit_many, "buildings[0].code: not a valid code"},
        {s_edit_many, "staff[0].unit: \"T-C1\" is a community, not a grid"},
        {s_edit_many, "pairings[0].community: \"T-G1\" is a grid, not a community"},
        {s_edit_many, "staff[1].max_open: must be an integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = s_small_edited (cases[i].edit);
        s_expect_rejected (fx, text, strlen (text), cases[i].want);
        free (text);
    }
    //  Broken JSON, invalid UTF-8, duplicate keys, wrong shapes.
    const char *broken = "{\"units\": [{\"code\": \"X\",]}";
    s_expect_rejected (fx, broken, strlen (broken), ":1:");
    const char utf8[] =
        "{\"units\": [{\"code\": \"X\", \"level\": \"district\", \"name\": \"\xff\xfe\"}]}";
    s_expect_rejected (fx, utf8, sizeof utf8 - 1, "not valid UTF-8");
    const char *dupkey = "{\"units\": [], \"units\": []}";
    s_expect_rejected (fx, dupkey, strlen (dupkey), "duplicate");
    const char *array = "[1, 2]";
    s_expect_rejected (fx, array, strlen (array), "(document): must be a JSON object");
    const char *empty = "{\"units\": []}";
    s_expect_rejected (fx, empty, strlen (empty), "units: no district");
    const char *nounits = "{\"buildings\": {}}";
    s_expect_rejected (fx, nounits, strlen (nounits), "units: required");
    s_expect_rejected (fx, nounits, strlen (nounits), "buildings: must be an array");
    const char *format = "{\"format\": \"other/9\", \"units\": [{\"code\": \"D\", \"level\":"
                         " \"district\", \"name\": \"d\", \"parent\": \"D\"}]}";
    s_expect_rejected (fx, format, strlen (format), "format: unsupported");
    s_expect_rejected (fx, format, strlen (format), "units[0].parent: a district has no parent");

    //  A missing file is an error too.
    char *errors = NULL;
    assert_null (gz_orgdoc_load ("/nonexistent/org.json", &errors));
    assert_non_null (strstr (errors, "/nonexistent/org.json"));
    free (errors);

    //  Many problems: listed up to a cap, then counted.
    json_t *root = json_object ();
    json_t *units = json_array ();
    for (int i = 0; i < 150; i++)
        json_array_append_new (
            units, json_pack ("{s:s, s:s, s:s}", "code", "X", "level", "grid", "name", "n"));
    json_object_set_new (root, "units", units);
    assert_null (gz_orgdoc_new (root, &errors));
    assert_non_null (strstr (errors, "more errors"));
    free (errors);
    assert_null (gz_orgdoc_new (root, NULL));
    json_decref (root);
}

//  A document that validates but that the database refuses (here: a
//  trigger) rolls back whole.
static void
test_failed_apply_rolls_back (void **state)
{
    s_fixture_t *fx = *state;
    s_seed (fx->db);
    gz_orgstats_t before, after;
    s_stats (fx->db, &before);
    assert_int_equal (gz_db_command (fx->db,
                                     "CREATE FUNCTION org.t_refuse() RETURNS trigger"
                                     " LANGUAGE plpgsql AS $$ BEGIN IF NEW.code = 'T-B3' THEN"
                                     " RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;"
                                     "CREATE TRIGGER refuse BEFORE INSERT ON org.buildings"
                                     " FOR EACH ROW EXECUTE FUNCTION org.t_refuse()"),
                      0);
    json_error_t error;
    json_t *root = json_loads (s_small, 0, &error);
    gz_orgdoc_t *doc = gz_orgdoc_new (root, NULL);
    json_decref (root);
    assert_non_null (doc);
    assert_int_equal (gz_orgdoc_apply (doc, fx->db), -1);
    s_stats (fx->db, &after);
    assert_memory_equal (&before, &after, sizeof before);
    //  The connection is usable again afterwards.
    assert_int_equal (gz_db_command (fx->db, "DROP TRIGGER refuse ON org.buildings"), 0);
    assert_int_equal (gz_orgdoc_apply (doc, fx->db), 0);
    s_stats (fx->db, &after);
    assert_int_equal (after.buildings, 3);
    gz_orgdoc_destroy (&doc);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_seed_shape, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_seed_twice_is_the_same, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lookup_and_nearest, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_import_valid_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_import_invalid_changes_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_failed_apply_rolls_back, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
