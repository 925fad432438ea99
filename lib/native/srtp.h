/* One viewer's SRTP stream (AES-128-GCM, RFC 7714): see srtp.c. */
#ifndef WEBGEAR_SRTP_H
#define WEBGEAR_SRTP_H

#include <stddef.h>
#include <stdint.h>

#define SRTP_KEY_LENGTH 16
#define SRTP_SALT_LENGTH 12
#define SRTP_TAG_LENGTH 16

typedef struct srtp_stream srtp_stream;

/* A stream with its session key and salt, SSRC and payload type; NULL if OpenSSL cannot set it up. */
srtp_stream *srtp_stream_new(const unsigned char *key, const unsigned char *salt, uint32_t ssrc,
                             unsigned char payload_type);
void srtp_stream_free(srtp_stream *stream);
/* The stream's SSRC (set once: any thread may read it). */
uint32_t srtp_stream_ssrc(const srtp_stream *stream);
/* Asks the cache for the stream's cipher context (the stream itself should be in the cache already). */
void srtp_stream_prefetch(const srtp_stream *stream);

/*
 * Writes the SRTP packet of `rtp` (`length` bytes, its header `header_length` of them) into `out`: the
 * header as the stream's (payload type, SSRC), the payload encrypted with rollover counter `roc`, the tag
 * appended. Returns its length, or -EMSGSIZE when it does not fit in `capacity`, -EINVAL when OpenSSL fails.
 */
int srtp_protect(srtp_stream *stream, const unsigned char *rtp, size_t length, size_t header_length, uint32_t roc,
                 unsigned char *out, size_t capacity);

/*
 * Writes the SRTP packet of a header the caller wrote (`header_length` bytes: the stream's SSRC in it, its
 * sequence number, timestamp and extensions) and `payload` into `out`. Returns its length, or -EMSGSIZE /
 * -EINVAL as srtp_protect does.
 */
int srtp_seal(srtp_stream *stream, const unsigned char *header, size_t header_length, const unsigned char *payload,
              size_t payload_length, uint32_t roc, unsigned char *out, size_t capacity);

/*
 * Seals a packet in `packet`: its header, then the first `in_place` bytes of its payload, encrypted where they
 * are; the other `source_length` bytes are read from `source` and written, encrypted, after them; the tag
 * follows (the caller leaves SRTP_TAG_LENGTH bytes of room). What the send thread does with a queued packet
 * (send-thread.c): the viewer's own bytes in place, the shared payload read once, straight into its scratch.
 * Returns the SRTP length, or -EINVAL / -EMSGSIZE.
 */
int srtp_seal_in_place(srtp_stream *stream, unsigned char *packet, size_t header_length, size_t in_place,
                       const unsigned char *source, size_t source_length, uint32_t roc);

#endif
