/*  gz_codec: protobuf on the wire, kept behind one small class.

    Pack any protobuf-c message into a zframe; wrap payloads in an
    Envelope; decode envelopes from frames (NULL means bad input: count
    it, answer it, drop it, never assert).  */
#ifndef GZ_CODEC_H_INCLUDED
#define GZ_CODEC_H_INCLUDED

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "gongzhi/v1/envelope.pb-c.h"
#include "gongzhi/v1/intake.pb-c.h"

typedef Gongzhi__V1__Envelope gz_envelope_t;

//  Serialize msg into a new frame. Caller owns the frame.
zframe_t *gz_codec_pack (const ProtobufCMessage *msg);

//  Serialize msg into a new malloc'd buffer; *len_p gets its size.
uint8_t *gz_codec_pack_buf (const ProtobufCMessage *msg, size_t *len_p);

//  Decode an Envelope from frame data. NULL on bad input. Free with
//  gz_codec_envelope_free.
gz_envelope_t *gz_codec_envelope_decode (const uint8_t *data, size_t len);
void gz_codec_envelope_free (gz_envelope_t **env_p);

//  Build and serialize an envelope around payload msg. id is a fresh UUID,
//  occurred_at now. key, idempotency_key, credential may be NULL.
zframe_t *gz_codec_envelope_frame (const char *type, const char *key, const char *idempotency_key,
                                   const char *credential, const ProtobufCMessage *msg);

//  The envelope of a reply to command (borrowed; may be NULL when the
//  command did not decode): reply_to is the command's id, and its
//  idempotency_key and trace_id are echoed, so a peer with several
//  commands in flight can tell which reply is whose.
zframe_t *gz_codec_reply_frame (const char *type, const char *key, const char *reply_to,
                                const char *idempotency_key, const char *trace_id,
                                const ProtobufCMessage *msg);

//  A fresh random UUID (version 4) as 36 characters in out[37].
void gz_uuid (char out[37]);

//  Microseconds since the Unix epoch (wall clock).
int64_t gz_now_us (void);

#endif
