/*  test_metrics — node/metrics: the Prometheus text a known state renders
    to (every line, exactly: families, HELP/TYPE, counters, cumulative
    histogram buckets with le, _sum and _count, gauges), label values with
    ", \ and newlines escaped, the bound on model label values (the catalog's
    names up to METRICS_MAX_MODELS, then "other"; an unknown name "other",
    none "none") and on the series of arena_requests_total, and bucket edges
    (le is inclusive). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/metrics.h"

static const metrics_gauges_t s_no_gauges;

static char *s_render(const metrics_t *m, const metrics_gauges_t *g)
{
    abuf_t o = ABUF_INIT;
    assert_int_equal(metrics_render(m, g, &o), 0);
    assert_int_equal(abuf_append(&o, "", 1), 0); /* NUL */
    return abuf_steal(&o, NULL);
}

static size_t s_count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static const char s_want[] =
    "# HELP arena_requests_total API requests answered, by route, model, HTTP status, origin "
    "(client or peer) and where they ran (served_by: local, peer, none)\n"
    "# TYPE arena_requests_total counter\n"
    "arena_requests_total{route=\"chat\",model=\"fake-chat\",status=\"200\",origin=\"client\","
    "served_by=\"local\"} 1\n"
    "arena_requests_total{route=\"chat\",model=\"other\",status=\"404\",origin=\"client\",served_"
    "by=\"none\"} 1\n"
    "arena_requests_total{route=\"forwarded\",model=\"fake-chat\",status=\"200\",origin=\"peer\","
    "served_by=\"local\"} 1\n"
    "# HELP arena_request_ttfb_seconds time from a request's arrival to the first byte of its "
    "answer (the headers)\n"
    "# TYPE arena_request_ttfb_seconds histogram\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le=\"0."
    "05\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le=\"0."
    "1\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le=\"0."
    "25\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le=\"0."
    "5\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"1\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le=\"2."
    "5\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"5\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"10\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"30\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"60\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"120\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"300\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le=\"+"
    "Inf\"} 1\n"
    "arena_request_ttfb_seconds_sum{route=\"chat\",origin=\"client\",served_by=\"none\"} 0.001000\n"
    "arena_request_ttfb_seconds_count{route=\"chat\",origin=\"client\",served_by=\"none\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le=\"0."
    "05\"} 0\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le=\"0."
    "1\"} 0\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le=\"0."
    "25\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le=\"0."
    "5\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"1\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le=\"2."
    "5\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"5\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"10\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"30\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"60\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"120\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"300\"} 1\n"
    "arena_request_ttfb_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le=\"+"
    "Inf\"} 1\n"
    "arena_request_ttfb_seconds_sum{route=\"chat\",origin=\"client\",served_by=\"local\"} "
    "0.200000\n"
    "arena_request_ttfb_seconds_count{route=\"chat\",origin=\"client\",served_by=\"local\"} 1\n"
    "# HELP arena_request_duration_seconds time from a request's arrival to the end of its answer\n"
    "# TYPE arena_request_duration_seconds histogram\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"0.05\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"0.1\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"0.25\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"0.5\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"1\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"2.5\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"5\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"10\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"30\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"60\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"120\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"300\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"none\",le="
    "\"+Inf\"} 1\n"
    "arena_request_duration_seconds_sum{route=\"chat\",origin=\"client\",served_by=\"none\"} "
    "0.001000\n"
    "arena_request_duration_seconds_count{route=\"chat\",origin=\"client\",served_by=\"none\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"0.05\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"0.1\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"0.25\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"0.5\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"1\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"2.5\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"5\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"10\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"30\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"60\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"120\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"300\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\",le="
    "\"+Inf\"} 1\n"
    "arena_request_duration_seconds_sum{route=\"chat\",origin=\"client\",served_by=\"local\"} "
    "1.500000\n"
    "arena_request_duration_seconds_count{route=\"chat\",origin=\"client\",served_by=\"local\"} 1\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"0.05\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"0.1\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"0.25\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"0.5\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"1\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"2.5\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"5\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"10\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"30\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"60\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"120\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"300\"} 0\n"
    "arena_request_duration_seconds_bucket{route=\"forwarded\",origin=\"peer\",served_by=\"local\","
    "le=\"+Inf\"} 1\n"
    "arena_request_duration_seconds_sum{route=\"forwarded\",origin=\"peer\",served_by=\"local\"} "
    "300.500000\n"
    "arena_request_duration_seconds_count{route=\"forwarded\",origin=\"peer\",served_by=\"local\"} "
    "1\n"
    "# HELP arena_limit_refusals_total requests refused 429 rate_limited, by reason (cooldown, "
    "or the window of a key's tier that refused: minute, hour, day, tokens, concurrent) and "
    "tier\n"
    "# TYPE arena_limit_refusals_total counter\n"
    "arena_limit_refusals_total{reason=\"cooldown\"} 1\n"
    "arena_limit_refusals_total{reason=\"minute\",tier=\"free\"} 2\n"
    "arena_limit_refusals_total{reason=\"day\",tier=\"pre\\\"mium\"} 1\n"
    "# HELP arena_tabs_connected browser tabs connected to this node\n"
    "# TYPE arena_tabs_connected gauge\n"
    "arena_tabs_connected 2\n"
    "# HELP arena_tabs_healthy connected tabs that are not challenged\n"
    "# TYPE arena_tabs_healthy gauge\n"
    "arena_tabs_healthy 1\n"
    "# HELP arena_tab_slots fetches the healthy tabs may run at once (--tab-jobs each)\n"
    "# TYPE arena_tab_slots gauge\n"
    "arena_tab_slots 1\n"
    "# HELP arena_tab_fetches fetches running in this node's tabs\n"
    "# TYPE arena_tab_fetches gauge\n"
    "arena_tab_fetches 1\n"
    "# HELP arena_cooldowns_active cooldowns running on this node, by model (\"*\": the whole "
    "node)\n"
    "# TYPE arena_cooldowns_active gauge\n"
    "arena_cooldowns_active{model=\"fake-chat\"} 1\n"
    "arena_cooldowns_active{model=\"*\"} 1\n"
    "# HELP arena_accounts LMArena accounts of the connected tabs\n"
    "# TYPE arena_accounts gauge\n"
    "arena_accounts 2\n"
    "# HELP arena_accounts_paced accounts waiting for their pace slot now\n"
    "# TYPE arena_accounts_paced gauge\n"
    "arena_accounts_paced 1\n"
    "# HELP arena_accounts_flagged accounts resting after LMArena flagged them\n"
    "# TYPE arena_accounts_flagged gauge\n"
    "arena_accounts_flagged 0\n"
    "# HELP arena_queue_depth requests waiting for a free target\n"
    "# TYPE arena_queue_depth gauge\n"
    "arena_queue_depth 3\n"
    "# HELP arena_requests_in_flight requests running now, by origin (client: this node's, peer: "
    "run for peers)\n"
    "# TYPE arena_requests_in_flight gauge\n"
    "arena_requests_in_flight{origin=\"client\"} 1\n"
    "arena_requests_in_flight{origin=\"peer\"} 2\n"
    "# HELP arena_mesh_peers mesh peers this node knows, by state\n"
    "# TYPE arena_mesh_peers gauge\n"
    "arena_mesh_peers{state=\"alive\"} 2\n"
    "arena_mesh_peers{state=\"suspect\"} 1\n"
    "arena_mesh_peers{state=\"unreachable\"} 0\n"
    "arena_mesh_peers{state=\"dead\"} 1\n"
    "arena_mesh_peers{state=\"left\"} 0\n"
    "# HELP arena_mesh_messages_total mesh messages (gossip, probes, forwarding) decoded in and "
    "handed out\n"
    "# TYPE arena_mesh_messages_total counter\n"
    "arena_mesh_messages_total{direction=\"in\"} 10\n"
    "arena_mesh_messages_total{direction=\"out\"} 11\n"
    "# HELP arena_mesh_bytes_total mesh message bytes received and sent (no framing, no TCP)\n"
    "# TYPE arena_mesh_bytes_total counter\n"
    "arena_mesh_bytes_total{direction=\"in\"} 1000\n"
    "arena_mesh_bytes_total{direction=\"out\"} 1100\n"
    "# HELP arena_mesh_messages_refused_total mesh messages or handshakes refused, by reason\n"
    "# TYPE arena_mesh_messages_refused_total counter\n"
    "arena_mesh_messages_refused_total{reason=\"malformed\"} 1\n"
    "arena_mesh_messages_refused_total{reason=\"forged\"} 0\n"
    "arena_mesh_messages_refused_total{reason=\"dropped\"} 2\n"
    "arena_mesh_messages_refused_total{reason=\"curve_rejected\"} 3\n"
    "# HELP arena_mesh_records_total replicated records (keys, tiers): applied (a table's merge "
    "took them), refused (invalid, unknown table, or a version far ahead), sent\n"
    "# TYPE arena_mesh_records_total counter\n"
    "arena_mesh_records_total{outcome=\"applied\"} 7\n"
    "arena_mesh_records_total{outcome=\"refused\"} 4\n"
    "arena_mesh_records_total{outcome=\"sent\"} 9\n";

