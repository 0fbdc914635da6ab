/*  test_alloc — allocation failures in the dispatcher's targets (node/tabs,
    node/forward, node/dispatch, node/remote): SQLite-style fault injection.

    The executable is linked with -Wl,--wrap for malloc, calloc, realloc,
    strdup, zhashx_new and zlistx_new (CMakeLists.txt, test_*alloc*): every
    call our own objects (the static libraries and this file) make goes
    through the __wrap_ functions below, which fail the N-th call after
    fail_alloc_arm(N) — and, with `rest`, every later one — on the calling thread
    only (the browser link's and the mesh's threads allocate freely). What
    libc, jansson or czmq allocate inside themselves is untouched.

    The tabs run on a real browser link with no browser: tabs are announced
    by synthesized HELLO events and their answers are synthesized frames, so
    every step is deterministic. Forwarding runs between two real meshes in
    one zloop. Each test checks that whatever fails, every attempt ends
    exactly once and nothing dangles (ASan and LSan in the sanitizer
    build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browser_link/link.h"
#include "mesh/mesh.h"
#include "node/catalog.h"
#include "node/cooldown.h"
#include "node/dispatch.h"
#include "node/forward.h"
#include "node/remote.h"
#include "node/tabs.h"
#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/frame.h"
#include "protocol/openai.h"
#include "protocol/uuid7.h"
#include "tests/support/test_mesh_env.h"
#include "tests/support/fail_alloc.h"

#define T_TOKEN "alloc-test-token-3b9a"
#define T_ORIGIN "https://lmarena.ai"
#define T_WAIT_MS 4000
#define T_MODEL "fake-chat"
#define T_MODEL_ID "0198a0b0-0000-7000-8000-000000000001"
#define T_TAB "tab-1"
#define T_SWEEP_MAX 400 /* a sweep that has not run out of calls by then is a bug */

/* ================================================ the allocator (tests/support/fail_alloc) */

/*  The wrap is in place: an armed first call fails. */
static void test_allocator_wrapped(void **state)
{
    (void)state;
    /* through volatile pointers: the compiler may not move the arming
       around a call it knows to be malloc */
    void *(*volatile m)(size_t) = malloc;
    void *(*volatile c)(size_t, size_t) = calloc;
    fail_alloc_arm(1, false);
    void *p = m(16);
    assert_int_equal(fail_alloc_disarm(), 1);
    assert_null(p);
    fail_alloc_arm(2, false);
    void *a = c(1, 16), *b = c(1, 16);
    assert_int_equal(fail_alloc_disarm(), 1);
    assert_non_null(a);
    assert_null(b);
    free(a);
    p = m(16); /* disarmed: works */
    assert_non_null(p);
    free(p);
}

/* ================================================================ the sink */

typedef struct {
    int n_end, n_fail, n_error, n_reject;
    size_t n_deltas;
    target_fail_t fail;
    openai_error_t err;
    char reason[128];
} rec_t;

static int s_finals(const rec_t *r)
{
    return r->n_end + r->n_fail + r->n_error + r->n_reject;
}

static void s_rec_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    (void)kind;
    (void)text;
    (void)len;
    ((rec_t *)arg)->n_deltas++;
}

static void s_rec_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    (void)finish_reason;
    (void)usage;
    ((rec_t *)arg)->n_end++;
}

static void s_rec_fail(void *arg, const target_fail_t *f)
{
    rec_t *r = arg;
    r->n_fail++;
    r->fail = *f; /* its borrowed pointers are not read later */
}

static void s_rec_error(void *arg, const openai_error_t *err, long long retry_after_ms)
{
    (void)retry_after_ms;
    rec_t *r = arg;
    r->n_error++;
    r->err = *err;
}

