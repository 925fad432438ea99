/* AES-128-GCM as SRTP and SRTCP use it (gcm.h). */
#include "gcm.h"

EVP_CIPHER_CTX *gcm_cipher_new(const unsigned char *key, int encrypt) {
  EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
  if (!cipher) return NULL;
  int ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_128_gcm(), NULL, key, NULL)
                   : EVP_DecryptInit_ex(cipher, EVP_aes_128_gcm(), NULL, key, NULL);
  if (ok != 1) {
    EVP_CIPHER_CTX_free(cipher);
    return NULL;
  }
  return cipher;
}

void gcm_srtcp_iv(const unsigned char *salt, uint32_t ssrc, uint32_t index, unsigned char *iv) {
  const unsigned char named[GCM_SALT_LENGTH] = {
      0, 0, (unsigned char)(ssrc >> 24), (unsigned char)(ssrc >> 16), (unsigned char)(ssrc >> 8), (unsigned char)ssrc,
      0, 0, (unsigned char)((index >> 24) & 0x7f), (unsigned char)(index >> 16), (unsigned char)(index >> 8),
      (unsigned char)index};
  for (int i = 0; i < GCM_SALT_LENGTH; i++) iv[i] = named[i] ^ salt[i];
}
