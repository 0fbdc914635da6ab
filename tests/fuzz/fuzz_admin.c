/*  libFuzzer driver: the admin API's reading of a request body (node/admin:
    untrusted JSON from whoever holds the admin key, or a mistyped script).
    The first byte chooses the route (create, or re-tier of the key "k"),
    the rest is the body. Every answer is JSON with a 2xx or 4xx status
    (never a 500), and a refused request changes nothing in the table. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/admin.h"
#include "node/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
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