static void s_rec_reject(void *arg, const char *reason)
{
    rec_t *r = arg;
    r->n_reject++;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

static const target_sink_t s_target_sink = {s_rec_delta, s_rec_end, s_rec_fail};
static const job_sink_t s_job_sink = {s_rec_delta, s_rec_end, s_rec_error, NULL, NULL};

/* ================================================================ the tabs env */

typedef struct {
    char node_id[UUID_STR_LEN];
    cooldown_t *cooldowns;
    catalog_t *catalog;
    link_t *link;
    tabs_t *tabs;
    dispatch_t *dispatch;
    arena_model_t model;
} env_t;

static int s_setup(void **state)
{
    env_t *env = calloc(1, sizeof *env);
    assert_non_null(env);
    char name_id[UUID_STR_LEN];
    uuid4_generate(name_id); /* a fresh name: its key's id is the node id */
    snprintf(env->node_id, sizeof env->node_id, "%s", tmesh_id(name_id));
    env->cooldowns = cooldown_new(NULL, zclock_time());
    env->catalog = catalog_new(NULL);
    assert_non_null(env->cooldowns);
    assert_non_null(env->catalog);
    env->link = tmesh_link_new("alloc-test", T_TOKEN,
                               T_ORIGIN); /* no browser ever connects: frames to tabs are dropped */
    assert_non_null(env->link);
    tabs_config_t tc = {.link = env->link, .cooldowns = env->cooldowns, .tab_jobs = 4};
    env->tabs = tabs_new(&tc);
    assert_non_null(env->tabs);
    env->model = (arena_model_t){.id = T_MODEL_ID,
                                 .name = T_MODEL,
                                 .modality = ARENA_MODALITY_CHAT,
                                 .user_selectable = true};
    /* the catalog the dispatcher reads: one model */
    arena_catalog_t cat = {0};
    cat.models = calloc(1, sizeof *cat.models);
    assert_non_null(cat.models);
    assert_int_equal(arena_model_copy(&cat.models[0], &env->model), 0);
    cat.n = 1;
    assert_int_equal(catalog_replace(env->catalog, &cat), 0);
    arena_catalog_clear(&cat);
    assert_non_null(catalog_find(env->catalog, T_MODEL));
    dispatch_config_t dc = {.tabs = env->tabs,
                            .cooldowns = env->cooldowns,
                            .catalog = env->catalog,
                            .node_id = env->node_id,
                            .retries = 0,
                            .queue_max = 4,
                            .queue_timeout_ms = 1000,
                            .first_byte_timeout_ms = 10000,
                            .idle_timeout_ms = 10000};
    env->dispatch = dispatch_new(&dc);
    assert_non_null(env->dispatch);
    *state = env;
    return 0;
}

static int s_teardown(void **state)
{
    env_t *env = *state;
    fail_alloc_disarm();
    dispatch_destroy(&env->dispatch);
    tabs_destroy(&env->tabs);
    link_destroy(&env->link);
    catalog_destroy(&env->catalog);
    cooldown_destroy(&env->cooldowns);
    free(env);
    return 0;
}

/*  A link event as the link would hand it over (strings borrowed). */
static void s_event(env_t *env, link_ev_kind_t kind, const char *tab, const char *text)
{
    link_event_t ev = {.kind = kind,
                       .tab = (char *)tab,
                       .href = kind == LINK_EV_HELLO ? "https://lmarena.ai/" : NULL,
                       .ua = kind == LINK_EV_HELLO ? "alloc-test" : NULL,
                       .text = (char *)text,
                       .len = text ? strlen(text) : 0};
    tabs_handle_event(env->tabs, &ev);
}

static void s_hello(env_t *env)
{
    s_event(env, LINK_EV_HELLO, T_TAB, NULL);
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.tabs, 1);
}

static size_t s_inflight(env_t *env)
{
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    return ts.inflight;
}

static openai_request_t *s_request(const char *model, const char *prompt)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", model,
             prompt);
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(body, strlen(body), NULL, &req, &err) != 0)
        fail_msg("openai_request_parse: %s", err.message);
    return req;
}

static exec_t *s_start(env_t *env, rec_t *r)
{
    openai_request_t *req = s_request(T_MODEL, "hello");
    openai_error_t err;
    exec_t *x = tabs_exec_start(env->tabs, T_TAB, req, &env->model, &s_target_sink, r, &err);
    openai_request_destroy(&req);
    if (!x)
        fail_msg("tabs_exec_start: %s", err.message);
    return x;
}

/*  The tab's frame for job id (made before any allocation is armed to fail). */
static void s_frame_make(abuf_t *b, const char *kind, const char *id)
{
    int rc = strcmp(kind, "head") == 0    ? frame_encode_head(b, id, 200, "text/plain", NULL)
             : strcmp(kind, "chunk") == 0 ? frame_encode_chunk(b, id, "a0:\"Hi\"\n", 8)
                                          : frame_encode_done(b, id);
    assert_int_equal(rc, 0);
}

