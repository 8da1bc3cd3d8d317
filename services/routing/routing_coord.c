/*  routing_coord: where a coordinator's area ends. A sub-district
    coordinator answers for every community and grid under the
    sub-district, a community's duty and secretary roles for the grids
    under the community: the coordinator page (routing_pages_coord.c)
    lists that work, and reassign (routing_commands.c) moves it only
    between people of those units. The org directory is the ladder
    (gz_org): a unit is under an area when the area is among its
    parents.  */
#include "routing.h"

#include <string.h>

bool
routing_unit_under (gz_org_t *org, const char *unit, const char *area)
{
    if (!unit || !area || !*area || !gz_org_unit_level (org, area))
        return false;
    //  The ladder is five rungs deep; the bound only guards against a
    //  directory with a cycle in it (input from outside).
    for (int depth = 0; unit && depth < 16; depth++) {
        if (strcmp (unit, area) == 0)
            return true;
        unit = gz_org_unit_parent (org, unit);
    }
    return false;
}
