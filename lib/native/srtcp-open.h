/*
 * A viewer's RTCP as it arrives, decrypted here (srtcp-open.c): SRTCP with AEAD_AES_128_GCM (RFC 7714 §9),
 * what werift does in JavaScript with a new cipher object and four Buffers per packet. lib/werift/rtcp-tap.ts
 * puts it in front of werift's own, which still gets every packet this cannot open (and rejects it as before).
 */
#ifndef WEBGEAR_SRTCP_OPEN_H
#define WEBGEAR_SRTCP_OPEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct srtcp_opener srtcp_opener;

/* An opener for the SRTCP session key (16 bytes) and salt (12) of one direction; NULL when OpenSSL cannot set it up. */
srtcp_opener *srtcp_opener_new(const unsigned char *key, const unsigned char *salt);
void srtcp_opener_free(srtcp_opener *opener);

/*
 * Writes the compound RTCP packet in `packet` (`length` bytes: header, encrypted or not, tag, E flag and
 * SRTCP index) into `out` (room for `length` bytes). Returns its length, or -EBADMSG when it does not
 * authenticate or is too short to be SRTCP.
 */
int srtcp_open(srtcp_opener *opener, const unsigned char *packet, size_t length, unsigned char *out);

#endif
