/*  Unit tests for notify's stream handlers on input that is not what it
    should be: a payload that does not decode, or decodes without a
    request id or kind, is counted in gz_decode_errors_total and skipped
    (the handler returns 0, so the consumer moves on), never fatal, and
    touches no database (none is given here). An intake or matching event
    of another type is ignored without a count; a MatchOffered without an
    offer or a volunteer is counted.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "gongzhi/v1/matching.pb-c.h"
#include "gongzhi/v1/routing.pb-c.h"
#include "notify.h"

static gz_envelope_t
s_env (const char *type, const uint8_t *data, size_t len)
{
    gz_envelope_t env = GONGZHI__V1__ENVELOPE__INIT;
    env.type = (char *) type;
    env.payload.data = (uint8_t *) data;
    env.payload.len = len;
    env.position = 7;
    return env;
}

static void
test_bad_events_counted_and_skipped (void **state)
{
    (void) state;
    notify_t ctx;
    memset (&ctx, 0, sizeof ctx);
    ctx.metrics = gz_metrics_new ();
    //  As the skeleton describes it for every service.
    gz_metrics_describe (ctx.metrics, "gz_decode_errors_total", GZ_COUNTER,
                         "Messages that did not decode, by source");
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x0f, 0x12};
    gz_envelope_t env = s_env ("RequestUpdate", garbage, sizeof garbage);
    assert_int_equal (notify_on_routing (NULL, &env, &ctx), 0);
    assert_true (gz_metrics_value (ctx.metrics, "gz_decode_errors_total", "source=\"routing\"") ==
                 1);
    //  Decodes, but says nothing: no request id, no kind.
    Gongzhi__V1__RequestUpdate empty = GONGZHI__V1__REQUEST_UPDATE__INIT;
    uint8_t buf[64];
    size_t len = gongzhi__v1__request_update__pack (&empty, buf);
    env = s_env ("RequestUpdate", buf, len);
    assert_int_equal (notify_on_routing (NULL, &env, &ctx), 0);
    assert_true (gz_metrics_value (ctx.metrics, "gz_decode_errors_total", "source=\"routing\"") ==
                 2);
    //  intake's stream: a bad RequestSubmitted is counted, another type ignored.
    env = s_env ("RequestSubmitted", garbage, sizeof garbage);
    assert_int_equal (notify_on_intake (NULL, &env, &ctx), 0);
    assert_true (gz_metrics_value (ctx.metrics, "gz_decode_errors_total", "source=\"intake\"") ==
                 1);
    env = s_env ("SomethingElse", garbage, sizeof garbage);
    assert_int_equal (notify_on_intake (NULL, &env, &ctx), 0);
    assert_true (gz_metrics_value (ctx.metrics, "gz_decode_errors_total", "source=\"intake\"") ==
                 1);
    //  matching's stream: a bad MatchOffered, or one naming no offer or
    //  no volunteer, is counted; MatchAccepted and the rest are ignored.
    env = s_env ("MatchOffered", garbage, sizeof garbage);
    assert_int_equal (notify_on_matching (NULL, &env, &ctx), 0);
    Gongzhi__V1__MatchingEvent offer = GONGZHI__V1__MATCHING_EVENT__INIT;
    offer.kind = "offered";
    offer.offer_id = 12;
    len = gongzhi__v1__matching_event__pack (&offer, buf);
    env = s_env ("MatchOffered", buf, len);
    assert_int_equal (notify_on_matching (NULL, &env, &ctx), 0);
    offer.offer_id = 0;
    offer.volunteer_id = "v-1";
    len = gongzhi__v1__matching_event__pack (&offer, buf);
    env = s_env ("MatchOffered", buf, len);
    assert_int_equal (notify_on_matching (NULL, &env, &ctx), 0);
    assert_true (gz_metrics_value (ctx.metrics, "gz_decode_errors_total", "source=\"matching\"") ==
                 3);
    env = s_env ("MatchAccepted", garbage, sizeof garbage);
    assert_int_equal (notify_on_matching (NULL, &env, &ctx), 0);
    assert_true (gz_metrics_value (ctx.metrics, "gz_decode_errors_total", "source=\"matching\"") ==
                 3);
    assert_int_equal (atomic_load (&ctx.consumed), 0);
    gz_metrics_destroy (&ctx.metrics);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bad_events_counted_and_skipped),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
