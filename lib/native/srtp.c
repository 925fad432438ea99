/*
 * SRTP with AEAD_AES_128_GCM (RFC 7714) for one viewer's stream.
 *
 * Why not Node's crypto: it builds a new cipher object (and re-does the AES key schedule) for every packet.
 * Here one OpenSSL context per viewer keeps its key and only takes a new IV per packet.
 *
 * OpenSSL comes from Node: its headers ship with Node's (node-gyp puts them on the include path) and its
 * symbols are resolved when Node loads the addon, from the OpenSSL Node exports to addons, the same
 * library its crypto module uses. Only the EVP API, stable across OpenSSL 1.1 and 3, is used.
 */
#include "srtp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "gcm.h"

struct srtp_stream {
  EVP_CIPHER_CTX *cipher; /* holds the key: only the IV changes per packet */
  unsigned char salt[SRTP_SALT_LENGTH];
  uint32_t ssrc;
  unsigned char payload_type;
};

srtp_stream *srtp_stream_new(const unsigned char *key, const unsigned char *salt, uint32_t ssrc,
                             unsigned char payload_type) {
  srtp_stream *stream = calloc(1, sizeof *stream);
  if (!stream) return NULL;
  stream->cipher = gcm_cipher_new(key, 1);
  if (!stream->cipher) {
    srtp_stream_free(stream);
    return NULL;
  }
  memcpy(stream->salt, salt, SRTP_SALT_LENGTH);
  stream->ssrc = ssrc;
  stream->payload_type = payload_type;
  return stream;
}

void srtp_stream_free(srtp_stream *stream) {
  if (!stream) return;
  EVP_CIPHER_CTX_free(stream->cipher);
  free(stream);
}

void srtp_stream_prefetch(const srtp_stream *stream) {
  __builtin_prefetch(stream->cipher);
  __builtin_prefetch((const char *)stream->cipher + 64);
}

uint32_t srtp_stream_ssrc(const srtp_stream *stream) {
  return stream->ssrc;
}

/*
 * Seals the packet at `out`: its header, then `in_place` bytes of payload already after it, then
 * `source_length` bytes read from `source` (written after those). The header is the AAD; the payload is
 * encrypted where it ends up and the tag follows it. Returns the total length.
 */
static int seal(srtp_stream *stream, unsigned char *out, size_t header_length, size_t in_place,
                const unsigned char *source, size_t source_length, uint32_t roc) {
  /* RFC 7714 §8.1: IV = salt XOR (00 00 | SSRC | ROC | SEQ). */
  unsigned char iv[12] = {0, 0, out[8], out[9], out[10], out[11], (unsigned char)(roc >> 24),
                          (unsigned char)(roc >> 16), (unsigned char)(roc >> 8), (unsigned char)roc, out[2], out[3]};
  for (int i = 0; i < 12; i++) iv[i] ^= stream->salt[i];
  unsigned char *payload = out + header_length;
  size_t payload_length = in_place + source_length;
  int written = 0;
  /* The header is the additional authenticated data; the payload is encrypted after it; then the tag. */
  if (EVP_EncryptInit_ex(stream->cipher, NULL, NULL, NULL, iv) != 1 ||
      EVP_EncryptUpdate(stream->cipher, NULL, &written, out, (int)header_length) != 1 ||
      (in_place > 0 && EVP_EncryptUpdate(stream->cipher, payload, &written, payload, (int)in_place) != 1) ||
      (source_length > 0 &&
       EVP_EncryptUpdate(stream->cipher, payload + in_place, &written, source, (int)source_length) != 1) ||
      EVP_EncryptFinal_ex(stream->cipher, payload + payload_length, &written) != 1 ||
      EVP_CIPHER_CTX_ctrl(stream->cipher, EVP_CTRL_GCM_GET_TAG, SRTP_TAG_LENGTH, payload + payload_length) != 1) {
    return -EINVAL;
  }
  return (int)(header_length + payload_length + SRTP_TAG_LENGTH);
}

int srtp_protect(srtp_stream *stream, const unsigned char *rtp, size_t length, size_t header_length, uint32_t roc,
                 unsigned char *out, size_t capacity) {
  size_t total = length + SRTP_TAG_LENGTH;
  if (total > capacity || total > INT32_MAX) return -EMSGSIZE;
  /* The header as the viewer's: its payload type (the marker bit kept) and SSRC. */
  memcpy(out, rtp, header_length);
  out[1] = (unsigned char)((rtp[1] & 0x80) | stream->payload_type);
  out[8] = (unsigned char)(stream->ssrc >> 24);
  out[9] = (unsigned char)(stream->ssrc >> 16);
  out[10] = (unsigned char)(stream->ssrc >> 8);
  out[11] = (unsigned char)stream->ssrc;
  return seal(stream, out, header_length, 0, rtp + header_length, length - header_length, roc);
}

int srtp_seal_in_place(srtp_stream *stream, unsigned char *packet, size_t header_length, size_t in_place,
                       const unsigned char *source, size_t source_length, uint32_t roc) {
  if (header_length < 12) return -EINVAL;
  if (header_length + in_place + source_length + SRTP_TAG_LENGTH > INT32_MAX) return -EMSGSIZE;
  /* OpenSSL encrypts in place when input and output are the same buffer (not when they only overlap). */
  return seal(stream, packet, header_length, in_place, source, source_length, roc);
}

int srtp_seal(srtp_stream *stream, const unsigned char *header, size_t header_length, const unsigned char *payload,
              size_t payload_length, uint32_t roc, unsigned char *out, size_t capacity) {
  size_t total = header_length + payload_length + SRTP_TAG_LENGTH;
  if (header_length < 12 || total > capacity || total > INT32_MAX) return header_length < 12 ? -EINVAL : -EMSGSIZE;
  memcpy(out, header, header_length);
  return seal(stream, out, header_length, 0, payload, payload_length, roc);
}
