/*
 * SRTP and SRTCP for the two profiles WebRTC offers over DTLS-SRTP: AEAD_AES_128_GCM (RFC 7714) and
 * AES128_CM_HMAC_SHA1_80 (RFC 3711). One OpenSSL context per direction keeps its key schedule, so a
 * packet costs a new IV and one pass of the cipher (and of HMAC-SHA1 for the CM profile).
 */
#include "loadgen.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#define GCM_TAG 16
#define CM_TAG 10
#define SRTCP_INDEX 4

/* The AES-CM key derivation of RFC 3711 §4.3 (kdr 0); RFC 7714 §11 pads GCM's 12-byte salt with zeros. */
static int derive(const uint8_t *master_key, const uint8_t salt14[14], uint8_t label, uint8_t *out, int length) {
  uint8_t iv[16] = {0};
  memcpy(iv, salt14, 14);
  iv[7] ^= label;
  uint8_t zeros[32] = {0};
  int written = 0, ok = 0;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, master_key, iv) == 1 &&
      EVP_EncryptUpdate(ctx, out, &written, zeros, length) == 1 && written == length)
    ok = 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok ? 0 : -1;
}

int srtp_stream_init(srtp_stream_t *stream, int profile, const uint8_t *master_key, const uint8_t *master_salt,
                     bool rtcp, bool encrypt) {
  memset(stream, 0, sizeof *stream);
  stream->profile = profile;
  bool gcm = profile == PROFILE_AEAD_AES_128_GCM;
  uint8_t salt14[14] = {0};
  memcpy(salt14, master_salt, gcm ? 12 : 14);
  uint8_t key[16], auth[20];
  uint8_t base = rtcp ? 3 : 0; /* labels: 0/3 cipher key, 1/4 auth key, 2/5 salt */
  if (derive(master_key, salt14, base, key, 16) || derive(master_key, salt14, base + 2, stream->salt, 14))
    return -1;
  stream->cipher = EVP_CIPHER_CTX_new();
  if (!stream->cipher) return -1;
  const EVP_CIPHER *type = gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
  if (EVP_CipherInit_ex(stream->cipher, type, NULL, key, NULL, encrypt ? 1 : 0) != 1) return -1;
  if (!gcm) {
    if (derive(master_key, salt14, base + 1, auth, 20)) return -1;
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!hmac) return -1;
    stream->mac = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0),
                           OSSL_PARAM_construct_end()};
    if (!stream->mac || EVP_MAC_init(stream->mac, auth, sizeof auth, params) != 1) return -1;
  }
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(auth, sizeof auth);
  return 0;
}

