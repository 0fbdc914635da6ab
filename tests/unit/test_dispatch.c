/*  test_dispatch — the dispatcher and the tabs module together, in one
    process, against the REAL browser-link server (link_new on 127.0.0.1
    port 0) and the fake tabs of tests/support/fake_link.h. No HTTP: each
    test builds OpenAI requests with openai_request_parse, submits them with
    a recording job_sink_t and drives a small event loop (link events →
    tabs_handle_event, dispatch_poll after each batch and every 20 ms) until
    a condition holds or a bounded wait runs out. The fake picks its answer
    from a `[[fake:NAME …]]` directive in the prompt, or a tab's forced one.

    With env_cfg_t.mesh the node also has a real mesh and the peer target
    (node/forward), driven by a zloop, and raw peers (a ROUTER and a DEALER
    each, speaking the wire format directly) that advertise a model with the
    load a test gives them and record the `fwd`s they get.

    Wiring as node/node.c does it: tabs_config_t.on_catalog → catalog_replace
    (+ dispatch_wake), on_capacity → dispatch_wake. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browser_link/link.h"
#include "node/catalog.h"
#include "node/cooldown.h"
#include "mesh/mesh.h"
#include "node/dispatch.h"
#include "node/forward.h"
#include "node/pace.h"
#include "node/tabs.h"
#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/wire.h"
#include "protocol/openai.h"
#include "protocol/uuid7.h"
#include "tests/support/fake_arena.h"
#include "tests/support/fake_link.h"
#include "tests/support/test_mesh_env.h"

#define T_TOKEN "dispatch-test-token-7c2d"
#define T_ORIGIN FAKE_LINK_DEFAULT_ORIGIN
#define T_WAIT_MS 5000  /* bound on every wait */
#define T_TICK_MS 20    /* loop turn: dispatch_poll at least this often */
#define T_SETTLE_MS 150 /* "nothing more happens": time given to a wrong retry */
#define T_MODEL "fake-chat"
#define T_MODEL_2 "fake-chat-2"
#define T_RECS 8
#define T_MAX_TABS 8
#define T_PEERS 4
#define T_PEER_MODEL "peer-model" /* served by the raw peers only */

/* ================================================================ the sink */

typedef struct {
    abuf_t text;      /* DELTA_TEXT joined */
    abuf_t reasoning; /* DELTA_REASONING joined */
    size_t n_deltas;
    int n_final; /* end + error calls: must end at exactly 1 */
    bool ended, failed;
    char finish[32];
    usage_t usage;
    openai_error_t err;
    long long retry_after_ms;
    long long final_ms; /* monotonic time of the final call */
    /* cancel_at > 0: the delta callback itself cancels `job` at that delta,
       as node/http.c does when a client falls too far behind */
    size_t cancel_at;
    dispatch_t *dispatch;
    job_t *job;
    /* reuse_probe: the error callback allocates and fills blocks of every
       small size before it reads err, as a real sink may (node/http.c
       renders the error with jansson); err must stay valid meanwhile */
    bool reuse_probe;
    size_t *finals; /* shared count of final calls; order = its value at ours */
    size_t order;
    size_t attempts_local, attempts_peer; /* the sink's attempt calls (node/metrics) */
} rec_t;

static void s_rec_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    rec_t *r = arg;
    if (r->n_final)
        fail_msg("a delta after the job ended");
    if (r->cancel_at && r->n_deltas >= r->cancel_at)
        fail_msg("a delta after dispatch_cancel");
    r->n_deltas++;
    if (kind == DELTA_TEXT)
        assert_int_equal(abuf_append(&r->text, text, len), 0);
    else if (kind == DELTA_REASONING)
        assert_int_equal(abuf_append(&r->reasoning, text, len), 0);
    if (r->cancel_at && r->n_deltas == r->cancel_at) {
        assert_non_null(r->job);
        dispatch_cancel(r->dispatch, &r->job);
        assert_null(r->job);
    }
}

static void s_rec_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    rec_t *r = arg;
    r->n_final++;
    r->ended = true;
    r->order = ++*r->finals;
    snprintf(r->finish, sizeof r->finish, "%s", finish_reason ? finish_reason : "(null)");
    r->usage = usage ? *usage : (usage_t)USAGE_UNKNOWN;
    r->final_ms = zclock_mono();
}

#define PROBE_SIZES 128 /* 16 .. 2048 bytes */
#define PROBE_EACH 12   /* blocks of each size: past glibc's 7 cached chunks */
#define PROBE_BLOCKS (PROBE_SIZES * PROBE_EACH)

static void s_rec_error(void *arg, const openai_error_t *err, long long retry_after_ms)
{
    rec_t *r = arg;
    void *blocks[PROBE_BLOCKS] = {0};
    for (size_t i = 0; r->reuse_probe && i < PROBE_BLOCKS; i++) {
        size_t size = (i / PROBE_EACH + 1) * 16;
        blocks[i] = malloc(size);
        assert_non_null(blocks[i]);
        memset(blocks[i], 0xA5, size);
    }
    r->n_final++;
    r->failed = true;
    r->order = ++*r->finals;
    r->err = *err;
    r->retry_after_ms = retry_after_ms;
    r->final_ms = zclock_mono();
    for (size_t i = 0; i < PROBE_BLOCKS; i++)
        free(blocks[i]);
}

static void s_rec_attempt(void *arg, bool on_peer)
{
    rec_t *r = arg;
    if (on_peer)
        r->attempts_peer++;
    else
        r->attempts_local++;
}

static const job_sink_t s_rec_sink = {s_rec_delta, s_rec_end, s_rec_error, s_rec_attempt, NULL};

/*  The text joined so far, NUL-terminated ("" when none). */
static const char *s_text(rec_t *r)
{
    assert_int_equal(abuf_append(&r->text, "", 0), 0);
    return r->text.data ? r->text.data : "";
}

static const char *s_reasoning(rec_t *r)
{
    assert_int_equal(abuf_append(&r->reasoning, "", 0), 0);
    return r->reasoning.data ? r->reasoning.data : "";
}

/* ================================================================ the env */

typedef struct {
    size_t tabs;
    int tab_jobs;
    int retries;
    int queue_max;
    long long queue_timeout_ms;
    long long first_byte_timeout_ms;
    long long idle_timeout_ms;
    bool no_reconnect;                   /* fake tabs stay down after a close */
    const char *arena_mode;              /* NULL: the default (direct-battle) */
    pace_t *pace;                        /* NULL: no pacing */
    const char *tab_account[T_MAX_TABS]; /* the fake tabs' accounts; NULL: none */
    long long recaptcha_backoff_ms, recaptcha_backoff_max_ms;
    bool mesh; /* a mesh, the peer target and a zloop (raw peers: s_peer_add) */
} env_cfg_t;

/*  A raw peer: its inbox (ROUTER), a DEALER to the node's inbox, the state
    it advertises, and the `fwd`s it got. */
typedef struct {
    char id[32];
    zsock_t *router, *dealer;
    char ep[32];
    uint32_t inflight, capacity;
    size_t fwds;
    bool accept; /* answers a `fwd` with its acceptance (chunk seq 0) */
} raw_peer_t;

typedef struct {
    env_cfg_t cfg;
    char node_id[UUID_STR_LEN];
    cooldown_t *cooldowns;
    catalog_t *catalog;
    link_t *link;
    zpoller_t *poller;
    tabs_t *tabs;
    dispatch_t *dispatch;
    fake_link_t *fake;
    fake_link_t *fake2;                   /* a later browser, when a test needs one */
    size_t catalogs;                      /* on_catalog calls */
    size_t stales;                        /* on_stale calls */
    size_t account_changes;               /* on_accounts calls */
    atomic_ulong tab_fetches[T_MAX_TABS]; /* fetches per tab of env->fake (fake thread) */
    rec_t recs[T_RECS]; /* live until teardown: dispatch_destroy may still report */
    size_t finals;
    zloop_t *loop; /* cfg.mesh */
    mesh_t *mesh;
    forward_t *forward;
    raw_peer_t peers[T_PEERS];
    size_t n_peers;
} env_t;

static void s_on_catalog(void *arg, arena_catalog_t *cat)
{
    env_t *env = arg;
    env->catalogs++;
    catalog_replace(env->catalog, cat);
    if (env->dispatch)
        dispatch_wake(env->dispatch);
}

static void s_on_capacity(void *arg)
{
    env_t *env = arg;
    if (env->dispatch)
        dispatch_wake(env->dispatch);
}

/*  As node/node.c: the row is never used again, the pages are read again. */
static void s_on_stale(void *arg, const char *model, const char *arena_id)
{
    (void)model;
    env_t *env = arg;
    env->stales++;
    catalog_mark_stale(env->catalog, arena_id);
    tabs_refresh_catalog(env->tabs);
}

static void s_on_accounts(void *arg)
{
    env_t *env = arg;
    env->account_changes++;
}

static int s_loop_stop(zloop_t *loop, int timer_id, void *arg)
{
    (void)arg;
    zloop_timer_end(loop, timer_id);
    return -1;
}

/*  One loop turn: wait up to ms for link events (with a mesh: run its loop
    for ms), feed them all, poll. */
static void s_turn(env_t *env, int ms)
{
    if (env->loop) {
        assert_true(zloop_timer(env->loop, (size_t)ms, 0, s_loop_stop, NULL) >= 0);
        zloop_start(env->loop);
    } else {
        zpoller_wait(env->poller, ms);
    }
    link_event_t ev;
    while (link_recv(env->link, &ev) == 0) {
        tabs_handle_event(env->tabs, &ev);
        link_event_clear(&ev);
    }
    dispatch_poll(env->dispatch);
}

typedef bool(s_pred_fn)(env_t *env, const void *arg);

