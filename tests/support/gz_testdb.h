/*  gz_testdb: a fresh, uniquely named database per test on the throwaway
    PostgreSQL that scripts/test starts (GZ_TEST_DATABASE_URL points at its
    maintenance database). Dropped again by gz_testdb_destroy.  */
#ifndef GZ_TESTDB_H_INCLUDED
#define GZ_TESTDB_H_INCLUDED

typedef struct _gz_testdb_t gz_testdb_t;

//  Create a database named gzt_<tag>_<pid>_<n>. Aborts the test (exit 1)
//  with a message when GZ_TEST_DATABASE_URL is unset or creation fails:
//  integration tests must never pass silently without a database.
gz_testdb_t *gz_testdb_new (const char *tag);

//  libpq URI of the new database. Borrowed.
const char *gz_testdb_url (gz_testdb_t *self);

//  Drop the database (terminating leftover connections) and free.
void gz_testdb_destroy (gz_testdb_t **self_p);

#endif
