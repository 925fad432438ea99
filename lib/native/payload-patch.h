/*
 * A viewer's own bytes in a shared payload: the VP8 PictureID, which each viewer numbers on from its own
 * last one (lib/sender/picture-ids.ts), while the packet itself is one buffer for every viewer. Written into
 * the viewer's copy of the payload (the send thread's scratch, or a buffer on the stack) before it is
 * sealed: the payload is encrypted, so the patch cannot travel in the header.
 *
 * A patch is one 32-bit number: bits 24-25 its length (1 or 2 bytes; 0: no patch), bits 16-23 where it goes
 * in the payload, bits 0-15 the bytes, big-endian.
 */
#ifndef WEBGEAR_PAYLOAD_PATCH_H
#define WEBGEAR_PAYLOAD_PATCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline size_t payload_patch_length(uint32_t patch) {
  return (patch >> 24) & 3;
}

/* Where the patch ends in the payload: the bytes up to there are the viewer's own (0: no patch). */
static inline size_t payload_patch_end(uint32_t patch) {
  size_t bytes = payload_patch_length(patch);
  return bytes == 0 ? 0 : ((patch >> 16) & 0xff) + bytes;
}

/* Whether the patch fits a payload of `length` bytes (no patch fits any). */
static inline int payload_patch_fits(uint32_t patch, size_t length) {
  size_t bytes = payload_patch_length(patch);
  return bytes == 0 || (bytes <= 2 && ((patch >> 16) & 0xff) + bytes <= length);
}

/* Writes the patch into `payload` (checked with payload_patch_fits first). */
static inline void payload_patch_apply(unsigned char *payload, uint32_t patch) {
  size_t bytes = payload_patch_length(patch), at = (patch >> 16) & 0xff;
  if (bytes == 2) {
    payload[at] = (unsigned char)(patch >> 8);
    payload[at + 1] = (unsigned char)patch;
  } else if (bytes == 1) {
    payload[at] = (unsigned char)patch;
  }
}

/*
 * The payload to seal: `payload` itself without a patch, else a patched copy in `copy` (`capacity` bytes).
 * NULL when the copy would not fit.
 */
static inline const unsigned char *payload_patched(const unsigned char *payload, size_t length, uint32_t patch,
                                                   unsigned char *copy, size_t capacity) {
  if (payload_patch_length(patch) == 0) return payload;
  if (length > capacity) return NULL;
  memcpy(copy, payload, length);
  payload_patch_apply(copy, patch);
  return copy;
}

#endif
