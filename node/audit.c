/*  audit — see audit.h. */
#include "node/audit.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"

#define S_ORIGINS_MAX 256 /* addresses whose failures are being counted */
#define S_PEERS_MAX 256   /* peers whose last row is remembered */

typedef struct {
    char origin[96];
    long long window_ms; /* when the last row for it was written */
    long long unlogged;  /* failures since, not written */
} s_origin_t;

typedef struct {
    char id[65];
    char kind[32];
} s_peer_t;

struct _audit_t {
    store_t *store;
    char node_id[65];
    s_origin_t origins[S_ORIGINS_MAX];
    size_t n_origins;
    s_peer_t peers[S_PEERS_MAX];
    size_t n_peers;
};

static const char *const s_kinds[] = {
    "key_created", "key_revoked", "key_retiered",     "auth_failed",  "peer_joined",
    "peer_left",   "peer_dead",   "cooldown_started", "tier_changed", NULL,
};

audit_t *audit_new(store_t *store, const char *node_id)
{
    if (!store || !node_id || !node_id[0] || strlen(node_id) >= sizeof((audit_t *)0)->node_id)
        return NULL;
    audit_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    strcpy(self->node_id, node_id);
    store_audit_prune(store); /* the retention bound (logged on failure) */
    return self;
}

void audit_destroy(audit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

bool audit_kind_ok(const char *kind)
{
    for (size_t i = 0; kind && s_kinds[i]; i++)
        if (strcmp(kind, s_kinds[i]) == 0)
            return true;
    return false;
}

static int s_copy(char *dst, size_t cap, const char *src)
{
    src = src ? src : "";
    if (strlen(src) >= cap)
        return -1;
    strcpy(dst, src);
    return 0;
}

int audit_append(audit_t *self, long long now_ms, const char *kind, const char *actor,
                 const char *origin, const char *subject, const char *detail)
{
    if (!self || !audit_kind_ok(kind))
        return -1;
    store_audit_t a = {.at_ms = now_ms};
    strcpy(a.node_id, self->node_id);
    if (s_copy(a.kind, sizeof a.kind, kind) != 0 || s_copy(a.actor, sizeof a.actor, actor) != 0 ||
        s_copy(a.origin, sizeof a.origin, origin) != 0 ||
        s_copy(a.subject, sizeof a.subject, subject) != 0 ||
        s_copy(a.detail, sizeof a.detail, detail) != 0) {
        alog_warn("audit: %s row refused: a field is over-long", kind);
        return -1;
    }
    return store_audit_append(self->store, &a);
}

int audit_auth_failed(audit_t *self, long long now_ms, const char *origin, const char *what)
{
    if (!self || !origin || !origin[0] || strlen(origin) >= sizeof self->origins[0].origin)
        return -1;
    s_origin_t *o = NULL;
    for (size_t i = 0; i < self->n_origins && !o; i++)
        if (strcmp(self->origins[i].origin, origin) == 0)
            o = &self->origins[i];
    if (o && now_ms - o->window_ms < AUDIT_AUTH_WINDOW_MS) {
        o->unlogged++;
        return 0;
    }
    if (!o) {
        if (self->n_origins == S_ORIGINS_MAX) {
            /* forget the oldest window: at worst one more row for it */
            size_t old = 0;
            for (size_t i = 1; i < self->n_origins; i++)
                if (self->origins[i].window_ms < self->origins[old].window_ms)
                    old = i;
            self->origins[old] = self->origins[--self->n_origins];
        }
        o = &self->origins[self->n_origins++];
        memset(o, 0, sizeof *o);
        strcpy(o->origin, origin);
    }
    char detail[160];
    snprintf(detail, sizeof detail, "failures=%lld%s%.100s", o->unlogged + 1, what ? " " : "",
             what ? what : "");
    o->window_ms = now_ms;
    o->unlogged = 0;
    return audit_append(self, now_ms, "auth_failed", "", origin, "", detail) == 0 ? 1 : -1;
}

int audit_peer(audit_t *self, long long now_ms, const char *peer_id, const char *liveness)
{
    if (!self || !peer_id || !peer_id[0] || !liveness ||
        strlen(peer_id) >= sizeof self->peers[0].id)
        return -1;
    const char *kind = strcmp(liveness, "alive") == 0  ? "peer_joined"
                       : strcmp(liveness, "dead") == 0 ? "peer_dead"
                       : strcmp(liveness, "left") == 0 ? "peer_left"
                                                       : NULL;
    if (!kind)
        return 0;
    s_peer_t *p = NULL;
    for (size_t i = 0; i < self->n_peers && !p; i++)
        if (strcmp(self->peers[i].id, peer_id) == 0)
            p = &self->peers[i];
    if (p && strcmp(p->kind, kind) == 0)
        return 0;
    if (!p) {
        if (self->n_peers == S_PEERS_MAX)
            self->n_peers--; /* the last one is forgotten: at worst a repeated row */
        p = &self->peers[self->n_peers++];
        strcpy(p->id, peer_id);
    }
    strcpy(p->kind, kind);
    return audit_append(self, now_ms, kind, "mesh", "", peer_id, liveness);
}

int audit_render(audit_t *self, long long since_ms, size_t limit, abuf_t *out)
{
    if (!self || !out || limit == 0 || limit > AUDIT_LIMIT_MAX || since_ms < 0)
        return -1;
    store_audit_t *rows = NULL;
    size_t n = 0;
    if (store_audit_load(self->store, since_ms, limit, &rows, &n) != 0)
        return -1;
    json_t *entries = json_array();
    for (size_t i = 0; entries && i < n; i++) {
        const store_audit_t *a = &rows[i];
        json_array_append_new(entries,
                              json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
                                        (json_int_t)a->id, "at_ms", (json_int_t)a->at_ms, "node_id",
                                        a->node_id, "kind", a->kind, "actor", a->actor, "origin",
                                        a->origin, "subject", a->subject, "detail", a->detail));
    }
    free(rows);
    json_t *doc = entries ? json_pack("{s:o}", "entries", entries) : NULL;
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return -1;
    abuf_reset(out);
    int rc = abuf_puts(out, text);
    free(text);
    return rc;
}
