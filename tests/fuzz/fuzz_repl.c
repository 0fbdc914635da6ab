/*  libFuzzer driver: what a node reads of a replicated key or tier (node/repl,
    node/tiers: payloads a peer signed, untrusted beyond its signature),
    PUT /admin/tiers/{name}'s body (node/admin), and the kept form of a
    signed record (wire_record_unpack). The first byte picks:
      0  the rest is a key record's payload: accepted only as a record
         keys_merge applies;
      1  the rest is a tier record's payload: accepted only as a tier
         tiers_merge applies, which round-trips through its JSON;
      2  the rest is PUT /admin/tiers/t's body: 200/201 or a 400 naming a
         field, and a 400 leaves the table as it was;
      3  the rest is a kept record: what unpacks verifies, packs and
         unpacks again to the same record.
    Seeds: corpus/repl/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "node/admin.h"
#include "node/keys.h"
#include "node/repl.h"
#include "node/tiers.h"
#include "protocol/ident.h"
#include "protocol/wire.h"

static char *s_table(const tiers_t *t)
{
    size_t cap = 1, n = 0;
    char *all = calloc(1, 1);
    for (size_t i = 0; all && i < tiers_count(t); i++) {
        char *one = tiers_to_json(tiers_at(t, i), true);
        if (!one)
            abort();
        size_t l = strlen(one);
        char *g = realloc(all, cap + l);
        if (!g)
            abort();
        all = g;
        memcpy(all + n, one, l + 1);
        n += l;
        cap += l;
        free(one);
    }
    if (!all)
        abort();
    return all;
}

static void s_key(const uint8_t *d, size_t n)
{
    wire_record_t r = {.table = REPL_KEYS,
                       .key = "alice",
                       .version_ms = 1000,
                       .node = "node-b",
                       .payload = (uint8_t *)d,
                       .payload_len = n};
    keys_record_t k;
    if (repl_key_from_record(&r, &k) != 0)
        return;
    keys_t *keys = keys_new(NULL, "node-a");
    if (!keys || keys_merge(keys, &k) != KEYS_MERGE_APPLIED)
        abort();
    keys_destroy(&keys);
}

static void s_tier(const uint8_t *d, size_t n)
{
    wire_record_t r = {.table = REPL_TIERS,
                       .key = "gold",
                       .version_ms = 1000,
                       .node = "node-b",
                       .payload = (uint8_t *)d,
                       .payload_len = n};
    tier_t t, back;
    if (repl_tier_from_record(&r, &t) != 0)
        return;
    tiers_t *tiers = tiers_open(NULL, "node-a");
    if (!tiers || tiers_merge(tiers, &t) != TIERS_MERGE_APPLIED)
        abort();
    char *json = tiers_to_json(&t, false);
    char p[64], m[256];
    memset(&back, 0, sizeof back);
    memcpy(back.name, t.name, sizeof back.name);
    back.version_ms = t.version_ms;
    memcpy(back.version_node, t.version_node, sizeof back.version_node);
    if (!json || tiers_from_json(json, strlen(json), &back, p, sizeof p, m, sizeof m) != 0 ||
        memcmp(&back, &t, sizeof t) != 0)
        abort();
    free(json);
    tiers_destroy(&tiers);
}

static void s_put(const uint8_t *d, size_t n)
{
    tiers_t *tiers = tiers_open(NULL, "node-a");
    if (!tiers)
        abort();
    char *before = s_table(tiers);
    admin_request_t req = {.route = ROUTE_ADMIN_TIER_PUT,
                           .param = "t",
                           .body = (const char *)d,
                           .len = n,
                           .now_ms = 5000,
                           .tiers = tiers};
    abuf_t out = ABUF_INIT;
    int status = admin_handle(NULL, &req, &out);
    json_t *doc = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
    if (!json_is_object(doc))
        abort();
    if (status == 400) {
        char *after = s_table(tiers);
        if (strcmp(before, after) != 0 || !json_object_get(doc, "error"))
            abort();
        free(after);
    } else if (status != 200 && status != 201) {
        abort();
    } else if (!tiers_find(tiers, "t")) {
        abort();
    }
    json_decref(doc);
    abuf_free(&out);
    free(before);
    tiers_destroy(&tiers);
}

static void s_kept(const uint8_t *d, size_t n)
{
    wire_record_t r, again;
    char err[200];
    if (wire_record_unpack(d, n, &r, err, sizeof err) != WIRE_MSG_OK)
        return;
    if (!ident_id_matches(r.node, r.pk) ||
        !ident_verify_record(r.pk, r.sealed, r.sealed_len, r.sig))
        abort();
    abuf_t b = ABUF_INIT;
    if (wire_record_pack(&r, &b) != 0 ||
        wire_record_unpack((const uint8_t *)b.data, b.len, &again, err, sizeof err) !=
            WIRE_MSG_OK ||
        again.sealed_len != r.sealed_len || memcmp(again.sealed, r.sealed, r.sealed_len) != 0)
        abort();
    wire_record_clear(&again);
    wire_record_clear(&r);
    abuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] & 3) {
    case 0:
        s_key(data + 1, size - 1);
        break;
    case 1:
        s_tier(data + 1, size - 1);
        break;
    case 2:
        s_put(data + 1, size - 1);
        break;
    default:
        s_kept(data + 1, size - 1);
        break;
    }
    return 0;
}
