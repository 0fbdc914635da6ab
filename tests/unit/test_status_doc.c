/*  test_status_doc — the /mesh/status document: render → parse → render is
    the identity, the node's two entry shapes keep their keys and order,
    hostile, missing and oversized fields are refused or bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "protocol/status_doc.h"

#define FIXTURES ARENA_SOURCE_DIR "/tests/fixtures/"

/* ==== a document as a node builds it ======================================= */

static const int64_t s_starts[] = {19000, 250000};

static const status_doc_model_t s_local_models[] = {
    {"gpt-5-high", "0199-a", "chat", 0, NULL, "GPT-5 (high)"},
    {"fake-chat", "0199-b", "chat", 1799999, "rate_limited", NULL},
};
static const status_doc_route_t s_routes[] = {
    {"gpt-5-high", "A", "local", "a tab of this node is free (local tabs come first)",
     STATUS_DOC_ABSENT},
    {"fake-chat", NULL, "cooling", "every node serving it is cooling down (rate_limited)", 29000},
    {"flux-1", "B", "peer", "not served here; the one peer with a free slot", STATUS_DOC_ABSENT},
};
static const status_doc_model_t s_peer_models[] = {
    {"flux-1", "0199-c", "image", 0, NULL, NULL},
};
static const status_doc_account_t s_local_accounts[] = {
    {.id = "3e1f0a2b9c8d7e6f3e1f0a2b9c8d7e6f",
     .known = true,
     .next_slot_ms = 41000,
     .next_slot_at_ms = 1763800041000,
     .flag_remaining_ms = 0,
     .reason = NULL},
    {.id = "tab:9f1c",
     .known = false,
     .next_slot_ms = 0,
     .next_slot_at_ms = 1763800000000,
     .flag_remaining_ms = 1740000,
     .reason = "account_flag"},
};
static const status_doc_account_t s_peer_accounts[] = {
    {.id = "7a2b",
     .known = true,
     .flag_remaining_ms = 0,
     .starts_ago_ms = s_starts,
     .n_starts = 2,
     .next_slot_ms = STATUS_DOC_NULL},
};
static const status_doc_tab_t s_tabs[] = {
    {.id = "9f1c",
     .href = "https://arena.ai/",
     .account = "tab:9f1c",
     .logged_in = -1,
     .inflight = 1,
     .connected_ms = 1763799990000,
     .hint = "log in to LMArena in this tab",
     .images = NULL},
    {.id = "a001",
     .href = "https://arena.ai/c/x",
     .account = "3e1f0a2b9c8d7e6f3e1f0a2b9c8d7e6f",
     .account_known = true,
     .logged_in = 1,
     .challenged = true,
     .connected_ms = 1763799000000,
     .images = "signed",
     .has_drift = true,
     .drift_at_ms = 1763799500000,
     .drift_status = 400,
     .drift_kind = "400 shape",
     .drift_body = "{\"x\":1}",
     .drift_field = "error"},
};

static void s_build(status_doc_t *doc, status_doc_node_t nodes[2])
{
    nodes[0] = (status_doc_node_t){
        .local = true,
        .id = "A",
        .name = "desk",
        .address = "127.0.0.1:5104",
        .http = "http://127.0.0.1:5102",
        .state = "alive",
        .uptime_ms = 123456,
        .tabs_count = 2,
        .tabs_healthy = 1,
        .inflight = 1,
        .queued = 3,
        .capacity = 2,
        .ok = 10,
        .failed = 1,
        .p50_ms = 812,
        .catalog_updated_ms = 1763800000000,
        .has_models = true,
        .models = s_local_models,
        .n_models = 2,
        .has_accounts = true,
        .accounts = s_local_accounts,
        .n_accounts = 2,
        .paced_remaining_ms = 41000,
        .has_tab_list = true,
        .tabs = s_tabs,
        .n_tabs = 2,
        .has_pace = true,
        .pace_interval_s = 60,
        .pace_window = "3/390",
        .arena_mode = "direct-battle",
        .has_mesh = true,
        .mesh = {52311, 49870, 812, 790, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10, 11, 12},
    };
    nodes[1] = (status_doc_node_t){
        .id = "B",
        .name = "küche-pi",
        .address = "10.0.0.9:5104",
        .http = "",
        .state = "unreachable",
        .age_ms = STATUS_DOC_NULL,
        .p50_ms = -1,
        .node_cooled_remaining_ms = 1140000,
        .catalog_updated_ms = STATUS_DOC_ABSENT,
        .has_models = true,
        .models = s_peer_models,
        .n_models = 1,
        .reported_by = "C",
        .indirect = true,
        .has_accounts = true,
        .accounts = s_peer_accounts,
        .n_accounts = 1,
    };
    *doc = (status_doc_t){.self = "A",
                          .generated_ms = 1763800000000,
                          .has_nodes = true,
                          .nodes = nodes,
                          .n_nodes = 2,
                          .has_routing = true,
                          .routing = s_routes,
                          .n_routing = 3};
}