/*  Runs the loop until pred holds (true) or timeout_ms passes (false). */
static bool s_until(env_t *env, s_pred_fn *pred, const void *arg, long long timeout_ms)
{
    long long deadline = zclock_mono() + timeout_ms;
    for (;;) {
        if (pred(env, arg))
            return true;
        if (zclock_mono() >= deadline)
            return false;
        s_turn(env, T_TICK_MS);
    }
}

/*  Runs the loop for ms whatever happens. */
static void s_spin(env_t *env, long long ms)
{
    long long deadline = zclock_mono() + ms;
    while (zclock_mono() < deadline)
        s_turn(env, T_TICK_MS);
}

static bool s_is_final(env_t *env, const void *arg)
{
    (void)env;
    return ((const rec_t *)arg)->n_final > 0;
}

static void s_wait_final(env_t *env, rec_t *r)
{
    if (!s_until(env, s_is_final, r, T_WAIT_MS))
        fail_msg("the job did not end within %d ms (%zu deltas)", T_WAIT_MS, r->n_deltas);
    assert_int_equal(r->n_final, 1);
}

static void s_counters(env_t *env, fake_link_counters_t *c)
{
    fake_link_counters(env->fake, c);
}

/*  A counter of fake_link_counters_t at least `min`. */
typedef struct {
    size_t offset;
    unsigned long min;
} s_counter_at_least_t;

static bool s_counter_reached(env_t *env, const void *arg)
{
    const s_counter_at_least_t *want = arg;
    fake_link_counters_t c;
    s_counters(env, &c);
    unsigned long v;
    memcpy(&v, (const char *)&c + want->offset, sizeof v);
    return v >= want->min;
}

#define S_WAIT_COUNTER(env, field, n)                                                              \
    do {                                                                                           \
        s_counter_at_least_t want_ = {offsetof(fake_link_counters_t, field), (n)};                 \
        if (!s_until((env), s_counter_reached, &want_, T_WAIT_MS))                                 \
            fail_msg("fake link counter " #field " did not reach %lu", (unsigned long)(n));        \
    } while (0)

static bool s_env_ready(env_t *env, const void *arg)
{
    (void)arg;
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    return ts.tabs == env->cfg.tabs && ts.healthy == env->cfg.tabs &&
           catalog_find(env->catalog, T_MODEL) && catalog_find(env->catalog, T_MODEL_2) &&
           env->catalogs >= env->cfg.tabs;
}

static bool s_no_tabs(env_t *env, const void *arg)
{
    (void)arg;
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    return ts.tabs == 0;
}

static bool s_catalogs_at_least(env_t *env, const void *arg)
{
    return env->catalogs >= *(const size_t *)arg;
}

static int s_setup(void **state)
{
    env_t *env = calloc(1, sizeof *env);
    assert_non_null(env);
    env->cfg = (env_cfg_t){
        .tabs = 1,
        .tab_jobs = 4,
        .retries = 2,
        .queue_max = 16,
        .queue_timeout_ms = 5000,
        .first_byte_timeout_ms = 10000,
        .idle_timeout_ms = 10000,
    };
    for (size_t i = 0; i < T_RECS; i++)
        env->recs[i].finals = &env->finals;
    *state = env; /* calloc: every rec_t buffer is ABUF_INIT */
    return 0;
}

/*  On the fake's thread: counts fetches per tab. */
static void s_fake_event(void *arg, const json_t *ev)
{
    env_t *env = arg;
    const char *name = json_string_value(json_object_get(ev, "ev"));
    json_int_t tab = json_integer_value(json_object_get(ev, "tab"));
    if (name && strcmp(name, "fetch") == 0 && tab >= 0 && tab < T_MAX_TABS)
        atomic_fetch_add(&env->tab_fetches[tab], 1);
}

/*  n fake tabs on env's link (the first fake counts fetches per tab). */
static fake_link_t *s_fake_new(env_t *env, size_t n, bool no_reconnect)
{
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/link", link_port(env->link));
    fake_link_config_t fc = {
        .url = url,
        .origin = T_ORIGIN,
        .token = T_TOKEN,
        .tabs = n,
        .no_reconnect = no_reconnect,
        .tab_account = env->fake ? NULL : env->cfg.tab_account,
        .n_tab_account = env->fake ? 0 : T_MAX_TABS,
        .on_event = env->fake ? NULL : s_fake_event,
        .on_event_arg = env,
    };
    fake_link_t *fake = fake_link_new(&fc);
    assert_non_null(fake);
    return fake;
}

/* ================================================================ the mesh */

/*  As node/node.c: answers to our attempts go to forward, a peer's change
    lets queued work try again. */
static void s_on_forward(void *arg, const wire_msg_t *msg)
{
    env_t *env = arg;
    if (env->forward)
        forward_handle(env->forward, msg);
}

static void s_on_peer(void *arg, const char *id, mesh_liveness_t liveness)
{
    env_t *env = arg;
    if ((liveness == MESH_PEER_DEAD || liveness == MESH_PEER_LEFT) && env->forward)
        forward_peer_gone(env->forward, id);
    if (env->dispatch)
        dispatch_wake(env->dispatch);
}

static int s_on_link_loop(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    (void)sock;
    env_t *env = arg;
    link_event_t ev;
    while (link_recv(env->link, &ev) == 0) {
        tabs_handle_event(env->tabs, &ev);
        link_event_clear(&ev);
    }
    return 0;
}

/*  The raw peer introduces itself with the state a test gave it. */
static void s_peer_hello(raw_peer_t *p)
{
    wire_model_t model = {
        .name = T_PEER_MODEL, .arena_id = "p-1", .modality = "chat", .reason = ""};
    assert_int_equal(tmesh_send_hello(p->dealer, p->id, p->ep, &model, p->inflight, p->capacity),
                     0);
}

/*  Whatever reaches a raw peer: pings are acked, `fwd`s counted. */
static int s_peer_on(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    raw_peer_t *p = arg;
    wire_msg_t m;
    if (tmesh_recv(sock, &m) == 0) {
        if (m.type == WIRE_PING) {
            wire_msg_t ack = {.type = WIRE_ACK, .seq = m.seq};
            tmesh_send_as(p->dealer, p->id, &ack); /* a lost ack: the next ping retries */
        } else if (m.type == WIRE_FWD) {
            p->fwds++;
            wire_msg_t ok = {.type = WIRE_CHUNK, .rid = m.rid, .chunk_seq = 0};
            if (p->accept)
                assert_int_equal(tmesh_send_as(p->dealer, p->id, &ok), 0);
        }
        wire_msg_clear(&m);
    }
    return 0;
}

/*  A raw peer that serves T_PEER_MODEL with that load. */
static raw_peer_t *s_peer_add(env_t *env, uint32_t inflight, uint32_t capacity)
{
    assert_true(env->n_peers < T_PEERS);
    raw_peer_t *p = &env->peers[env->n_peers];
    snprintf(p->id, sizeof p->id, "raw-peer-%zu", env->n_peers++);
    p->inflight = inflight;
    p->capacity = capacity;
    p->router = tmesh_inbox_new(p->ep, sizeof p->ep);
    assert_non_null(p->router);
    assert_int_equal(zloop_reader(env->loop, p->router, s_peer_on, p), 0);
    p->dealer = tmesh_dealer_new(p->id, mesh_endpoint(env->mesh));
    assert_non_null(p->dealer);
    assert_int_equal(zloop_reader(env->loop, p->dealer, s_peer_on, p), 0);
    s_peer_hello(p);
    return p;
}

/*  The raw peer dies (its sockets close without a word). */
static void s_peer_kill(env_t *env, raw_peer_t *p)
{
    if (!p->router)
        return;
    zloop_reader_end(env->loop, p->router);
    zloop_reader_end(env->loop, p->dealer);
    zsock_destroy(&p->router);
    zsock_destroy(&p->dealer);
}

/*  Every raw peer is alive in the node's view, with its state. */
static bool s_peers_alive(env_t *env, const void *arg)
{
    (void)arg;
    mesh_peer_view_t v[T_PEERS + 1];
    size_t k = mesh_peers(env->mesh, v, T_PEERS + 1), alive = 0;
    for (size_t i = 0; i < k && i < T_PEERS + 1; i++)
        alive += v[i].liveness == MESH_PEER_ALIVE && v[i].state && v[i].state->capacity;
    return alive == env->n_peers;
}

static void s_mesh_start(env_t *env)
{
    env->loop = zloop_new();
    assert_non_null(env->loop);
    assert_int_equal(zloop_reader(env->loop, link_pipe(env->link), s_on_link_loop, env), 0);
    mesh_config_t mc = tmesh_config_fast(env->node_id, s_on_forward, s_on_peer, env);
    env->mesh = tmesh_node_new(&mc, env->loop, "dispatch-test");
    assert_non_null(env->mesh);
    forward_config_t fc = {.mesh = env->mesh, .on_capacity = s_on_capacity, .arg = env};
    env->forward = forward_new(&fc);
    assert_non_null(env->forward);
}

static void s_mesh_stop(env_t *env)
{
    forward_destroy(&env->forward);
    if (env->mesh)
        mesh_leave(env->mesh);
    mesh_destroy(&env->mesh);
    for (size_t i = 0; i < env->n_peers; i++)
        s_peer_kill(env, &env->peers[i]);
    env->n_peers = 0;
    if (env->loop)
        zloop_reader_end(env->loop, link_pipe(env->link));
    zloop_destroy(&env->loop);
}

/*  Starts everything with env->cfg and waits until every tab is connected
    and the catalog is known. */
static void s_env_start(env_t *env)
{
    char name_id[UUID_STR_LEN];
    uuid4_generate(name_id); /* a fresh name: its key's id is the node id */
    snprintf(env->node_id, sizeof env->node_id, "%s", tmesh_id(name_id));
    env->cooldowns = cooldown_new(NULL, zclock_time());
    env->catalog = catalog_new(NULL);
    assert_non_null(env->cooldowns);
    assert_non_null(env->catalog);

    env->link = tmesh_link_new("dispatch-test", T_TOKEN, T_ORIGIN);
    assert_non_null(env->link);
    env->poller = zpoller_new(link_pipe(env->link), NULL);
    assert_non_null(env->poller);

    tabs_config_t tc = {
        .link = env->link,
        .cooldowns = env->cooldowns,
        .tab_jobs = env->cfg.tab_jobs,
        .arena_mode = env->cfg.arena_mode,
        .pace = env->cfg.pace,
        .on_stale = s_on_stale,
        .on_accounts = s_on_accounts,
        .on_catalog = s_on_catalog,
        .on_capacity = s_on_capacity,
        .arg = env,
    };
    env->tabs = tabs_new(&tc);
    assert_non_null(env->tabs);
    if (env->cfg.mesh)
        s_mesh_start(env);
    dispatch_config_t dc = {
        .tabs = env->tabs,
        .cooldowns = env->cooldowns,
        .catalog = env->catalog,
        .mesh = env->mesh,
        .forward = env->forward,
        .node_id = env->node_id,
        .retries = env->cfg.retries,
        .queue_max = env->cfg.queue_max,
        .queue_timeout_ms = env->cfg.queue_timeout_ms,
        .first_byte_timeout_ms = env->cfg.first_byte_timeout_ms,
        .idle_timeout_ms = env->cfg.idle_timeout_ms,
        .recaptcha_backoff_ms = env->cfg.recaptcha_backoff_ms,
        .recaptcha_backoff_max_ms = env->cfg.recaptcha_backoff_max_ms,
        .on_cooled = s_on_accounts, /* as node.c: a cooldown is published at once */
        .arg = env,
    };
    env->dispatch = dispatch_new(&dc);
    assert_non_null(env->dispatch);

    env->fake = s_fake_new(env, env->cfg.tabs, env->cfg.no_reconnect);
    if (!s_until(env, s_env_ready, NULL, T_WAIT_MS))
        fail_msg("%zu tab(s) and the catalog were not ready within %d ms", env->cfg.tabs,
                 T_WAIT_MS);
}

static int s_teardown(void **state)
{
    env_t *env = *state;
    /* The tabs go first so nothing answers while the node side shuts down;
       dispatch_destroy may still report to env->recs. */
    fake_link_destroy(&env->fake);
    fake_link_destroy(&env->fake2);
    if (env->dispatch)
        dispatch_destroy(&env->dispatch);
    s_mesh_stop(env);
    tabs_destroy(&env->tabs);
    zpoller_destroy(&env->poller);
    link_destroy(&env->link);
    catalog_destroy(&env->catalog);
    cooldown_destroy(&env->cooldowns);
    pace_destroy(&env->cfg.pace);
    for (size_t i = 0; i < T_RECS; i++) {
        abuf_free(&env->recs[i].text);
        abuf_free(&env->recs[i].reasoning);
    }
    free(env);
    return 0;
}

/*  A parsed request for model with one user message. */
static openai_request_t *s_request(const char *model, const char *prompt)
{
    json_t *j = json_pack("{s:s,s:[{s:s,s:s}]}", "model", model, "messages", "role", "user",
                          "content", prompt);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(text);
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(text, strlen(text), NULL, &req, &err) != 0)
        fail_msg("openai_request_parse: %s", err.message);
    free(text);
    return req;
}

