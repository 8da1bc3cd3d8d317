/*  gz_dbpool: a small fixed pool of gz_db_t connections shared by HTTP
    threads for reads. A thread borrows one connection, uses it alone,
    and gives it back; libpq connections are safe that way (one thread at
    a time). Borrowing waits when all are out.  */
#ifndef GZ_DBPOOL_H_INCLUDED
#define GZ_DBPOOL_H_INCLUDED

#include "gz_db.h"

typedef struct _gz_dbpool_t gz_dbpool_t;

//  size connections to url (each connects now; a down database is retried
//  on borrow). app_name as for gz_db_new.
gz_dbpool_t *gz_dbpool_new (const char *url, const char *app_name, int size);
void gz_dbpool_destroy (gz_dbpool_t **self_p);

//  Run fn on every connection (e.g. to register prepared statements).
//  Call before the pool is shared between threads.
void gz_dbpool_each (gz_dbpool_t *self, void (*fn) (gz_db_t *db, void *arg), void *arg);

//  Borrow a connection (reconnected if it was down); blocks until one is
//  free. Give it back with gz_dbpool_put.
gz_db_t *gz_dbpool_get (gz_dbpool_t *self);
void gz_dbpool_put (gz_dbpool_t *self, gz_db_t *db);

#endif
