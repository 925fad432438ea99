/*
 * A viewer's lane: the steady state of its video sender in C (lib/sender/native-lane.ts). While a viewer
 * is steady (one rendition, nothing queued, nothing to repair), the fan-out (fanout.c) hands each packet of
 * its rendition to the lane, which numbers it as the viewer's (sequence number, rollover counter, timestamp,
 * VP8 PictureID, transport-wide number), paces it (the viewer's token bucket), writes its header, queues it
 * to the send thread and records it for the estimator: no call into JavaScript per packet per viewer. Anything else (a switch, a repair, a picture loss, a viewer that cannot
 * be sent to) takes the viewer back to JavaScript, which reads the lane's state and carries on from there.
 *
 * The state is a JavaScript Buffer of doubles that both sides read and write (LANE_* below; the same
 * indices in native-lane.ts), only on the JavaScript thread: a switch between the two costs no copying, and
 * the counters JavaScript reports (sender reports, stats) are read where they are kept.
 */
#ifndef WEBGEAR_LANE_H
#define WEBGEAR_LANE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "send-thread.h"

enum {
  LANE_NEXT_SEQ,        /* the sequence number the next packet gets */
  LANE_ROC_HIGHEST,     /* the rollover counter: the highest sequence number sent (-1: none yet)… */
  LANE_ROC_ROLLOVERS,   /* …and how often it wrapped (lib/sender/rollover-counter.ts) */
  LANE_TS_OFFSET,       /* the viewer's timestamp is the source's plus this (mod 2^32) */
  LANE_LAST_TS,         /* the last packet's timestamp (the viewer's) */
  LANE_LAST_AT_MS,      /* when the last packet came (performance.now()) */
  LANE_PIC_OFFSET,      /* PictureIDs (lib/sender/picture-ids.ts): offset, last sent (-1: none), */
  LANE_PIC_LAST,        /* last of the source (-1: none), and whether the next picture starts a new source */
  LANE_PIC_LAST_SOURCE,
  LANE_PIC_REBASE,
  LANE_TWCC_ID,         /* the transport-wide extension's id (0: not negotiated) and the next number */
  LANE_TWCC_NEXT,
  LANE_FRAME_ENDED,     /* whether the last packet had the marker bit */
  LANE_PACKETS,         /* counted since JavaScript last took them: RTP packets, their payload and header */
  LANE_PAYLOAD_BYTES,   /* bytes, datagrams and their bytes */
  LANE_HEADER_BYTES,
  LANE_DATAGRAMS,
  LANE_DATAGRAM_BYTES,
  LANE_LAST_SENT_MS,    /* when the last packet was queued (ms since 1970) */
  LANE_REFUSED,         /* 0, or -errno: the lane refused a packet and waits to be taken back */
  LANE_PAYLOAD_TYPE,
  LANE_SSRC,
  LANE_CONTEXT_ID,      /* the viewer's SRTP context and socket, as handle numbers (handles.h) */
  LANE_SOCKET_ID,
  LANE_FOUND_TS,        /* laneHistory()'s answer: the packet's timestamp, patch and when it was sent */
  LANE_FOUND_PATCH,
  LANE_FOUND_SENT_MS,
  LANE_PACE_RATE,       /* the pacer's token bucket (lib/sender/pacer.ts): its rate, bits/s (0: unpaced), */
  LANE_PACE_BUDGET,     /* bytes it may still send (it may go below 0 by one packet), and when it was filled */
  LANE_PACE_AT_MS,
  LANE_SENT_COUNT,      /* transport-wide send records written (the ring after the fields: LANE_SENT_*) */
  LANE_REPORT_AT_MS,    /* sender reports (sender-report.h): when the next is due (ms since 1970; 0: the lane sends none), */
  LANE_REPORT_PACKETS,  /* the packets and payload bytes they count (RFC 3550 §6.4.1: all sent so far, either side), */
  LANE_REPORT_OCTETS,
  LANE_REPORTS,         /* how many the lane sent, and the last one's NTP time and when it went (performance.now()) */
  LANE_REPORT_NTP_SECONDS,
  LANE_REPORT_NTP_FRACTION,
  LANE_REPORT_SENT_MS,
  LANE_FIELDS
};

/*
 * What the transport-wide estimate needs of each packet sent (lib/sender/bwe/): its transport-wide number,
 * bytes and when (performance.now()), three doubles per record in a ring of LANE_SENT_RECORDS after the
 * fields, which JavaScript reads before it reads the viewer's feedback.
 */
#define LANE_SENT_RECORDS 256
#define LANE_STATE_DOUBLES (LANE_FIELDS + 3 * LANE_SENT_RECORDS)

typedef struct lane lane;
typedef struct fanout_group fanout_group;

/* A lane over `state` (LANE_STATE_DOUBLES doubles, kept alive by the caller); NULL when out of memory. */
lane *lane_new(double *state);
/* Frees it, out of its group first; its history's payloads released. */
void lane_free(lane *lane);
/* Where its packets go now (a socket address). 0, or -EINVAL when it does not fit. */
int lane_route(lane *lane, const void *target, socklen_t target_length);

/*
 * What a source packet is, worked out once for all its lanes: where its payload starts and, for VP8, where
 * its PictureID is (`picture_field`: offset | bytes << 16; -1: none). The shared copy is the lanes' and the
 * send thread's.
 */
typedef struct {
  const unsigned char *packet;
  size_t length;
  size_t payload_offset;
  int32_t picture_field;
  shared_payload *shared;
  double now_ms;  /* performance.now() */
  double wall_ms; /* ms since 1970 */
} lane_packet;

/*
 * Numbers `packet` as the lane's viewer's and queues it (the caller holds handles_lock()); sends the
 * viewer's sender report after it when one is due (LANE_REPORT_AT_MS). Returns the
 * datagram's bytes, or -errno: then nothing of the lane's state changed and LANE_REFUSED says why
 * (-ENOBUFS: the pacer's bucket is empty, the packet must wait in JavaScript's pacer).
 */
int lane_send(send_thread *thread, lane *lane, const lane_packet *packet);

/*
 * What lane_send will read and write, fetched ahead into the cache: the fan-out calls it for the lanes a few
 * places ahead of the one it sends for, so that their memory arrives while it works (at 500 lanes per packet,
 * waiting on it was most of lane_send's time). `stage` 0: the lane itself (farthest ahead); 1: its state;
 * 2: its history slot and send record for the next packet, its handles; 3: what they hold (nearest). Each
 * stage reads what the one before fetched. Changes nothing.
 */
void lane_prefetch(const lane *lane, int stage);

/*
 * Packet `seq` from the lane's history: its timestamp, patch and send time go to LANE_FOUND_*. Returns 1,
 * or 0 when the history no longer holds it.
 */
int lane_history(lane *lane, uint32_t seq);
/*
 * Sends packet `seq` of the history again under `header` (JavaScript's; its padding and marker bits are the
 * packet's own), and notes when. The datagram's bytes, or -errno.
 */
int lane_resend(send_thread *thread, lane *lane, uint32_t seq, const unsigned char *header, size_t header_length,
                uint32_t roc);

/* The group a lane is in (NULL: none); fanout.c's. */
fanout_group *lane_group(const lane *lane);
void lane_set_group(lane *lane, fanout_group *group, uint32_t index);
uint32_t lane_index(const lane *lane);

#endif