/*  Submits a request; the request is always consumed. */
static job_t *s_submit(env_t *env, rec_t *r, const char *model, const char *prompt)
{
    openai_request_t *req = s_request(model, prompt);
    job_t *job = dispatch_submit(env->dispatch, &req, &s_rec_sink, r);
    assert_null(req);
    return job;
}

/*  Forces the tab the dispatcher will pick first (the same choice
    tabs_pick makes for the next request) to answer with directive. Returns
    its index in the fake link. */
static size_t s_force_first_pick(env_t *env, const char *directive)
{
    const char *tab = NULL;
    assert_int_equal(tabs_pick(env->tabs, NULL, 0, &tab), TABS_PICK_OK);
    for (size_t i = 0; i < fake_link_tabs(env->fake); i++) {
        const char *id = fake_link_tab_id(env->fake, i);
        if (id && strcmp(id, tab) == 0) {
            assert_int_equal(fake_link_set_force(env->fake, i, directive), 0);
            return i;
        }
    }
    fail_msg("the picked tab %s is not one of the fake's", tab);
    return 0;
}

static void s_expect_error(const rec_t *r, int status, const char *code)
{
    assert_false(r->ended);
    assert_true(r->failed);
    assert_int_equal(r->err.status, status); /* first: a bad status may come with a bad code */
    if (strcmp(r->err.code, code) != 0)
        fail_msg("error %d %s (%s), want %d %s", r->err.status, r->err.code, r->err.message, status,
                 code);
}

/* ================================================================ tests */

/*  Answers stream as deltas, then one end with the finish reason and usage. */
static void test_answers(void **state)
{
    env_t *env = *state;
    s_env_start(env);
    static const struct {
        const char *prompt;
        const char *text, *reasoning, *finish;
        long long pt, ct;
        size_t min_deltas;
    } cases[] = {
        {"Say hi [[fake:text pt=11 ct=7]]", FAKE_ARENA_ANSWER, "", "stop", 11, 7, 3},
        {"[[fake:text text=\"short one\" piece=2 pt=3 ct=2 finish=length]]", "short one", "",
         "length", 3, 2, 5},
        {"[[fake:reasoning pt=5 ct=9]]", FAKE_ARENA_ANSWER, FAKE_ARENA_THINKING, "stop", 5, 9, 6},
        {"[[fake:text split=1 seed=7 pt=1 ct=1]]", FAKE_ARENA_ANSWER, "", "stop", 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec_t *r = &env->recs[i];
        job_t *job = s_submit(env, r, T_MODEL, cases[i].prompt);
        assert_non_null(job);
        s_wait_final(env, r);
        if (!r->ended)
            fail_msg("case %zu: error %d %s: %s", i, r->err.status, r->err.code, r->err.message);
        assert_string_equal(s_text(r), cases[i].text);
        assert_string_equal(s_reasoning(r), cases[i].reasoning);
        assert_string_equal(r->finish, cases[i].finish);
        assert_int_equal(r->usage.prompt_tokens, cases[i].pt);
        assert_int_equal(r->usage.completion_tokens, cases[i].ct);
        assert_true(r->n_deltas >= cases[i].min_deltas);
        assert_int_equal(r->attempts_local, 1); /* where it ran: this node's tab */
        assert_int_equal(r->attempts_peer, 0);
    }
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 4);
    assert_int_equal(c.rejected, 0);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 0);
    assert_int_equal(ds.queued, 0);
    assert_int_equal(ds.ok, 4);
    assert_int_equal(ds.failed, 0);
    assert_true(ds.p50_ms >= 0);
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.inflight, 0);
}

/*  Requests that cannot be served end before dispatch_submit returns, and
    reach no tab: an unknown model, a prompt over LMArena's size limit. */
static void test_refused_at_once(void **state)
{
    env_t *env = *state;
    s_env_start(env);
    char *big = malloc(113001 + 1);
    assert_non_null(big);
    memset(big, 'a', 113001);
    big[113001] = '\0';
    const struct {
        const char *model, *prompt;
        int status;
        const char *code, *message;
    } cases[] = {
        {"no-such-model", "hello", 404, "model_not_found", "no-such-model"},
        {"FAKE-CHAT", "hello", 404, "model_not_found", "FAKE-CHAT"},
        {T_MODEL, big, 413, "request_too_large", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec_t *r = &env->recs[i];
        assert_null(s_submit(env, r, cases[i].model, cases[i].prompt));
        assert_int_equal(r->n_final, 1);
        s_expect_error(r, cases[i].status, cases[i].code);
        assert_non_null(strstr(r->err.message, cases[i].message));
    }
    free(big);
    s_spin(env, T_SETTLE_MS);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 0);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.failed, 3);
    assert_int_equal(ds.running, 0);
    assert_int_equal(ds.queued, 0);
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.inflight, 0);
}

/*  429 cools (node, model): the client gets 429 with the cooldown as
    retry-after, and the next request for that model is refused at once. */
static void test_rate_limit(void **state)
{
    env_t *env = *state;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "[[fake:ratelimit retry=30]]"));
    s_wait_final(env, r);
    s_expect_error(r, 429, "rate_limited");
    assert_in_range(r->retry_after_ms, 29000, 30000);
    const char *reason = NULL;
    long long left =
        cooldown_remaining(env->cooldowns, env->node_id, T_MODEL, zclock_time(), &reason);
    assert_in_range(left, 29000, 30000);
    assert_string_equal(reason, "rate_limited");
    /* only that model: the other model and the whole node are not cooled */
    assert_int_equal(
        cooldown_remaining(env->cooldowns, env->node_id, T_MODEL_2, zclock_time(), NULL), 0);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 1);

    /* the next request for the model: 429 at once, no fetch */
    rec_t *r2 = &env->recs[1];
    assert_null(s_submit(env, r2, T_MODEL, "plain question"));
    assert_int_equal(r2->n_final, 1);
    s_expect_error(r2, 429, "rate_limited");
    assert_in_range(r2->retry_after_ms, 1, 30000);
    s_spin(env, T_SETTLE_MS);
    s_counters(env, &c);
    assert_int_equal(c.fetches, 1);

    /* another model is still served */
    rec_t *r3 = &env->recs[2];
    assert_non_null(s_submit(env, r3, T_MODEL_2, "plain question"));
    s_wait_final(env, r3);
    assert_true(r3->ended);
    assert_string_equal(s_text(r3), FAKE_ARENA_ANSWER);
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
}