static char *s_render(const status_doc_t *doc)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(status_doc_render(doc, &out), 0);
    abuf_append(&out, "", 0);
    return abuf_steal(&out, NULL);
}

static status_doc_t *s_parse(const char *text)
{
    status_doc_t *doc = NULL;
    char err[256];
    if (status_doc_parse((const uint8_t *)text, strlen(text), &doc, err, sizeof err) !=
        STATUS_DOC_OK)
        fail_msg("parse failed: %s", err);
    return doc;
}

/* ==== round trip and shapes ================================================ */

static void test_round_trip(void **state)
{
    status_doc_t built;
    status_doc_node_t nodes[2];
    s_build(&built, nodes);
    char *a = s_render(&built);
    status_doc_t *doc = s_parse(a);
    char *b = s_render(doc);
    assert_string_equal(a, b);

    /* what was read is what was built */
    assert_string_equal(doc->self, "A");
    assert_int_equal(doc->n_nodes, 2);
    const status_doc_node_t *me = &doc->nodes[0], *peer = &doc->nodes[1];
    assert_true(me->local);
    assert_false(peer->local);
    assert_int_equal(me->n_tabs, 2);
    assert_string_equal(me->tabs[1].drift_kind, "400 shape");
    assert_int_equal(me->tabs[0].logged_in, -1);
    assert_int_equal(me->mesh.stale_acks, 5);
    assert_int_equal(me->mesh.records_applied, 6);
    assert_int_equal(me->mesh.records_refused, 7);
    assert_int_equal(me->mesh.records_sent, 8);
    assert_int_equal(me->mesh.discover_heard, 9);
    assert_int_equal(me->mesh.discover_dialed, 10);
    assert_int_equal(me->mesh.discover_forged, 11);
    assert_int_equal(me->mesh.discover_malformed, 12);
    assert_string_equal(me->pace_window, "3/390");
    assert_int_equal(peer->age_ms, STATUS_DOC_NULL);
    assert_int_equal(peer->catalog_updated_ms, STATUS_DOC_ABSENT);
    assert_int_equal(peer->p50_ms, -1);
    assert_int_equal(peer->accounts[0].n_starts, 2);
    assert_int_equal(peer->accounts[0].starts_ago_ms[1], 250000);
    assert_string_equal(peer->models[0].name, "flux-1");
    assert_true(doc->has_routing);
    assert_int_equal(doc->n_routing, 3);
    assert_string_equal(doc->routing[1].model, "fake-chat");
    assert_null(doc->routing[1].node);
    assert_string_equal(doc->routing[1].state, "cooling");
    assert_int_equal(doc->routing[1].retry_ms, 29000);
    assert_string_equal(doc->routing[2].node, "B");
    assert_int_equal(doc->routing[2].retry_ms, STATUS_DOC_ABSENT);
    status_doc_destroy(&doc);
    assert_null(doc);
    status_doc_destroy(&doc); /* idempotent */
    free(a);
    free(b);
    (void)state;
}

