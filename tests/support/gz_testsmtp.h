/*  gz_testsmtp: a small SMTP sink for tests (a real SMTP conversation on
    a real socket, on its own thread): it accepts one client at a time,
    answers EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT, and keeps
    each message it accepts (the DATA, dot-unstuffed) with its envelope.  */
#ifndef GZ_TESTSMTP_H_INCLUDED
#define GZ_TESTSMTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _gz_testsmtp_t gz_testsmtp_t;

//  Listen on 127.0.0.1 (a free port). When refuse_rcpt is set every RCPT
//  is answered 550 (a recipient refused for good). NULL on failure.
gz_testsmtp_t *gz_testsmtp_new (bool refuse_rcpt);
void gz_testsmtp_destroy (gz_testsmtp_t **self_p);
int gz_testsmtp_port (gz_testsmtp_t *self);

//  Connections accepted so far (one per client session: a client that
//  reuses its connection sends several messages in one).
size_t gz_testsmtp_sessions (gz_testsmtp_t *self);

//  Messages accepted so far, and the i-th one's data, sender and first
//  recipient (borrowed; NULL past the end). Thread-safe.
size_t gz_testsmtp_count (gz_testsmtp_t *self);
const char *gz_testsmtp_data (gz_testsmtp_t *self, size_t i);
const char *gz_testsmtp_from (gz_testsmtp_t *self, size_t i);
const char *gz_testsmtp_rcpt (gz_testsmtp_t *self, size_t i);

#endif