/*  Retry-After absent → the default cooldown (1800 s); below 5 s → 5 s. The
    cooldown is the (node, model)'s, so another tab of this node is not tried. */
static void test_rate_limit_floor_and_default(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    s_env_start(env);
    static const struct {
        const char *model, *prompt;
        long long lo, hi;
    } cases[] = {
        {T_MODEL, "[[fake:ratelimit retry=none]]", 1790000, 1800000},
        {T_MODEL_2, "[[fake:ratelimit retry=1]]", 4000, COOLDOWN_MIN_MS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec_t *r = &env->recs[i];
        assert_non_null(s_submit(env, r, cases[i].model, cases[i].prompt));
        s_wait_final(env, r);
        s_expect_error(r, 429, "rate_limited");
        assert_in_range(r->retry_after_ms, cases[i].lo, cases[i].hi);
        long long left =
            cooldown_remaining(env->cooldowns, env->node_id, cases[i].model, zclock_time(), NULL);
        assert_in_range(left, cases[i].lo, cases[i].hi);
    }
    s_spin(env, T_SETTLE_MS);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
}

static bool s_tab_fetches_total(env_t *env, const void *arg)
{
    unsigned long sum = 0;
    for (size_t i = 0; i < T_MAX_TABS; i++)
        sum += atomic_load(&env->tab_fetches[i]);
    return sum >= *(const unsigned long *)arg;
}

/*  Work goes to the tab with the fewest jobs, up to tab_jobs each; past
    that it queues. */
static void test_spread_over_tabs(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 3;
    env->cfg.tab_jobs = 2;
    s_env_start(env);
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.capacity, 6);
    job_t *jobs[T_RECS] = {0};
    for (size_t round = 1; round <= 2; round++) {
        for (size_t i = 0; i < 3; i++) {
            size_t k = (round - 1) * 3 + i;
            jobs[k] = s_submit(env, &env->recs[k], T_MODEL, "[[fake:stall]]");
            assert_non_null(jobs[k]);
        }
        if (!s_until(env, s_tab_fetches_total, &(unsigned long){round * 3}, T_WAIT_MS))
            fail_msg("round %zu: the fetches did not arrive", round);
        for (size_t t = 0; t < 3; t++)
            if (atomic_load(&env->tab_fetches[t]) != round)
                fail_msg("round %zu: tab %zu got %lu fetches, want %zu", round, t,
                         atomic_load(&env->tab_fetches[t]), round);
    }
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.inflight, 6);
    const char *tab = NULL;
    assert_int_equal(tabs_pick(env->tabs, NULL, 0, &tab), TABS_PICK_BUSY);
    /* the seventh waits */
    jobs[6] = s_submit(env, &env->recs[6], T_MODEL, "hello");
    assert_non_null(jobs[6]);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 6);
    assert_int_equal(ds.queued, 1);
    /* one slot frees: the queued one runs there and ends */
    dispatch_cancel(env->dispatch, &jobs[0]);
    s_wait_final(env, &env->recs[6]);
    assert_true(env->recs[6].ended);
    for (size_t k = 1; k < 6; k++)
        dispatch_cancel(env->dispatch, &jobs[k]);
    S_WAIT_COUNTER(env, aborts, 6);
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.inflight, 0);
    for (size_t k = 0; k < 6; k++)
        assert_int_equal(env->recs[k].n_final, 0);
}

/*  A failure before the first byte is retried on the other tab. */
static void test_retry_on_other_tab(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    s_env_start(env);
    s_force_first_pick(env, "error500");
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "hello"));
    s_wait_final(env, r);
    if (!r->ended)
        fail_msg("error %d %s: %s", r->err.status, r->err.code, r->err.message);
    assert_string_equal(s_text(r), FAKE_ARENA_ANSWER);
    assert_string_equal(r->finish, "stop");
    /* the 500 and the answer; the fake counts a done after writing it */
    S_WAIT_COUNTER(env, done, 2);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
    assert_int_equal(c.done, 2);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.ok, 1);
    assert_int_equal(ds.failed, 0);
}

/*  The error a final failure reports must still be readable inside the
    sink's error callback, whatever the callback allocates first. */
static void test_final_error_outlives_job(void **state)
{
    /* A regression test: s_job_error() used to free the job, then call
       sink.error(arg, err) with err == &job->last_fail.err. With glibc the
       probe's allocations reused the freed job and the callback read
       garbage; ASan reported a heap-use-after-free. */
    env_t *env = *state;
    s_env_start(env);
    static const struct {
        const char *prompt;
        int status;
        const char *code;
    } cases[] = {
        {"[[fake:moderation]]", 422, "content_rejected"},
        {"[[fake:error500]]", 502, "upstream_error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec_t *r = &env->recs[i];
        r->reuse_probe = true;
        assert_non_null(s_submit(env, r, T_MODEL, cases[i].prompt));
        s_wait_final(env, r);
        s_expect_error(r, cases[i].status, cases[i].code);
        assert_true(strlen(r->err.message) > 0);
        assert_true((unsigned char)r->err.message[0] != 0xA5);
    }
}

/*  With every tab failing the same way before the first byte, the attempts
    stop at 1 + retries and the client gets the last failure. */
static void test_retries_bounded(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 3;
    env->cfg.retries = 1;
    s_env_start(env);
    static const struct {
        const char *prompt;
        const char *message; /* a part of the client's message */
    } cases[] = {
        {"[[fake:error500]]", "500"},
        {"[[fake:empty]]", "empty answer"},
        {"[[fake:arenaerror msg=\"quota exceeded\"]]", "quota exceeded"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec_t *r = &env->recs[i];
        fake_link_counters_t before, after;
        s_counters(env, &before);
        assert_non_null(s_submit(env, r, T_MODEL, cases[i].prompt));
        s_wait_final(env, r);
        s_expect_error(r, 502, "upstream_error");
        assert_int_equal(r->n_deltas, 0);
        if (!strstr(r->err.message, cases[i].message))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, r->err.message, cases[i].message);
        s_spin(env, T_SETTLE_MS);
        s_counters(env, &after);
        if (after.fetches - before.fetches != 2)
            fail_msg("case %zu: %lu fetches, want 2", i, after.fetches - before.fetches);
    }
}

/*  A tab that goes away before the first byte: the request moves to another. */
static void test_tab_gone_retried(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    s_env_start(env);
    size_t idx = s_force_first_pick(env, "stall");
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "hello"));
    S_WAIT_COUNTER(env, fetches, 1);
    assert_int_equal(fake_link_drop_tab(env->fake, idx), 0);
    s_wait_final(env, r);
    if (!r->ended)
        fail_msg("error %d %s: %s", r->err.status, r->err.code, r->err.message);
    assert_string_equal(s_text(r), FAKE_ARENA_ANSWER);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
}

/*  No tab at all: the request waits in the queue and starts when a tab
    connects (tabs → on_capacity → dispatch_wake). */
static void test_waits_for_a_tab(void **state)
{
    env_t *env = *state;
    env->cfg.no_reconnect = true;
    s_env_start(env);
    assert_int_equal(fake_link_drop_tab(env->fake, 0), 0); /* and it stays down */
    if (!s_until(env, s_no_tabs, NULL, T_WAIT_MS))
        fail_msg("the dropped tab was not reported gone");
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "hello"));
    assert_int_equal(r->n_final, 0);
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(r->n_final, 0);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.queued, 1);
    /* another browser connects a tab */
    env->fake2 = s_fake_new(env, 1, false);
    s_wait_final(env, r);
    if (!r->ended)
        fail_msg("error %d %s: %s", r->err.status, r->err.code, r->err.message);
    assert_string_equal(s_text(r), FAKE_ARENA_ANSWER);
    fake_link_counters_t c;
    fake_link_counters(env->fake2, &c);
    assert_int_equal(c.fetches, 1);
}

/*  Failures the request itself causes are final: one fetch, the status named. */
static void test_not_retried(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    s_env_start(env);
    static const struct {
        const char *prompt;
        int status;
        const char *code;
    } cases[] = {
        {"[[fake:moderation]]", 422, "content_rejected"},
        {"[[fake:toolarge]]", 413, "request_too_large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec_t *r = &env->recs[i];
        fake_link_counters_t before, after;
        s_counters(env, &before);
        assert_non_null(s_submit(env, r, T_MODEL, cases[i].prompt));
        s_wait_final(env, r);
        s_expect_error(r, cases[i].status, cases[i].code);
        assert_int_equal(r->n_deltas, 0);
        s_spin(env, T_SETTLE_MS);
        s_counters(env, &after);
        if (after.fetches - before.fetches != 1)
            fail_msg("case %zu: %lu fetches, want 1 (not retried)", i,
                     after.fetches - before.fetches);
    }
}

/*  A tab dying after content was delivered: deltas, then 502, no retry. */
static void test_mid_stream_close(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "[[fake:midclose after=2]]"));
    s_wait_final(env, r);
    s_expect_error(r, 502, "upstream_error");
    assert_int_equal(r->n_deltas, 2);
    const char *text = s_text(r);
    assert_true(strlen(text) > 0);
    assert_true(strlen(text) < strlen(FAKE_ARENA_ANSWER));
    assert_int_equal(strncmp(text, FAKE_ARENA_ANSWER, strlen(text)), 0);
    s_spin(env, T_SETTLE_MS);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 1);
}