static void test_render_exact(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    metrics_request_t a = {METRICS_ROUTE_CHAT,
                           METRICS_ORIGIN_CLIENT,
                           METRICS_SERVED_LOCAL,
                           "fake-chat",
                           true,
                           200,
                           0.2,
                           1.5};
    metrics_request_t b = {METRICS_ROUTE_CHAT,
                           METRICS_ORIGIN_CLIENT,
                           METRICS_SERVED_NONE,
                           "no-such",
                           false,
                           404,
                           0.001,
                           0.001};
    metrics_request_t c = {METRICS_ROUTE_FORWARDED,
                           METRICS_ORIGIN_PEER,
                           METRICS_SERVED_LOCAL,
                           "fake-chat",
                           true,
                           200,
                           -1,
                           300.5}; /* no first byte: no ttfb */
    metrics_request(m, &a);
    metrics_request(m, &b);
    metrics_request(m, &c);
    metrics_refusal(m, METRICS_REFUSAL_COOLDOWN);
    metrics_limit_refusal(m, "free", "minute");
    metrics_limit_refusal(m, "pre\"mium", "day"); /* escaped like any label */
    metrics_limit_refusal(m, "free", "minute");
    metrics_cooldown_t cd[] = {{"fake-chat", 1}, {"*", 1}};
    metrics_gauges_t g = {.tabs_connected = 2,
                          .tabs_healthy = 1,
                          .tab_slots = 1,
                          .tab_fetches = 1,
                          .accounts = 2,
                          .accounts_paced = 1,
                          .accounts_flagged = 0,
                          .queue_depth = 3,
                          .in_flight = {1, 2},
                          .cooldowns = cd,
                          .n_cooldowns = 2,
                          .peers = {2, 1, 0, 1, 0},
                          .mesh_msgs_in = 10,
                          .mesh_msgs_out = 11,
                          .mesh_bytes_in = 1000,
                          .mesh_bytes_out = 1100,
                          .mesh_malformed = 1,
                          .mesh_forged = 0,
                          .mesh_dropped = 2,
                          .mesh_curve_rejected = 3,
                          .mesh_records_applied = 7,
                          .mesh_records_refused = 4,
                          .mesh_records_sent = 9};
    char *text = s_render(m, &g);
    assert_string_equal(text, s_want);
    free(text);
    metrics_destroy(&m);
    metrics_destroy(&m); /* idempotent */
}