/*  The tab's frame for job id, as a FRAME event. */
static void s_frame(env_t *env, const char *kind, const char *id)
{
    abuf_t b = ABUF_INIT;
    s_frame_make(&b, kind, id);
    s_event(env, LINK_EV_FRAME, T_TAB, b.data);
    abuf_free(&b);
}

/* ================================================================ tests */

/*  The tab goes (closed, or replaced by a new hello with its id) while no
    allocation succeeds: its jobs fail once each ("went away"), none is left
    pointing at the freed tab (node/tabs.c used to allocate the list of its
    jobs there and, when that failed, free the tab under them). */
static void test_tab_gone_out_of_memory(void **state)
{
    env_t *env = *state;
    static const struct {
        const char *name;
        link_ev_kind_t kind;
    } cases[] = {
        {"replaced by a new hello", LINK_EV_HELLO},
        {"closed", LINK_EV_GONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  tab gone: %s\n", cases[i].name);
        s_hello(env);
        rec_t r[2] = {0};
        exec_t *x0 = s_start(env, &r[0]), *x1 = s_start(env, &r[1]);
        assert_non_null(x0);
        assert_non_null(x1);
        char id0[32];
        snprintf(id0, sizeof id0, "%s", tabs_exec_id(x0));
        assert_int_equal(s_inflight(env), 2);
        fail_alloc_arm(1, true);
        s_event(env, cases[i].kind, T_TAB, cases[i].kind == LINK_EV_GONE ? "closed" : NULL);
        fail_alloc_disarm();
        for (size_t k = 0; k < 2; k++) {
            assert_int_equal(s_finals(&r[k]), 1);
            assert_int_equal(r[k].n_fail, 1);
            assert_true(r[k].fail.retryable);
            assert_non_null(strstr(r[k].fail.err.message, "went away"));
        }
        assert_int_equal(s_inflight(env), 0);
        tabs_stats_t ts;
        tabs_stats(env->tabs, &ts);
        assert_int_equal(ts.tabs, 0); /* a new tab could not be made: none */
        /* its frames are nobody's now */
        s_hello(env);
        s_frame(env, "done", id0);
        assert_int_equal(s_finals(&r[0]), 1);
        s_event(env, LINK_EV_GONE, T_TAB, "closed");
    }
}

/*  tabs_exec_start with its N-th allocation failing, for every N: it
    starts, or refuses with an error; nothing runs half-made. */
static void test_exec_start_sweep(void **state)
{
    env_t *env = *state;
    s_hello(env);
    openai_request_t *req = s_request(T_MODEL, "hello");
    long n;
    for (n = 1; n < T_SWEEP_MAX; n++) {
        rec_t r = {0};
        openai_error_t err = {0};
        fail_alloc_arm(n, false);
        exec_t *x = tabs_exec_start(env->tabs, T_TAB, req, &env->model, &s_target_sink, &r, &err);
        long failed = fail_alloc_disarm();
        if (!x) {
            assert_int_equal(failed, 1);
            assert_true(err.status >= 400);
            assert_true(err.message[0] != '\0');
            assert_int_equal(s_inflight(env), 0);
        } else {
            assert_int_equal(s_inflight(env), 1);
            tabs_exec_abort(env->tabs, &x);
            assert_null(x);
            assert_int_equal(s_inflight(env), 0);
        }
        assert_int_equal(s_finals(&r), 0);
        if (failed == 0)
            break; /* past the last allocation */
    }
    assert_true(n < T_SWEEP_MAX);
    openai_request_destroy(&req);
}

/*  The answer's frames arrive while the N-th allocation fails (the head's
    stream parser among them), for every N: the job ends exactly once. */
static void test_answer_sweep(void **state)
{
    env_t *env = *state;
    s_hello(env);
    long n;
    for (n = 1; n < T_SWEEP_MAX; n++) {
        rec_t r = {0};
        exec_t *x = s_start(env, &r);
        abuf_t fr[3] = {ABUF_INIT, ABUF_INIT, ABUF_INIT};
        static const char *const kinds[] = {"head", "chunk", "done"};
        for (size_t k = 0; k < 3; k++)
            s_frame_make(&fr[k], kinds[k], tabs_exec_id(x));
        fail_alloc_arm(n, false);
        for (size_t k = 0; k < 3; k++)
            s_event(env, LINK_EV_FRAME, T_TAB, fr[k].data);
        long failed = fail_alloc_disarm();
        for (size_t k = 0; k < 3; k++)
            abuf_free(&fr[k]);
        if (s_finals(&r) ==
            0) /* the done frame itself was lost: the dispatcher's timeouts end it */
            tabs_exec_abort(env->tabs, &x);
        else
            assert_int_equal(s_finals(&r), 1);
        assert_int_equal(s_inflight(env), 0);
        if (failed == 0) {
            assert_int_equal(r.n_end, 1); /* past the last allocation: a good answer */
            assert_int_equal(r.n_deltas, 1);
            break;
        }
    }
    assert_true(n < T_SWEEP_MAX);
}

/*  dispatch_submit with its N-th allocation failing, for every N, for a
    client's request and a peer's (local-only): one answer each — running,
    an error, or a reject — never none, never two. */
static void test_submit_sweep(void **state)
{
    env_t *env = *state;
    s_hello(env);
    for (int local_only = 0; local_only < 2; local_only++) {
        long n;
        for (n = 1; n < T_SWEEP_MAX; n++) {
            rec_t r = {0};
            openai_request_t *req = s_request(T_MODEL, "hello");
            dispatch_opts_t opts = {
                .local_only = true, .peer = "peer-x", .reject = s_rec_reject, .fail = s_rec_fail};
            fail_alloc_arm(n, false);
            job_t *job = dispatch_submit_opts(env->dispatch, &req, &s_job_sink, &r,
                                              local_only ? &opts : NULL);
            long failed = fail_alloc_disarm();
            bool ran = job != NULL;
            assert_null(req);
            if (job) { /* running, or (a client's) queued when the tab could not take it */
                assert_int_equal(s_finals(&r), 0);
                if (local_only)
                    assert_int_equal(s_inflight(env), 1);
                dispatch_cancel(env->dispatch, &job);
            } else {
                assert_int_equal(s_finals(&r), 1);
                if (local_only)
                    assert_int_equal(r.n_error, 0); /* a peer hears reject or fail */
                else
                    assert_int_equal(r.n_reject + r.n_fail, 0);
            }
            assert_int_equal(s_inflight(env), 0);
            if (n == 1) { /* the job itself */
                assert_false(ran);
                if (local_only)
                    assert_string_equal(r.reason, "out of memory");
                else
                    assert_string_equal(r.err.code, "no_capacity");
            }
            if (failed == 0) {
                assert_true(ran); /* past the last allocation: it ran */
                break;
            }
        }
        assert_true(n < T_SWEEP_MAX);
    }
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running + ds.queued + ds.for_peers, 0);
}