/*  Every slot busy: a queued request waits queue_timeout_ms, then 503. */
static void test_queue_timeout(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    env->cfg.queue_timeout_ms = 300;
    s_env_start(env);
    rec_t *stall = &env->recs[0], *r = &env->recs[1];
    assert_non_null(s_submit(env, stall, T_MODEL, "[[fake:stall]]"));
    S_WAIT_COUNTER(env, fetches, 1);

    long long t0 = zclock_mono();
    assert_non_null(s_submit(env, r, T_MODEL, "hello"));
    assert_int_equal(r->n_final, 0);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 1);
    assert_int_equal(ds.queued, 1);

    s_wait_final(env, r);
    s_expect_error(r, 503, "no_capacity");
    assert_true(r->retry_after_ms > 0);
    long long waited = r->final_ms - t0;
    assert_in_range(waited, 300, 1500);
    /* the running job is untouched, and nothing else reached a tab */
    assert_int_equal(stall->n_final, 0);
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 1);
    assert_int_equal(ds.queued, 0);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 1);
}

/*  A queued request starts when the slot frees (tabs → on_capacity →
    dispatch_wake → dispatch_poll). */
static void test_queue_then_served(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    s_env_start(env);
    rec_t *first = &env->recs[0], *second = &env->recs[1];
    assert_non_null(s_submit(env, first, T_MODEL, "[[fake:text ttfb=100]]"));
    assert_non_null(s_submit(env, second, T_MODEL, "[[fake:text text=\"second\"]]"));
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 1);
    assert_int_equal(ds.queued, 1);
    s_wait_final(env, second);
    assert_true(first->ended);
    assert_true(second->ended);
    assert_string_equal(s_text(second), "second");
    assert_int_equal(first->order, 1);
    assert_int_equal(second->order, 2);
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.queued, 0);
}

/*  Queued requests start in FIFO order as the slot frees (tabs →
    on_capacity → dispatch_wake → dispatch_poll). */
static void test_queue_fifo(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    s_env_start(env);
    static const char *const prompts[] = {
        "[[fake:text ttfb=100 text=\"r0\"]]", "[[fake:text text=\"r1\"]]",
        "[[fake:text ttfb=50 text=\"r2\"]]", "[[fake:text text=\"r3\"]]"};
    enum { N = sizeof prompts / sizeof prompts[0] };
    for (size_t i = 0; i < N; i++)
        assert_non_null(s_submit(env, &env->recs[i], T_MODEL, prompts[i]));
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 1);
    assert_int_equal(ds.queued, N - 1);
    for (size_t i = 0; i < N; i++) {
        rec_t *r = &env->recs[i];
        s_wait_final(env, r);
        assert_true(r->ended);
        char want[8];
        snprintf(want, sizeof want, "r%zu", i);
        assert_string_equal(s_text(r), want);
        assert_int_equal(r->order, i + 1); /* one slot: they end in the order they started */
    }
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.queued, 0);
    assert_int_equal(ds.ok, N);
}

/*  Queued requests start by their tier's priority, higher first, FIFO
    within one priority (the first is running already when they queue). */
static void test_queue_priority(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    s_env_start(env);
    static const struct {
        const char *prompt;
        int priority;
        int order; /* when it ends */
    } jobs[] = {
        {"[[fake:text ttfb=100 text=\"r0\"]]", 0, 1}, {"[[fake:text text=\"r1\"]]", 0, 5},
        {"[[fake:text text=\"r2\"]]", 5, 3},          {"[[fake:text text=\"r3\"]]", 0, 6},
        {"[[fake:text text=\"r4\"]]", 5, 4},          {"[[fake:text text=\"r5\"]]", 9, 2},
        {"[[fake:text text=\"r6\"]]", -1, 7},
    };
    enum { N = sizeof jobs / sizeof jobs[0] };
    for (size_t i = 0; i < N; i++) {
        openai_request_t *req = s_request(T_MODEL, jobs[i].prompt);
        dispatch_opts_t opts = {.priority = jobs[i].priority};
        assert_non_null(
            dispatch_submit_opts(env->dispatch, &req, &s_rec_sink, &env->recs[i], &opts));
    }
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 1);
    assert_int_equal(ds.queued, N - 1);
    for (size_t i = 0; i < N; i++)
        s_wait_final(env, &env->recs[i]);
    for (size_t i = 0; i < N; i++) {
        char want[8];
        snprintf(want, sizeof want, "r%zu", i);
        assert_string_equal(s_text(&env->recs[i]), want);
        assert_int_equal(env->recs[i].order, jobs[i].order);
    }
}

/*  dispatch_cancel aborts the attempt in the tab; no sink call follows and
    the slot is free again. */
static void test_cancel(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    job_t *job = s_submit(env, r, T_MODEL, "[[fake:stall]]");
    assert_non_null(job);
    S_WAIT_COUNTER(env, fetches, 1);
    s_spin(env, 50); /* let the head arrive */
    dispatch_cancel(env->dispatch, &job);
    assert_null(job);
    dispatch_cancel(env->dispatch, &job); /* NULL: nothing */
    S_WAIT_COUNTER(env, aborts, 1);
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(r->n_final, 0);
    assert_int_equal(r->n_deltas, 0);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 0);
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.inflight, 0);

    rec_t *next = &env->recs[1];
    assert_non_null(s_submit(env, next, T_MODEL, "hello again"));
    s_wait_final(env, next);
    assert_true(next->ended);
}

/*  Cancelling a queued job takes it out of the queue; nothing reaches a tab. */
static void test_cancel_queued(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    s_env_start(env);
    rec_t *stall = &env->recs[0], *r = &env->recs[1], *after = &env->recs[2];
    job_t *running = s_submit(env, stall, T_MODEL, "[[fake:stall]]");
    assert_non_null(running);
    S_WAIT_COUNTER(env, fetches, 1);
    job_t *queued = s_submit(env, r, T_MODEL, "hello");
    assert_non_null(queued);
    dispatch_cancel(env->dispatch, &queued);
    assert_null(queued);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.queued, 0);
    assert_int_equal(ds.running, 1);
    /* the slot frees: a later request is served, the cancelled one never is */
    assert_non_null(s_submit(env, after, T_MODEL, "[[fake:text text=\"later\"]]"));
    dispatch_cancel(env->dispatch, &running);
    s_wait_final(env, after);
    assert_true(after->ended);
    assert_string_equal(s_text(after), "later");
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(r->n_final, 0);
    assert_int_equal(stall->n_final, 0);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
    assert_int_equal(c.aborts, 1);
}

/*  dispatch_cancel from inside the job's own delta callback (node/http.c
    does this when a slow client's buffer is full): the rest of the chunk
    must not reach the sink nor touch the freed job; the tab gets an abort. */
static void test_cancel_inside_delta(void **state)
{
    env_t *env = *state;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    r->cancel_at = 1;
    r->dispatch = env->dispatch;
    /* ~6 lines of 512 characters: one 8 KiB chunk carries several lines */
    r->job = s_submit(env, r, T_MODEL, "[[fake:long chars=3000]]");
    assert_non_null(r->job);
    S_WAIT_COUNTER(env, aborts, 1);
    s_spin(env, T_SETTLE_MS);
    assert_null(r->job);
    assert_int_equal(r->n_deltas, 1); /* a delta after the cancel fails in s_rec_delta */
    assert_int_equal(r->n_final, 0);
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running, 0);
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.inflight, 0);
    /* the node goes on serving */
    rec_t *next = &env->recs[1];
    assert_non_null(s_submit(env, next, T_MODEL, "hello"));
    s_wait_final(env, next);
    assert_true(next->ended);
}

/*  A full queue answers 503 at once. */
static void test_queue_full(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    env->cfg.queue_max = 0;
    s_env_start(env);
    rec_t *stall = &env->recs[0], *r = &env->recs[1];
    assert_non_null(s_submit(env, stall, T_MODEL, "[[fake:stall]]"));
    S_WAIT_COUNTER(env, fetches, 1);
    assert_null(s_submit(env, r, T_MODEL, "hello"));
    assert_int_equal(r->n_final, 1);
    s_expect_error(r, 503, "no_capacity");
    assert_true(r->retry_after_ms > 0);
    assert_int_equal(stall->n_final, 0);
}

/*  reCAPTCHA rejected twice in a row cools the whole node. */
static void test_recaptcha_cools_node(void **state)
{
    env_t *env = *state;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "[[fake:recaptcha]]"));
    s_wait_final(env, r);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2); /* retried once in the same tab with fresh ids */
    const char *reason = NULL;
    long long left =
        cooldown_remaining(env->cooldowns, env->node_id, COOLDOWN_ALL, zclock_time(), &reason);
    assert_in_range(left, 1190000, 1200000); /* the default first back-off, 1200 s */
    assert_string_equal(reason, "recaptcha");
    /* every candidate cooling → 429 with the cooldown as retry-after */
    s_expect_error(r, 429, "rate_limited");
    assert_in_range(r->retry_after_ms, 1190000, 1200000);

    /* every model of the node is refused at once now */
    rec_t *r2 = &env->recs[1];
    assert_null(s_submit(env, r2, T_MODEL_2, "hello"));
    s_expect_error(r2, 429, "rate_limited");
    s_spin(env, T_SETTLE_MS);
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
}

/*  A single reCAPTCHA rejection is retried in the same tab with a fresh
    token and fresh ids, and succeeds; the node is not cooled. */
static void test_recaptcha_retried_once(void **state)
{
    env_t *env = *state;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "[[fake:recaptcha times=1]]"));
    s_wait_final(env, r);
    if (!r->ended)
        fail_msg("error %d %s: %s", r->err.status, r->err.code, r->err.message);
    assert_string_equal(s_text(r), FAKE_ARENA_ANSWER);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
    assert_int_equal(c.rejected, 0); /* fresh ids: no duplicate refusal */
    assert_int_equal(
        cooldown_remaining(env->cooldowns, env->node_id, COOLDOWN_ALL, zclock_time(), NULL), 0);
}

