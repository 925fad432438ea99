/* The fan-out's lanes for one rendition (fanout.h). */
#include "fanout.h"

#include <errno.h>
#include <stdlib.h>

#include "handles.h"

/* How many lanes ahead the fan-out fetches each stage of a lane's memory (lane_prefetch()'s stages 0-3). */
#define PREFETCH_STAGES 4
static const uint32_t PREFETCH_AHEAD[PREFETCH_STAGES] = {8, 4, 2, 1};

struct fanout_group {
  lane **lanes;
  uint32_t count, capacity;
  int vp8;
  /* The send thread that was told a frame of this group is open (send_thread_frames), NULL if none is. */
  send_thread *open_frame;
};

/* The send thread waits for no frame of this group any more. */
static void close_frame(fanout_group *group) {
  if (!group->open_frame) return;
  send_thread_frames(group->open_frame, -1);
  group->open_frame = NULL;
}

fanout_group *fanout_group_new(int vp8) {
  fanout_group *group = calloc(1, sizeof *group);
  if (group) group->vp8 = vp8;
  return group;
}

void fanout_group_free(fanout_group *group) {
  close_frame(group);
  for (uint32_t i = 0; i < group->count; i++) lane_set_group(group->lanes[i], NULL, 0);
  free(group->lanes);
  free(group);
}

uint32_t fanout_group_size(const fanout_group *group) {
  return group->count;
}

int fanout_group_add(fanout_group *group, lane *lane) {
  if (lane_group(lane) == group) return 0;
  fanout_lane_remove(lane);
  if (group->count == group->capacity) {
    uint32_t capacity = group->capacity ? group->capacity * 2 : 16;
    struct lane **lanes = realloc(group->lanes, capacity * sizeof *lanes);
    if (!lanes) return -ENOMEM;
    group->lanes = lanes;
    group->capacity = capacity;
  }
  lane_set_group(lane, group, group->count);
  group->lanes[group->count++] = lane;
  return 0;
}

void fanout_lane_remove(lane *lane) {
  fanout_group *group = lane_group(lane);
  if (!group) return;
  uint32_t index = lane_index(lane);
  struct lane *moved = group->lanes[--group->count];
  group->lanes[index] = moved;
  lane_set_group(moved, group, index);
  lane_set_group(lane, NULL, 0);
  if (group->count == 0) close_frame(group);
}

/* Where the payload starts (after CSRCs and the header extension); 0 when the packet is too short for it. */
static size_t payload_offset_of(const unsigned char *packet, size_t length) {
  if (length < 12 || (packet[0] >> 6) != 2) return 0;
  size_t offset = 12 + 4 * (size_t)(packet[0] & 0x0f);
  if (packet[0] & 0x10) {
    if (length < offset + 4) return 0;
    offset += 4 + 4 * ((size_t)packet[offset + 2] << 8 | packet[offset + 3]);
  }
  return offset <= length ? offset : 0;
}

/* Where a VP8 payload descriptor's PictureID is (lib/rtp/rtp-payload.ts's vp8PictureIdField()): -1 if none. */
static int32_t vp8_picture_field(const unsigned char *packet, size_t length, size_t payload_offset) {
  if (length < payload_offset + 3) return -1;
  if (!(packet[payload_offset] & 0x80) || !(packet[payload_offset + 1] & 0x80)) return -1;
  if (packet[payload_offset + 2] & 0x80) return length < payload_offset + 4 ? -1 : (2 << 16) | 2;
  return (1 << 16) | 2;
}

int fanout_group_write(send_thread *thread, fanout_group *group, const unsigned char *packet, size_t length,
                       double now_ms, double wall_ms) {
  size_t payload_offset = payload_offset_of(packet, length);
  if (payload_offset == 0) return -EINVAL;
  if (group->count == 0) return 0;
  lane_packet source = {
      .packet = packet,
      .length = length,
      .payload_offset = payload_offset,
      .picture_field = group->vp8 ? vp8_picture_field(packet, length, payload_offset) : -1,
      .now_ms = now_ms,
      .wall_ms = wall_ms,
  };
  source.shared = shared_payload_new(packet, length);
  if (!source.shared) return -ENOMEM;
  int refused = 0;
  handles_lock();
  send_thread_hold_wakes(thread);
  lane **lanes = group->lanes;
  uint32_t count = group->count;
  /*
   * Each lane's memory is fetched ahead in stages (lane_prefetch()) while the lanes before it are sent: stage s
   * for the lane PREFETCH_AHEAD[s] places ahead. The first lanes get theirs before the loop, in order.
   */
  for (int stage = 0; stage < PREFETCH_STAGES; stage++) {
    for (uint32_t i = 0; i < count && i < PREFETCH_AHEAD[stage]; i++) lane_prefetch(lanes[i], stage);
  }
  for (uint32_t i = 0; i < count; i++) {
    for (int stage = 0; stage < PREFETCH_STAGES; stage++) {
      if (i + PREFETCH_AHEAD[stage] < count) lane_prefetch(lanes[i + PREFETCH_AHEAD[stage]], stage);
    }
    if (lane_send(thread, lanes[i], &source) < 0) refused++;
  }
  send_thread_release_wakes(thread);
  handles_unlock();
  shared_payload_release(source.shared);
  /* The send thread waits for a frame's last packet (the marker bit) before it sends, within limits. */
  if (packet[1] & 0x80) {
    close_frame(group);
  } else if (!group->open_frame) {
    group->open_frame = thread;
    send_thread_frames(thread, 1);
  }
  return refused;
}