/*  The keys of each shape, in the order arena-node has always written them. */
static void test_shapes(void **state)
{
    status_doc_t built;
    status_doc_node_t nodes[2];
    s_build(&built, nodes);
    nodes[0].has_pace = false; /* --pace off: "pace": null */
    char *text = s_render(&built);
    static const char *const want[] = {
        "{\"self\":\"A\",\"generated_ms\":1763800000000,\"nodes\":[{\"id\":\"A\",\"name\":\"desk\","
        "\"self\":true,\"address\":\"127.0.0.1:5104\",\"http\":\"http://127.0.0.1:5102\","
        "\"state\":\"alive\",\"age_ms\":0,\"uptime_ms\":123456,\"incarnation\":0,"
        "\"tabs\":{\"count\":2,\"healthy\":1,\"list\":[{\"id\":\"9f1c\"",
        "\"models\":[{\"name\":\"gpt-5-high\",\"arena_id\":\"0199-a\",\"modality\":\"chat\","
        "\"cooled_remaining_ms\":0,\"reason\":null,\"display_name\":\"GPT-5 (high)\"}",
        "\"accounts\":[{\"id\":\"3e1f0a2b9c8d7e6f3e1f0a2b9c8d7e6f\",\"known\":true,"
        "\"next_slot_ms\":41000,\"next_slot_at_ms\":1763800041000,\"flag_remaining_ms\":0,"
        "\"reason\":null}",
        "\"pace\":null,\"paced_remaining_ms\":41000,\"arena_mode\":\"direct-battle\","
        "\"mesh\":{\"bytes_in\":52311,",
        "\"forged\":0,\"records_applied\":6,\"records_refused\":7,\"records_sent\":8,"
        "\"discover_heard\":9,\"discover_dialed\":10,\"discover_forged\":11,"
        "\"discover_malformed\":12}",
        "\"last_unrecognised\":{\"at_ms\":1763799500000,\"status\":400,\"kind\":\"400 shape\","
        "\"body\":\"{\\\"x\\\":1}\",\"field\":\"error\"}}]}",
        "{\"id\":\"B\",\"name\":\"küche-pi\",\"self\":false,\"address\":\"10.0.0.9:5104\","
        "\"http\":\"\",\"state\":\"unreachable\",\"age_ms\":null,\"uptime_ms\":0,"
        "\"incarnation\":0,\"tabs\":{\"count\":0,\"healthy\":0},\"load\":{\"inflight\":0,"
        "\"queued\":0,\"capacity\":0},\"stats\":{\"ok\":0,\"failed\":0,\"p50_ms\":-1},"
        "\"node_cooled_remaining_ms\":1140000,\"models\":[{\"name\":\"flux-1\","
        "\"arena_id\":\"0199-c\",\"modality\":\"image\",\"cooled_remaining_ms\":0,"
        "\"reason\":null}],\"reported_by\":\"C\",\"indirect\":true,\"accounts\":[{\"id\":\"7a2b\","
        "\"known\":true,\"flag_remaining_ms\":0,\"starts_ago_ms\":[19000,250000],"
        "\"next_slot_ms\":null}],\"paced_remaining_ms\":0}],",
        /* after the nodes: model → where a request would go now */
        "\"routing\":{\"gpt-5-high\":{\"node\":\"A\",\"state\":\"local\",\"why\":\"a tab of "
        "this node is free (local tabs come first)\"},\"fake-chat\":{\"node\":null,\"state\":"
        "\"cooling\",\"why\":\"every node serving it is cooling down (rate_limited)\","
        "\"retry_ms\":29000},\"flux-1\":{\"node\":\"B\",\"state\":\"peer\",\"why\":\"not served "
        "here; the one peer with a free slot\"}}}",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i]))
            fail_msg("want\n%s\nin\n%s", want[i], text);
    free(text);
    (void)state;
}

/*  The fixtures arena-mesh's goldens use: a second render of a parsed
    document is the first (a fixpoint), and nothing of meaning is lost. */
static void test_fixtures(void **state)
{
    static const char *const names[] = {"mesh_status_1node.json", "mesh_status_3nodes.json"};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, FIXTURES "%s", names[i]);
        json_t *file = json_load_file(path, 0, NULL);
        assert_non_null(file);
        char *text = json_dumps(file, JSON_COMPACT);
        status_doc_t *doc = s_parse(text);
        char *once = s_render(doc);
        status_doc_t *again = s_parse(once);
        char *twice = s_render(again);
        assert_string_equal(once, twice);
        assert_int_equal(doc->n_nodes, json_array_size(json_object_get(file, "nodes")));
        status_doc_destroy(&doc);
        status_doc_destroy(&again);
        free(text);
        free(once);
        free(twice);
        json_decref(file);
    }
    (void)state;
}

