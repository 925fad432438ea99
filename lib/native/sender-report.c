/* A viewer's RTCP sender reports, sealed with SRTCP's AES-128-GCM (sender-report.h). */
#include "sender-report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gcm.h"

#define SR_LENGTH 28
/* RFC 3550 §12.1: the packet types of SR and SDES; SDES item 1 is the CNAME (§6.5.1). */
#define TYPE_SR 200
#define TYPE_SDES 202
#define SDES_CNAME 1
/* Seconds from 1900 (NTP's epoch) to 1970. */
#define NTP_EPOCH_OFFSET_S 2208988800.0
/* RFC 3711 §3.3.2: the index has 31 bits; the top bit of its word says the packet is encrypted. */
#define MAX_INDEX 0x7fffffffu
#define ENCRYPTED_FLAG 0x80000000u

struct sender_report {
  EVP_CIPHER_CTX *cipher; /* holds the key: only the IV changes per report */
  unsigned char salt[GCM_SALT_LENGTH];
  uint32_t ssrc;
  uint32_t index;
  size_t cname_length;
  char cname[SENDER_REPORT_MAX_CNAME];
};

sender_report *sender_report_new(const unsigned char *key, const unsigned char *salt, uint32_t ssrc,
                                 uint32_t last_index, const char *cname, size_t cname_length) {
  if (cname_length > SENDER_REPORT_MAX_CNAME) return NULL;
  sender_report *report = calloc(1, sizeof *report);
  if (!report) return NULL;
  report->cipher = gcm_cipher_new(key, 1);
  if (!report->cipher) {
    sender_report_free(report);
    return NULL;
  }
  memcpy(report->salt, salt, GCM_SALT_LENGTH);
  report->ssrc = ssrc;
  report->index = last_index & MAX_INDEX;
  memcpy(report->cname, cname, cname_length);
  report->cname_length = cname_length;
  return report;
}

void sender_report_free(sender_report *report) {
  if (!report) return;
  EVP_CIPHER_CTX_free(report->cipher);
  free(report);
}

void sender_report_ntp_of(double wall_ms, uint32_t *seconds, uint32_t *fraction) {
  double whole = floor(wall_ms / 1000);
  /* 32 bits of seconds, wrapping in 2036 as NTP does (era 1). */
  *seconds = (uint32_t)fmod(whole + NTP_EPOCH_OFFSET_S, 4294967296.0);
  *fraction = (uint32_t)((wall_ms / 1000 - whole) * 4294967296.0);
}

static unsigned char *put32(unsigned char *at, uint32_t value) {
  at[0] = (unsigned char)(value >> 24);
  at[1] = (unsigned char)(value >> 16);
  at[2] = (unsigned char)(value >> 8);
  at[3] = (unsigned char)value;
  return at + 4;
}

/* The compound packet in the clear: SR, then SDES with the CNAME (if any). Returns its length. */
static size_t write_compound(const sender_report *report, const sender_report_fields *fields, unsigned char *out) {
  unsigned char *at = out;
  *at++ = 0x80; /* version 2, no padding, no report blocks */
  *at++ = TYPE_SR;
  *at++ = 0;
  *at++ = SR_LENGTH / 4 - 1;
  at = put32(at, report->ssrc);
  at = put32(at, fields->ntp_seconds);
  at = put32(at, fields->ntp_fraction);
  at = put32(at, fields->rtp_timestamp);
  at = put32(at, fields->packets);
  at = put32(at, fields->octets);
  if (report->cname_length == 0) return (size_t)(at - out);
  /* One chunk: SSRC, the CNAME item, then at least one zero octet ending the items, to a 32-bit boundary. */
  size_t chunk = 4 + 2 + report->cname_length;
  size_t padded = (chunk + 4) & ~(size_t)3;
  *at++ = 0x81; /* version 2, one chunk */
  *at++ = TYPE_SDES;
  *at++ = (unsigned char)(((4 + padded) / 4 - 1) >> 8);
  *at++ = (unsigned char)((4 + padded) / 4 - 1);
  at = put32(at, report->ssrc);
  *at++ = SDES_CNAME;
  *at++ = (unsigned char)report->cname_length;
  memcpy(at, report->cname, report->cname_length);
  at += report->cname_length;
  memset(at, 0, padded - chunk);
  at += padded - chunk;
  return (size_t)(at - out);
}

int sender_report_seal(sender_report *report, const sender_report_fields *fields, unsigned char *out) {
  size_t length = write_compound(report, fields, out);
  report->index = (report->index + 1) & MAX_INDEX;
  uint32_t index = report->index;
  unsigned char iv[GCM_SALT_LENGTH];
  gcm_srtcp_iv(report->salt, report->ssrc, index, iv);
  /* §9.2: the AAD is the first 8 octets and the E flag with the index, which follows the tag on the wire. */
  unsigned char trailer[4];
  put32(trailer, ENCRYPTED_FLAG | index);
  int written = 0;
  if (EVP_EncryptInit_ex(report->cipher, NULL, NULL, NULL, iv) != 1 ||
      EVP_EncryptUpdate(report->cipher, NULL, &written, out, 8) != 1 ||
      EVP_EncryptUpdate(report->cipher, NULL, &written, trailer, 4) != 1 ||
      EVP_EncryptUpdate(report->cipher, out + 8, &written, out + 8, (int)(length - 8)) != 1 ||
      EVP_EncryptFinal_ex(report->cipher, out + 8 + written, &written) != 1 ||
      EVP_CIPHER_CTX_ctrl(report->cipher, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LENGTH, out + length) != 1) {
    return -EINVAL;
  }
  memcpy(out + length + GCM_TAG_LENGTH, trailer, 4);
  return (int)(length + GCM_TAG_LENGTH + 4);
}
