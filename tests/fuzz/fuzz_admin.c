/*  libFuzzer driver: the admin API's reading of a request body (node/admin:
    untrusted JSON from whoever holds the admin key, or a mistyped script).
    The first byte chooses the route (create, or re-tier of the key "k"),
    the rest is the body. Every answer is JSON with a 2xx or 4xx status
    (never a 500), and a refused request changes nothing in the table.
    With bit 1 of the first byte, the rest is GET /admin/audit's query
    instead (since, '&', limit) with no log open: a query that reads is
    answered 500 "not open", any other a 400 naming since or limit. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/admin.h"
#include "node/keys.h"

static void s_audit_query(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    if (!q)
        abort();
    memcpy(q, data, size);
    q[size] = '\0';
    char *amp = strchr(q, '&');
    if (amp)
        *amp = '\0';
    admin_request_t req = {.route = ROUTE_ADMIN_AUDIT,
                           .now_ms = 2000,
                           .since = q[0] == '-' ? NULL : q,
                           .limit = amp ? amp + 1 : NULL};
    abuf_t out = ABUF_INIT;
    int status = admin_handle(NULL, &req, &out);
    json_t *doc = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
    json_t *err = json_object_get(doc, "error");
    const char *param = json_string_value(json_object_get(err, "param"));
    if (!err || (status != 400 && status != 500) ||
        (status == 400 && (!param || (strcmp(param, "since") != 0 && strcmp(param, "limit") != 0))))
        abort();
    json_decref(doc);
    abuf_free(&out);
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 2) {
        s_audit_query(data + 1, size - 1);
        return 0;
    }
    keys_t *keys = keys_new(NULL, "fuzz-node");
    char key[KEYS_KEY_LEN];
    if (!keys || keys_create(keys, "k", "free", 0, "", 1000, key, NULL) != KEYS_OK)
        abort();
    bool create = (data[0] & 1) == 0;
    admin_request_t req = {.route = create ? ROUTE_ADMIN_KEYS_CREATE : ROUTE_ADMIN_KEY_TIER,
                           .param = create ? NULL : "k/tier",
                           .body = (const char *)data + 1,
                           .len = size - 1,
                           .now_ms = 2000,
                           .n_config = 1};
    keys_record_t before = *keys_find(keys, "k");
    abuf_t out = ABUF_INIT;
    int status = admin_handle(keys, &req, &out);
    json_t *doc = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
    if (!json_is_object(doc) || status < 200 || status >= 500)
        abort();
    if (status >= 400 &&
        (keys_count(keys) != 1 || memcmp(keys_find(keys, "k"), &before, sizeof before) != 0 ||
         !json_object_get(doc, "error")))
        abort();
    if (status == 201 && (keys_count(keys) != 2 || !json_string_value(json_object_get(doc, "key"))))
        abort();
    json_decref(doc);
    abuf_free(&out);
    keys_destroy(&keys);
    return 0;
}
