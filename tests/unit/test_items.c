/*  test_items — the node's store of its own Responses output items
    (node/items): put and get per client (another client finds nothing, as
    with an unknown id), a repeated id replaced, the count and byte bounds
    evicting the oldest first, the age bound (on get, on put, on prune),
    items too large or with overlong ids not kept, a store with bounds 0
    keeping nothing; and the writer's items (responses_writer_items) of a
    finished response stored and read back as the parser resolves them.
    Times are synthetic monotonic ms: nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/items.h"
#include "protocol/responses.h"

#define T0 5000000LL
#define HOUR 3600000LL
#define KA "0123456789abcdef" /* a client: the hex of its key's hash */
#define KB "fedcba9876543210"

static openai_item_t s_msg(const char *id, const char *text)
{
    openai_item_t it = {OPENAI_ITEM_MESSAGE, id, text, NULL, NULL};
    return it;
}

static void test_put_get_clients(void **state)
{
    (void)state;
    items_t *items = items_new(16, 1 << 20, 24 * HOUR);
    assert_non_null(items);
    openai_item_t m = s_msg("msg_1_0", "Hello.");
    openai_item_t call = {OPENAI_ITEM_CALL, "fc_1_1", "{\"a\":1}", "call_1", "f"};
    assert_int_equal(items_put(items, KA, &m, T0), 0);
    assert_int_equal(items_put(items, KA, &call, T0), 0);
    assert_int_equal(items_count(items), 2);
    openai_item_t out;
    assert_true(items_get(items, KA, "msg_1_0", T0 + 1, &out));
    assert_int_equal(out.kind, OPENAI_ITEM_MESSAGE);
    assert_string_equal(out.id, "msg_1_0");
    assert_string_equal(out.text, "Hello.");
    assert_true(items_get(items, KA, "fc_1_1", T0 + 1, &out));
    assert_int_equal(out.kind, OPENAI_ITEM_CALL);
    assert_string_equal(out.call_id, "call_1");
    assert_string_equal(out.name, "f");
    assert_string_equal(out.text, "{\"a\":1}");
    /* another key, the keyless client, an unknown id: nothing */
    assert_false(items_get(items, KB, "msg_1_0", T0 + 1, &out));
    assert_false(items_get(items, "", "msg_1_0", T0 + 1, &out));
    assert_false(items_get(items, KA, "msg_2_0", T0 + 1, &out));
    assert_false(items_get(items, KA, "", T0 + 1, &out));
    /* the same id for two clients: two items, each its own */
    openai_item_t mb = s_msg("msg_1_0", "B's.");
    assert_int_equal(items_put(items, KB, &mb, T0), 0);
    assert_true(items_get(items, KB, "msg_1_0", T0, &out));
    assert_string_equal(out.text, "B's.");
    assert_true(items_get(items, KA, "msg_1_0", T0, &out));
    assert_string_equal(out.text, "Hello.");
    /* a repeated id replaces */
    openai_item_t again = s_msg("msg_1_0", "Hello again.");
    assert_int_equal(items_put(items, KA, &again, T0 + 2), 0);
    assert_int_equal(items_count(items), 3);
    assert_true(items_get(items, KA, "msg_1_0", T0 + 2, &out));
    assert_string_equal(out.text, "Hello again.");
    /* bad arguments */
    assert_int_equal(items_put(NULL, KA, &m, T0), -1);
    assert_int_equal(items_put(items, NULL, &m, T0), -1);
    assert_false(items_get(NULL, KA, "msg_1_0", T0, &out));
    items_destroy(&items);
    assert_null(items);
    items_destroy(&items);
}

static void test_count_bound(void **state)
{
    (void)state;
    items_t *items = items_new(3, 1 << 20, 24 * HOUR);
    char id[32];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "msg_%d_0", i);
        openai_item_t m = s_msg(id, "x");
        assert_int_equal(items_put(items, KA, &m, T0 + i), 0);
    }
    assert_int_equal(items_count(items), 3);
    openai_item_t out;
    assert_false(items_get(items, KA, "msg_0_0", T0 + 5, &out));
    assert_false(items_get(items, KA, "msg_1_0", T0 + 5, &out));
    for (int i = 2; i < 5; i++) {
        snprintf(id, sizeof id, "msg_%d_0", i);
        assert_true(items_get(items, KA, id, T0 + 5, &out));
    }
    items_destroy(&items);
}

