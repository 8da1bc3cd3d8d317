/*  Unit tests for matching_solver and matching_instance: the solver equals
    an exhaustive search on hundreds of small random instances (count and
    cost) and a plain min-cost flow (Bellman-Ford, one unit at a time) on
    larger ones, never breaks a capacity, and handles the edge cases by
    name; the instance parser reports every kind of error with its line
    and the answer is written in the documented format.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "matching_instance.h"
#include "matching_solver.h"

typedef struct {
    size_t need, volunteer;
    int64_t cost;
} t_edge_t;

typedef struct {
    size_t needs, volunteers, edge_count;
    int64_t cap[64];
    t_edge_t edges[512];
} t_instance_t;

//  A deterministic generator (xorshift64*), so every run tests the same.
static uint64_t s_rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
s_next (void)
{
    s_rng ^= s_rng >> 12, s_rng ^= s_rng << 25, s_rng ^= s_rng >> 27;
    return s_rng * 2685821657736338717ULL;
}

static size_t
s_below (size_t n)
{
    return (size_t) (s_next () % n);
}

static matching_solver_t *
s_solver (const t_instance_t *t)
{
    matching_solver_t *s = matching_solver_new (t->needs, t->volunteers);
    for (size_t v = 0; v < t->volunteers; v++)
        assert_int_equal (matching_solver_capacity (s, v, t->cap[v]), 0);
    for (size_t k = 0; k < t->edge_count; k++)
        assert_int_equal (
            matching_solver_edge (s, t->edges[k].need, t->edges[k].volunteer, t->edges[k].cost), 0);
    return s;
}

//  The cheapest cost of the pair (need, volunteer), or -1 when infeasible.
static int64_t
s_pair_cost (const t_instance_t *t, size_t need, int64_t volunteer)
{
    int64_t best = -1;
    for (size_t k = 0; k < t->edge_count; k++)
        if (t->edges[k].need == need && (int64_t) t->edges[k].volunteer == volunteer &&
            (best < 0 || t->edges[k].cost < best))
            best = t->edges[k].cost;
    return best;
}

//  Solves t and checks the result is a valid b-matching whose count and
//  cost are what it says; returns it (the caller frees it).
static matching_result_t
s_solve_checked (const t_instance_t *t)
{
    matching_solver_t *s = s_solver (t);
    matching_result_t r;
    assert_int_equal (matching_solver_solve (s, &r), 0);
    matching_solver_destroy (&s);
    assert_null (s);
    assert_int_equal (r.needs, t->needs);
    int64_t used[64] = {0}, cost = 0;
    size_t matched = 0;
    for (size_t i = 0; i < t->needs; i++) {
        if (r.volunteer[i] < 0)
            continue;
        assert_true (r.volunteer[i] < (int64_t) t->volunteers);
        int64_t c = s_pair_cost (t, i, r.volunteer[i]);
        assert_true (c >= 0); //  a feasible pair, at its cheaper cost
        cost += c;
        matched++;
        used[r.volunteer[i]]++;
    }
    for (size_t v = 0; v < t->volunteers; v++)
        assert_true (used[v] <= t->cap[v]); //  never over capacity
    assert_int_equal (r.matched, matched);
    assert_int_equal (r.cost, cost);
    return r;
}

//  Exhaustive search: every need takes nothing or one of its pairs.
static void
s_brute (const t_instance_t *t, size_t i, int64_t *used, size_t count, int64_t cost,
         size_t *best_count, int64_t *best_cost)
{
    if (i == t->needs) {
        if (count > *best_count || (count == *best_count && cost < *best_cost))
            *best_count = count, *best_cost = cost;
        return;
    }
    s_brute (t, i + 1, used, count, cost, best_count, best_cost);
    for (size_t k = 0; k < t->edge_count; k++) {
        const t_edge_t *e = &t->edges[k];
        if (e->need != i || used[e->volunteer] >= t->cap[e->volunteer])
            continue;
        used[e->volunteer]++;
        s_brute (t, i + 1, used, count + 1, cost + e->cost, best_count, best_cost);
        used[e->volunteer]--;
    }
}

static void
s_random (t_instance_t *t, size_t max_needs, size_t max_volunteers, size_t max_cap,
          unsigned density, int64_t max_cost)
{
    memset (t, 0, sizeof *t);
    t->needs = 1 + s_below (max_needs);
    t->volunteers = 1 + s_below (max_volunteers);
    for (size_t v = 0; v < t->volunteers; v++)
        t->cap[v] = (int64_t) s_below (max_cap + 1);
    for (size_t i = 0; i < t->needs; i++)
        for (size_t v = 0; v < t->volunteers; v++)
            while (s_below (100) < density && t->edge_count < 512) //  sometimes twice
                t->edges[t->edge_count++] =
                    (t_edge_t){i, v, (int64_t) s_below ((size_t) max_cost + 1)};
}

static void
test_brute_force (void **state)
{
    (void) state;
    size_t nonempty = 0;
    for (int round = 0; round < 600; round++) {
        t_instance_t t;
        s_random (&t, 6, 5, round % 3 == 0 ? 1 : 3, 15 + (unsigned) (round % 40),
                  round % 5 == 0 ? 0 : 20);
        size_t best_count = 0;
        int64_t best_cost = 0, used[64] = {0};
        s_brute (&t, 0, used, 0, 0, &best_count, &best_cost);
        matching_result_t r = s_solve_checked (&t);
        if (r.matched != best_count || r.cost != best_cost)
            fail_msg ("round %d: solver %zu/%lld, brute force %zu/%lld", round, r.matched,
                      (long long) r.cost, best_count, (long long) best_cost);
        nonempty += best_count > 0;
        matching_result_free (&r);
    }
    printf ("%zu of 600 instances match something\n", nonempty);
    assert_true (nonempty > 400); //  the instances are not trivial
}

//  Min-cost maximum flow by successive shortest paths from one source with
//  Bellman-Ford, one unit per path: slow, plain, and optimal.
static void
s_reference (const t_instance_t *t, size_t *count, int64_t *cost)
{
    size_t n = t->needs, nv = t->volunteers, m = t->edge_count;
    int flow[512] = {0}, need_used[64] = {0};
    int64_t vol_used[64] = {0};
    *count = 0, *cost = 0;
    for (;;) {
        //  nodes: needs 0..n-1, volunteers n..n+nv-1; the source feeds free needs.
        int64_t dist[128];
        int pred[128]; //  edge index, or -1
        for (size_t k = 0; k < n + nv; k++)
            dist[k] = INT64_MAX, pred[k] = -1;
        for (size_t i = 0; i < n; i++)
            if (!need_used[i])
                dist[i] = 0;
        for (size_t round = 0; round < n + nv; round++) {
            int changed = 0;
            for (size_t k = 0; k < m; k++) {
                size_t a = t->edges[k].need, b = n + t->edges[k].volunteer;
                int64_t c = t->edges[k].cost;
                if (!flow[k] && dist[a] != INT64_MAX && dist[a] + c < dist[b])
                    dist[b] = dist[a] + c, pred[b] = (int) k, changed = 1;
                if (flow[k] && dist[b] != INT64_MAX && dist[b] - c < dist[a])
                    dist[a] = dist[b] - c, pred[a] = (int) k, changed = 1;
            }
            if (!changed)
                break;
        }
        size_t sink = SIZE_MAX;
        for (size_t v = 0; v < nv; v++)
            if (vol_used[v] < t->cap[v] && dist[n + v] != INT64_MAX &&
                (sink == SIZE_MAX || dist[n + v] < dist[sink]))
                sink = n + v;
        if (sink == SIZE_MAX)
            return;
        vol_used[sink - n]++;
        *cost += dist[sink];
        (*count)++;
        for (size_t node = sink; pred[node] >= 0;) {
            int k = pred[node];
            flow[k] = !flow[k];
            node = node >= n ? t->edges[k].need : n + t->edges[k].volunteer;
            if (node < n && pred[node] < 0)
                need_used[node] = 1;
        }
    }
}

static void
test_reference_flow (void **state)
{
    (void) state;
    for (int round = 0; round < 120; round++) {
        t_instance_t t;
        //  Scarce capacity half the time: many needs lose, the right ones must.
        s_random (&t, 40, 24, round % 2 ? 1 : 3, 3 + (unsigned) (round % 8), 1000);
        size_t count;
        int64_t cost;
        s_reference (&t, &count, &cost);
        matching_result_t r = s_solve_checked (&t);
        if (r.matched != count || r.cost != cost)
            fail_msg ("round %d: solver %zu/%lld, reference %zu/%lld", round, r.matched,
                      (long long) r.cost, count, (long long) cost);
        matching_result_free (&r);
    }
}

static void
test_hub (void **state)
{
    (void) state;
    //  A hub of capacity 30 that all 60 needs may take, and four small
    //  volunteers: the dead region's volunteers have capacity above 1.
    for (int round = 0; round < 20; round++) {
        t_instance_t t = {.needs = 60, .volunteers = 5};
        t.cap[0] = 30;
        for (size_t v = 1; v < 5; v++)
            t.cap[v] = (int64_t) s_below (4);
        for (size_t i = 0; i < 60; i++) {
            t.edges[t.edge_count++] = (t_edge_t){i, 0, (int64_t) s_below (100)};
            if (s_below (3) == 0)
                t.edges[t.edge_count++] = (t_edge_t){i, 1 + s_below (4), (int64_t) s_below (100)};
        }
        size_t count;
        int64_t cost;
        s_reference (&t, &count, &cost);
        matching_result_t r = s_solve_checked (&t);
        assert_int_equal (r.matched, count);
        assert_int_equal (r.cost, cost);
        matching_result_free (&r);
    }
}

//  Solves a hand-made instance and checks count and cost.
static matching_result_t
s_case (size_t needs, size_t volunteers, const int64_t *cap, const t_edge_t *edges, size_t count,
        size_t want_matched, int64_t want_cost)
{
    t_instance_t t = {.needs = needs, .volunteers = volunteers, .edge_count = count};
    for (size_t v = 0; v < volunteers; v++)
        t.cap[v] = cap[v];
    for (size_t k = 0; k < count; k++)
        t.edges[k] = edges[k];
    matching_result_t r = s_solve_checked (&t);
    assert_int_equal (r.matched, want_matched);
    assert_int_equal (r.cost, want_cost);
    return r;
}

static void
test_empty (void **state)
{
    (void) state;
    int64_t cap[3] = {1, 2, 0};
    matching_result_t r = s_case (0, 0, cap, NULL, 0, 0, 0);
    matching_result_free (&r);
    matching_result_free (&r); //  harmless twice
    r = s_case (3, 0, cap, NULL, 0, 0, 0);
    assert_int_equal (r.volunteer[0], -1);
    assert_int_equal (r.volunteer[2], -1);
    matching_result_free (&r);
    r = s_case (0, 3, cap, NULL, 0, 0, 0);
    matching_result_free (&r);
    r = s_case (3, 3, cap, NULL, 0, 0, 0); //  no feasible pairs
    matching_result_free (&r);
}

static void
test_capacity_zero (void **state)
{
    (void) state;
    int64_t cap[2] = {0, 1};
    t_edge_t e[] = {{0, 0, 0}, {1, 0, 1}, {1, 1, 9}};
    matching_result_t r = s_case (2, 2, cap, e, 3, 1, 9);
    assert_int_equal (r.volunteer[0], -1);
    assert_int_equal (r.volunteer[1], 1);
    matching_result_free (&r);
}

static void
test_zero_costs_and_capacity (void **state)
{
    (void) state;
    //  Five needs, one volunteer of capacity 3 and one of 1, all free.
    int64_t cap[2] = {3, 1};
    t_edge_t e[10];
    for (size_t k = 0; k < 10; k++)
        e[k] = (t_edge_t){k / 2, k % 2, 0};
    matching_result_t r = s_case (5, 2, cap, e, 10, 4, 0);
    matching_result_free (&r);
}

static void
test_parallel_edges (void **state)
{
    (void) state;
    //  The same pair three times: the cheaper cost counts.
    int64_t cap[1] = {1};
    t_edge_t e[] = {{0, 0, 5}, {0, 0, 2}, {0, 0, 7}};
    matching_result_t r = s_case (1, 1, cap, e, 3, 1, 2);
    matching_result_free (&r);
}

static void
test_greedy_not_maximal (void **state)
{
    (void) state;
    //  Greedy by cost gives A the cheap X and leaves B nothing; the optimum
    //  sends A to the dearer Y so that B gets X.
    int64_t cap[2] = {1, 1};
    t_edge_t e[] = {{0, 0, 1}, {0, 1, 50}, {1, 0, 2}};
    matching_result_t r = s_case (2, 2, cap, e, 3, 2, 52);
    assert_int_equal (r.volunteer[0], 1);
    assert_int_equal (r.volunteer[1], 0);
    matching_result_free (&r);
}

static void
test_reroute_chain (void **state)
{
    (void) state;
    //  Needs 0..3 in a chain: need k may take volunteer k (cost 0) or k+1
    //  (cost 1); need 3 only volunteer 0... everyone takes their own at
    //  first, then the last need forces a re-route down the whole chain.
    int64_t cap[5] = {1, 1, 1, 1, 1};
    t_edge_t e[] = {{0, 1, 0}, {0, 2, 1}, {1, 2, 0}, {1, 3, 1}, {2, 3, 0}, {2, 4, 1}, {3, 1, 0}};
    matching_result_t r = s_case (4, 5, cap, e, 7, 4, 3);
    assert_int_equal (r.volunteer[3], 1);
    assert_int_equal (r.volunteer[0], 2);
    assert_int_equal (r.volunteer[2], 4);
    matching_result_free (&r);
}

static void
test_right_need_loses (void **state)
{
    (void) state;
    //  One place, two needs: the cheaper pair wins even though the dearer
    //  need came first.
    int64_t cap[1] = {1};
    t_edge_t e[] = {{0, 0, 10}, {1, 0, 1}};
    matching_result_t r = s_case (2, 1, cap, e, 2, 1, 1);
    assert_int_equal (r.volunteer[0], -1);
    assert_int_equal (r.volunteer[1], 0);
    matching_result_free (&r);
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    matching_solver_t *s = matching_solver_new (2, 2);
    assert_int_equal (matching_solver_edge (s, 2, 0, 1), -1);
    assert_int_equal (matching_solver_edge (s, 0, 2, 1), -1);
    assert_int_equal (matching_solver_edge (s, 0, 0, -1), -1);
    assert_int_equal (matching_solver_edge (s, 0, 0, MATCHING_SOLVER_COST_MAX + 1), -1);
    assert_int_equal (matching_solver_edge (s, 0, 0, MATCHING_SOLVER_COST_MAX), 0);
    assert_int_equal (matching_solver_capacity (s, 2, 1), -1);
    assert_int_equal (matching_solver_capacity (s, 0, -1), -1);
    assert_int_equal (matching_solver_capacity (s, 0, MATCHING_SOLVER_CAPACITY_MAX + 1), -1);
    assert_int_equal (matching_solver_capacity (s, 0, 1), 0);
    matching_result_t r;
    assert_int_equal (matching_solver_solve (s, &r), 0);
    assert_int_equal (r.matched, 1);
    assert_int_equal (r.cost, MATCHING_SOLVER_COST_MAX);
    matching_result_free (&r);
    //  Solving again, after one more pair, starts from scratch.
    assert_int_equal (matching_solver_capacity (s, 1, 1), 0);
    assert_int_equal (matching_solver_edge (s, 1, 1, 4), 0);
    assert_int_equal (matching_solver_solve (s, &r), 0);
    assert_int_equal (r.matched, 2);
    assert_int_equal (r.cost, MATCHING_SOLVER_COST_MAX + 4);
    matching_result_free (&r);
    matching_solver_destroy (&s);
    matching_solver_destroy (&s);
}

//  Parses text, expecting the error "line N: ..." containing want.
static void
s_parse_error (const char *text, size_t line, const char *want)
{
    char err[256] = "", prefix[32];
    matching_instance_t *inst = matching_instance_parse (text, err, sizeof err);
    if (inst)
        fail_msg ("accepted: %s", text);
    snprintf (prefix, sizeof prefix, "line %zu: ", line);
    if (strncmp (err, prefix, strlen (prefix)) != 0 || !strstr (err, want))
        fail_msg ("for %s: got '%s', want '%s...%s'", text, err, prefix, want);
}

static void
test_parse_errors (void **state)
{
    (void) state;
    s_parse_error ("x A\n", 1, "unknown item 'x'");
    s_parse_error ("n A\nn A\n", 2, "duplicate need 'A'");
    s_parse_error ("v X 1\nv X 2\n", 2, "duplicate volunteer 'X'");
    s_parse_error ("n A\nv X 1\ne A Y 1\n", 3, "unknown volunteer 'Y'");
    s_parse_error ("n A\nv X 1\ne B X 1\n", 3, "unknown need 'B'");
    s_parse_error ("e A X 1\nn A\nv X 1\n", 1, "unknown need 'A'");
    s_parse_error ("v X -1\n", 1, "negative capacity '-1'");
    s_parse_error ("n A\nv X 1\ne A X -3\n", 3, "negative cost '-3'");
    s_parse_error ("v X abc\n", 1, "capacity 'abc' is not an integer");
    s_parse_error ("v X 1.5\n", 1, "not an integer");
    s_parse_error ("n A\nv X 1\ne A X 2x\n", 3, "cost '2x' is not an integer");
    s_parse_error ("\n# c\nv X 99999999999\n", 3, "above");
    s_parse_error ("n A\nv X 1\ne A X 1000000000001\n", 3, "above");
    s_parse_error ("n A B\n", 1, "'n' wants n NEED_ID");
    s_parse_error ("n\n", 1, "'n' wants");
    s_parse_error ("v X\n", 1, "'v' wants v VOLUNTEER_ID CAPACITY");
    s_parse_error ("n A\nv X 1\ne A X\n", 3, "'e' wants");
    s_parse_error ("e A X 1 2 3\n", 1, "too many fields");
    s_parse_error ("n bad/id\n", 1, "bad need id 'bad/id'");
    s_parse_error ("n "
                   "a1234567890123456789012345678901234567890123456789012345678901234\n",
                   1, "bad need id");
    s_parse_error ("# hello\n\n   \nn A # first\nn A\n", 5, "duplicate need");
    s_parse_error ("n A\r\nn A\r\n", 2, "duplicate need"); //  CRLF counts lines too
}

static void
test_parse_and_write (void **state)
{
    (void) state;
    const char *text = "# two needs, three volunteers\n"
                       "n elder-01\n"
                       "n kid.02\t# a tab before the comment\n"
                       "n nobody:03\n"
                       "v ZHENG_Xiao 1\r\n"
                       "v v2 2\n"
                       "v v3 0\n"
                       "\n"
                       "e elder-01 ZHENG_Xiao 3\n"
                       "e kid.02 ZHENG_Xiao 1\n"
                       "e kid.02 v2 8\n"
                       "e kid.02 v2 7\n"
                       "e nobody:03 v3 0\n";
    char err[256] = "";
    matching_instance_t *inst = matching_instance_parse (text, err, sizeof err);
    if (!inst)
        fail_msg ("refused: %s", err);
    assert_int_equal (matching_instance_needs (inst), 3);
    assert_int_equal (matching_instance_volunteers (inst), 3);
    assert_int_equal (matching_instance_edges (inst), 5);
    assert_string_equal (matching_instance_need_id (inst, 1), "kid.02");
    assert_string_equal (matching_instance_volunteer_id (inst, 0), "ZHENG_Xiao");
    matching_solver_t *s = matching_instance_solver (inst);
    matching_result_t r;
    assert_int_equal (matching_solver_solve (s, &r), 0);
    char *out = NULL;
    size_t size = 0;
    FILE *file = open_memstream (&out, &size);
    assert_int_equal (matching_instance_write (inst, &r, file), 0);
    fclose (file);
    assert_string_equal (out, "m elder-01 ZHENG_Xiao\n"
                              "m kid.02 v2\n"
                              "matched 2 cost 10\n");
    free (out);
    matching_result_free (&r);
    matching_solver_destroy (&s);
    matching_instance_destroy (&inst);
    matching_instance_destroy (&inst);

    //  The same from a FILE, and its errors with their line.
    file = fmemopen ((void *) text, strlen (text), "r");
    inst = matching_instance_read (file, err, sizeof err);
    fclose (file);
    assert_non_null (inst);
    assert_int_equal (matching_instance_edges (inst), 5);
    matching_instance_destroy (&inst);
    const char *bad = "n A\nv X 1\n\ne A X -1\n";
    file = fmemopen ((void *) bad, strlen (bad), "r");
    inst = matching_instance_read (file, err, sizeof err);
    fclose (file);
    assert_null (inst);
    assert_string_equal (err, "line 4: negative cost '-1'");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_brute_force),
        cmocka_unit_test (test_reference_flow),
        cmocka_unit_test (test_hub),
        cmocka_unit_test (test_empty),
        cmocka_unit_test (test_capacity_zero),
        cmocka_unit_test (test_zero_costs_and_capacity),
        cmocka_unit_test (test_parallel_edges),
        cmocka_unit_test (test_greedy_not_maximal),
        cmocka_unit_test (test_reroute_chain),
        cmocka_unit_test (test_right_need_loses),
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_parse_errors),
        cmocka_unit_test (test_parse_and_write),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
