/* A viewer's SRTCP opened with AES-128-GCM (srtcp-open.h). */
#include "srtcp-open.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gcm.h"

#define INDEX_LENGTH 4
/* The fixed header and the sender's SSRC: in the clear, and authenticated (RFC 7714 §9.2). */
#define CLEAR_LENGTH 8
#define ENCRYPTED_FLAG 0x80u

struct srtcp_opener {
  EVP_CIPHER_CTX *cipher; /* holds the key: only the IV changes per packet */
  unsigned char salt[GCM_SALT_LENGTH];
};

srtcp_opener *srtcp_opener_new(const unsigned char *key, const unsigned char *salt) {
  srtcp_opener *opener = calloc(1, sizeof *opener);
  if (!opener) return NULL;
  opener->cipher = gcm_cipher_new(key, 0);
  if (!opener->cipher) {
    srtcp_opener_free(opener);
    return NULL;
  }
  memcpy(opener->salt, salt, GCM_SALT_LENGTH);
  return opener;
}

void srtcp_opener_free(srtcp_opener *opener) {
  if (!opener) return;
  EVP_CIPHER_CTX_free(opener->cipher);
  free(opener);
}

int srtcp_open(srtcp_opener *opener, const unsigned char *packet, size_t length, unsigned char *out) {
  if (length < CLEAR_LENGTH + GCM_TAG_LENGTH + INDEX_LENGTH || length > INT32_MAX) return -EBADMSG;
  const unsigned char *trailer = packet + length - INDEX_LENGTH;
  const unsigned char *tag = trailer - GCM_TAG_LENGTH;
  size_t body = (size_t)(tag - packet); /* the compound packet's length */
  int encrypted = (trailer[0] & ENCRYPTED_FLAG) != 0;
  unsigned char iv[GCM_SALT_LENGTH];
  gcm_srtcp_iv(opener->salt, (uint32_t)packet[4] << 24 | (uint32_t)packet[5] << 16 | (uint32_t)packet[6] << 8 | packet[7],
               (uint32_t)trailer[0] << 24 | (uint32_t)trailer[1] << 16 | (uint32_t)trailer[2] << 8 | trailer[3], iv);
  int written = 0;
  EVP_CIPHER_CTX *cipher = opener->cipher;
  /* §9.2: the AAD is the clear part (all of it when not encrypted) and the E flag with the index. */
  size_t clear = encrypted ? CLEAR_LENGTH : body;
  if (EVP_DecryptInit_ex(cipher, NULL, NULL, NULL, iv) != 1 ||
      EVP_DecryptUpdate(cipher, NULL, &written, packet, (int)clear) != 1 ||
      EVP_DecryptUpdate(cipher, NULL, &written, trailer, INDEX_LENGTH) != 1) {
    return -EBADMSG;
  }
  memcpy(out, packet, clear);
  if (encrypted &&
      EVP_DecryptUpdate(cipher, out + CLEAR_LENGTH, &written, packet + CLEAR_LENGTH, (int)(body - CLEAR_LENGTH)) != 1) {
    return -EBADMSG;
  }
  if (EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LENGTH, (void *)tag) != 1 ||
      EVP_DecryptFinal_ex(cipher, out + body, &written) != 1) {
    return -EBADMSG;
  }
  return (int)body;
}
