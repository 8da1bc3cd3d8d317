/*  gzctl match: the matching solver on its own, so anyone can check it.

      gzctl match solve   read an instance on stdin, write the optimal
                          solution on stdout (format: matching_instance.h,
                          docs/matching.md "Solver")

    Among all solutions with the most matches the answer has the least total
    cost. A bad instance is reported on stderr as "gzctl: line N: ..." with
    exit status 1 and nothing on stdout. No database is involved.  */
#include "gzctl.h"
#include "matching_instance.h"
#include "matching_solver.h"

#include <stdio.h>
#include <string.h>

static int
s_solve (void)
{
    char err[256] = "";
    matching_instance_t *instance = matching_instance_read (stdin, err, sizeof err);
    if (!instance) {
        fprintf (stderr, "gzctl: %s\n", err);
        return 1;
    }
    matching_solver_t *solver = matching_instance_solver (instance);
    matching_result_t result;
    int rc = matching_solver_solve (solver, &result);
    if (rc)
        fprintf (stderr, "gzctl: the instance is too large to solve exactly (see "
                         "matching_solver.h: costs, or a hub's capacity x pairs)\n");
    else if (matching_instance_write (instance, &result, stdout)) {
        fprintf (stderr, "gzctl: cannot write the solution\n");
        rc = -1;
    }
    matching_result_free (&result);
    matching_solver_destroy (&solver);
    matching_instance_destroy (&instance);
    return rc ? 1 : 0;
}

int
gzctl_match (int argc, char **argv)
{
    if (argc == 1 && strcmp (argv[0], "solve") == 0)
        return s_solve ();
    return gzctl_usage ();
}
