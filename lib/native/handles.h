/*
 * The numbers that name the addon's handles (a viewer's context, a socket) in a batch of packets
 * (send-batch.h): one call for a packet sent to many viewers cannot pass each one's handle object.
 */
#ifndef WEBGEAR_HANDLES_H
#define WEBGEAR_HANDLES_H

#include <stdint.h>

/* The tags of a viewer's context's handle and of a socket's. */
#define CONTEXT_TAG 0x77676378u
#define SOCKET_TAG 0x77677364u

/*
 * What a context or socket handle holds: the object, until `release` (or the handle's finalizer) gives it
 * back; a tag, so that one is not taken for the other; its number, 0 until registered.
 */
typedef struct {
  uint32_t tag;
  uint32_t id;
  void *object;
} handle;

/*
 * Gives `box` a number no other live handle has (its slot, and how often the slot was used: a number kept
 * after its handle is gone names nothing, not a newer handle). 0, or -ENOMEM.
 */
int handle_register(handle *box);
/* The handle's number names nothing any more (its finalizer). */
void handle_unregister(handle *box);

/*
 * The live handle numbered `id` with tag `tag`, or NULL. Between handles_lock() and handles_unlock():
 * another thread's environment (a worker) may be registering.
 */
handle *handle_lookup(uint32_t id, uint32_t tag);
/*
 * Fetches the handle numbered `id` (`object` 0), or the object it holds (1: the handle fetched before), into
 * the cache ahead of a lookup (lane_prefetch()); nothing if there is none. Without the lock: a hint only.
 */
void handle_prefetch(uint32_t id, int object);
void handles_lock(void);
void handles_unlock(void);

#endif