void srtp_stream_free(srtp_stream_t *stream) {
  EVP_CIPHER_CTX_free(stream->cipher);
  EVP_MAC_CTX_free(stream->mac);
  stream->cipher = NULL;
  stream->mac = NULL;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* HMAC-SHA1 of data (and the 4-byte rollover counter for SRTP), truncated to 10 bytes. */
static int cm_tag(srtp_stream_t *stream, const uint8_t *data, int length, const uint8_t *roc, uint8_t out[CM_TAG]) {
  uint8_t full[20];
  size_t size = 0;
  if (EVP_MAC_init(stream->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(stream->mac, data, (size_t)length) != 1 ||
      (roc && EVP_MAC_update(stream->mac, roc, 4) != 1) || EVP_MAC_final(stream->mac, full, &size, sizeof full) != 1)
    return -1;
  memcpy(out, full, CM_TAG);
  return 0;
}

/* AES-CTR over data in place: IV = salt ^ (SSRC << 64) ^ (index << 16) (RFC 3711 §4.1.1). */
static int cm_crypt(srtp_stream_t *stream, uint8_t *data, int length, uint32_t ssrc, uint64_t index) {
  uint8_t iv[16] = {0};
  memcpy(iv, stream->salt, 14);
  for (int i = 0; i < 4; i++) iv[4 + i] ^= (uint8_t)(ssrc >> (24 - 8 * i));
  for (int i = 0; i < 6; i++) iv[8 + i] ^= (uint8_t)(index >> (40 - 8 * i));
  int written = 0;
  if (EVP_CipherInit_ex(stream->cipher, NULL, NULL, NULL, iv, -1) != 1) return -1;
  return length == 0 || EVP_CipherUpdate(stream->cipher, data, &written, data, length) == 1 ? 0 : -1;
}

/* AES-GCM: authenticate aad, en/decrypt data in place; tag is written (encrypt) or checked (decrypt). */
static int gcm_crypt(srtp_stream_t *stream, const uint8_t iv[12], const uint8_t *aad, int aad_length,
                     const uint8_t *aad_tail, int tail_length, uint8_t *data, int length, uint8_t *tag,
                     bool encrypt) {
  int written = 0;
  if (EVP_CipherInit_ex(stream->cipher, NULL, NULL, NULL, iv, -1) != 1) return -1;
  if (EVP_CipherUpdate(stream->cipher, NULL, &written, aad, aad_length) != 1) return -1;
  if (tail_length && EVP_CipherUpdate(stream->cipher, NULL, &written, aad_tail, tail_length) != 1) return -1;
  if (length && EVP_CipherUpdate(stream->cipher, data, &written, data, length) != 1) return -1;
  if (encrypt) {
    if (EVP_CipherFinal_ex(stream->cipher, data + length, &written) != 1) return -1;
    return EVP_CIPHER_CTX_ctrl(stream->cipher, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1 ? 0 : -1;
  }
  if (EVP_CIPHER_CTX_ctrl(stream->cipher, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) != 1) return -1;
  return EVP_CipherFinal_ex(stream->cipher, data + length, &written) == 1 ? 0 : -1;
}

int srtp_unprotect_rtp(srtp_stream_t *stream, uint8_t *packet, int length, int header_length, uint32_t ssrc,
                       uint32_t roc, uint16_t seq) {
  if (stream->profile == PROFILE_AEAD_AES_128_GCM) {
    if (length < header_length + GCM_TAG) return -1;
    /* IV = (00 00 || SSRC || ROC || SEQ) ^ salt (RFC 7714 §8.1); the header is the AAD. */
    uint8_t iv[12] = {0};
    put32(iv + 2, ssrc);
    put32(iv + 6, roc);
    iv[10] = (uint8_t)(seq >> 8);
    iv[11] = (uint8_t)seq;
    for (int i = 0; i < 12; i++) iv[i] ^= stream->salt[i];
    int payload = length - header_length - GCM_TAG;
    if (gcm_crypt(stream, iv, packet, header_length, NULL, 0, packet + header_length, payload,
                  packet + length - GCM_TAG, false))
      return -1;
    return length - GCM_TAG;
  }
  if (length < header_length + CM_TAG) return -1;
  uint8_t roc_bytes[4], tag[CM_TAG];
  put32(roc_bytes, roc);
  int authenticated = length - CM_TAG;
  if (cm_tag(stream, packet, authenticated, roc_bytes, tag) || CRYPTO_memcmp(tag, packet + authenticated, CM_TAG))
    return -1;
  if (cm_crypt(stream, packet + header_length, authenticated - header_length, ssrc, (uint64_t)roc << 16 | seq))
    return -1;
  return authenticated;
}

int srtcp_unprotect(srtp_stream_t *stream, uint8_t *packet, int length) {
  bool gcm = stream->profile == PROFILE_AEAD_AES_128_GCM;
  int tag_length = gcm ? GCM_TAG : CM_TAG;
  if (length < 8 + SRTCP_INDEX + tag_length) return -1;
  uint32_t ssrc = get32(packet + 4);
  if (gcm) {
    /* header | encrypted | tag | E||index (RFC 7714 §9) */
    const uint8_t *trailer = packet + length - SRTCP_INDEX;
    uint32_t index = get32(trailer) & 0x7FFFFFFFu;
    bool encrypted = trailer[0] & 0x80;
    uint8_t iv[12] = {0};
    put32(iv + 2, ssrc);
    put32(iv + 8, index);
    for (int i = 0; i < 12; i++) iv[i] ^= stream->salt[i];
    int body = length - 8 - GCM_TAG - SRTCP_INDEX;
    uint8_t *tag = packet + length - SRTCP_INDEX - GCM_TAG;
    int result = encrypted ? gcm_crypt(stream, iv, packet, 8, trailer, SRTCP_INDEX, packet + 8, body, tag, false)
                           : gcm_crypt(stream, iv, packet, 8 + body, trailer, SRTCP_INDEX, NULL, 0, tag, false);
    return result ? -1 : 8 + body;
  }
  /* header | encrypted | E||index | tag (RFC 3711 §3.4) */
  int authenticated = length - CM_TAG;
  uint8_t tag[CM_TAG];
  if (cm_tag(stream, packet, authenticated, NULL, tag) || CRYPTO_memcmp(tag, packet + authenticated, CM_TAG))
    return -1;
  const uint8_t *trailer = packet + authenticated - SRTCP_INDEX;
  int body = authenticated - SRTCP_INDEX - 8;
  if ((trailer[0] & 0x80) && cm_crypt(stream, packet + 8, body, ssrc, get32(trailer) & 0x7FFFFFFFu)) return -1;
  return 8 + body;
}

int srtcp_protect(srtp_stream_t *stream, uint8_t *packet, int length, uint32_t index) {
  uint32_t ssrc = get32(packet + 4);
  uint8_t trailer[SRTCP_INDEX];
  put32(trailer, 0x80000000u | (index & 0x7FFFFFFFu));
  if (stream->profile == PROFILE_AEAD_AES_128_GCM) {
    uint8_t iv[12] = {0};
    put32(iv + 2, ssrc);
    put32(iv + 8, index & 0x7FFFFFFFu);
    for (int i = 0; i < 12; i++) iv[i] ^= stream->salt[i];
    if (gcm_crypt(stream, iv, packet, 8, trailer, SRTCP_INDEX, packet + 8, length - 8, packet + length, true))
      return -1;
    memcpy(packet + length + GCM_TAG, trailer, SRTCP_INDEX);
    return length + GCM_TAG + SRTCP_INDEX;
  }
  if (cm_crypt(stream, packet + 8, length - 8, ssrc, index & 0x7FFFFFFFu)) return -1;
  memcpy(packet + length, trailer, SRTCP_INDEX);
  if (cm_tag(stream, packet, length + SRTCP_INDEX, NULL, packet + length + SRTCP_INDEX)) return -1;
  return length + SRTCP_INDEX + CM_TAG;
}
