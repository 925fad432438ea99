/*
 * Media in, reports out. Every RTP packet is authenticated and decrypted; a packet that fails counts as
 * an authentication failure and nothing else (so a wrong key shows as zero packets). Loss is the gap
 * between the highest and first extended sequence numbers against what arrived (RFC 3550 §6.4.1), which
 * holds here because this viewer asks for no retransmissions. About once a second a receiver report goes
 * back, SRTCP-protected, with the last sender report's time so the server can measure the round trip.
 */
#include "loadgen.h"

#include <string.h>

#define RR_INTERVAL_NS (1000 * 1000000LL)
#define VIDEO_CLOCK 90000

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* The rollover counter this sequence number most likely belongs to (RFC 3711 appendix A). */
static uint32_t guess_roc(const viewer_t *viewer, uint16_t seq) {
  if (!viewer->seen) return 0;
  uint16_t s_l = viewer->highest_seq;
  if (s_l < 32768) return (seq > s_l && seq - s_l > 32768 && viewer->roc > 0) ? viewer->roc - 1 : viewer->roc;
  return (s_l - 32768 > seq) ? viewer->roc + 1 : viewer->roc;
}

static void rtp(viewer_t *viewer, uint8_t *data, int length, int64_t now) {
  if (length < 12) return;
  int header = 12 + 4 * (data[0] & 0x0F);
  if (data[0] & 0x10) {
    if (length < header + 4) return;
    header += 4 + 4 * get16(data + header + 2);
  }
  if (length < header) return;
  uint16_t seq = get16(data + 2);
  uint32_t timestamp = get32(data + 4), ssrc = get32(data + 8);
  if (viewer->seen && ssrc != viewer->ssrc) {
    PUBLISH(viewer->other_ssrc, viewer->other_ssrc + 1);
    return;
  }
  uint32_t roc = guess_roc(viewer, seq);
  if (srtp_unprotect_rtp(&viewer->rtp_in, data, length, header, ssrc, roc, seq) < 0) {
    PUBLISH(viewer->auth_failures, viewer->auth_failures + 1);
    return;
  }
  uint64_t index = (uint64_t)roc << 16 | seq;
  if (!viewer->seen) {
    viewer->seen = true;
    viewer->ssrc = ssrc;
    viewer->roc = roc;
    viewer->highest_seq = seq;
    viewer->first_index = viewer->max_index = index;
    PUBLISH(viewer->first_media_ns, now);
  } else if (index > viewer->max_index) {
    viewer->max_index = index;
    viewer->roc = roc;
    viewer->highest_seq = seq;
  }
  /* Interarrival jitter (RFC 3550 §6.4.1), in RTP timestamp units. */
  int64_t arrival = now / 1000 * VIDEO_CLOCK / 1000000;
  int64_t transit = arrival - (int64_t)timestamp;
  if (viewer->received > 0) {
    int64_t d = transit - viewer->transit;
    if (d < 0) d = -d;
    if (d < VIDEO_CLOCK) viewer->jitter += ((double)d - viewer->jitter) / 16.0; /* not across timestamp jumps */
  }
  viewer->transit = transit;
  viewer->received++;
  uint64_t expected = viewer->max_index - viewer->first_index + 1;
  PUBLISH(viewer->lost, expected > viewer->received ? expected - viewer->received : 0);
  PUBLISH(viewer->packets, viewer->received);
  PUBLISH(viewer->bytes, viewer->bytes + (uint64_t)length);
  PUBLISH(viewer->last_media_ns, now);
  PUBLISH(viewer->jitter_us, (uint32_t)(viewer->jitter * 1e6 / VIDEO_CLOCK));
  if (data[1] & 0x80) PUBLISH(viewer->frames, viewer->frames + 1);
}

static void rtcp(viewer_t *viewer, uint8_t *data, int length, int64_t now) {
  int plain = srtcp_unprotect(&viewer->rtcp_in, data, length);
  if (plain < 0) {
    PUBLISH(viewer->rtcp_auth_failures, viewer->rtcp_auth_failures + 1);
    return;
  }
  PUBLISH(viewer->rtcp_received, viewer->rtcp_received + 1);
  /* A sender report first in the compound: keep the middle of its NTP time for our next report's LSR. */
  if (plain >= 20 && data[1] == 200) {
    viewer->lsr = get32(data + 10);
    viewer->lsr_at_ns = now;
  }
}

void media_receive(viewer_t *viewer, uint8_t *data, int length, int64_t now) {
  if (length < 2 || READ(viewer->state) != V_CONNECTED) return;
  /* RFC 5761 §4: RTCP packet types 192–223 share the byte where RTP has its marker and payload type. */
  if (data[1] >= 192 && data[1] <= 223)
    rtcp(viewer, data, length, now);
  else
    rtp(viewer, data, length, now);
}

static void receiver_report(viewer_t *viewer, int64_t now) {
  uint8_t packet[128] = {0};
  int length = 8;
  packet[1] = 201;
  put32(packet + 4, viewer->rtcp_ssrc);
  if (viewer->seen) {
    packet[0] = 0x81; /* version 2, one report block */
    uint64_t expected = viewer->max_index - viewer->first_index + 1;
    uint64_t expected_interval = expected - viewer->expected_prior;
    uint64_t received_interval = viewer->received - viewer->received_prior;
    viewer->expected_prior = expected;
    viewer->received_prior = viewer->received;
    int64_t lost_interval = (int64_t)expected_interval - (int64_t)received_interval;
    uint8_t fraction = expected_interval == 0 || lost_interval <= 0
                           ? 0 : (uint8_t)(((uint64_t)lost_interval << 8) / expected_interval);
    int64_t lost = (int64_t)expected - (int64_t)viewer->received;
    if (lost > 0x7FFFFF) lost = 0x7FFFFF;
    if (lost < 0) lost = 0;
    uint8_t *block = packet + 8;
    put32(block, viewer->ssrc);
    put32(block + 4, (uint32_t)fraction << 24 | ((uint32_t)lost & 0xFFFFFF));
    put32(block + 8, (uint32_t)viewer->max_index);
    put32(block + 12, (uint32_t)viewer->jitter);
    if (viewer->lsr_at_ns) {
      put32(block + 16, viewer->lsr);
      put32(block + 20, (uint32_t)((now - viewer->lsr_at_ns) * 65536 / 1000000000LL)); /* DLSR, 1/65536 s */
    }
    length += 24;
  } else {
    packet[0] = 0x80;
  }
  packet[3] = (uint8_t)(length / 4 - 1);
  int protected_length = srtcp_protect(&viewer->rtcp_out, packet, length, viewer->srtcp_index++);
  if (protected_length < 0) return;
  viewer_send(viewer, packet, protected_length);
  PUBLISH(viewer->rtcp_sent, viewer->rtcp_sent + 1);
}

void media_timers(viewer_t *viewer, int64_t now) {
  if (READ(viewer->state) != V_CONNECTED || now < viewer->next_rr_ns) return;
  receiver_report(viewer, now);
  viewer->next_rr_ns = now + RR_INTERVAL_NS;
}
