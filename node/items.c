/*  items — see items.h.

    A hash from "CLIENT/ID" to an entry, and the entries in a list in the
    order they were kept (oldest first), which is also their age order: the
    bounds evict from its head. A client is hex or "", never holding '/', so
    the key is unambiguous. */
#include "node/items.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

typedef struct _entry_t entry_t;
struct _entry_t {
    entry_t *prev, *next; /* age order */
    char *key;            /* "CLIENT/ID", as in the hash */
    openai_item_kind_t kind;
    char *id, *text, *call_id, *name;
    size_t bytes; /* charged against max_bytes */
    long long at; /* when kept */
};

struct _items_t {
    zhashx_t *by_key;
    entry_t *head, *tail;
    size_t count, bytes;
    size_t max_count, max_bytes;
    long long keep_ms;
};

static char *s_key(const char *client, const char *id)
{
    size_t c = strlen(client), i = strlen(id);
    char *key = malloc(c + 1 + i + 1);
    if (!key)
        return NULL;
    memcpy(key, client, c);
    key[c] = '/';
    memcpy(key + c + 1, id, i + 1);
    return key;
}

static void s_entry_free(entry_t *e)
{
    free(e->key);
    free(e->id);
    free(e->text);
    free(e->call_id);
    free(e->name);
    free(e);
}

/*  Unlinks e from the list and the hash, and frees it. */
static void s_drop(items_t *self, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        self->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        self->tail = e->prev;
    zhashx_delete(self->by_key, e->key);
    self->count--;
    self->bytes -= e->bytes;
    s_entry_free(e);
}

items_t *items_new(size_t max_count, size_t max_bytes, long long keep_ms)
{
    items_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->by_key = zhashx_new();
    if (!self->by_key) {
        free(self);
        return NULL;
    }
    self->max_count = max_count;
    self->max_bytes = max_bytes;
    self->keep_ms = keep_ms;
    return self;
}

void items_destroy(items_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    items_t *self = *self_p;
    while (self->head)
        s_drop(self, self->head);
    zhashx_destroy(&self->by_key);
    free(self);
    *self_p = NULL;
}

void items_prune(items_t *self, long long now_ms)
{
    while (self && self->head && now_ms - self->head->at >= self->keep_ms)
        s_drop(self, self->head);
}

static char *s_dup(const char *s)
{
    return strdup(s ? s : "");
}

int items_put(items_t *self, const char *client, const openai_item_t *item, long long now_ms)
{
    if (!self || !client || !item || !item->id)
        return -1;
    items_prune(self, now_ms);
    size_t idlen = strlen(item->id);
    size_t bytes = ITEMS_OVERHEAD + 2 * (strlen(client) + 1 + idlen + 1) +
                   (item->text ? strlen(item->text) + 1 : 1) +
                   (item->call_id ? strlen(item->call_id) + 1 : 1) +
                   (item->name ? strlen(item->name) + 1 : 1);
    if (idlen == 0 || idlen > ITEMS_MAX_ID || bytes > self->max_bytes || self->max_count == 0 ||
        self->keep_ms <= 0)
        return 0; /* not kept: a reference to it will be a clear 400 */
    entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    e->key = s_key(client, item->id);
    e->id = s_dup(item->id);
    e->text = s_dup(item->text);
    e->call_id = s_dup(item->call_id);
    e->name = s_dup(item->name);
    if (!e->key || !e->id || !e->text || !e->call_id || !e->name) {
        s_entry_free(e);
        return -1;
    }
    e->kind = item->kind;
    e->bytes = bytes;
    e->at = now_ms;
    entry_t *old = zhashx_lookup(self->by_key, e->key);
    if (old)
        s_drop(self, old);
    while (self->head &&
           (self->count + 1 > self->max_count || self->bytes + bytes > self->max_bytes))
        s_drop(self, self->head);
    if (zhashx_insert(self->by_key, e->key, e) != 0) {
        s_entry_free(e);
        return -1;
    }
    e->prev = self->tail;
    if (self->tail)
        self->tail->next = e;
    else
        self->head = e;
    self->tail = e;
    self->count++;
    self->bytes += bytes;
    return 0;
}

bool items_get(items_t *self, const char *client, const char *id, long long now_ms,
               openai_item_t *out)
{
    if (!self || !client || !id || !out || strlen(id) > ITEMS_MAX_ID)
        return false;
    items_prune(self, now_ms);
    char *key = s_key(client, id);
    if (!key)
        return false;
    entry_t *e = zhashx_lookup(self->by_key, key);
    free(key);
    if (!e)
        return false;
    out->kind = e->kind;
    out->id = e->id;
    out->text = e->text;
    out->call_id = e->call_id;
    out->name = e->name;
    return true;
}

size_t items_count(const items_t *self)
{
    return self ? self->count : 0;
}

size_t items_bytes(const items_t *self)
{
    return self ? self->bytes : 0;
}
