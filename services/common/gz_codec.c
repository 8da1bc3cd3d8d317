/*  gz_codec: protobuf on the wire. See gz_codec.h.  */
#include "gz_codec.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/time.h>

zframe_t *
gz_codec_pack (const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size (msg);
    zframe_t *frame = zframe_new (NULL, len);
    assert (frame);
    protobuf_c_message_pack (msg, zframe_data (frame));
    return frame;
}

uint8_t *
gz_codec_pack_buf (const ProtobufCMessage *msg, size_t *len_p)
{
    size_t len = protobuf_c_message_get_packed_size (msg);
    uint8_t *buf = malloc (len ? len : 1);
    assert (buf);
    protobuf_c_message_pack (msg, buf);
    *len_p = len;
    return buf;
}

gz_envelope_t *
gz_codec_envelope_decode (const uint8_t *data, size_t len)
{
    if (!data && len)
        return NULL;
    return gongzhi__v1__envelope__unpack (NULL, len, data);
}

void
gz_codec_envelope_free (gz_envelope_t **env_p)
{
    if (*env_p)
        gongzhi__v1__envelope__free_unpacked (*env_p, NULL);
    *env_p = NULL;
}

zframe_t *
gz_codec_envelope_frame (const char *type, const char *key, const char *idempotency_key,
                         const char *credential, const ProtobufCMessage *msg)
{
    gz_envelope_t env = GONGZHI__V1__ENVELOPE__INIT;
    char id[37];
    gz_uuid (id);
    env.id = id;
    env.type = (char *) type;
    env.key = (char *) (key ? key : "");
    env.idempotency_key = (char *) (idempotency_key ? idempotency_key : "");
    env.credential = (char *) (credential ? credential : "");
    env.occurred_at_us = gz_now_us ();
    size_t len = 0;
    uint8_t *payload = msg ? gz_codec_pack_buf (msg, &len) : NULL;
    env.payload.data = payload;
    env.payload.len = len;
    zframe_t *frame = gz_codec_pack (&env.base);
    free (payload);
    return frame;
}

void
gz_uuid (char out[37])
{
    uint8_t b[16];
    if (getrandom (b, sizeof b, 0) != (ssize_t) sizeof b) {
        //  getrandom on a 16-byte buffer does not fail short on Linux; if
        //  it ever does, fall back to the libc generator rather than abort.
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (uint8_t) random ();
    }
    b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
    snprintf (out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
              b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
              b[14], b[15]);
}

int64_t
gz_now_us (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}
