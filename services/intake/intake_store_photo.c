/*  intake_store_photo: residents' photos in PostgreSQL (the photos and
    request_photos tables, sql/008_photos.sql). Why PostgreSQL and who
    may see what: docs/photos.md.  */
#include "intake.h"
#include "gz_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
intake_store_photo_get (intake_t *ctx, const char *sha256, bool thumb, const char *secret,
                        unsigned char **bytes_p, size_t *len_p)
{
    *bytes_p = NULL;
    *len_p = 0;
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    char *q = gz_db_ident (ctx->cfg->base.schema);
    char sql[768];
    //  Visible through any request that refers to it: as public, or to
    //  the holder of that request's status-link secret.
    snprintf (sql, sizeof sql,
              "SELECT CASE WHEN $2::boolean THEN p.thumb ELSE p.bytes END FROM %1$s.photos p"
              " WHERE p.sha256 = $1 AND EXISTS (SELECT 1 FROM %1$s.request_photos rp"
              " JOIN %1$s.requests r ON r.id = rp.request_id WHERE rp.sha256 = p.sha256"
              " AND (rp.public OR r.secret = $3))",
              q);
    free (q);
    gz_db_prepare (db, "photo_get", sql);
    const char *v[3] = {sha256, thumb ? "true" : "false", secret};
    int formats[3] = {0, 0, 0}, lengths[3] = {0, 0, 0};
    PGresult *r = gz_db_execb (db, "photo_get", 3, v, lengths, formats);
    gz_dbpool_put (ctx->pool, db);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples (r) == 1) {
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea ((const unsigned char *) PQgetvalue (r, 0, 0), &n);
        if (raw) {
            *bytes_p = malloc (n ? n : 1);
            if (!*bytes_p)
                abort ();
            memcpy (*bytes_p, raw, n);
            *len_p = n;
            PQfreemem (raw);
            rc = 0;
        }
        else
            rc = -1;
    }
    PQclear (r);
    return rc;
}