/*  One rejection, then a success: the strikes start over (no node cooldown). */
static void test_recaptcha_strikes_reset(void **state)
{
    env_t *env = *state;
    env->cfg.retries = 0;
    s_env_start(env);
    static const char *const prompts[] = {"[[fake:recaptcha]]", "hello", "[[fake:recaptcha]]"};
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
        rec_t *r = &env->recs[i];
        assert_non_null(s_submit(env, r, T_MODEL, prompts[i]));
        s_wait_final(env, r);
        if (i == 1)
            assert_true(r->ended);
        else
            s_expect_error(r, 502, "upstream_error");
    }
    assert_int_equal(
        cooldown_remaining(env->cooldowns, env->node_id, COOLDOWN_ALL, zclock_time(), NULL), 0);
}

/*  A Cloudflare challenge: the tab is reloaded, the request served by the other. */
static void test_cloudflare_other_tab(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    s_env_start(env);
    s_force_first_pick(env, "cloudflare");
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "hello"));
    s_wait_final(env, r);
    if (!r->ended)
        fail_msg("error %d %s: %s", r->err.status, r->err.code, r->err.message);
    assert_string_equal(s_text(r), FAKE_ARENA_ANSWER);
    S_WAIT_COUNTER(env, reloads, 1);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
    /* no cooldown: a challenge is the tab's, not the model's */
    assert_int_equal(cooldown_remaining(env->cooldowns, env->node_id, T_MODEL, zclock_time(), NULL),
                     0);
}

/*  An empty answer (200, no content) is retried with fresh ids, bounded,
    then 502. */
static void test_empty_answer_retried(void **state)
{
    env_t *env = *state;
    env->cfg.retries = 2;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "[[fake:empty]]"));
    s_wait_final(env, r);
    s_expect_error(r, 502, "upstream_error");
    assert_int_equal(r->n_deltas, 0);
    s_spin(env, T_SETTLE_MS);
    fake_link_counters_t c;
    s_counters(env, &c);
    if (c.fetches != 1 + (unsigned long)env->cfg.retries)
        fail_msg("%lu fetches, want %d (1 + retries)", c.fetches, 1 + env->cfg.retries);
}

/*  Nothing in first_byte_timeout_ms: the attempt is aborted and retried,
    then 502. */
static void test_first_byte_timeout(void **state)
{
    env_t *env = *state;
    env->cfg.retries = 1;
    env->cfg.first_byte_timeout_ms = 250;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    long long t0 = zclock_mono();
    assert_non_null(s_submit(env, r, T_MODEL, "[[fake:stall]]"));
    s_wait_final(env, r);
    s_expect_error(r, 502, "upstream_error");
    assert_in_range(r->final_ms - t0, 500, 2500);
    S_WAIT_COUNTER(env, aborts, 2);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2);
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    assert_int_equal(ts.inflight, 0);
}

/*  Silence after the first byte: 502 after the content, not retried. */
static void test_idle_timeout(void **state)
{
    env_t *env = *state;
    env->cfg.idle_timeout_ms = 250;
    s_env_start(env);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "[[fake:drip ms=700 count=3]]"));
    s_wait_final(env, r);
    s_expect_error(r, 502, "upstream_error");
    assert_true(r->n_deltas >= 1);
    S_WAIT_COUNTER(env, aborts, 1);
    s_spin(env, T_SETTLE_MS);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 1);
}

/*  tabs_refresh_catalog asks every tab for its page again; each page
    replaces the catalog. */
static void test_catalog_refresh(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    s_env_start(env);
    fake_link_counters_t c;
    s_counters(env, &c);
    size_t catalogs = env->catalogs;
    unsigned long pages = c.pages;
    tabs_refresh_catalog(env->tabs);
    S_WAIT_COUNTER(env, pages, pages + 2);
    if (!s_until(env, s_catalogs_at_least, &(size_t){catalogs + 2}, T_WAIT_MS))
        fail_msg("the refreshed pages did not reach on_catalog");
    /* the fake's 2026 page: its four models, the stale and the live row of
       fake-twin and the non-selectable fake-hidden, every row stored */
    assert_int_equal(catalog_size(env->catalog), 7);
    assert_non_null(catalog_find(env->catalog, "fake-image"));
    assert_non_null(catalog_find(env->catalog, "fake-twin"));
    assert_null(catalog_find(env->catalog, "fake-hidden"));
    assert_non_null(catalog_find(env->catalog, "fake-search"));
}

/* ---- LMArena in 2026 (docs/upstream.md) ---------------------------------- */

/*  direct-battle answers carry participant B: none of B's text, reasoning,
    finish or error reaches the client, whatever B does. */
static void test_participant_b_ignored(void **state)
{
    env_t *env = *state;
    s_env_start(env);
    static const char *const prompts[] = {"[[fake:reasoning]]", "[[fake:reasoning bfail=1]]"};
    for (size_t i = 0; i < 2; i++) {
        rec_t *r = &env->recs[i];
        assert_non_null(s_submit(env, r, T_MODEL, prompts[i]));
        s_wait_final(env, r);
        if (!r->ended)
            fail_msg("case %zu: %s", i, r->err.message);
        assert_string_equal(s_text(r), FAKE_ARENA_ANSWER);
        assert_string_equal(s_reasoning(r), FAKE_ARENA_THINKING);
        assert_string_equal(r->finish, "stop");
    }
    s_spin(env, T_SETTLE_MS);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 2); /* B failing is no reason to retry */
}

static size_t s_total_fetches(env_t *env)
{
    size_t n = 0;
    for (size_t i = 0; i < T_MAX_TABS; i++)
        n += atomic_load(&env->tab_fetches[i]);
    return n;
}

/*  A 400 the site gives for the request itself (here: the 2025 mode a 2026
    site refuses for a new conversation, and a mode its schema does not
    know) fails at once with 502 upstream_error, the site's message and the
    field it named: exactly one upstream request, no other tab tried. The
    schema refusal is drift: it is kept on the tab for /mesh/status. */
static void test_permanent_not_retried(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 3;
    env->cfg.arena_mode = "direct";
    s_env_start(env);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "Hello."));
    s_wait_final(env, r);
    s_expect_error(r, 502, "upstream_error");
    assert_non_null(strstr(r->err.message, "'direct' mode is not allowed"));
    assert_string_equal(r->err.param, "mode");
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(s_total_fetches(env), 1);
}

typedef struct {
    const char *kind, *field;
    bool found;
} s_drift_probe_t;

static void s_drift_each(void *arg, const tabs_tab_view_t *t)
{
    s_drift_probe_t *p = arg;
    if (t->drift_ms && strcmp(t->drift_kind, p->kind) == 0 &&
        strcmp(t->drift_field, p->field) == 0 && t->hint && strstr(t->drift_body, "ZodError"))
        p->found = true;
}

static void test_shape_refusal_is_drift(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    env->cfg.arena_mode = "solo"; /* not in the site's enum */
    s_env_start(env);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "Hello."));
    s_wait_final(env, r);
    s_expect_error(r, 502, "upstream_error");
    assert_string_equal(r->err.param, "mode");
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(s_total_fetches(env), 1);
    s_drift_probe_t probe = {"400 shape", "mode", false};
    tabs_each(env->tabs, s_drift_each, &probe);
    assert_true(probe.found);
}

/*  The page lists a stale twin (older id, 404 Models not found) and the
    live row. Served: the newest. A catalog that still points at the stale
    row gets one 404, marks it, re-reads the pages and retries once on the
    fresh row; the stale row never comes back. */
static void test_stale_twin(void **state)
{
    env_t *env = *state;
    s_env_start(env);
    const arena_model_t *live = catalog_find(env->catalog, FAKE_ARENA_TWIN);
    assert_non_null(live);
    char live_id[UUID_STR_LEN], stale_id[UUID_STR_LEN] = "";
    snprintf(live_id, sizeof live_id, "%s", live->id);
    for (size_t i = 0; i < catalog_size(env->catalog); i++) {
        const arena_model_t *m = catalog_at(env->catalog, i);
        if (strcmp(m->name, FAKE_ARENA_TWIN) == 0 && strcmp(m->id, live_id) != 0)
            snprintf(stale_id, sizeof stale_id, "%s", m->id);
    }
    assert_true(stale_id[0]);
    assert_true(arena_model_created_ms(live) > 0);

    /* served as the page lists it: the live row, at once */
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, FAKE_ARENA_TWIN, "Hello twin."));
    s_wait_final(env, r);
    assert_true(r->ended);
    assert_int_equal(env->stales, 0);

    /* a catalog that knows only the stale row (as before the site added
       the live one) */
    arena_catalog_t cat = {0};
    cat.models = calloc(2, sizeof *cat.models);
    assert_non_null(cat.models);
    cat.n = 2;
    assert_int_equal(arena_model_copy(&cat.models[0], catalog_find(env->catalog, T_MODEL)), 0);
    for (size_t i = 0; i < catalog_size(env->catalog); i++)
        if (strcmp(catalog_at(env->catalog, i)->id, stale_id) == 0)
            assert_int_equal(arena_model_copy(&cat.models[1], catalog_at(env->catalog, i)), 0);
    assert_int_equal(catalog_replace(env->catalog, &cat), 0);
    arena_catalog_clear(&cat);
    assert_string_equal(catalog_find(env->catalog, FAKE_ARENA_TWIN)->id, stale_id);

    rec_t *r2 = &env->recs[1];
    fake_link_counters_t before, after;
    s_counters(env, &before);
    assert_non_null(s_submit(env, r2, FAKE_ARENA_TWIN, "Hello again."));
    s_wait_final(env, r2);
    if (!r2->ended)
        fail_msg("%s", r2->err.message);
    assert_string_equal(s_text(r2), FAKE_ARENA_ANSWER);
    assert_int_equal(env->stales, 1);
    s_counters(env, &after);
    assert_int_equal(after.fetches - before.fetches, 2); /* the 404, then the fresh row */
    assert_string_equal(catalog_find(env->catalog, FAKE_ARENA_TWIN)->id, live_id);
    /* the next page read lists the stale twin again: it stays out */
    size_t catalogs = env->catalogs;
    tabs_refresh_catalog(env->tabs);
    if (!s_until(env, s_catalogs_at_least, &(size_t){catalogs + 1}, T_WAIT_MS))
        fail_msg("no page re-read");
    assert_string_equal(catalog_find(env->catalog, FAKE_ARENA_TWIN)->id, live_id);
}