/* ================================================================ two meshes */

typedef struct {
    char id[UUID_STR_LEN];
    mesh_t *mesh;
    forward_t *fwd;
    size_t fwds_seen; /* `fwd`s that reached it */
} mnode_t;

typedef struct {
    zloop_t *loop;
    mnode_t a, b;
} menv_t;

static void s_m_on_forward(void *arg, const wire_msg_t *msg)
{
    mnode_t *n = arg;
    if (msg->type == WIRE_FWD)
        n->fwds_seen++; /* B never answers: A's attempts wait */
    else if (n->fwd)
        forward_handle(n->fwd, msg);
}

static void s_m_on_peer(void *arg, const char *id, mesh_liveness_t liveness)
{
    (void)arg;
    (void)id;
    (void)liveness;
}

static void s_m_start(menv_t *m, mnode_t *n, const char *name, const char *seed)
{
    char name_id[UUID_STR_LEN];
    uuid4_generate(name_id); /* a fresh name: its key's id is the node id */
    snprintf(n->id, sizeof n->id, "%s", tmesh_id(name_id));
    const char *seeds[] = {seed};
    mesh_config_t mc = tmesh_config_fast(n->id, s_m_on_forward, s_m_on_peer, n);
    mc.seeds = seeds;
    mc.n_seeds = seed ? 1 : 0;
    n->mesh = tmesh_node_new(&mc, m->loop, name);
    assert_non_null(n->mesh);
    forward_config_t fc = {.mesh = n->mesh, .accept_ms = 200};
    n->fwd = forward_new(&fc);
    assert_non_null(n->fwd);
}

static int s_m_stop_loop(zloop_t *loop, int timer_id, void *arg)
{
    (void)arg;
    zloop_timer_end(loop, timer_id);
    return -1;
}

static void s_m_spin(menv_t *m, size_t ms)
{
    assert_true(zloop_timer(m->loop, ms, 0, s_m_stop_loop, NULL) >= 0);
    zloop_start(m->loop);
}

