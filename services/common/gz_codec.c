/*  gz_codec: protobuf on the wire. See gz_codec.h.  */
#include "gz_codec.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

//  Serialize env around msg with a fresh id and now as occurred_at.
static zframe_t *
s_frame (gz_envelope_t *env, const ProtobufCMessage *msg)
{
    char id[37];
    gz_uuid (id);
    env->id = id;
    env->occurred_at_us = gz_now_us ();
    size_t len = 0;
    uint8_t *payload = msg ? gz_codec_pack_buf (msg, &len) : NULL;
    env->payload.data = payload;
    env->payload.len = len;
    zframe_t *frame = gz_codec_pack (&env->base);
    free (payload);
    return frame;
}

static char *
s_str (const char *s)
{
    return (char *) (s ? s : "");
}

zframe_t *
gz_codec_envelope_frame (const char *type, const char *key, const char *idempotency_key,
                         const char *credential, const ProtobufCMessage *msg)
{
    gz_envelope_t env = GONGZHI__V1__ENVELOPE__INIT;
    env.type = (char *) type;
    env.key = s_str (key);
    env.idempotency_key = s_str (idempotency_key);
    env.credential = s_str (credential);
    return s_frame (&env, msg);
}

zframe_t *
gz_codec_reply_frame (const char *type, const char *key, const char *reply_to,
                      const char *idempotency_key, const char *trace_id,
                      const ProtobufCMessage *msg)
{
    gz_envelope_t env = GONGZHI__V1__ENVELOPE__INIT;
    env.type = (char *) type;
    env.key = s_str (key);
    env.reply_to = s_str (reply_to);
    env.idempotency_key = s_str (idempotency_key);
    env.trace_id = s_str (trace_id);
    return s_frame (&env, msg);
}

//  Random bytes from a per-thread buffer refilled by getrandom: the same
//  kernel randomness, one system call per 16 UUIDs instead of one each
//  (two UUIDs per submission made getrandom a tenth of intake's system
//  calls). The services never fork, so no two processes share a buffer.
static void
s_random (uint8_t *out, size_t n)
{
    static _Thread_local uint8_t pool[256];
    static _Thread_local size_t left = 0;
    assert (n <= sizeof pool);
    if (left < n) {
        if (getrandom (pool, sizeof pool, 0) != (ssize_t) sizeof pool) {
            //  getrandom does not fail short on Linux for 256 bytes; if it
            //  ever does, fall back to the libc generator rather than abort.
            for (size_t i = 0; i < sizeof pool; i++)
                pool[i] = (uint8_t) random ();
        }
        left = sizeof pool;
    }
    memcpy (out, pool + sizeof pool - left, n);
    memset (pool + sizeof pool - left, 0, n); //  never hand out a byte twice
    left -= n;
}

void
gz_uuid (char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    s_random (b, sizeof b);
    b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
    char *p = out;
    for (size_t i = 0; i < sizeof b; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = 0;
}

int64_t
gz_now_us (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}
