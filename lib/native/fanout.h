/*
 * The fan-out's lanes (lane.h) for one rendition: one call per source packet numbers and queues it for every
 * steady viewer of the rendition (lib/fanout/native-fanout.ts), in the shape of pion's TrackLocalStaticRTP
 * (one packet, many bindings).
 */
#ifndef WEBGEAR_FANOUT_H
#define WEBGEAR_FANOUT_H

#include <stdint.h>

#include "lane.h"
#include "send-thread.h"

/* A group with no lane; `vp8`: its packets carry VP8 payload descriptors (PictureIDs numbered per viewer). */
fanout_group *fanout_group_new(int vp8);
/* Frees it; its lanes are in no group any more. */
void fanout_group_free(fanout_group *group);
/* Adds a lane (taken out of any other group first). 0, or -ENOMEM. */
int fanout_group_add(fanout_group *group, lane *lane);
/* Takes a lane out of its group, if it is in one. */
void fanout_lane_remove(lane *lane);
uint32_t fanout_group_size(const fanout_group *group);

/*
 * Queues `packet` (a serialized RTP packet) for every lane. Returns how many lanes refused it (LANE_REFUSED
 * set: they wait for JavaScript), or -EINVAL when it is no RTP packet (nothing sent), -ENOMEM.
 */
int fanout_group_write(send_thread *thread, fanout_group *group, const unsigned char *packet, size_t length,
                       double now_ms, double wall_ms);

#endif