static bool s_m_alive(menv_t *m)
{
    mesh_peer_view_t v[4];
    size_t k = mesh_peers(m->a.mesh, v, 4);
    for (size_t i = 0; i < k && i < 4; i++)
        if (strcmp(v[i].id, m->b.id) == 0)
            return v[i].liveness == MESH_PEER_ALIVE;
    return false;
}

static void s_m_stop(menv_t *m)
{
    forward_destroy(&m->a.fwd);
    forward_destroy(&m->b.fwd);
    mesh_leave(m->a.mesh);
    mesh_leave(m->b.mesh);
    mesh_destroy(&m->a.mesh);
    mesh_destroy(&m->b.mesh);
    zloop_destroy(&m->loop);
}

/*  A's attempts on B end (peer gone; accept timeout on the tick) while no
    allocation succeeds: each fails exactly once, retryable (node/forward.c
    used to collect them in a zlistx_new it did not check). */
static void test_forward_sweeps_out_of_memory(void **state)
{
    (void)state;
    menv_t m = {0};
    m.loop = zloop_new();
    assert_non_null(m.loop);
    s_m_start(&m, &m.a, "node-a", NULL);
    s_m_start(&m, &m.b, "node-b", mesh_endpoint(m.a.mesh));
    long long deadline = zclock_mono() + T_WAIT_MS;
    while (!s_m_alive(&m) && zclock_mono() < deadline)
        s_m_spin(&m, 20);
    assert_true(s_m_alive(&m));
    openai_request_t *req = s_request(T_MODEL, "hello");
    for (int how = 0; how < 2; how++) {
        fprintf(stderr, "  forward: %s\n", how ? "accept timeout" : "peer gone");
        rec_t r[3] = {0};
        for (size_t i = 0; i < 3; i++) {
            openai_error_t err;
            assert_non_null(
                forward_start(m.a.fwd, m.b.id, req, 30000, &s_target_sink, &r[i], &err));
        }
        forward_stats_t st;
        forward_stats(m.a.fwd, &st);
        assert_int_equal(st.outgoing, 3);
        if (how == 1)
            /* past accept_ms × FORWARD_ACCEPT_STALL: B never answers, so
               nothing shows the link carries our fwds (node/forward.c) */
            s_m_spin(&m, 200 * FORWARD_ACCEPT_STALL + 100);
        fail_alloc_arm(1, true);
        if (how == 0)
            forward_peer_gone(m.a.fwd, m.b.id);
        else
            forward_tick(m.a.fwd);
        fail_alloc_disarm();
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(s_finals(&r[i]), 1);
            assert_int_equal(r[i].n_fail, 1);
            assert_true(r[i].fail.retryable);
        }
        forward_stats(m.a.fwd, &st);
        assert_int_equal(st.outgoing, 0);
    }
    openai_request_destroy(&req);
    s_m_stop(&m);
}

/*  The constructors give up cleanly at every allocation. */
static void test_constructors_sweep(void **state)
{
    env_t *env = *state;
    long n;
    for (n = 1; n < T_SWEEP_MAX; n++) {
        fail_alloc_arm(n, false);
        tabs_config_t tc = {.link = env->link, .cooldowns = env->cooldowns};
        tabs_t *tabs = tabs_new(&tc);
        forward_config_t fc = {.mesh = NULL};
        forward_t *fwd = forward_new(&fc);
        dispatch_config_t dc = {.tabs = env->tabs, .cooldowns = env->cooldowns};
        dispatch_t *d = dispatch_new(&dc);
        remote_config_t rc = {.dispatch = env->dispatch};
        remote_t *rm = remote_new(&rc);
        long failed = fail_alloc_disarm();
        tabs_destroy(&tabs);
        forward_destroy(&fwd);
        dispatch_destroy(&d);
        remote_destroy(&rm);
        if (failed == 0)
            break;
    }
    assert_true(n > 4 && n < T_SWEEP_MAX);
}

int main(void)
{
    alog_set_level(getenv("TEST_ALLOC_VERBOSE") ? ALOG_DEBUG : ALOG_ERROR);
#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocator_wrapped),
        T(test_tab_gone_out_of_memory),
        T(test_exec_start_sweep),
        T(test_answer_sweep),
        T(test_submit_sweep),
        T(test_constructors_sweep),
        cmocka_unit_test(test_forward_sweeps_out_of_memory),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