/*  A field its producer cut inside a UTF-8 sequence (a tab's first 300
    bytes) costs that field's broken bytes, not the document. */
static void test_broken_utf8_rendered(void **state)
{
    status_doc_t built;
    status_doc_node_t nodes[2];
    s_build(&built, nodes);
    status_doc_tab_t tab = s_tabs[1];
    tab.drift_body = "ab\xe2\x82";
    nodes[0].tabs = &tab;
    nodes[0].n_tabs = 1;
    char *text = s_render(&built);
    assert_non_null(strstr(text, "\"body\":\"ab\xEF\xBF\xBD\xEF\xBF\xBD\""));
    free(text);
    (void)state;
}

/* ==== hostile documents ==================================================== */

static void test_malformed(void **state)
{
    static const char *const cases[] = {"",     "{",    "nul",           "\"nodes\"",
                                        "[1,]", "{} x", "{\"a\":1e400}", "\xff\xfe"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        status_doc_t *doc = (status_doc_t *)1;
        char err[256] = "";
        assert_int_equal(
            status_doc_parse((const uint8_t *)cases[i], strlen(cases[i]), &doc, err, sizeof err),
            STATUS_DOC_MALFORMED);
        assert_null(doc);
        assert_non_null(strstr(err, "malformed JSON"));
    }
    /* a raw NUL byte, with and without an error buffer */
    status_doc_t *doc = NULL;
    assert_int_equal(status_doc_parse((const uint8_t *)"{\"a\":\"x\0y\"}", 11, &doc, NULL, 0),
                     STATUS_DOC_MALFORMED);
    (void)state;
}

static void test_too_big(void **state)
{
    status_doc_t *doc = NULL;
    char err[256];
    /* the length alone decides: nothing is read */
    assert_int_equal(
        status_doc_parse((const uint8_t *)"{}", STATUS_DOC_MAX_TEXT + 1, &doc, err, sizeof err),
        STATUS_DOC_TOOBIG);
    assert_null(doc);
    (void)state;
}

/*  Wrong types, out-of-range numbers, huge strings: as if missing. */
static void test_wrong_types(void **state)
{
    abuf_t big = ABUF_INIT;
    abuf_puts(&big, "{\"self\":7,\"generated_ms\":1e300,\"nodes\":[1,{\"id\":1,\"name\":\"");
    for (size_t i = 0; i <= STATUS_DOC_MAX_STR; i++)
        abuf_puts(&big, "x");
    abuf_puts(&big, "\",\"self\":\"yes\",\"age_ms\":\"3\",\"uptime_ms\":9007199254740993e3,"
                    "\"tabs\":[],\"load\":{\"inflight\":-5,\"queued\":1.7},"
                    "\"models\":[5,{\"name\":null,\"cooled_remaining_ms\":\"soon\"}],"
                    "\"accounts\":{},\"pace\":7,\"mesh\":{\"bytes_in\":-1}}]}");
    status_doc_t *doc = NULL;
    assert_int_equal(status_doc_parse((const uint8_t *)big.data, big.len, &doc, NULL, 0),
                     STATUS_DOC_OK);
    assert_null(doc->self);
    assert_int_equal(doc->generated_ms, STATUS_DOC_ABSENT);
    assert_int_equal(doc->n_nodes, 1);
    assert_int_equal(doc->nodes_dropped, 1);
    const status_doc_node_t *n = &doc->nodes[0];
    assert_null(n->id);
    assert_null(n->name); /* longer than STATUS_DOC_MAX_STR */
    assert_false(n->local);
    assert_int_equal(n->age_ms, STATUS_DOC_ABSENT);
    assert_int_equal(n->uptime_ms, STATUS_DOC_ABSENT);
    assert_int_equal(n->tabs_count, STATUS_DOC_ABSENT);
    assert_int_equal(n->inflight, -5);
    assert_int_equal(n->queued, 1);
    assert_int_equal(n->n_models, 1);
    assert_int_equal(n->models_dropped, 1);
    assert_null(n->models[0].name);
    assert_int_equal(n->models[0].cooled_remaining_ms, STATUS_DOC_ABSENT);
    assert_false(n->has_accounts);
    assert_false(n->has_pace);
    assert_true(n->has_mesh);
    assert_int_equal(n->mesh.bytes_in, 0);
    /* rendered again: absent keys stay out, and that is a fixpoint */
    char *once = s_render(doc);
    assert_null(strstr(once, "age_ms"));
    assert_null(strstr(once, "\"name\""));
    status_doc_t *again = s_parse(once);
    char *twice = s_render(again);
    assert_string_equal(once, twice);
    status_doc_destroy(&doc);
    status_doc_destroy(&again);
    free(once);
    free(twice);
    abuf_free(&big);

    /* a top level that is not an object has no nodes */
    doc = s_parse("[{\"nodes\":[]}]");
    assert_false(doc->has_nodes);
    assert_int_equal(doc->n_nodes, 0);
    status_doc_destroy(&doc);
    (void)state;
}

