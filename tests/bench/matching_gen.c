/*  matching_gen: instances, the solver's timing and a greedy baseline for
    tests/bench/bench_matching.sh.

      matching_gen gen NEEDS VOLUNTEERS [SEED]   an instance on stdout
      matching_gen solve < INSTANCE              parse and solve (timed apart)
      matching_gen greedy < INSTANCE             the greedy baseline

    The generator (fixed seed, default 1; xorshift64*): needs and volunteers
    are points uniform in a square whose side grows with sqrt(VOLUNTEERS),
    so the density of volunteers is the same at every size (50,000 in
    20 km x 20 km). A pair is feasible when the two are within a radius R
    chosen so that a need has 20 volunteers within it on average (Poisson,
    fewer near the border). Its cost is the distance in metres plus a
    "fairness" term uniform in 0..99. Capacities are uniform in 1..3. The
    ids are n0, n1, ... and v0, v1, ...

    The greedy baseline takes pairs cheapest first while both ends have
    room: what a plain batch would do, and why it is not good enough.  */
#include "matching_instance.h"
#include "matching_solver.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t s_state;

static uint64_t
s_next (void)
{
    s_state ^= s_state >> 12, s_state ^= s_state << 25, s_state ^= s_state >> 27;
    return s_state * 2685821657736338717ULL;
}

static double
s_uniform (void) //  in [0, 1)
{
    return (double) (s_next () >> 11) / 9007199254740992.0;
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

typedef struct {
    double x, y;
} s_point_t;

static int
s_gen (long needs, long volunteers, uint64_t seed)
{
    s_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    double side = 20000.0 * sqrt ((double) volunteers / 50000.0);
    double radius = side * sqrt (20.0 / (M_PI * (double) volunteers));
    long cells = (long) (side / radius) + 1;
    s_point_t *vol = malloc ((size_t) volunteers * sizeof *vol);
    long *next = malloc ((size_t) volunteers * sizeof *next);
    long *head = malloc ((size_t) (cells * cells) * sizeof *head);
    for (long c = 0; c < cells * cells; c++)
        head[c] = -1;
    printf ("# matching_gen gen %ld %ld %llu: radius %.0f m, side %.0f m\n", needs, volunteers,
            (unsigned long long) seed, radius, side);
    for (long i = 0; i < needs; i++)
        printf ("n n%ld\n", i);
    for (long v = 0; v < volunteers; v++) {
        vol[v] = (s_point_t){s_uniform () * side, s_uniform () * side};
        long c = (long) (vol[v].y / radius) * cells + (long) (vol[v].x / radius);
        next[v] = head[c], head[c] = v;
        printf ("v v%ld %d\n", v, 1 + (int) (s_next () % 3));
    }
    for (long i = 0; i < needs; i++) {
        s_point_t p = {s_uniform () * side, s_uniform () * side};
        long cx = (long) (p.x / radius), cy = (long) (p.y / radius);
        for (long y = cy - 1; y <= cy + 1; y++)
            for (long x = cx - 1; x <= cx + 1; x++) {
                if (x < 0 || y < 0 || x >= cells || y >= cells)
                    continue;
                for (long v = head[y * cells + x]; v >= 0; v = next[v]) {
                    double d = hypot (vol[v].x - p.x, vol[v].y - p.y);
                    if (d <= radius)
                        printf ("e n%ld v%ld %lld\n", i, v,
                                (long long) llround (d) + (long long) (s_next () % 100));
                }
            }
    }
    free (vol), free (next), free (head);
    return fflush (stdout) == 0 ? 0 : 1;
}

static matching_instance_t *
s_read (double *took)
{
    char err[256];
    double start = s_now ();
    matching_instance_t *instance = matching_instance_read (stdin, err, sizeof err);
    *took = s_now () - start;
    if (!instance)
        fprintf (stderr, "matching_gen: %s\n", err);
    return instance;
}

static int
s_solve (void)
{
    double parse;
    matching_instance_t *instance = s_read (&parse);
    if (!instance)
        return 1;
    double start = s_now ();
    matching_solver_t *solver = matching_instance_solver (instance);
    matching_result_t result;
    int rc = matching_solver_solve (solver, &result);
    double solve = s_now () - start;
    if (rc == 0)
        printf ("needs %zu volunteers %zu pairs %zu parse_s %.3f solve_s %.3f matched %zu cost "
                "%lld\n",
                matching_instance_needs (instance), matching_instance_volunteers (instance),
                matching_instance_edges (instance), parse, solve, result.matched,
                (long long) result.cost);
    matching_result_free (&result);
    matching_solver_destroy (&solver);
    matching_instance_destroy (&instance);
    return rc ? 1 : 0;
}

//  Greedy reads the generator's own output (ids nNNN and vNNN) with its
//  own loop, independent of matching_instance.
typedef struct {
    long need, volunteer;
    long long cost;
} s_pair_t;

static int
s_by_cost (const void *a, const void *b)
{
    const s_pair_t *x = a, *y = b;
    return (x->cost > y->cost) - (x->cost < y->cost);
}

static int
s_greedy (void)
{
    size_t count = 0, alloc = 1 << 16, needs = 0, vols = 0;
    s_pair_t *pairs = malloc (alloc * sizeof *pairs);
    long *cap = calloc (1 << 24, sizeof *cap);
    char line[512];
    while (fgets (line, sizeof line, stdin)) {
        long a, b;
        long long c;
        if (sscanf (line, "e n%ld v%ld %lld", &a, &b, &c) == 3) {
            if (count == alloc)
                pairs = realloc (pairs, (alloc *= 2) * sizeof *pairs);
            pairs[count++] = (s_pair_t){a, b, c};
        }
        else if (sscanf (line, "v v%ld %ld", &a, &b) == 2 && a >= 0 && a < (1 << 24))
            cap[a] = b, vols++;
        else if (line[0] == 'n')
            needs++;
    }
    double start = s_now ();
    qsort (pairs, count, sizeof *pairs, s_by_cost);
    char *taken = calloc (needs + 1, 1);
    size_t matched = 0;
    long long cost = 0;
    for (size_t k = 0; k < count; k++) {
        s_pair_t p = pairs[k];
        if ((size_t) p.need >= needs || taken[p.need] || cap[p.volunteer] == 0)
            continue;
        taken[p.need] = 1, cap[p.volunteer]--;
        matched++, cost += p.cost;
    }
    printf ("greedy solve_s %.3f matched %zu cost %lld\n", s_now () - start, matched, cost);
    free (pairs), free (cap), free (taken);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc >= 4 && strcmp (argv[1], "gen") == 0)
        return s_gen (atol (argv[2]), atol (argv[3]), argc > 4 ? strtoull (argv[4], NULL, 10) : 1);
    if (argc == 2 && strcmp (argv[1], "solve") == 0)
        return s_solve ();
    if (argc == 2 && strcmp (argv[1], "greedy") == 0)
        return s_greedy ();
    fprintf (stderr, "usage: matching_gen gen NEEDS VOLUNTEERS [SEED] | solve | greedy\n");
    return 2;
}
