/*
 * Handle numbers (handles.h): a table of slots shared by every environment of the process (the main
 * thread, workers), guarded by one lock. A number is the slot (low 20 bits) and the slot's use count
 * (high 12 bits, never 0): a stale number from a batch written before its handle went fails the lookup
 * instead of naming the next handle in that slot, unless the slot was used 4095 times meanwhile.
 */
#include "handles.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define SLOT_BITS 20
#define MAX_SLOTS (1u << SLOT_BITS)
#define USE_MASK 0xfffu

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static handle **slots;
static uint16_t *uses;
static uint32_t capacity;
/* Where the search for a free slot starts: the lowest slot that may be free. */
static uint32_t next_free;

void handles_lock(void) {
  pthread_mutex_lock(&lock);
}

void handles_unlock(void) {
  pthread_mutex_unlock(&lock);
}

static int grow(void) {
  uint32_t larger = capacity ? capacity * 2 : 1024;
  if (larger > MAX_SLOTS) return -ENOMEM;
  handle **more_slots = realloc(slots, larger * sizeof *slots);
  if (!more_slots) return -ENOMEM;
  slots = more_slots;
  uint16_t *more_uses = realloc(uses, larger * sizeof *uses);
  if (!more_uses) return -ENOMEM;
  uses = more_uses;
  for (uint32_t i = capacity; i < larger; i++) {
    slots[i] = NULL;
    uses[i] = 0;
  }
  capacity = larger;
  return 0;
}

int handle_register(handle *box) {
  pthread_mutex_lock(&lock);
  uint32_t slot = next_free;
  while (slot < capacity && slots[slot]) slot++;
  if (slot == capacity && grow() != 0) {
    pthread_mutex_unlock(&lock);
    return -ENOMEM;
  }
  uses[slot] = (uint16_t)((uses[slot] % USE_MASK) + 1); /* 1..4095 */
  slots[slot] = box;
  box->id = ((uint32_t)uses[slot] << SLOT_BITS) | slot;
  next_free = slot + 1;
  pthread_mutex_unlock(&lock);
  return 0;
}

void handle_unregister(handle *box) {
  if (!box->id) return;
  pthread_mutex_lock(&lock);
  uint32_t slot = box->id & (MAX_SLOTS - 1);
  if (slot < capacity && slots[slot] == box) {
    slots[slot] = NULL;
    if (slot < next_free) next_free = slot;
  }
  box->id = 0;
  pthread_mutex_unlock(&lock);
}

handle *handle_lookup(uint32_t id, uint32_t tag) {
  uint32_t slot = id & (MAX_SLOTS - 1);
  if (!id || slot >= capacity) return NULL;
  handle *box = slots[slot];
  return box && box->id == id && box->tag == tag ? box : NULL;
}

void handle_prefetch(uint32_t id, int object) {
  uint32_t slot = id & (MAX_SLOTS - 1);
  if (!id || slot >= capacity) return;
  handle *box = slots[slot];
  if (!box) return;
  if (!object) __builtin_prefetch(box);
  else if (box->id == id && box->object) __builtin_prefetch(box->object, 1);
}
