/*
 * A batch of packets for the send thread, written by lib/native/send-batch.ts into one buffer and queued
 * with one call (`sendBatch`): a source packet sent to many viewers costs one crossing into C, not one per
 * viewer (each such call unboxes its nine arguments), and one copy of the payload (shared_payload,
 * send-thread.h).
 */
#ifndef WEBGEAR_SEND_BATCH_H
#define WEBGEAR_SEND_BATCH_H

#include <stdint.h>

#define BATCH_HEADER_CAPACITY 24
#define BATCH_TARGET_CAPACITY 28

/*
 * One packet of the batch: a viewer's header and the payload of the batch's packet from `payload_offset`
 * on, with `patch` written into the viewer's copy, sealed with context `context_id`'s stream and rollover
 * counter `roc`, sent from socket `socket_id` to `target` (a sockaddr). Native-endian words, as JavaScript's
 * typed arrays write them; `result` is written back: the datagram's bytes, or -errno (not sent).
 */
typedef struct {
  uint32_t context_id;
  uint32_t socket_id;
  uint32_t roc;
  uint32_t patch;
  int32_t result;
  uint16_t payload_offset;
  uint8_t header_length;
  uint8_t target_length;
  unsigned char header[BATCH_HEADER_CAPACITY];
  unsigned char target[BATCH_TARGET_CAPACITY];
  unsigned char reserved[4];
} batch_record;

_Static_assert(sizeof(batch_record) == 80, "lib/native/send-batch.ts writes 80-byte records");

#endif
