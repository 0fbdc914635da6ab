/*  test_audit — node/audit.c over a real store in a mkdtemp directory:
    rows appended and read back since a time, the auth_failed rate limit
    (one row per address per minute, the rest counted into the next row),
    peer rows only on a change, and bad input refused with nothing stored. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node/audit.h"
#include "node/store.h"
#include "tests/support/test_tmpdir.h"

typedef struct {
    char root[256];
    store_t *store;
    audit_t *audit;
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(test_tmpdir_make(fx->root, sizeof fx->root, "test_audit"), 0);
    char err[256];
    fx->store = store_open(fx->root, err, sizeof err);
    assert_non_null(fx->store);
    fx->audit = audit_new(fx->store, "node-a");
    assert_non_null(fx->audit);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    audit_destroy(&fx->audit);
    assert_null(fx->audit);
    audit_destroy(&fx->audit);
    store_destroy(&fx->store);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

/*  The rendered entries (caller json_decref's the document). */
static json_t *s_entries(fx_t *fx, long long since, size_t limit, json_t **doc)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(audit_render(fx->audit, since, limit, &b), 0);
    json_error_t jerr;
    *doc = json_loadb(b.data, b.len, 0, &jerr);
    abuf_free(&b);
    assert_non_null(*doc);
    json_t *e = json_object_get(*doc, "entries");
    assert_true(json_is_array(e));
    return e;
}

static const char *s_field(json_t *entries, size_t i, const char *name)
{
    return json_string_value(json_object_get(json_array_get(entries, i), name));
}

static void test_append_and_since(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(
        audit_append(fx->audit, 1000, "key_created", "admin", "127.0.0.1", "alice", "tier=free"),
        0);
    assert_int_equal(audit_append(fx->audit, 2000, "key_retiered", "admin", "127.0.0.1", "alice",
                                  "tier=premium"),
                     0);
    assert_int_equal(audit_append(fx->audit, 3000, "key_revoked", "admin", "::1", "alice", NULL),
                     0);
    json_t *doc;
    json_t *e = s_entries(fx, 0, 10, &doc);
    assert_int_equal(json_array_size(e), 3);
    assert_string_equal(s_field(e, 0, "kind"), "key_created");
    assert_string_equal(s_field(e, 0, "actor"), "admin");
    assert_string_equal(s_field(e, 0, "origin"), "127.0.0.1");
    assert_string_equal(s_field(e, 0, "node_id"), "node-a");
    assert_string_equal(s_field(e, 1, "detail"), "tier=premium");
    assert_string_equal(s_field(e, 2, "detail"), "");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 2), "at_ms")), 3000);
    json_decref(doc);
    e = s_entries(fx, 2000, 10, &doc);
    assert_int_equal(json_array_size(e), 2);
    assert_string_equal(s_field(e, 0, "kind"), "key_retiered");
    json_decref(doc);
    e = s_entries(fx, 0, 1, &doc); /* no since: the newest */
    assert_int_equal(json_array_size(e), 1);
    assert_string_equal(s_field(e, 0, "kind"), "key_revoked");
    json_decref(doc);
}

static void test_auth_failed_rate_limited(void **state)
{
    fx_t *fx = *state;
    long long t0 = 1000000;
    assert_int_equal(audit_auth_failed(fx->audit, t0, "10.0.0.1", "api key"), 1);
    for (int i = 1; i <= 4; i++)
        assert_int_equal(audit_auth_failed(fx->audit, t0 + i * 1000, "10.0.0.1", "api key"), 0);
    /* another address has its own window */
    assert_int_equal(audit_auth_failed(fx->audit, t0 + 5000, "10.0.0.2", "admin key"), 1);
    assert_int_equal(
        audit_auth_failed(fx->audit, t0 + AUDIT_AUTH_WINDOW_MS - 1, "10.0.0.1", "api key"), 0);
    /* the window is over: a row counting the 5 unlogged and itself */
    assert_int_equal(audit_auth_failed(fx->audit, t0 + AUDIT_AUTH_WINDOW_MS, "10.0.0.1", "api key"),
                     1);
    json_t *doc;
    json_t *e = s_entries(fx, 0, 100, &doc);
    assert_int_equal(json_array_size(e), 3);
    assert_string_equal(s_field(e, 0, "kind"), "auth_failed");
    assert_string_equal(s_field(e, 0, "origin"), "10.0.0.1");
    assert_string_equal(s_field(e, 0, "detail"), "failures=1 api key");
    assert_string_equal(s_field(e, 1, "origin"), "10.0.0.2");
    assert_string_equal(s_field(e, 2, "detail"), "failures=6 api key");
    json_decref(doc);
}

static void test_peers_on_change(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(audit_peer(fx->audit, 1, "peer-b", "alive"), 0);
    assert_int_equal(audit_peer(fx->audit, 2, "peer-b", "suspect"), 0); /* not a row */
    assert_int_equal(audit_peer(fx->audit, 3, "peer-b", "alive"), 0);   /* no change */
    assert_int_equal(audit_peer(fx->audit, 4, "peer-b", "dead"), 0);
    assert_int_equal(audit_peer(fx->audit, 5, "peer-b", "alive"), 0);
    assert_int_equal(audit_peer(fx->audit, 6, "peer-c", "left"), 0);
    json_t *doc;
    json_t *e = s_entries(fx, 0, 100, &doc);
    assert_int_equal(json_array_size(e), 4);
    assert_string_equal(s_field(e, 0, "kind"), "peer_joined");
    assert_string_equal(s_field(e, 0, "subject"), "peer-b");
    assert_string_equal(s_field(e, 1, "kind"), "peer_dead");
    assert_string_equal(s_field(e, 2, "kind"), "peer_joined");
    assert_string_equal(s_field(e, 3, "kind"), "peer_left");
    json_decref(doc);
}

static void test_bad_input(void **state)
{
    fx_t *fx = *state;
    char longs[600];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    assert_int_equal(audit_append(fx->audit, 1, "key_deleted", "admin", "", "", ""), -1);
    assert_int_equal(audit_append(fx->audit, 1, NULL, "admin", "", "", ""), -1);
    assert_int_equal(audit_append(fx->audit, 1, "key_created", "admin", "", "", longs), -1);
    assert_int_equal(audit_append(NULL, 1, "key_created", "admin", "", "", ""), -1);
    assert_int_equal(audit_auth_failed(fx->audit, 1, "", NULL), -1);
    assert_int_equal(audit_auth_failed(fx->audit, 1, longs, NULL), -1);
    assert_int_equal(audit_peer(fx->audit, 1, "", "alive"), -1);
    assert_int_equal(audit_peer(fx->audit, 1, longs, "alive"), -1);
    assert_false(audit_kind_ok(""));
    assert_true(audit_kind_ok("cooldown_started"));
    assert_null(audit_new(NULL, "n"));
    assert_null(audit_new(fx->store, ""));
    abuf_t b = ABUF_INIT;
    assert_int_equal(audit_render(fx->audit, 0, 0, &b), -1);
    assert_int_equal(audit_render(fx->audit, 0, AUDIT_LIMIT_MAX + 1, &b), -1);
    assert_int_equal(audit_render(fx->audit, -1, 10, &b), -1);
    abuf_free(&b);
    json_t *doc;
    json_t *e = s_entries(fx, 0, AUDIT_LIMIT_MAX, &doc);
    assert_int_equal(json_array_size(e), 0); /* nothing stored */
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_and_since, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_auth_failed_rate_limited, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_peers_on_change, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