/*  Tiers in the refusal counts are bounded: past METRICS_MAX_TIERS distinct
    names a new one counts as "other". */
static void test_limit_tiers_bound(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    char name[32];
    for (int i = 0; i < METRICS_MAX_TIERS + 3; i++) {
        snprintf(name, sizeof name, "tier%d", i);
        metrics_limit_refusal(m, name, "minute");
        metrics_limit_refusal(m, name, "hour");
    }
    metrics_limit_refusal(m, "tier0", "day"); /* a known tier keeps its name */
    metrics_gauges_t g = {0};
    char *text = s_render(m, &g);
    snprintf(name, sizeof name, "tier%d\"", METRICS_MAX_TIERS - 1);
    assert_non_null(strstr(text, name));
    snprintf(name, sizeof name, "tier%d\"", METRICS_MAX_TIERS);
    assert_null(strstr(text, name));
    assert_non_null(
        strstr(text, "arena_limit_refusals_total{reason=\"minute\",tier=\"other\"} 3\n"));
    assert_non_null(strstr(text, "arena_limit_refusals_total{reason=\"day\",tier=\"tier0\"} 1\n"));
    free(text);
    metrics_destroy(&m);
}

static void test_escape(void **state)
{
    (void)state;
    abuf_t o = ABUF_INIT;
    assert_int_equal(metrics_label_escape(&o, "a\"b\\c\nd'e"), 0);
    assert_int_equal(abuf_append(&o, "", 1), 0);
    assert_string_equal(o.data, "a\\\"b\\\\c\\nd'e");
    abuf_free(&o);

    metrics_t *m = metrics_new();
    metrics_request_t r = {METRICS_ROUTE_RESPONSES,
                           METRICS_ORIGIN_CLIENT,
                           METRICS_SERVED_PEER,
                           "we\"ird\\mod\nel",
                           true,
                           200,
                           0.1,
                           0.1};
    metrics_request(m, &r);
    metrics_cooldown_t cd[] = {{"q\"\\\n", 2}};
    metrics_gauges_t g = {.cooldowns = cd, .n_cooldowns = 1};
    char *text = s_render(m, &g);
    assert_non_null(strstr(text,
                           "arena_requests_total{route=\"responses\",model=\"we\\\"ird\\\\mod"
                           "\\nel\",status=\"200\",origin=\"client\",served_by=\"peer\"} 1\n"));
    assert_non_null(strstr(text, "arena_cooldowns_active{model=\"q\\\"\\\\\\n\"} 2\n"));
    /* no raw newline inside any sample line: each line starts a sample or a comment */
    for (const char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_true(line[0] == '#' || strncmp(line, "arena_", 6) == 0);
    free(text);
    metrics_destroy(&m);
}

static void test_model_bound(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    char name[32];
    for (int i = 0; i < METRICS_MAX_MODELS + 44; i++) {
        snprintf(name, sizeof name, "model-%03d", i);
        metrics_request_t r = {METRICS_ROUTE_CHAT,
                               METRICS_ORIGIN_CLIENT,
                               METRICS_SERVED_LOCAL,
                               name,
                               true,
                               200,
                               0.1,
                               0.2};
        metrics_request(m, &r);
    }
    metrics_request_t unknown = {METRICS_ROUTE_CHAT,
                                 METRICS_ORIGIN_CLIENT,
                                 METRICS_SERVED_NONE,
                                 "whatever-a-client-says",
                                 false,
                                 404,
                                 0,
                                 0};
    metrics_request(m, &unknown);
    metrics_request_t none = {
        METRICS_ROUTE_IMAGES, METRICS_ORIGIN_CLIENT, METRICS_SERVED_NONE, NULL, false, 401, 0, 0};
    metrics_request(m, &none);
    char *text = s_render(m, &s_no_gauges);
    assert_non_null(strstr(text, "model=\"model-255\",status=\"200\""));
    assert_null(strstr(text, "model=\"model-256\""));
    assert_null(strstr(text, "whatever-a-client-says"));
    assert_non_null(strstr(text,
                           "arena_requests_total{route=\"chat\",model=\"other\",status=\"200\","
                           "origin=\"client\",served_by=\"local\"} 44\n"));
    assert_non_null(strstr(text,
                           "arena_requests_total{route=\"chat\",model=\"other\",status=\"404\","
                           "origin=\"client\",served_by=\"none\"} 1\n"));
    assert_non_null(strstr(text,
                           "arena_requests_total{route=\"images\",model=\"none\",status=\"401\","
                           "origin=\"client\",served_by=\"none\"} 1\n"));
    assert_int_equal(s_count(text, "arena_requests_total{"), METRICS_MAX_MODELS + 3);
    free(text);
    metrics_destroy(&m);
}

static void test_series_bound(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    char name[32];
    /* 256 models × 20 statuses × 2 = 10240 combinations, beyond the cap */
    for (int s = 0; s < 20; s++)
        for (int i = 0; i < METRICS_MAX_MODELS; i++)
            for (int p = 0; p < 2; p++) {
                snprintf(name, sizeof name, "m%d", i);
                metrics_request_t r = {METRICS_ROUTE_CHAT,
                                       METRICS_ORIGIN_CLIENT,
                                       p ? METRICS_SERVED_PEER : METRICS_SERVED_LOCAL,
                                       name,
                                       true,
                                       400 + s,
                                       0.1,
                                       0.1};
                metrics_request(m, &r);
            }
    char *text = s_render(m, &s_no_gauges);
    size_t series = s_count(text, "arena_requests_total{");
    assert_true(series <= METRICS_MAX_SERIES + 20 * 2); /* the folded "other" ones on top */
    assert_true(series >= METRICS_MAX_SERIES);
    /* nothing lost: the counts add up to every request */
    unsigned long long total = 0;
    for (const char *p = text; (p = strstr(p, "arena_requests_total{"));) {
        const char *end = strchr(p, '\n');
        const char *sp = end;
        while (sp > p && sp[-1] != ' ')
            sp--;
        total += strtoull(sp, NULL, 10);
        p = end;
    }
    assert_int_equal(total, 20ULL * METRICS_MAX_MODELS * 2);
    free(text);
    metrics_destroy(&m);
}

static void test_bucket_edges(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    static const double at[] = {0.05, 0.0500001, 300, 300.0001, -1 /* a clock step: 0 */};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        metrics_request_t r = {METRICS_ROUTE_CHAT,
                               METRICS_ORIGIN_CLIENT,
                               METRICS_SERVED_LOCAL,
                               "x",
                               true,
                               200,
                               -1,
                               at[i]};
        metrics_request(m, &r);
    }
    char *text = s_render(m, &s_no_gauges);
#define L                                                                                          \
    "arena_request_duration_seconds_bucket{route=\"chat\",origin=\"client\",served_by=\"local\","
    assert_non_null(strstr(text, L "le=\"0.05\"} 2\n"));
    assert_non_null(strstr(text, L "le=\"0.1\"} 3\n"));
    assert_non_null(strstr(text, L "le=\"300\"} 4\n"));
    assert_non_null(strstr(text, L "le=\"+Inf\"} 5\n"));
#undef L
    assert_non_null(strstr(text, "arena_request_duration_seconds_count{route=\"chat\","
                                 "origin=\"client\",served_by=\"local\"} 5\n"));
    assert_null(strstr(text, "arena_request_ttfb_seconds_bucket")); /* none had a first byte */
    free(text);
    metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact), cmocka_unit_test(test_escape),
        cmocka_unit_test(test_model_bound),  cmocka_unit_test(test_series_bound),
        cmocka_unit_test(test_bucket_edges), cmocka_unit_test(test_limit_tiers_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
