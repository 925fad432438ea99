/*
 * A viewer's RTCP sender reports, built and sealed here (sender-report.c): SR and SDES CNAME in one compound
 * packet as werift builds it, protected with SRTCP's AEAD_AES_128_GCM (RFC 7714 §9). A lane sends one every
 * second or so right after one of its packets (lane.c); JavaScript asks for one for a viewer out of its lane.
 */
#ifndef WEBGEAR_SENDER_REPORT_H
#define WEBGEAR_SENDER_REPORT_H

#include <stddef.h>
#include <stdint.h>

#define SENDER_REPORT_MAX_CNAME 255
/* The largest sealed report: SR (28), SDES with the longest CNAME (264), tag (16), SRTCP index (4). */
#define SENDER_REPORT_MAX_LENGTH 320

typedef struct sender_report sender_report;

/*
 * The reports of stream `ssrc`: SRTCP session key (16 bytes) and salt (12), the SRTCP index last used for
 * this SSRC (the next report takes the one after it), the CNAME (0 bytes: no SDES). NULL when OpenSSL
 * cannot set it up, or out of memory.
 */
sender_report *sender_report_new(const unsigned char *key, const unsigned char *salt, uint32_t ssrc,
                                 uint32_t last_index, const char *cname, size_t cname_length);
void sender_report_free(sender_report *report);

/* What one report says (RFC 3550 §6.4.1): the NTP time, and the RTP time and counts that go with it. */
typedef struct {
  uint32_t ntp_seconds, ntp_fraction;
  uint32_t rtp_timestamp;
  uint32_t packets, octets;
} sender_report_fields;

/* The NTP time (seconds since 1900, 32-bit fraction) of `wall_ms`, ms since 1970. */
void sender_report_ntp_of(double wall_ms, uint32_t *seconds, uint32_t *fraction);

/*
 * Writes the sealed report into `out` (SENDER_REPORT_MAX_LENGTH bytes are always enough), under the next
 * SRTCP index. Returns its length, or -EINVAL when OpenSSL fails.
 */
int sender_report_seal(sender_report *report, const sender_report_fields *fields, unsigned char *out);

#endif
