/*  matching_states: the life of a need, an offer and a service record, as
    tables (pure; tests/unit/test_matching_states.c).

      need     open --offer--> offered --accept--> matched --complete--> done
               offered --decline|expire--> open      matched --repeat--> open
               open|offered --cancel--> cancelled   (a recurring need repeats)
      offer    offered --accept|decline|expire|cancel--> accepted|declined|expired|cancelled
      service  scheduled --checkin--> in_progress --checkout--> completed
               --confirm--> confirmed; scheduled --checkout--> completed (hours
               given by hand)  */
#ifndef MATCHING_STATES_H_INCLUDED
#define MATCHING_STATES_H_INCLUDED

typedef enum { MT_NEED, MT_OFFER, MT_SERVICE } mt_machine_t;

//  The state after action from state in machine, or NULL when the action
//  is not allowed there (a conflict: answered 409 with the state now).
const char *mt_state_next (mt_machine_t machine, const char *state, const char *action);

#endif
