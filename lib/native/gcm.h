/*
 * AES-128-GCM as SRTP and SRTCP use it (RFC 7714): an OpenSSL context that holds a session key, and the
 * IVs, the session salt XORed with what names the packet. For srtp.c, sender-report.c and srtcp-open.c.
 */
#ifndef WEBGEAR_GCM_H
#define WEBGEAR_GCM_H

#include <stdint.h>
#include <openssl/evp.h>

#define GCM_KEY_LENGTH 16
#define GCM_SALT_LENGTH 12
#define GCM_TAG_LENGTH 16

/* A context keyed with `key` (16 bytes) that encrypts (`encrypt` 1) or decrypts (0); NULL if OpenSSL fails. */
EVP_CIPHER_CTX *gcm_cipher_new(const unsigned char *key, int encrypt);

/* RFC 7714 §9.1: an SRTCP packet's IV, salt XOR (00 00 | SSRC | 00 00 | 0 | SRTCP index). */
void gcm_srtcp_iv(const unsigned char *salt, uint32_t ssrc, uint32_t index, unsigned char *iv);

#endif
