/* A viewer's lane (lane.h): its packets numbered and queued in C while it is steady. */
#include "lane.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handles.h"
#include "sender-report.h"
#include "udp.h"

/* Packets kept for repairs, as lib/sender/direct-sender.ts's HISTORY_SIZE (a power of two). */
#define HISTORY_SIZE 1024
#define GCM_TAG_LENGTH 16
#define FIXED_HEADER_LENGTH 12
/* The pacer's bucket holds this long at its rate, and never less than two full packets (pacer.ts). */
#define PACE_BURST_MS 20
#define PACE_MIN_BURST_BYTES 2500
#define TRANSPORT_WIDE_EXTENSION_LENGTH 8
/* A sender report every 0.5–1.5 s (RFC 3550 §6.3.5's randomization of its interval, as werift does). */
#define REPORT_INTERVAL_MIN_MS 500
#define REPORT_INTERVAL_SPREAD_MS 1000

typedef struct {
  int32_t seq; /* -1: empty */
  uint32_t timestamp;
  uint32_t patch;
  uint16_t payload_offset;
  double sent_ms;
  shared_payload *payload;
} sent_packet;

struct lane {
  double *state;
  fanout_group *group;
  uint32_t index;
  socklen_t target_length;
  struct sockaddr_storage target;
  sent_packet history[HISTORY_SIZE];
};

lane *lane_new(double *state) {
  lane *created = calloc(1, sizeof *created);
  if (!created) return NULL;
  created->state = state;
  for (int i = 0; i < HISTORY_SIZE; i++) created->history[i].seq = -1;
  return created;
}

void lane_free(lane *lane) {
  for (int i = 0; i < HISTORY_SIZE; i++) {
    if (lane->history[i].payload) shared_payload_release(lane->history[i].payload);
  }
  free(lane);
}

int lane_route(lane *lane, const void *target, socklen_t target_length) {
  if (target_length == 0 || target_length > sizeof lane->target) return -EINVAL;
  memcpy(&lane->target, target, target_length);
  lane->target_length = target_length;
  return 0;
}

fanout_group *lane_group(const lane *lane) {
  return lane->group;
}

void lane_set_group(lane *lane, fanout_group *group, uint32_t index) {
  lane->group = group;
  lane->index = index;
}

uint32_t lane_index(const lane *lane) {
  return lane->index;
}

void lane_prefetch(const lane *lane, int stage) {
  if (stage == 0) {
    __builtin_prefetch(lane);
    __builtin_prefetch((const char *)lane + 64);
    return;
  }
  const double *state = lane->state;
  if (stage == 1) {
    for (size_t offset = 0; offset < LANE_FIELDS * sizeof(double); offset += 64) {
      __builtin_prefetch((const char *)state + offset, 1);
    }
  } else if (stage == 2) {
    __builtin_prefetch(&lane->history[(uint32_t)state[LANE_NEXT_SEQ] & (HISTORY_SIZE - 1)], 1);
    if (state[LANE_TWCC_ID] > 0) {
      __builtin_prefetch(state + LANE_FIELDS + 3 * ((uint64_t)state[LANE_SENT_COUNT] % LANE_SENT_RECORDS), 1);
    }
    handle_prefetch((uint32_t)state[LANE_CONTEXT_ID], 0);
    handle_prefetch((uint32_t)state[LANE_SOCKET_ID], 0);
  } else {
    handle_prefetch((uint32_t)state[LANE_CONTEXT_ID], 1);
    handle_prefetch((uint32_t)state[LANE_SOCKET_ID], 1);
  }
}