/*  Lists are capped; what is beyond a cap is counted, never kept. */
/*  "routing" of the wrong shape: not an object is no routing, an entry
    that is not an object is dropped, fields of the wrong type are absent. */
static void test_routing_shapes(void **state)
{
    status_doc_t *doc = s_parse("{\"routing\":[1,2]}");
    assert_false(doc->has_routing);
    status_doc_destroy(&doc);
    doc = s_parse("{\"routing\":{\"a\":5,\"b\":{\"node\":7,\"state\":\"peer\","
                  "\"retry_ms\":\"x\"},\"c\":{}}}");
    assert_true(doc->has_routing);
    assert_int_equal(doc->n_routing, 2);
    assert_int_equal(doc->routing_dropped, 1);
    assert_string_equal(doc->routing[0].model, "b");
    assert_null(doc->routing[0].node);
    assert_string_equal(doc->routing[0].state, "peer");
    assert_int_equal(doc->routing[0].retry_ms, STATUS_DOC_ABSENT);
    assert_string_equal(doc->routing[1].model, "c");
    assert_null(doc->routing[1].why);
    status_doc_destroy(&doc);
    (void)state;
}

static void test_caps(void **state)
{
    abuf_t d = ABUF_INIT;
    abuf_puts(&d, "{\"nodes\":[{\"self\":true,\"models\":[");
    for (int i = 0; i < STATUS_DOC_MAX_MODELS + 5; i++)
        abuf_printf(&d, "%s{\"name\":\"m%d\"}", i ? "," : "", i);
    abuf_puts(&d, "],\"accounts\":[");
    for (int i = 0; i < STATUS_DOC_MAX_ACCOUNTS + 3; i++)
        abuf_printf(&d, "%s{\"id\":\"a%d\",\"starts_ago_ms\":[%s]}", i ? "," : "", i,
                    i == 0 ? "1,\"x\",2" : "");
    abuf_puts(&d, "],\"tabs\":{\"list\":[");
    for (int i = 0; i < STATUS_DOC_MAX_TABS + 2; i++)
        abuf_printf(&d, "%s{\"id\":\"t%d\"}", i ? "," : "", i);
    abuf_puts(&d, "]}}");
    for (int i = 0; i < STATUS_DOC_MAX_NODES + 7; i++)
        abuf_puts(&d, ",{}");
    abuf_puts(&d, "]}");
    status_doc_t *doc = NULL;
    assert_int_equal(status_doc_parse((const uint8_t *)d.data, d.len, &doc, NULL, 0),
                     STATUS_DOC_OK);
    assert_int_equal(doc->n_nodes, STATUS_DOC_MAX_NODES);
    assert_int_equal(doc->nodes_dropped, 8);
    const status_doc_node_t *n = &doc->nodes[0];
    assert_int_equal(n->n_models, STATUS_DOC_MAX_MODELS);
    assert_int_equal(n->models_dropped, 5);
    assert_int_equal(n->n_accounts, STATUS_DOC_MAX_ACCOUNTS);
    assert_int_equal(n->accounts_dropped, 3);
    assert_int_equal(n->accounts[0].n_starts, 2); /* the string is not a start */
    assert_int_equal(n->n_tabs, STATUS_DOC_MAX_TABS);
    assert_int_equal(n->tabs_dropped, 2);
    status_doc_destroy(&doc);
    abuf_free(&d);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_fixtures),       cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_too_big),        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_caps),           cmocka_unit_test(test_broken_utf8_rendered),
        cmocka_unit_test(test_routing_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
