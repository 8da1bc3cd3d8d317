/*  intake_store_photo: residents' photos in PostgreSQL (the photos and
    request_photos tables, sql/008_photos.sql). Why PostgreSQL and who
    may see what: docs/photos.md.  */
#include "intake.h"
#include "gz_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
intake_store_photo_prepare (gz_db_t *db, const char *schema)
{
    //  The bytes once per SHA-256 (a photo filed twice is stored once),
    //  then the request's reference in its place.
    gz_db_prepare_schema (db, "photo_put",
                          "INSERT INTO {schema}.photos (sha256, bytes, thumb, width, height)"
                          " VALUES ($1, $2, $3, $4::integer, $5::integer)"
                          " ON CONFLICT (sha256) DO NOTHING",
                          schema);
    gz_db_prepare_schema (db, "photo_link",
                          "INSERT INTO {schema}.request_photos (request_id, sha256, idx, public)"
                          " VALUES ($1::bigint, $2, $3::smallint, $4::boolean)",
                          schema);
}

int
intake_store_photo_link (gz_db_t *db, const intake_sub_t *sub)
{
    char id[32];
    snprintf (id, sizeof id, "%lld", (long long) sub->id);
    for (size_t i = 0; i < sub->nphotos; i++) {
        const intake_photo_t *ph = &sub->photos[i];
        char w[16], h[16], idx[24];
        snprintf (w, sizeof w, "%d", ph->width);
        snprintf (h, sizeof h, "%d", ph->height);
        snprintf (idx, sizeof idx, "%zu", i);
        const char *v[5] = {ph->sha256, (const char *) ph->jpeg, (const char *) ph->thumb, w, h};
        int lengths[5] = {0, (int) ph->jpeg_len, (int) ph->thumb_len, 0, 0};
        int formats[5] = {0, 1, 1, 0, 0};
        PGresult *r = gz_db_execb (db, "photo_put", 5, v, lengths, formats);
        if (!r)
            return -1;
        PQclear (r);
        const char *l[4] = {id, ph->sha256, idx, sub->photos_public ? "true" : "false"};
        r = gz_db_exec (db, "photo_link", 4, l);
        if (!r)
            return -1;
        PQclear (r);
    }
    return 0;
}

int
intake_store_photo_list (intake_t *ctx, const char *id, const char *kind, char (*sha256)[65],
                         bool *public_, int max)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    gz_db_prepare_schema (db, "photo_list",
                          "SELECT sha256, public FROM {schema}.request_photos"
                          " WHERE request_id = $1::bigint AND kind = $2 ORDER BY idx",
                          ctx->cfg->base.schema);
    const char *v[2] = {id, kind};
    PGresult *r = gz_db_exec (db, "photo_list", 2, v);
    gz_dbpool_put (ctx->pool, db);
    if (!r)
        return -1;
    int n = 0;
    for (int row = 0; row < PQntuples (r) && n < max; row++) {
        snprintf (sha256[n], 65, "%s", PQgetvalue (r, row, 0));
        public_[n] = PQgetvalue (r, row, 1)[0] == 't';
        n++;
    }
    PQclear (r);
    return n;
}

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

//  ---------------------------------------------------------------- staff photos

int
intake_store_photo_put (intake_t *ctx, const intake_photo_t *ph)
{
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    gz_db_prepare_schema (db, "photo_put_one",
                          "INSERT INTO {schema}.photos (sha256, bytes, thumb, width, height)"
                          " VALUES ($1, $2, $3, $4::integer, $5::integer)"
                          " ON CONFLICT (sha256) DO NOTHING",
                          ctx->cfg->base.schema);
    char w[16], h[16];
    snprintf (w, sizeof w, "%d", ph->width);
    snprintf (h, sizeof h, "%d", ph->height);
    const char *v[5] = {ph->sha256, (const char *) ph->jpeg, (const char *) ph->thumb, w, h};
    int lengths[5] = {0, (int) ph->jpeg_len, (int) ph->thumb_len, 0, 0};
    int formats[5] = {0, 1, 1, 0, 0};
    PGresult *r = gz_db_execb (db, "photo_put_one", 5, v, lengths, formats);
    gz_dbpool_put (ctx->pool, db);
    if (!r)
        return -1;
    PQclear (r);
    return 0;
}

int
intake_store_photo_staff_get (intake_t *ctx, const char *sha256, bool thumb,
                              unsigned char **bytes_p, size_t *len_p)
{
    *bytes_p = NULL;
    *len_p = 0;
    gz_db_t *db = gz_dbpool_get (ctx->pool);
    gz_db_prepare_schema (db, "photo_staff_get",
                          "SELECT CASE WHEN $2::boolean THEN thumb ELSE bytes END"
                          " FROM {schema}.photos WHERE sha256 = $1",
                          ctx->cfg->base.schema);
    const char *v[2] = {sha256, thumb ? "true" : "false"};
    int formats[2] = {0, 0}, lengths[2] = {0, 0};
    PGresult *r = gz_db_execb (db, "photo_staff_get", 2, v, lengths, formats);
    gz_dbpool_put (ctx->pool, db);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples (r) == 1) {
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea ((const unsigned char *) PQgetvalue (r, 0, 0), &n);
        rc = -1;
        if (raw) {
            *bytes_p = malloc (n ? n : 1);
            if (!*bytes_p)
                abort ();
            memcpy (*bytes_p, raw, n);
            *len_p = n;
            PQfreemem (raw);
            rc = 0;
        }
    }
    PQclear (r);
    return rc;
}

int
intake_store_photo_after (gz_db_t *db, const char *schema, const char *request_id,
                          char *const *sha256, size_t n)
{
    //  Idempotent (an event seen twice links nothing twice) and forgiving:
    //  a name intake does not hold, or a request it does not know, links
    //  nothing, so a bad event can never stop the stream.
    gz_db_prepare_schema (db, "photo_after",
                          "INSERT INTO {schema}.request_photos (request_id, sha256, idx, kind)"
                          " SELECT r.id, p.sha256, coalesce ((SELECT max (idx) + 1 FROM"
                          " {schema}.request_photos WHERE request_id = r.id AND kind = 'after'),"
                          " 0), 'after' FROM {schema}.requests r, {schema}.photos p"
                          " WHERE r.id = $1::bigint AND p.sha256 = $2 AND NOT EXISTS (SELECT 1"
                          " FROM {schema}.request_photos x WHERE x.request_id = r.id"
                          " AND x.kind = 'after' AND x.sha256 = p.sha256)",
                          schema);
    for (size_t i = 0; i < n; i++) {
        const char *v[2] = {request_id, sha256[i]};
        PGresult *r = gz_db_exec (db, "photo_after", 2, v);
        if (!r)
            return -1;
        PQclear (r);
    }
    return 0;
}