static void test_byte_bound(void **state)
{
    (void)state;
    char big[1001];
    memset(big, 'a', 1000);
    big[1000] = '\0';
    /* room for three such items, not four */
    size_t one = ITEMS_OVERHEAD + 2 * (strlen(KA) + 1 + strlen("msg_0_0") + 1) + 1001 + 1 + 1;
    items_t *items = items_new(100, 3 * one + one / 2, 24 * HOUR);
    char id[32];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "msg_%d_0", i);
        openai_item_t m = s_msg(id, big);
        assert_int_equal(items_put(items, KA, &m, T0), 0);
        assert_true(items_bytes(items) <= 3 * one + one / 2);
    }
    assert_int_equal(items_count(items), 3);
    assert_int_equal(items_bytes(items), 3 * one);
    openai_item_t out;
    assert_false(items_get(items, KA, "msg_0_0", T0, &out)); /* the oldest went */
    assert_true(items_get(items, KA, "msg_3_0", T0, &out));
    assert_int_equal(strlen(out.text), 1000);
    /* an item larger than the whole bound is not kept, and evicts nothing */
    char *huge = malloc(4 * one);
    memset(huge, 'b', 4 * one - 1);
    huge[4 * one - 1] = '\0';
    openai_item_t h = s_msg("msg_9_0", huge);
    assert_int_equal(items_put(items, KA, &h, T0), 0);
    assert_false(items_get(items, KA, "msg_9_0", T0, &out));
    assert_int_equal(items_count(items), 3);
    free(huge);
    /* an id longer than ITEMS_MAX_ID is not kept (nor looked up) */
    char longid[ITEMS_MAX_ID + 2];
    memset(longid, 'm', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    openai_item_t l = s_msg(longid, "x");
    assert_int_equal(items_put(items, KA, &l, T0), 0);
    assert_false(items_get(items, KA, longid, T0, &out));
    assert_int_equal(items_count(items), 3);
    items_destroy(&items);
}

static void test_age_bound(void **state)
{
    (void)state;
    items_t *items = items_new(100, 1 << 20, 24 * HOUR);
    openai_item_t a = s_msg("msg_a_0", "a"), b = s_msg("msg_b_0", "b");
    assert_int_equal(items_put(items, KA, &a, T0), 0);
    assert_int_equal(items_put(items, KA, &b, T0 + 2 * HOUR), 0);
    openai_item_t out;
    assert_true(items_get(items, KA, "msg_a_0", T0 + 24 * HOUR - 1, &out));
    /* at 24 h a is gone, b is not */
    assert_false(items_get(items, KA, "msg_a_0", T0 + 24 * HOUR, &out));
    assert_int_equal(items_count(items), 1);
    assert_true(items_get(items, KA, "msg_b_0", T0 + 24 * HOUR, &out));
    /* a put prunes too, and so does prune */
    openai_item_t c = s_msg("msg_c_0", "c");
    assert_int_equal(items_put(items, KA, &c, T0 + 26 * HOUR), 0);
    assert_int_equal(items_count(items), 1);
    items_prune(items, T0 + 51 * HOUR);
    assert_int_equal(items_count(items), 0);
    assert_int_equal(items_bytes(items), 0);
    items_destroy(&items);
    /* bounds of 0 keep nothing */
    items = items_new(100, 1 << 20, 0);
    assert_int_equal(items_put(items, KA, &a, T0), 0);
    assert_int_equal(items_count(items), 0);
    items_destroy(&items);
    items = items_new(0, 1 << 20, HOUR);
    assert_int_equal(items_put(items, KA, &a, T0), 0);
    assert_int_equal(items_count(items), 0);
    items_destroy(&items);
}

typedef struct {
    items_t *items;
    const char *client;
} keep_t;

static int s_keep(void *arg, const openai_item_t *item)
{
    keep_t *k = arg;
    return items_put(k->items, k->client, item, T0);
}

/*  A finished response's items go to the store as the parser wants them:
    message text (invalid UTF-8 as the client read it), reasoning, calls. */
