/*  Unit tests for gz_config: port derivation and parsing.  */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gz_config.h"

static void
test_ports_derive_from_base (void **state)
{
    (void) state;
    unsetenv ("GZ_INTAKE_BUS");
    setenv ("GZ_PORT_BASE", "9100", 1);
    assert_int_equal (gz_config_port ("GZ_INTAKE_HTTP_PORT", GZ_PORT_INTAKE_HTTP), 9100);
    char *ep = gz_config_endpoint ("GZ_INTAKE_BUS", GZ_PORT_INTAKE_BUS);
    assert_string_equal (ep, "tcp://127.0.0.1:9110");
    free (ep);
    setenv ("GZ_INTAKE_BUS", "tcp://0.0.0.0:7000", 1);
    ep = gz_config_endpoint ("GZ_INTAKE_BUS", GZ_PORT_INTAKE_BUS);
    assert_string_equal (ep, "tcp://0.0.0.0:7000");
    free (ep);
    unsetenv ("GZ_INTAKE_BUS");
}

static void
test_bad_values_fall_back (void **state)
{
    (void) state;
    setenv ("GZ_X", "12abc", 1);
    assert_int_equal (gz_config_int ("GZ_X", 5, 0, 100), 5);
    setenv ("GZ_X", "500", 1);
    assert_int_equal (gz_config_int ("GZ_X", 5, 0, 100), 5);
    setenv ("GZ_X", "42", 1);
    assert_int_equal (gz_config_int ("GZ_X", 5, 0, 100), 42);
    setenv ("GZ_X", "off", 1);
    assert_false (gz_config_bool ("GZ_X", true));
    unsetenv ("GZ_X");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_ports_derive_from_base),
        cmocka_unit_test (test_bad_values_fall_back),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
