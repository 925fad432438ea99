/*
 * STUN for ICE connectivity checks. HMAC-SHA1 comes from OpenSSL and CRC-32 from zlib, both the copies
 * Node itself exports to addons; only the framing is written here.
 */
#include "stun.h"

#include <arpa/inet.h>
#include <string.h>

#include <openssl/hmac.h>
#include <zlib.h>

#define MAGIC_COOKIE 0x2112A442u
#define ATTR_USERNAME 0x0006
#define ATTR_MESSAGE_INTEGRITY 0x0008
#define ATTR_ERROR_CODE 0x0009
#define ATTR_XOR_MAPPED_ADDRESS 0x0020
#define ATTR_PRIORITY 0x0024
#define ATTR_USE_CANDIDATE 0x0025
#define ATTR_FINGERPRINT 0x8028
#define ATTR_ICE_CONTROLLING 0x802A
#define FINGERPRINT_XOR 0x5354554Eu

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static uint32_t fingerprint_of(const uint8_t *data, int length) {
  return (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)length) ^ FINGERPRINT_XOR;
}

int stun_parse(const uint8_t *data, int length, stun_message_t *message) {
  memset(message, 0, sizeof *message);
  message->integrity_offset = -1;
  if (length < 20 || (data[0] & 0xC0) != 0 || get32(data + 4) != MAGIC_COOKIE) return -1;
  int body = get16(data + 2);
  if (body % 4 != 0 || 20 + body != length) return -1;
  message->type = get16(data);
  message->txid = data + 8;
  int offset = 20;
  while (offset + 4 <= length) {
    int type = get16(data + offset), size = get16(data + offset + 2);
    const uint8_t *value = data + offset + 4;
    if (offset + 4 + size > length) return -1;
    switch (type) {
    case ATTR_USERNAME:
      message->username = value;
      message->username_length = size;
      break;
    case ATTR_MESSAGE_INTEGRITY:
      if (size != 20) return -1;
      message->integrity_offset = offset;
      break;
    case ATTR_ERROR_CODE:
      if (size >= 4) message->error_code = (value[2] & 7) * 100 + value[3];
      break;
    case ATTR_FINGERPRINT:
      /* The last attribute: the CRC covers everything before it. */
      if (size != 4 || offset + 8 != length) return -1;
      message->fingerprint_ok = get32(value) == fingerprint_of(data, offset);
      if (!message->fingerprint_ok) return -1;
      break;
    default:
      break;
    }
    offset += 4 + ((size + 3) & ~3);
  }
  return 0;
}

/* HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, its length field counting up to the end of it. */
static void integrity(const uint8_t *data, int offset, const char *password, uint8_t out[20]) {
  uint8_t buffer[STUN_MAX];
  memset(out, 0, 20);
  if (offset > (int)sizeof buffer) return;
  memcpy(buffer, data, (size_t)offset);
  put16(buffer + 2, (uint16_t)(offset + 24 - 20));
  unsigned int size = 20;
  HMAC(EVP_sha1(), password, (int)strlen(password), buffer, (size_t)offset, out, &size);
}

bool stun_integrity_ok(const uint8_t *data, const stun_message_t *message, const char *password) {
  if (message->integrity_offset < 0) return false;
  uint8_t expected[20];
  integrity(data, message->integrity_offset, password, expected);
  return CRYPTO_memcmp(expected, data + message->integrity_offset + 4, 20) == 0;
}

static int put_attribute(uint8_t *out, int offset, uint16_t type, const void *value, int size) {
  put16(out + offset, type);
  put16(out + offset + 2, (uint16_t)size);
  if (size) memcpy(out + offset + 4, value, (size_t)size);
  int padded = (size + 3) & ~3;
  memset(out + offset + 4 + size, 0, (size_t)(padded - size));
  return offset + 4 + padded;
}

static void put_header(uint8_t *out, uint16_t type, const uint8_t txid[12]) {
  put16(out, type);
  put16(out + 2, 0);
  put32(out + 4, MAGIC_COOKIE);
  memcpy(out + 8, txid, 12);
}

/* MESSAGE-INTEGRITY then FINGERPRINT, each computed with the length field covering it. */
static int finish(uint8_t *out, int offset, const char *password) {
  uint8_t mac[20] = {0};
  put16(out + 2, (uint16_t)(offset + 24 - 20));
  integrity(out, offset, password, mac);
  offset = put_attribute(out, offset, ATTR_MESSAGE_INTEGRITY, mac, 20);
  put16(out + 2, (uint16_t)(offset + 8 - 20));
  uint8_t crc[4];
  put32(crc, fingerprint_of(out, offset));
  return put_attribute(out, offset, ATTR_FINGERPRINT, crc, 4);
}

int stun_binding_request(uint8_t *out, const uint8_t txid[12], const char *username, uint32_t priority,
                         uint64_t tie_breaker, bool nominate, const char *password) {
  put_header(out, STUN_BINDING_REQUEST, txid);
  int offset = put_attribute(out, 20, ATTR_USERNAME, username, (int)strlen(username));
  uint8_t value[8];
  put32(value, priority);
  offset = put_attribute(out, offset, ATTR_PRIORITY, value, 4);
  put32(value, (uint32_t)(tie_breaker >> 32));
  put32(value + 4, (uint32_t)tie_breaker);
  offset = put_attribute(out, offset, ATTR_ICE_CONTROLLING, value, 8);
  if (nominate) offset = put_attribute(out, offset, ATTR_USE_CANDIDATE, NULL, 0);
  return finish(out, offset, password);
}

int stun_binding_success(uint8_t *out, const uint8_t txid[12], const struct sockaddr_in *mapped,
                         const char *password) {
  put_header(out, STUN_BINDING_SUCCESS, txid);
  uint8_t value[8] = {0, 0x01};
  put16(value + 2, (uint16_t)(ntohs(mapped->sin_port) ^ (MAGIC_COOKIE >> 16)));
  put32(value + 4, ntohl(mapped->sin_addr.s_addr) ^ MAGIC_COOKIE);
  int offset = put_attribute(out, 20, ATTR_XOR_MAPPED_ADDRESS, value, 8);
  return finish(out, offset, password);
}
