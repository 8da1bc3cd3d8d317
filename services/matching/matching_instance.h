/*  matching_instance: the text form of a matching instance, read by
    `gzctl match solve` (docs/matching.md, "Solver").

    One item a line; `#` starts a comment; blank lines are ignored; fields
    are separated by spaces or tabs:

        n NEED_ID                       a need
        v VOLUNTEER_ID CAPACITY         a volunteer, CAPACITY an integer >= 0
        e NEED_ID VOLUNTEER_ID COST     a feasible pair, COST an integer >= 0

    An id is 1 to 64 bytes of [A-Za-z0-9_.:-]; needs and volunteers are two
    separate name spaces, and an id may appear once in each. An edge must
    come after the lines that declare its need and its volunteer. A pair
    given twice counts at its cheaper cost (as in matching_solver).
    Capacities are at most 10^9, costs at most 10^12.

    The answer, written by matching_instance_write: one `m NEED_ID
    VOLUNTEER_ID` per match in the needs' input order, then the last line
    `matched COUNT cost TOTAL`.  */
#ifndef MATCHING_INSTANCE_H_INCLUDED
#define MATCHING_INSTANCE_H_INCLUDED

#include <stdio.h>

#include "matching_solver.h"

typedef struct _matching_instance_t matching_instance_t;

//  Reads an instance from file to its end. Returns it, or NULL with
//  "line N: what is wrong" in err (the first error; err_size bytes at most).
matching_instance_t *matching_instance_read (FILE *file, char *err, size_t err_size);

//  The same from a string.
matching_instance_t *matching_instance_parse (const char *text, char *err, size_t err_size);

//  Frees the instance and nulls the pointer; harmless on NULL.
void matching_instance_destroy (matching_instance_t **self_p);

size_t matching_instance_needs (const matching_instance_t *self);
size_t matching_instance_volunteers (const matching_instance_t *self);
size_t matching_instance_edges (const matching_instance_t *self);
//  The id of need i / volunteer v (borrowed).
const char *matching_instance_need_id (const matching_instance_t *self, size_t i);
const char *matching_instance_volunteer_id (const matching_instance_t *self, size_t v);

//  A solver loaded with the instance (the caller's to destroy).
matching_solver_t *matching_instance_solver (const matching_instance_t *self);

//  Writes result (solved from this instance) in the answer format. Returns 0,
//  or -1 when writing failed.
int matching_instance_write (const matching_instance_t *self, const matching_result_t *result,
                             FILE *out);

#endif
