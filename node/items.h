/*  items — the output items of this node's recent Responses answers, kept so
    that a later request's `{"type":"item_reference","id":…}` resolves
    (what @ai-sdk/openai sends for the assistant's earlier turns when `store`
    is left at its default, true).

    Each item belongs to the client that made it (the hash of its API key,
    "" on a keyless node, openai_request_t.client): a lookup by another
    client finds nothing, as if the id did not exist, so one key cannot read
    another's answers by guessing ids. Bounded by count, by bytes (strings
    plus a fixed overhead per item) and by age; the oldest go first. Items
    are kept in memory only: a restart forgets them, and another node of the
    mesh has its own.

    Times are the caller's monotonic milliseconds (tests pass their own).
    Owned by the node thread (node/http); not thread-safe. */
#ifndef ARENA_ITEMS_H
#define ARENA_ITEMS_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/openai.h"

/*  The default of --responses-keep (node/config.c shows this macro; the byte
    bound is --responses-keep-bytes), and the count bound (not a setting: the
    byte bound counts ITEMS_OVERHEAD per item, so it rarely binds). */
#define ITEMS_DEFAULT_KEEP_S 86400
#define ITEMS_MAX_COUNT 65536
#define ITEMS_OVERHEAD 128 /* bytes charged per item beside its strings */
#define ITEMS_MAX_ID 128   /* longest id kept (the node's own are ~45) */

typedef struct _items_t items_t;

/*  max_count, max_bytes: bounds (0: nothing is kept); keep_ms: age bound.
    NULL when memory runs out. */
items_t *items_new(size_t max_count, size_t max_bytes, long long keep_ms);
void items_destroy(items_t **self_p);

/*  Keeps a copy of item for client (replacing one with the same client and
    id), evicting the oldest items until the bounds hold. An item larger
    than max_bytes on its own, or with an id longer than ITEMS_MAX_ID, is
    not kept. 0 (kept or skipped), -1 when memory runs out. */
int items_put(items_t *self, const char *client, const openai_item_t *item, long long now_ms);

/*  The item client made with this id, younger than keep_ms: out borrows
    its strings until the next call on self (any call may drop expired
    items, this one included). */
bool items_get(items_t *self, const char *client, const char *id, long long now_ms,
               openai_item_t *out);

/*  Drops the items older than keep_ms. */
void items_prune(items_t *self, long long now_ms);

size_t items_count(const items_t *self);
size_t items_bytes(const items_t *self);

#endif