/* RFC 3550's sequence numbers compared across the wrap: seq − reference in −32768..32767. */
static int32_t sequence_delta(uint32_t seq, uint32_t reference) {
  return (int32_t)((((seq - reference) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
}

/* The rollover counter of `seq` (lib/sender/rollover-counter.ts), advancing `highest` and `rollovers`. */
static uint32_t rollover_of(uint32_t seq, double *highest, double *rollovers) {
  if (*highest < 0) {
    *highest = seq;
    return 0;
  }
  uint32_t top = (uint32_t)*highest;
  if (sequence_delta(seq, top) > 0) {
    if (seq < top) *rollovers += 1;
    *highest = seq;
    return (uint32_t)*rollovers;
  }
  return seq > top && *rollovers > 0 ? (uint32_t)*rollovers - 1 : (uint32_t)*rollovers;
}

/* The viewer's PictureID for the source's `id` (lib/sender/picture-ids.ts's map()), in the lane's scratch. */
static uint32_t picture_id_of(uint32_t id, uint32_t mask, double *offset, double *last, double *last_source,
                              double *rebase) {
  if (*last_source >= 0 && ((id - (uint32_t)*last_source) & mask) > mask >> 1) *rebase = 1;
  *last_source = id;
  if (*rebase != 0) {
    *offset = (double)(((int64_t)*last + 1 - (int64_t)id) & mask);
    *rebase = 0;
  }
  uint32_t viewer_id = (id + (uint32_t)*offset) & mask;
  *last = viewer_id;
  return viewer_id;
}

/* The viewer's header (lib/rtp/rtp-header.ts's writeHeader()); returns its length. */
static size_t write_header(unsigned char *out, const unsigned char *packet, const double *state, uint32_t seq,
                           uint32_t timestamp, int32_t transport_wide) {
  uint32_t ssrc = (uint32_t)state[LANE_SSRC];
  out[0] = (unsigned char)(0x80 | (packet[0] & 0x20) | (transport_wide >= 0 ? 0x10 : 0));
  out[1] = (unsigned char)((packet[1] & 0x80) | ((uint32_t)state[LANE_PAYLOAD_TYPE] & 0x7f));
  out[2] = (unsigned char)(seq >> 8);
  out[3] = (unsigned char)seq;
  out[4] = (unsigned char)(timestamp >> 24);
  out[5] = (unsigned char)(timestamp >> 16);
  out[6] = (unsigned char)(timestamp >> 8);
  out[7] = (unsigned char)timestamp;
  out[8] = (unsigned char)(ssrc >> 24);
  out[9] = (unsigned char)(ssrc >> 16);
  out[10] = (unsigned char)(ssrc >> 8);
  out[11] = (unsigned char)ssrc;
  if (transport_wide < 0) return FIXED_HEADER_LENGTH;
  out[12] = 0xbe;
  out[13] = 0xde;
  out[14] = 0;
  out[15] = 1;
  out[16] = (unsigned char)((((uint32_t)state[LANE_TWCC_ID] & 0x0f) << 4) | 1);
  out[17] = (unsigned char)(transport_wide >> 8);
  out[18] = (unsigned char)transport_wide;
  out[19] = 0;
  return FIXED_HEADER_LENGTH + TRANSPORT_WIDE_EXTENSION_LENGTH;
}

static void remember(lane *lane, uint32_t seq, uint32_t timestamp, uint32_t patch, const lane_packet *packet) {
  sent_packet *slot = &lane->history[seq & (HISTORY_SIZE - 1)];
  if (slot->payload) shared_payload_release(slot->payload);
  shared_payload_retain(packet->shared);
  slot->payload = packet->shared;
  slot->payload_offset = (uint16_t)packet->payload_offset;
  slot->seq = (int32_t)seq;
  slot->timestamp = timestamp;
  slot->patch = patch;
  slot->sent_ms = packet->wall_ms;
}

/*
 * The viewer's context and socket while both live and the lane has somewhere to send (handles_lock() held):
 * 1, or 0 when it cannot send.
 */
static int routed(const lane *lane, send_context **context, send_socket **socket) {
  handle *context_handle = handle_lookup((uint32_t)lane->state[LANE_CONTEXT_ID], CONTEXT_TAG);
  handle *socket_handle = handle_lookup((uint32_t)lane->state[LANE_SOCKET_ID], SOCKET_TAG);
  if (!context_handle || !context_handle->object || !socket_handle || !socket_handle->object || lane->target_length == 0)
    return 0;
  *context = context_handle->object;
  *socket = socket_handle->object;
  return 1;
}

/*
 * The viewer's sender report, for the packet just queued (its timestamp and the time it came): sealed and
 * sent from this thread. It may reach the viewer ahead of the packet, which waits for the send thread.
 */
static void send_report(lane *lane, send_context *context, send_socket *socket, const lane_packet *packet,
                        uint32_t timestamp) {
  double *state = lane->state;
  sender_report *reports = send_context_reports(context);
  if (!reports) {
    state[LANE_REPORT_AT_MS] = 0;
    return;
  }
  state[LANE_REPORT_AT_MS] = packet->wall_ms + REPORT_INTERVAL_MIN_MS + (double)(rand() % REPORT_INTERVAL_SPREAD_MS);
  sender_report_fields fields;
  sender_report_ntp_of(packet->wall_ms, &fields.ntp_seconds, &fields.ntp_fraction);
  fields.rtp_timestamp = timestamp;
  /* RFC 3550's counts wrap at 32 bits. */
  fields.packets = (uint32_t)fmod(state[LANE_REPORT_PACKETS], 4294967296.0);
  fields.octets = (uint32_t)fmod(state[LANE_REPORT_OCTETS], 4294967296.0);
  unsigned char out[SENDER_REPORT_MAX_LENGTH];
  int length = sender_report_seal(reports, &fields, out);
  /* One not sent (the socket's buffer full) is lost as any datagram may be: the next comes in a second. */
  if (length <= 0 || udp_send(send_socket_fd(socket), out, (size_t)length, (const struct sockaddr *)&lane->target,
                              lane->target_length) < 0) {
    return;
  }
  state[LANE_REPORTS] += 1;
  state[LANE_REPORT_NTP_SECONDS] = fields.ntp_seconds;
  state[LANE_REPORT_NTP_FRACTION] = fields.ntp_fraction;
  state[LANE_REPORT_SENT_MS] = packet->now_ms;
}

int lane_send(send_thread *thread, lane *lane, const lane_packet *packet) {
  double *state = lane->state;
  if (state[LANE_REFUSED] != 0) return (int)state[LANE_REFUSED];
  send_context *context;
  send_socket *socket;
  int result = -EBADF;
  if (routed(lane, &context, &socket)) {
    /* Worked out on copies: a packet refused changes nothing. */
    uint32_t seq = (uint32_t)state[LANE_NEXT_SEQ] & 0xffff;
    double highest = state[LANE_ROC_HIGHEST], rollovers = state[LANE_ROC_ROLLOVERS];
    uint32_t roc = rollover_of(seq, &highest, &rollovers);
    const unsigned char *p = packet->packet;
    uint32_t source_ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    uint32_t timestamp = source_ts + (uint32_t)state[LANE_TS_OFFSET];
    double offset = state[LANE_PIC_OFFSET], last = state[LANE_PIC_LAST], last_source = state[LANE_PIC_LAST_SOURCE],
           rebase = state[LANE_PIC_REBASE];
    uint32_t patch = 0;
    if (packet->picture_field >= 0) {
      uint32_t at = (uint32_t)packet->picture_field & 0xffff;
      const unsigned char *field = p + packet->payload_offset + at;
      if (packet->picture_field >> 16 == 2) {
        uint32_t id = picture_id_of(((uint32_t)field[0] << 8 | field[1]) & 0x7fff, 0x7fff, &offset, &last, &last_source, &rebase);
        patch = 2u << 24 | (at & 0xff) << 16 | ((0x8000 | id) & 0xffff);
      } else {
        uint32_t id = picture_id_of(field[0] & 0x7f, 0x7f, &offset, &last, &last_source, &rebase);
        patch = 1u << 24 | (at & 0xff) << 16 | (id & 0xff);
      }
    }
    /* Paced: only while the bucket has something left (then it may go below 0 by this packet). */
    double rate = state[LANE_PACE_RATE], budget = 0;
    if (rate > 0) {
      double burst = rate / 8 * PACE_BURST_MS / 1000;
      if (burst < PACE_MIN_BURST_BYTES) burst = PACE_MIN_BURST_BYTES;
      budget = state[LANE_PACE_BUDGET] + (packet->now_ms - state[LANE_PACE_AT_MS]) * rate / 8000;
      if (budget > burst) budget = burst;
      if (budget < 0) {
        state[LANE_REFUSED] = -ENOBUFS;
        return -ENOBUFS;
      }
    }
    int32_t transport_wide = state[LANE_TWCC_ID] > 0 ? (int32_t)((uint32_t)state[LANE_TWCC_NEXT] & 0xffff) : -1;
    unsigned char header[FIXED_HEADER_LENGTH + TRANSPORT_WIDE_EXTENSION_LENGTH];
    size_t header_length = write_header(header, p, state, seq, timestamp, transport_wide);
    result = send_thread_queue_shared(thread, context, socket, &lane->target, lane->target_length, header,
                                      header_length, packet->shared, packet->payload_offset, roc, patch);
    if (result > 0) {
      size_t payload_bytes = packet->length - packet->payload_offset;
      state[LANE_NEXT_SEQ] = (seq + 1) & 0xffff;
      state[LANE_ROC_HIGHEST] = highest;
      state[LANE_ROC_ROLLOVERS] = rollovers;
      state[LANE_PIC_OFFSET] = offset;
      state[LANE_PIC_LAST] = last;
      state[LANE_PIC_LAST_SOURCE] = last_source;
      state[LANE_PIC_REBASE] = rebase;
      if (transport_wide >= 0) {
        state[LANE_TWCC_NEXT] = (transport_wide + 1) & 0xffff;
        double *record = state + LANE_FIELDS + 3 * ((uint64_t)state[LANE_SENT_COUNT] % LANE_SENT_RECORDS);
        record[0] = transport_wide;
        record[1] = result;
        record[2] = packet->now_ms;
        state[LANE_SENT_COUNT] += 1;
      }
      if (rate > 0) {
        state[LANE_PACE_BUDGET] = budget - result;
        state[LANE_PACE_AT_MS] = packet->now_ms;
      }
      state[LANE_LAST_TS] = timestamp;
      state[LANE_LAST_AT_MS] = packet->now_ms;
      state[LANE_FRAME_ENDED] = (p[1] & 0x80) != 0;
      state[LANE_PACKETS] += 1;
      state[LANE_PAYLOAD_BYTES] += (double)payload_bytes;
      state[LANE_HEADER_BYTES] += (double)header_length;
      state[LANE_DATAGRAMS] += 1;
      state[LANE_DATAGRAM_BYTES] += result;
      state[LANE_LAST_SENT_MS] = packet->wall_ms;
      state[LANE_REPORT_PACKETS] += 1;
      state[LANE_REPORT_OCTETS] += (double)payload_bytes;
      remember(lane, seq, timestamp, patch, packet);
      if (state[LANE_REPORT_AT_MS] > 0 && packet->wall_ms >= state[LANE_REPORT_AT_MS])
        send_report(lane, context, socket, packet, timestamp);
      return result;
    }
  }
  state[LANE_REFUSED] = result < 0 ? result : -EIO;
  return (int)state[LANE_REFUSED];
}

int lane_history(lane *lane, uint32_t seq) {
  const sent_packet *slot = &lane->history[seq & (HISTORY_SIZE - 1)];
  if (slot->seq != (int32_t)(seq & 0xffff) || !slot->payload) return 0;
  lane->state[LANE_FOUND_TS] = slot->timestamp;
  lane->state[LANE_FOUND_PATCH] = slot->patch;
  lane->state[LANE_FOUND_SENT_MS] = slot->sent_ms;
  return 1;
}

int lane_resend(send_thread *thread, lane *lane, uint32_t seq, const unsigned char *header, size_t header_length,
                uint32_t roc) {
  sent_packet *slot = &lane->history[seq & (HISTORY_SIZE - 1)];
  if (slot->seq != (int32_t)(seq & 0xffff) || !slot->payload) return -ENOENT;
  /* The source's padding and marker bits, as the packet was first sent with. */
  unsigned char own[FIXED_HEADER_LENGTH + TRANSPORT_WIDE_EXTENSION_LENGTH];
  if (header_length > sizeof own) return -EINVAL;
  memcpy(own, header, header_length);
  const unsigned char *source = shared_payload_bytes(slot->payload);
  own[0] = (unsigned char)((own[0] & ~0x20) | (source[0] & 0x20));
  own[1] = (unsigned char)((own[1] & 0x7f) | (source[1] & 0x80));
  handles_lock();
  send_context *context;
  send_socket *socket;
  int result = -EBADF;
  if (routed(lane, &context, &socket)) {
    result = send_thread_queue_shared(thread, context, socket, &lane->target, lane->target_length, own,
                                      header_length, slot->payload, slot->payload_offset, roc, slot->patch);
  }
  handles_unlock();
  if (result > 0) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    slot->sent_ms = (double)now.tv_sec * 1000 + (double)now.tv_nsec / 1e6;
  }
  return result;
}