#define T_ACC_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define T_ACC_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static bool s_accounts_known(env_t *env, const void *arg)
{
    const size_t *want = arg;
    const char *keys[8];
    size_t n = tabs_accounts(env->tabs, keys, 8), known = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        known += strncmp(keys[i], "tab:", 4) != 0;
    return known == *want && n == *want;
}

/*  429 prompt failed flags the account: every tab logged into it rests (not
    one model), the request moves to another account's tab, and with every
    account flagged the client gets 429 with the flag's time. */
static void test_account_flag(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 3;
    env->cfg.tab_jobs = 1;
    env->cfg.tab_account[0] = T_ACC_A;
    env->cfg.tab_account[1] = T_ACC_A;
    env->cfg.tab_account[2] = T_ACC_B;
    s_env_start(env);
    if (!s_until(env, s_accounts_known, &(size_t){2}, T_WAIT_MS))
        fail_msg("the tabs' accounts did not arrive");
    /* the account of the tab picked first (X) answers prompt failed on
       every one of its tabs; the other account (Y) answers */
    size_t first = s_force_first_pick(env, "promptfailed");
    const char *x = env->cfg.tab_account[first];
    for (size_t i = 0; i < 3; i++)
        if (strcmp(env->cfg.tab_account[i], x) == 0)
            assert_int_equal(fake_link_set_force(env->fake, i, "promptfailed"), 0);
    rec_t *r = &env->recs[0];
    assert_non_null(s_submit(env, r, T_MODEL, "Hello."));
    s_wait_final(env, r);
    if (!r->ended)
        fail_msg("%s", r->err.message);
    assert_true(env->account_changes > 0);
    unsigned long x_fetches = 0;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(env->cfg.tab_account[i], x) == 0)
            x_fetches += atomic_load(&env->tab_fetches[i]);
    assert_int_equal(x_fetches, 1); /* the flagged request only */
    /* X's tabs rest (every one of them, for every model): Y serves */
    for (size_t i = 1; i < 4; i++) {
        rec_t *q = &env->recs[i];
        assert_non_null(s_submit(env, q, i % 2 ? T_MODEL_2 : T_MODEL, "More."));
        s_wait_final(env, q);
        assert_true(q->ended);
    }
    unsigned long x_after = 0;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(env->cfg.tab_account[i], x) == 0)
            x_after += atomic_load(&env->tab_fetches[i]);
    assert_int_equal(x_after, 1);
    /* now Y is flagged too: every account rests → 429 with the flag's time */
    for (size_t i = 0; i < 3; i++)
        if (strcmp(env->cfg.tab_account[i], x) != 0)
            assert_int_equal(fake_link_set_force(env->fake, i, "promptfailed"), 0);
    rec_t *z = &env->recs[4];
    assert_non_null(s_submit(env, z, T_MODEL, "Once more."));
    s_wait_final(env, z);
    s_expect_error(z, 429, "rate_limited");
    assert_in_range(z->retry_after_ms, 1790000, 1800000);
    const char *reason = NULL;
    assert_true(tabs_flag_ms(env->tabs, zclock_time(), &reason) > 0);
    assert_string_equal(reason, "account_flag");
    /* refused at once now, for any model: no new fetch */
    fake_link_counters_t before, after;
    s_counters(env, &before);
    rec_t *w = &env->recs[5];
    assert_null(s_submit(env, w, T_MODEL_2, "And again."));
    s_expect_error(w, 429, "rate_limited");
    s_spin(env, T_SETTLE_MS);
    s_counters(env, &after);
    assert_int_equal(after.fetches, before.fetches);
    /* the model itself is not cooled: the flag is the account's */
    assert_int_equal(cooldown_remaining(env->cooldowns, env->node_id, T_MODEL, zclock_time(), NULL),
                     0);
}

/*  Pacing: an account that just started a request is not used again
    until its next slot; the request goes to another account's tab, and
    waits (bounded by the queue timeout) when every account is paced. */
static void test_paced(void **state)
{
    env_t *env = *state;
    env->cfg.tabs = 2;
    env->cfg.tab_jobs = 4;
    env->cfg.queue_timeout_ms = 300;
    env->cfg.tab_account[0] = T_ACC_A;
    env->cfg.tab_account[1] = T_ACC_B;
    pace_config_t pc = {60000, 3, 390000};
    env->cfg.pace = pace_new(&pc, "self");
    assert_non_null(env->cfg.pace);
    s_env_start(env);
    if (!s_until(env, s_accounts_known, &(size_t){2}, T_WAIT_MS))
        fail_msg("the tabs' accounts did not arrive");
    for (size_t i = 0; i < 2; i++) {
        rec_t *r = &env->recs[i];
        assert_non_null(s_submit(env, r, T_MODEL, "Hello."));
        s_wait_final(env, r);
        assert_true(r->ended);
    }
    /* one each: the second could not use the first's account */
    assert_int_equal(atomic_load(&env->tab_fetches[0]), 1);
    assert_int_equal(atomic_load(&env->tab_fetches[1]), 1);
    assert_true(tabs_pace_ms(env->tabs, zclock_time()) > 59000);
    rec_t *q = &env->recs[2];
    assert_non_null(s_submit(env, q, T_MODEL, "Third."));
    s_wait_final(env, q);
    s_expect_error(q, 503, "no_capacity");
    assert_non_null(strstr(q->err.message, "pacing")); /* says why, and when */
    assert_in_range(q->retry_after_ms, 50000, 60000);
    assert_int_equal(s_total_fetches(env), 2);
    /* a peer's start on account B also holds B back here */
    long long ago[] = {0};
    pace_merge(env->cfg.pace, "peer", T_ACC_B, ago, 1, zclock_time());
    assert_true(pace_wait_ms(env->cfg.pace, T_ACC_B, zclock_time()) > 59000);
}

/*  The reCAPTCHA back-off doubles up to its ceiling. */
static void test_recaptcha_backoff_ceiling(void **state)
{
    env_t *env = *state;
    env->cfg.recaptcha_backoff_ms = 5000;
    env->cfg.recaptcha_backoff_max_ms = 7000;
    s_env_start(env);
    for (size_t round = 0; round < 2; round++) {
        rec_t *r = &env->recs[round];
        assert_non_null(s_submit(env, r, T_MODEL, "[[fake:recaptcha]]"));
        s_wait_final(env, r);
        s_expect_error(r, 429, "rate_limited");
        long long left =
            cooldown_remaining(env->cooldowns, env->node_id, COOLDOWN_ALL, zclock_time(), NULL);
        if (round == 0) {
            assert_in_range(left, 4500, 5000);
            /* wait out the first cooldown (bounded) */
            long long deadline = zclock_mono() + 6000;
            while (cooldown_remaining(env->cooldowns, env->node_id, COOLDOWN_ALL, zclock_time(),
                                      NULL) > 0 &&
                   zclock_mono() < deadline)
                s_turn(env, 50);
        } else {
            assert_in_range(left, 6500, 7000); /* 10 s doubled, capped at 7 s */
        }
    }
}

/*  dispatch_destroy ends running and queued jobs with 503 and aborts the
    running attempt. */
static void test_destroy_fails_jobs(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    s_env_start(env);
    rec_t *running = &env->recs[0], *queued = &env->recs[1];
    assert_non_null(s_submit(env, running, T_MODEL, "[[fake:stall]]"));
    S_WAIT_COUNTER(env, fetches, 1);
    assert_non_null(s_submit(env, queued, T_MODEL, "hello"));
    dispatch_destroy(&env->dispatch);
    assert_null(env->dispatch);
    assert_int_equal(running->n_final, 1);
    assert_int_equal(queued->n_final, 1);
    s_expect_error(running, 503, "no_capacity");
    s_expect_error(queued, 503, "no_capacity");
    /* the link is still served here, so the abort reaches the tab */
    link_event_t ev;
    long long deadline = zclock_mono() + T_WAIT_MS;
    fake_link_counters_t c;
    do {
        zpoller_wait(env->poller, T_TICK_MS);
        while (link_recv(env->link, &ev) == 0) {
            tabs_handle_event(env->tabs, &ev);
            link_event_clear(&ev);
        }
        s_counters(env, &c);
    } while (c.aborts < 1 && zclock_mono() < deadline);
    assert_int_equal(c.aborts, 1);
}

/*  How many `fwd`s the raw peers got in all, at least *arg. */
static bool s_fwds_at_least(env_t *env, const void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < env->n_peers; i++)
        n += env->peers[i].fwds;
    return n >= *(const size_t *)arg;
}

/*  Load-aware peer choice (docs/mesh-protocol.md, routing, step 4): of two
    peers that advertise the model with room, the power of two choices
    takes the one with the lower inflight ÷ capacity — with two candidates
    always that one, whichever order they joined in. */