static void test_writer_items(void **state)
{
    (void)state;
    responses_meta_t meta = {"resp_X", 1700000000, "m", NULL, NULL};
    responses_writer_t *w = responses_writer_new(&meta);
    items_t *items = items_new(100, 1 << 20, HOUR);
    keep_t k = {items, KA};
    assert_int_equal(responses_writer_delta(w, NULL, DELTA_REASONING, "Hmm.", 4), 0);
    assert_int_equal(responses_writer_delta(w, NULL, DELTA_TEXT, "Hi \xff there", 10), 0);
    openai_tool_call_t call = {"call_7", "weather", "{\"city\":\"Paris\"}"};
    assert_int_equal(responses_writer_tool_call(w, NULL, &call), 0);
    assert_int_equal(responses_writer_items(w, s_keep, &k), 0); /* not finished yet */
    assert_int_equal(items_count(items), 0);
    assert_int_equal(responses_writer_finish(w, NULL, "tool_calls", NULL), 0);
    assert_int_equal(responses_writer_items(w, s_keep, &k), 3);
    openai_item_t out;
    assert_true(items_get(items, KA, "rs_X_0", T0, &out));
    assert_int_equal(out.kind, OPENAI_ITEM_REASONING);
    assert_string_equal(out.text, "Hmm.");
    assert_true(items_get(items, KA, "msg_X_1", T0, &out));
    assert_int_equal(out.kind, OPENAI_ITEM_MESSAGE);
    assert_string_equal(out.text, "Hi \xEF\xBF\xBD there");
    assert_true(items_get(items, KA, "fc_X_2", T0, &out));
    assert_int_equal(out.kind, OPENAI_ITEM_CALL);
    assert_string_equal(out.call_id, "call_7");
    assert_string_equal(out.name, "weather");
    assert_string_equal(out.text, "{\"city\":\"Paris\"}");
    assert_int_equal(responses_writer_items(NULL, s_keep, &k), -1);
    assert_int_equal(responses_writer_items(w, NULL, &k), -1);

    /* the object says whether its items are kept */
    abuf_t body = ABUF_INIT;
    assert_int_equal(responses_writer_render(w, &body), 0);
    assert_non_null(strstr(body.data, "\"store\":false"));
    abuf_free(&body);
    openai_request_t req;
    memset(&req, 0, sizeof req);
    req.store = true;
    responses_meta_t stored = {"resp_S", 1700000000, "m", NULL, &req};
    responses_writer_t *ws = responses_writer_new(&stored);
    assert_int_equal(responses_writer_render(ws, &body), 0);
    assert_non_null(strstr(body.data, "\"store\":true"));
    abuf_free(&body);
    responses_writer_destroy(&ws);
    responses_writer_destroy(&w);

    /* a failed response gives nothing */
    w = responses_writer_new(&meta);
    assert_int_equal(responses_writer_delta(w, NULL, DELTA_TEXT, "part", 4), 0);
    openai_error_t err;
    openai_error_set(&err, "upstream_error", NULL, "lost");
    assert_int_equal(responses_writer_fail(w, NULL, &err), 0);
    assert_int_equal(responses_writer_items(w, s_keep, &k), 0);
    responses_writer_destroy(&w);
    items_destroy(&items);
}

/*  The parser resolves references through a store: what the node renders
    in http.c, end to end without sockets. */
typedef struct {
    items_t *items;
    const char *client;
    long long now;
} find_t;

static bool s_find(void *arg, const char *id, openai_item_t *out)
{
    find_t *f = arg;
    return items_get(f->items, f->client, id, f->now, out);
}

static void test_parse_through_store(void **state)
{
    (void)state;
    items_t *items = items_new(100, 1 << 20, 24 * HOUR);
    openai_item_t m = s_msg("msg_Y_0", "Paris is sunny.");
    assert_int_equal(items_put(items, KA, &m, T0), 0);
    find_t f = {items, KA, T0 + HOUR};
    openai_items_t look = {s_find, &f, 86400};
    const char *body = "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"Weather?\"},"
                       "{\"type\":\"item_reference\",\"id\":\"msg_Y_0\"},"
                       "{\"role\":\"user\",\"content\":\"Thanks.\"}]}";
    openai_request_t *req = NULL;
    openai_error_t err;
    assert_int_equal(openai_responses_parse_ex(body, strlen(body), NULL, &look, &req, &err), 0);
    assert_int_equal(req->n_messages, 3);
    assert_string_equal(req->messages[1].role, "assistant");
    assert_string_equal(req->messages[1].content, "Paris is sunny.");
    openai_request_destroy(&req);
    f.client = KB; /* another key */
    assert_int_equal(openai_responses_parse_ex(body, strlen(body), NULL, &look, &req, &err), -1);
    assert_string_equal(err.param, "input[1]");
    f.client = KA;
    f.now = T0 + 24 * HOUR; /* expired */
    assert_int_equal(openai_responses_parse_ex(body, strlen(body), NULL, &look, &req, &err), -1);
    assert_string_equal(err.param, "input[1]");
    assert_non_null(strstr(err.message, "24 hours"));
    items_destroy(&items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_clients), cmocka_unit_test(test_count_bound),
        cmocka_unit_test(test_byte_bound),      cmocka_unit_test(test_age_bound),
        cmocka_unit_test(test_writer_items),    cmocka_unit_test(test_parse_through_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
