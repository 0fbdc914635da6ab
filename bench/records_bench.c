/*  records-bench — the cost of the replicated-record layer's summary and of
    the usage rollups table (issue #11, item 4; docs/benchmarks.md).

    In one process, a real store (a temporary data dir), usage meter and
    mesh node (no peers). Three measurements, each a mean over many runs:

      full         the summary of a table of N records computed from
                   scratch (what every merge or push cost before the table
                   was incremental: mesh_table_changed + mesh_table_summary)
      incremental  one record's change in the same table
                   (mesh_table_update + mesh_table_summary)
      merge        N rollups of other origins, each sealed by its origin,
                   merged as from a peer, 256 (one `records` message) a
                   transaction
      tick         the usage table holding N rollups of other origins (each
                   signed by its origin, merged as from a peer): K requests
                   recorded on K rollups of this node, then one
                   repl_usage_tick (flush, the changed rollups read, sealed,
                   their signed forms written, pushed)

    Usage: records-bench [--records 20000] [--changed 1,10,100]
    [--rounds 20] [--batch 1|0 (0: each merge its own transaction, as
    without the table's batch callback)]. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/repl_usage.h"
#include "protocol/alog.h"
#include "tests/support/test_mesh_env.h"

static double s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    int n_records = 20000, rounds = 20;
    bool batch = true;
    const char *changed = "1,10,100";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--records") == 0)
            n_records = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--changed") == 0)
            changed = argv[i + 1];
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            batch = strcmp(argv[i + 1], "0") != 0;
        else {
            fprintf(stderr, "usage: records-bench [--records N] [--changed K,K…] [--rounds R]\n");
            return 64;
        }
    }
    if (n_records < 1 || rounds < 1)
        return 64;
    alog_set_level(ALOG_WARN);
    char root[] = "/tmp/records-bench.XXXXXX", err[256];
    if (!mkdtemp(root))
        return 1;
    store_t *store = store_open(root, err, sizeof err);
    usage_config_t uc = {
        .store = store, .node_id = tmesh_id("bench-me"), .keep_days = 30, .rollup_keep_days = 400};
    usage_meter_t *usage = store ? usage_new(&uc) : NULL;
    zloop_t *loop = zloop_new();
    mesh_config_t mc = tmesh_config_fast("bench-me", NULL, NULL, NULL);
    mesh_t *mesh = tmesh_node_new(&mc, loop, "bench");
    repl_usage_config_t rc = {.mesh = mesh,
                              .store = store,
                              .usage = usage,
                              .node_id = tmesh_id("bench-me"),
                              .sk = tmesh_key("bench-me"),
                              .rollup_keep_days = 400};
    repl_usage_t *repl = mesh && usage ? repl_usage_new(&rc) : NULL;
    if (!repl) {
        fprintf(stderr, "records-bench: cannot set up (%s)\n", err);
        return 1;
    }
    /* N rollups of 4 other origins, 50 keys, 5 models, back in time */
    const char *origins[4] = {"bench-o1", "bench-o2", "bench-o3", "bench-o4"};
    long long now = zclock_time(), hour = now - now % USAGE_HOUR_MS;
    /* sealed first (what the peers did), then merged: only the merges are timed */
    wire_record_t *recs = calloc((size_t)n_records, sizeof *recs);
    if (!recs)
        return 1;
    for (int i = 0; i < n_records; i++) {
        usage_rollup_t u;
        memset(&u, 0, sizeof u);
        const char *o = origins[i % 4];
        snprintf(u.origin, sizeof u.origin, "%s", tmesh_id(o));
        snprintf(u.key, sizeof u.key, "key-%02d", (i / 4) % 50);
        snprintf(u.model, sizeof u.model, "vendor/model-%d", (i / 200) % 5);
        u.hour_ms = hour - (long long)(i / 1000) * USAGE_HOUR_MS;
        u.version_ms = now - 60000; /* before the window a tick reads */
        u.requests = 1 + i % 7;
        char key[WIRE_MAX_RKEY + 1];
        uint8_t payload[USAGE_ROLLUP_WIRE_MAX];
        repl_usage_rkey(&u, key, sizeof key);
        wire_record_t r = {.table = REPL_USAGE,
                           .key = key,
                           .version_ms = (uint64_t)u.version_ms,
                           .node = (char *)tmesh_id(o),
                           .payload = payload,
                           .payload_len = usage_rollup_encode(&u, payload, sizeof payload)};
        if (wire_record_seal(&r, tmesh_key(o)) < 0 || wire_record_copy(&recs[i], &r) < 0)
            return 1;
        free(r.sealed);
    }
    double t0 = s_now_us();
    for (int i = 0; i < n_records; i++) {
        if (batch && i % WIRE_MAX_RECORDS == 0)
            repl_usage_batch(repl, true); /* as one `records` message */
        if (repl_usage_merge(repl, &recs[i]) != MESH_REC_APPLIED) {
            fprintf(stderr, "records-bench: rollup %d not applied\n", i);
            return 1;
        }
        if (batch && (i % WIRE_MAX_RECORDS == WIRE_MAX_RECORDS - 1 || i == n_records - 1))
            repl_usage_batch(repl, false);
    }
    double took = s_now_us() - t0;
    printf("merge: %d rollups of other origins, %d a transaction (one records message): %.0f ms "
           "(%.1f us each: decode, check, store, signed form kept)\n",
           n_records, batch ? WIRE_MAX_RECORDS : 1, took / 1e3, took / n_records);
    for (int i = 0; i < n_records; i++)
        wire_record_clear(&recs[i]);
    free(recs);
    printf("table holds %zu records, %d buckets\n", repl_usage_count(repl), REPL_USAGE_BUCKETS);

    uint64_t r0 = 0;
    t0 = s_now_us();
    for (int i = 0; i < rounds; i++) {
        mesh_table_changed(mesh, REPL_USAGE);
        mesh_table_summary(mesh, REPL_USAGE, &r0, NULL, 0);
    }
    printf("full summary: %.2f ms (mean of %d)\n", (s_now_us() - t0) / rounds / 1e3, rounds);

    int inc_rounds = rounds * 5000;
    mesh_rec_version_t a = {"bench/x", 1, tmesh_id("bench-me"), false, 0};
    mesh_rec_version_t b = a;
    uint64_t r1 = 0;
    t0 = s_now_us();
    for (int i = 0; i < inc_rounds; i++) {
        a.version_ms = (uint64_t)i + 1;
        b.version_ms = (uint64_t)i + 2;
        mesh_table_update(mesh, REPL_USAGE, i ? &a : NULL, &b);
        mesh_table_summary(mesh, REPL_USAGE, &r1, NULL, 0);
    }
    printf("incremental update: %.2f us (mean of %d)\n", (s_now_us() - t0) / inc_rounds,
           inc_rounds);

    repl_usage_tick(repl, zclock_time()); /* nothing pending */
    char list[64];
    snprintf(list, sizeof list, "%s", changed);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int k = atoi(tok);
        double total = 0;
        int pushed = 0;
        for (int r = 0; r < rounds; r++) {
            for (int j = 0; j < k; j++) {
                usage_row_t row = {.at_ms = zclock_time(),
                                   .status = 200,
                                   .ttfb_ms = 10,
                                   .duration_ms = 100,
                                   .prompt_tokens = 20,
                                   .completion_tokens = 30};
                snprintf(row.key, sizeof row.key, "key-%02d", j % 50);
                snprintf(row.model, sizeof row.model, "vendor/model-%d", j / 50);
                usage_record(usage, &row);
            }
            double s = s_now_us();
            pushed += repl_usage_tick(repl, zclock_time());
            total += s_now_us() - s;
            zclock_sleep(2); /* the next versions are newer */
        }
        printf("tick with %d changed rollup(s): %.2f ms (mean of %d; %d sealed and pushed)\n", k,
               total / rounds / 1e3, rounds, pushed);
    }
    repl_usage_destroy(&repl);
    mesh_destroy(&mesh);
    zloop_destroy(&loop);
    usage_destroy(&usage);
    store_destroy(&store);
    nftw(root, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