static void test_peer_choice_by_load(void **state)
{
    env_t *env = *state;
    env->cfg.mesh = true;
    s_env_start(env);
    raw_peer_t *heavy = s_peer_add(env, 3, 4); /* 0.75 */
    raw_peer_t *light = s_peer_add(env, 1, 4); /* 0.25 */
    if (!s_until(env, s_peers_alive, NULL, T_WAIT_MS))
        fail_msg("the raw peers are not alive in the node's view within %d ms", T_WAIT_MS);
    const size_t rounds = 10; /* a coin's choice goes all one way once in 1024 */
    for (size_t i = 1; i <= rounds; i++) {
        job_t *job = s_submit(env, &env->recs[0], T_PEER_MODEL, "which peer?");
        assert_non_null(job);
        if (!s_until(env, s_fwds_at_least, &i, T_WAIT_MS))
            fail_msg("round %zu: no `fwd` reached a peer", i);
        dispatch_cancel(env->dispatch, &job);
    }
    assert_int_equal(env->recs[0].n_final, 0);
    assert_int_equal(env->recs[0].attempts_peer, rounds); /* where it ran: a peer */
    assert_int_equal(env->recs[0].attempts_local, 0);
    if (light->fwds != rounds)
        fail_msg("the lighter peer got %zu of %zu requests, the heavier %zu", light->fwds, rounds,
                 heavy->fwds);
    assert_int_equal(heavy->fwds, 0);
    /* no local tab was asked: the model is the peers' alone */
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 0);
}

/*  The raw peer that got exactly n `fwd`s, or NULL. */
static raw_peer_t *s_peer_with(env_t *env, size_t n)
{
    for (size_t i = 0; i < env->n_peers; i++)
        if (env->peers[i].router && env->peers[i].fwds == n)
            return &env->peers[i];
    return NULL;
}

/*  A peer lost before the first byte (it accepted, then died): the request
    is tried on another peer; when no peer is left the client gets 503
    no_capacity with a Retry-After, never a 404 model_not_found (which SDKs
    take as final). Fails on the old behaviour: the lost peer's model was
    no longer served by anyone, so the dispatcher answered 404. */
static void test_peer_lost_before_first_byte(void **state)
{
    env_t *env = *state;
    env->cfg.mesh = true;
    s_env_start(env);
    raw_peer_t *p1 = s_peer_add(env, 0, 4);
    raw_peer_t *p2 = s_peer_add(env, 0, 4);
    p1->accept = p2->accept = true;
    if (!s_until(env, s_peers_alive, NULL, T_WAIT_MS))
        fail_msg("the raw peers are not alive in the node's view within %d ms", T_WAIT_MS);
    rec_t *r = &env->recs[0];
    job_t *job = s_submit(env, r, T_PEER_MODEL, "who serves it?");
    assert_non_null(job);
    size_t one = 1;
    if (!s_until(env, s_fwds_at_least, &one, T_WAIT_MS))
        fail_msg("no `fwd` reached a peer");
    raw_peer_t *first = s_peer_with(env, 1);
    assert_non_null(first);
    s_peer_kill(env, first);
    /* the mesh declares it dead (dead_ms); the request goes to the other */
    size_t two = 2;
    if (!s_until(env, s_fwds_at_least, &two, 3 * T_WAIT_MS))
        fail_msg("the request was not retried on the other peer");
    assert_int_equal(r->n_final, 0);
    raw_peer_t *second = first == p1 ? p2 : p1;
    assert_int_equal(second->fwds, 1);
    s_peer_kill(env, second);
    if (!s_until(env, s_is_final, r, 3 * T_WAIT_MS))
        fail_msg("no answer after both peers died");
    assert_true(r->failed);
    assert_int_equal(r->n_final, 1);
    assert_string_equal(r->err.code, "no_capacity");
    assert_int_equal(r->err.status, 503);
    assert_true(r->retry_after_ms > 0);
}

static bool s_tabs_idle(env_t *env, const void *arg)
{
    (void)arg;
    tabs_stats_t ts;
    tabs_stats(env->tabs, &ts);
    return ts.inflight == 0;
}

/*  dispatch_peek: where a request would go now, as routing sends it, with
    nothing started: this node while its tab is free (and a submit then
    runs there), the queue while its only slot is taken, null with the
    wait while the model cools, and nothing for a model served nowhere. */
static void test_peek_local(void **state)
{
    env_t *env = *state;
    env->cfg.tab_jobs = 1;
    s_env_start(env);
    dispatch_peek_t p;
    dispatch_peek(env->dispatch, T_MODEL, &p);
    assert_int_equal(p.state, DISPATCH_PEEK_LOCAL);
    assert_string_equal(p.node, env->node_id);
    assert_string_equal(p.why, "a tab of this node is free (local tabs come first)");
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 0); /* a peek starts nothing */
    dispatch_stats_t ds;
    dispatch_stats(env->dispatch, &ds);
    assert_int_equal(ds.running + ds.queued, 0);

    dispatch_peek(env->dispatch, "no-such-model", &p);
    assert_int_equal(p.state, DISPATCH_PEEK_NONE);
    assert_string_equal(p.node, "");
    assert_string_equal(p.why, "no node of the mesh serves it");

    /* the only slot taken: the request would queue */
    rec_t *r = &env->recs[0];
    job_t *job = s_submit(env, r, T_MODEL, "[[fake:stall]]");
    assert_non_null(job);
    S_WAIT_COUNTER(env, fetches, 1);
    assert_int_equal(r->attempts_local, 1);
    dispatch_peek(env->dispatch, T_MODEL, &p);
    assert_int_equal(p.state, DISPATCH_PEEK_QUEUE);
    assert_string_equal(p.node, "");
    assert_string_equal(p.why, "this node's tabs are busy, and no peer has a free slot: it would "
                               "wait in the queue");
    dispatch_cancel(env->dispatch, &job);
    if (!s_until(env, s_tabs_idle, NULL, T_WAIT_MS))
        fail_msg("the tab's slot was not freed");
    dispatch_peek(env->dispatch, T_MODEL, &p);
    assert_int_equal(p.state, DISPATCH_PEEK_LOCAL);

    /* cooling: null, the reason, the wait */
    rec_t *r2 = &env->recs[1];
    assert_non_null(s_submit(env, r2, T_MODEL, "[[fake:ratelimit retry=30]]"));
    s_wait_final(env, r2);
    s_expect_error(r2, 429, "rate_limited");
    dispatch_peek(env->dispatch, T_MODEL, &p);
    assert_int_equal(p.state, DISPATCH_PEEK_COOLING);
    assert_string_equal(p.node, "");
    assert_in_range(p.retry_ms, 28000, 30000);
    assert_string_equal(p.why, "every node serving it is cooling down (rate_limited): refused for "
                               "30 s");
    dispatch_peek(env->dispatch, T_MODEL_2, &p); /* another model: still here */
    assert_int_equal(p.state, DISPATCH_PEEK_LOCAL);
}

/*  A model the peers alone serve: the least loaded peer with a free slot
    (the one routing sends to, test_peer_choice_by_load); a full peer is no
    candidate; every peer full: the queue. */
static void test_peek_peers(void **state)
{
    env_t *env = *state;
    env->cfg.mesh = true;
    s_env_start(env);
    raw_peer_t *heavy = s_peer_add(env, 3, 4); /* 0.75 */
    raw_peer_t *light = s_peer_add(env, 1, 4); /* 0.25 */
    raw_peer_t *full = s_peer_add(env, 4, 4);
    if (!s_until(env, s_peers_alive, NULL, T_WAIT_MS))
        fail_msg("the raw peers are not alive in the node's view within %d ms", T_WAIT_MS);
    dispatch_peek_t p;
    dispatch_peek(env->dispatch, T_PEER_MODEL, &p);
    assert_int_equal(p.state, DISPATCH_PEEK_PEER);
    assert_string_equal(p.node, tmesh_id(light->id)); /* the id its state carries */
    assert_int_equal(p.candidates, 2);
    assert_string_equal(p.why, "not served here; the least loaded of 2 peers with a free slot");
    assert_int_equal(light->fwds + heavy->fwds + full->fwds, 0); /* a peek sends nothing */
    /* a submit goes where the peek said */
    job_t *job = s_submit(env, &env->recs[0], T_PEER_MODEL, "which peer?");
    assert_non_null(job);
    size_t one = 1;
    if (!s_until(env, s_fwds_at_least, &one, T_WAIT_MS))
        fail_msg("no `fwd` reached a peer");
    assert_int_equal(light->fwds, 1);
    dispatch_cancel(env->dispatch, &job);
    /* the local model is still this node's */
    dispatch_peek(env->dispatch, T_MODEL, &p);
    assert_int_equal(p.state, DISPATCH_PEEK_LOCAL);
}

int main(void)
{
    alog_set_level(ALOG_WARN);
#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)
#define T_2026                                                                                     \
    T(test_participant_b_ignored), T(test_permanent_not_retried), T(test_shape_refusal_is_drift),  \
        T(test_stale_twin), T(test_account_flag), T(test_paced), T(test_recaptcha_backoff_ceiling)
    const struct CMUnitTest tests[] = {
        T(test_answers),
        T(test_refused_at_once),
        T(test_rate_limit),
        T(test_spread_over_tabs),
        T(test_retry_on_other_tab),
        T(test_rate_limit_floor_and_default),
        T(test_final_error_outlives_job),
        T(test_retries_bounded),
        T(test_tab_gone_retried),
        T(test_waits_for_a_tab),
        T(test_not_retried),
        T(test_mid_stream_close),
        T(test_queue_timeout),
        T(test_queue_then_served),
        T(test_queue_fifo),
        T(test_queue_priority),
        T(test_cancel),
        T(test_cancel_queued),
        T(test_cancel_inside_delta),
        T(test_queue_full),
        T(test_recaptcha_cools_node),
        T(test_recaptcha_retried_once),
        T(test_recaptcha_strikes_reset),
        T(test_cloudflare_other_tab),
        T(test_empty_answer_retried),
        T(test_first_byte_timeout),
        T(test_idle_timeout),
        T(test_catalog_refresh),
        T(test_destroy_fails_jobs),
        T(test_peer_choice_by_load),
        T(test_peer_lost_before_first_byte),
        T(test_peek_local),
        T(test_peek_peers),
        T_2026,
    };
#undef T_2026
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
