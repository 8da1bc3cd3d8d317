/*  gz_match_cmd: one MatchCommand to matching's ROUTER over a DEALER, and
    its MatchReply on stdout, for tests/integration/test_matching_bus.sh.

      gz_match_cmd ENDPOINT ACTION OFFER_ID TOKEN [CREDENTIAL]
          sends MatchCommand {action, offer_id, token} (TOKEN "-": none)
          in an Envelope of type "MatchCommand" with CREDENTIAL (a bearer
          token) when given
      gz_match_cmd ENDPOINT --garbage
          sends a frame that is not an Envelope

    Prints the reply as one line: "ok=1 error= state=accepted message=...".
    Exit codes: 0 a reply came (whatever it says), 1 none within 5 s or it
    did not decode, 2 usage.  */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gongzhi/v1/matching.pb-c.h"
#include "gz_codec.h"

static zframe_t *
s_command (int argc, char **argv)
{
    if (argc == 3 && strcmp (argv[2], "--garbage") == 0)
        return zframe_new ("\xff\xfe not an envelope \x01\x02", 22);
    Gongzhi__V1__MatchCommand cmd = GONGZHI__V1__MATCH_COMMAND__INIT;
    cmd.action = argv[2];
    cmd.offer_id = strtoll (argv[3], NULL, 10);
    cmd.token = strcmp (argv[4], "-") == 0 ? "" : argv[4];
    return gz_codec_envelope_frame ("MatchCommand", NULL, NULL, argc == 6 ? argv[5] : NULL,
                                    &cmd.base);
}

int
main (int argc, char **argv)
{
    bool garbage = argc == 3 && strcmp (argv[2], "--garbage") == 0;
    if (!garbage && argc != 5 && argc != 6) {
        fprintf (stderr, "usage: gz_match_cmd ENDPOINT ACTION OFFER_ID TOKEN [CREDENTIAL]\n"
                         "       gz_match_cmd ENDPOINT --garbage\n");
        return 2;
    }
    zsock_t *dealer = zsock_new_dealer (argv[1]);
    if (!dealer) {
        fprintf (stderr, "gz_match_cmd: cannot connect to %s\n", argv[1]);
        return 1;
    }
    zframe_t *frame = s_command (argc, argv);
    zframe_send (&frame, dealer, 0);
    zsock_set_rcvtimeo (dealer, 5000);
    zmsg_t *msg = zmsg_recv (dealer);
    int rc = 1;
    zframe_t *body = msg ? zmsg_last (msg) : NULL;
    gz_envelope_t *env =
        body ? gz_codec_envelope_decode (zframe_data (body), zframe_size (body)) : NULL;
    Gongzhi__V1__MatchReply *reply =
        env && env->type && strcmp (env->type, "MatchReply") == 0
            ? gongzhi__v1__match_reply__unpack (NULL, env->payload.len, env->payload.data)
            : NULL;
    if (reply) {
        printf ("ok=%d error=%s state=%s message=%s\n", reply->ok ? 1 : 0,
                reply->error ? reply->error : "", reply->state ? reply->state : "",
                reply->message ? reply->message : "");
        gongzhi__v1__match_reply__free_unpacked (reply, NULL);
        rc = 0;
    }
    else
        fprintf (stderr, "gz_match_cmd: %s\n", msg ? "the reply did not decode" : "no reply");
    gz_codec_envelope_free (&env);
    zmsg_destroy (&msg);
    zsock_destroy (&dealer);
    return rc;
}
