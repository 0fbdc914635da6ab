/*  test_config — config_load precedence, every flag in every form, the
    config file, bad input, --help/--version and the security refusals
    (HOST:PORT itself: test_hostport). Each test runs in a fresh temporary working directory
    so the default ./data/arena-node.jsonc is under the test's control. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/config.h"
#include "tests/support/test_tmpdir.h"

#define MAX_ARGS 32

typedef struct {
    char dir[256];
    char old_cwd[4096];
    char err[1024];
    char *out; /* what --help / --version printed */
    config_t cfg;
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(test_tmpdir_make(fx->dir, sizeof fx->dir, "test_config"), 0);
    assert_non_null(getcwd(fx->old_cwd, sizeof fx->old_cwd));
    assert_int_equal(chdir(fx->dir), 0);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    config_free(&fx->cfg);
    free(fx->out);
    assert_int_equal(chdir(fx->old_cwd), 0);
    test_tmpdir_remove(fx->dir);
    free(fx);
    return 0;
}

/*  Writes text to DIR/name (creating DIR/sub dirs is the caller's job). */
static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/*  Loads with args (NULL-terminated list; argv[0] is added) and envp. */
static int s_loadv(fx_t *fx, char **envp, const char *const *args)
{
    char *argv[MAX_ARGS + 2] = {"arena-node"};
    int argc = 1;
    for (; args && args[argc - 1]; argc++) {
        assert_true(argc <= MAX_ARGS);
        argv[argc] = (char *)args[argc - 1];
    }
    config_free(&fx->cfg);
    free(fx->out);
    fx->out = NULL;
    size_t outlen = 0;
    FILE *out = open_memstream(&fx->out, &outlen);
    assert_non_null(out);
    char *noenv[] = {NULL};
    fx->err[0] = '\0';
    int rc = config_load(&fx->cfg, argc, argv, envp ? envp : noenv, out, fx->err, sizeof fx->err);
    fclose(out);
    return rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((char *[]){__VA_ARGS__, NULL})

/*  Renders one setting as text so tables can compare it. */
static void s_render(const config_t *c, const char *setting, char *buf, size_t len)
{
    const strlist_t *l = NULL;
    if (!strcmp(setting, "name"))
        snprintf(buf, len, "%s", c->name);
    else if (!strcmp(setting, "data"))
        snprintf(buf, len, "%s", c->data_dir);
    else if (!strcmp(setting, "http"))
        snprintf(buf, len, "%s|%d", c->http_host, c->http_port);
    else if (!strcmp(setting, "link"))
        snprintf(buf, len, "%s|%d", c->link_host, c->link_port);
    else if (!strcmp(setting, "mesh"))
        snprintf(buf, len, "%s|%d", c->mesh_host, c->mesh_port);
    else if (!strcmp(setting, "advertise"))
        snprintf(buf, len, "%s", c->advertise ? c->advertise : "(null)");
    else if (!strcmp(setting, "mesh-secret"))
        snprintf(buf, len, "%s", c->mesh_secret ? c->mesh_secret : "(null)");
    else if (!strcmp(setting, "link-token"))
        snprintf(buf, len, "%s", c->link_token ? c->link_token : "(null)");
    else if (!strcmp(setting, "arena-origin"))
        snprintf(buf, len, "%s", c->arena_origin);
    else if (!strcmp(setting, "allow-anonymous"))
        snprintf(buf, len, "%d", c->allow_anonymous);
    else if (!strcmp(setting, "metrics-public"))
        snprintf(buf, len, "%d", c->metrics_public);
    else if (!strcmp(setting, "admin-key"))
        snprintf(buf, len, "%s", c->admin_key ? c->admin_key : "(null)");
    else if (!strcmp(setting, "log-level"))
        snprintf(buf, len, "%d", (int)c->log_level);
    else if (!strcmp(setting, "tab-jobs"))
        snprintf(buf, len, "%d", c->tab_jobs);
    else if (!strcmp(setting, "queue"))
        snprintf(buf, len, "%d", c->queue_max);
    else if (!strcmp(setting, "queue-timeout"))
        snprintf(buf, len, "%d", c->queue_timeout_ms);
    else if (!strcmp(setting, "max-body"))
        snprintf(buf, len, "%zu", c->max_body);
    else if (!strcmp(setting, "max-messages"))
        snprintf(buf, len, "%d", c->max_messages);
    else if (!strcmp(setting, "max-json-depth"))
        snprintf(buf, len, "%d", c->max_json_depth);
    else if (!strcmp(setting, "retries"))
        snprintf(buf, len, "%d", c->retries);
    else if (!strcmp(setting, "cooldown-default"))
        snprintf(buf, len, "%d", c->cooldown_default_s);
    else if (!strcmp(setting, "first-byte-timeout"))
        snprintf(buf, len, "%d", c->first_byte_timeout_ms);
    else if (!strcmp(setting, "stream-idle-timeout"))
        snprintf(buf, len, "%d", c->stream_idle_timeout_ms);
    else if (!strcmp(setting, "max-connections"))
        snprintf(buf, len, "%d", c->max_connections);
    else if (!strcmp(setting, "body-budget"))
        snprintf(buf, len, "%zu", c->body_budget);
    else if (!strcmp(setting, "stream-buffer"))
        snprintf(buf, len, "%zu", c->stream_buffer);
    else if (!strcmp(setting, "link-max-pending"))
        snprintf(buf, len, "%d", c->link_max_pending);
    else if (!strcmp(setting, "responses-keep"))
        snprintf(buf, len, "%d", c->responses_keep_s);
    else if (!strcmp(setting, "responses-keep-bytes"))
        snprintf(buf, len, "%zu", c->responses_keep_bytes);
    else if (!strcmp(setting, "gossip-interval"))
        snprintf(buf, len, "%d", c->gossip_interval_ms);
    else if (!strcmp(setting, "gossip-fanout"))
        snprintf(buf, len, "%d", c->gossip_fanout);
    else if (!strcmp(setting, "ping-interval"))
        snprintf(buf, len, "%d", c->ping_interval_ms);
    else if (!strcmp(setting, "ping-timeout"))
        snprintf(buf, len, "%d", c->ping_timeout_ms);
    else if (!strcmp(setting, "suspect-after"))
        snprintf(buf, len, "%d", c->suspect_after_ms);
    else if (!strcmp(setting, "dead-after"))
        snprintf(buf, len, "%d", c->dead_after_ms);
    else if (!strcmp(setting, "forget-after"))
        snprintf(buf, len, "%d", c->forget_after_ms);
    else if (!strcmp(setting, "mesh-secret-file"))
        snprintf(buf, len, "%s%s", c->mesh_secret_file ? c->mesh_secret_file : "(null)",
                 c->mesh_secret_local ? " local" : "");
    else if (!strcmp(setting, "mesh-max-peers"))
        snprintf(buf, len, "%d", c->mesh_max_peers);
    else if (!strcmp(setting, "mesh-max-new"))
        snprintf(buf, len, "%d", c->mesh_max_new);
    else if (!strcmp(setting, "mesh-dial-rate"))
        snprintf(buf, len, "%d", c->mesh_dial_rate);
    else if (!strcmp(setting, "forward-accept-timeout"))
        snprintf(buf, len, "%d", c->forward_accept_timeout_ms);
    else if (!strcmp(setting, "arena-mode"))
        snprintf(buf, len, "%s", c->arena_mode);
    else if (!strcmp(setting, "recaptcha-backoff-max"))
        snprintf(buf, len, "%d", c->recaptcha_backoff_max_s);
    else if (!strcmp(setting, "pace"))
        snprintf(buf, len, "%s", c->pace);
    else if (!strcmp(setting, "pace-interval"))
        snprintf(buf, len, "%d", c->pace_interval_s);
    else if (!strcmp(setting, "pace-window"))
        snprintf(buf, len, "%s", c->pace_window);
    else if (!strcmp(setting, "browser"))
        snprintf(buf, len, "%d", c->browser);
    else if (!strcmp(setting, "browser-tabs"))
        snprintf(buf, len, "%d", c->browser_tabs);
    else if (!strcmp(setting, "browser-headless"))
        snprintf(buf, len, "%d", c->browser_headless);
    else if (!strcmp(setting, "browser-path"))
        snprintf(buf, len, "%s", c->browser_path);
    else if (!strcmp(setting, "browser-stuck-after"))
        snprintf(buf, len, "%d", c->browser_stuck_s);
    else if (!strcmp(setting, "seed"))
        l = &c->seeds;
    else if (!strcmp(setting, "link-origin"))
        l = &c->link_origins;
    else if (!strcmp(setting, "api-key"))
        l = &c->api_keys;
    else if (!strcmp(setting, "http-name"))
        l = &c->http_names;
    else if (!strcmp(setting, "cors-origin"))
        l = &c->cors_origins;
    else if (!strcmp(setting, "model-alias"))
        l = &c->model_aliases;
    else if (!strcmp(setting, "model-allow"))
        l = &c->model_allow;
    else if (!strcmp(setting, "usage-keep"))
        snprintf(buf, len, "%d", c->usage_keep_days);
    else if (!strcmp(setting, "usage-rollup-keep"))
        snprintf(buf, len, "%d", c->usage_rollup_keep_days);
    else if (!strcmp(setting, "price"))
        l = &c->prices;
    else
        fail_msg("no renderer for %s", setting);
    if (l) {
        buf[0] = '\0';
        for (size_t i = 0; i < l->n; i++) {
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, "%s%s", i ? "," : "", l->items[i]);
        }
    }
}

static void s_expect(fx_t *fx, const char *setting, const char *want)
{
    char got[2048];
    s_render(&fx->cfg, setting, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", setting, got, want);
}

/* ---- defaults --------------------------------------------------------- */

static void test_defaults(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(s_loadv(fx, NULL, NULL), 0);
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    static const struct {
        const char *setting, *want;
    } rows[] = {
        {"data", "./data"},
        {"http", "127.0.0.1|5102"},
        {"link", "127.0.0.1|5103"},
        {"mesh", "127.0.0.1|5104"},
        {"advertise", "(null)"},
        {"mesh-secret", "(null)"},
        {"link-token", "(null)"},
        {"arena-origin", "https://lmarena.ai"},
        {"allow-anonymous", "0"},
        {"metrics-public", "0"},
        {"admin-key", "(null)"},
        {"log-level", "2"},
        {"tab-jobs", "1"},
        {"queue", "256"},
        {"queue-timeout", "10000"},
        {"max-body", "33554432"},
        {"max-messages", "1024"},
        {"max-json-depth", "32"},
        {"retries", "2"},
        {"cooldown-default", "1800"},
        {"first-byte-timeout", "180000"},
        {"stream-idle-timeout", "180000"},
        {"max-connections", "4096"},
        {"body-budget", "67108864"},
        {"http-name", ""},
        {"cors-origin", ""},
        {"link-max-pending", "32"},
        {"responses-keep", "86400"},
        {"responses-keep-bytes", "33554432"},
        {"stream-buffer", "33554432"},
        /* mesh timing: as S_DEF_* in mesh/mesh.c and forward.c's accept_ms */
        {"gossip-interval", "200"},
        {"gossip-fanout", "3"},
        {"ping-interval", "1000"},
        {"ping-timeout", "500"},
        {"suspect-after", "2000"},
        {"dead-after", "5500"},
        {"forget-after", "60000"},
        {"mesh-max-peers", "256"},
        {"mesh-max-new", "16"},
        {"mesh-dial-rate", "20"},
        {"mesh-secret-file", "(null) local"}, /* no HOME here: the node says so */
        {"forward-accept-timeout", "2000"},
        /* LMArena in 2026 (docs/upstream.md) */
        {"arena-mode", "direct-battle"},
        {"recaptcha-backoff-max", "7200"},
        {"pace", "on"},
        {"pace-interval", "60"},
        {"pace-window", "3/390"},
        /* the managed browser */
        {"browser", "0"},
        {"browser-tabs", "1"},
        {"browser-headless", "0"},
        {"browser-path", "/usr/bin/chromium"},
        {"browser-stuck-after", "120"},
        {"seed", ""},
        {"link-origin", ""},
        {"api-key", ""},
        {"model-alias", ""},
        {"model-allow", ""},
        {"usage-keep", "30"},
        {"usage-rollup-keep", "400"},
        {"price", ""},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        s_expect(fx, rows[i].setting, rows[i].want);
    if (host[0] && strlen(host) <= 64)
        assert_string_equal(fx->cfg.name, host);
    assert_non_null(fx->cfg.name);
    assert_null(fx->cfg.config_file);
}

/* ---- every flag, in every form ---------------------------------------- */

typedef struct {
    const char *flag;  /* without dashes */
    const char *value; /* as a flag or variable */
    const char *json;  /* as a config-file value */
    const char *want;  /* s_render */
} setting_row_t;

static const setting_row_t s_settings[] = {
    {"name", "node-a", "\"node-a\"", "node-a"},
    {"data", "state/dir", "\"state/dir\"", "state/dir"},
    {"http", "127.0.0.2:8080", "\"127.0.0.2:8080\"", "127.0.0.2|8080"},
    {"link", "[::1]:0", "\"[::1]:0\"", "::1|0"},
    {"mesh", "localhost:6000", "\"localhost:6000\"", "localhost|6000"},
    {"advertise", "localhost:6000", "\"localhost:6000\"", "localhost:6000"},
    {"seed", "127.0.0.1:5104", "[\"127.0.0.1:5104\"]", "127.0.0.1:5104"},
    {"mesh-secret", "s3cret", "\"s3cret\"", "s3cret"},
    {"link-token", "tok=en", "\"tok=en\"", "tok=en"},
    {"link-origin", "https://arena.ai", "[\"https://arena.ai\"]", "https://arena.ai"},
    {"arena-origin", "https://beta.lmarena.ai", "\"https://beta.lmarena.ai\"",
     "https://beta.lmarena.ai"},
    {"api-key", "sk-1", "[\"sk-1\"]", "sk-1"},
    {"admin-key", "admin-key-0123456789", "\"admin-key-0123456789\"", "admin-key-0123456789"},
    {"allow-anonymous", "true", "true", "1"},
    {"metrics-public", "true", "true", "1"},
    {"http-name", "api.example:8080", "[\"api.example:8080\"]", "api.example:8080"},
    {"cors-origin", "*", "[\"*\"]", "*"},
    {"body-budget", "1g", "\"1g\"", "1073741824"},
    {"stream-buffer", "1m", "\"1m\"", "1048576"},
    {"log-level", "debug", "\"debug\"", "3"},
    {"tab-jobs", "4", "4", "4"},
    {"queue", "0", "0", "0"},
    {"queue-timeout", "2500", "2500", "2500"},
    {"max-body", "4k", "\"4k\"", "4096"},
    {"max-messages", "10", "10", "10"},
    {"max-json-depth", "64", "64", "64"},
    {"retries", "0", "0", "0"},
    {"cooldown-default", "60", "60", "60"},
    {"first-byte-timeout", "5000", "5000", "5000"},
    {"stream-idle-timeout", "86400000", "86400000", "86400000"},
    {"max-connections", "100", "100", "100"},
    {"model-alias", "best=gpt-5-high", "[\"best=gpt-5-high\"]", "best=gpt-5-high"},
    {"model-allow", "gpt-5-high", "[\"gpt-5-high\"]", "gpt-5-high"},
    {"link-max-pending", "8", "8", "8"},
    {"responses-keep", "0", "0", "0"},
    {"responses-keep-bytes", "1m", "\"1m\"", "1048576"},
    {"usage-keep", "0", "0", "0"},
    {"usage-rollup-keep", "3650", "3650", "3650"},
    {"price", "org/m=x=2.5/10", "[\"org/m=x=2.5/10\"]", "org/m=x=2.5/10"},
    /* each valid alone (with the other timings at their defaults) and all
       together (test_all_flags_together) */
    {"gossip-interval", "100", "100", "100"},
    {"gossip-fanout", "5", "5", "5"},
    {"ping-interval", "800", "800", "800"},
    {"ping-timeout", "300", "300", "300"},
    {"suspect-after", "3000", "3000", "3000"},
    {"dead-after", "8000", "8000", "8000"},
    {"forget-after", "120000", "120000", "120000"},
    {"forward-accept-timeout", "3000", "3000", "3000"},
    {"arena-mode", "side-by-side", "\"side-by-side\"", "side-by-side"},
    {"recaptcha-backoff-max", "3600", "3600", "3600"},
    {"pace", "off", "\"off\"", "off"},
    {"pace-interval", "0", "0", "0"},
    {"pace-window", "5/600", "\"5/600\"", "5/600"},
    {"browser", "true", "true", "1"},
    {"browser-tabs", "3", "3", "3"},
    {"browser-headless", "true", "true", "1"},
    {"browser-path", "/opt/chromium/chrome", "\"/opt/chromium/chrome\"", "/opt/chromium/chrome"},
    {"browser-stuck-after", "30", "30", "30"},
};
#define N_SETTINGS (sizeof s_settings / sizeof s_settings[0])

static void s_env_name(const char *flag, char *out, size_t len)
{
    if (!strcmp(flag, "api-key")) {
        snprintf(out, len, "ARENA_API_KEYS");
        return;
    }
    snprintf(out, len, "ARENA_");
    size_t o = strlen(out);
    for (const char *p = flag; *p && o + 1 < len; p++)
        out[o++] = *p == '-' ? '_' : (char)(*p - 'a' + 'A');
    out[o] = '\0';
}

static void s_key_name(const char *flag, char *out, size_t len)
{
    snprintf(out, len, "%s", flag);
    for (char *p = out; *p; p++)
        if (*p == '-')
            *p = '_';
}

/*  The form "--flag VALUE"; a boolean flag takes no separate value. */
static int s_separate(const setting_row_t *r, const char **argv, char *flag, size_t len)
{
    snprintf(flag, len, "--%s", r->flag);
    argv[0] = flag;
    if (!strcmp(r->flag, "allow-anonymous") || !strcmp(r->flag, "metrics-public") ||
        !strcmp(r->flag, "browser") || !strcmp(r->flag, "browser-headless"))
        return 1;
    argv[1] = r->value;
    return 2;
}

static void test_every_flag_two_forms(void **state)
{
    fx_t *fx = *state;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_row_t *r = &s_settings[i];
        char flag[64], joined[256];
        const char *args[3] = {0};
        s_separate(r, args, flag, sizeof flag);
        snprintf(joined, sizeof joined, "--%s=%s", r->flag, r->value);
        if (s_loadv(fx, NULL, args) != 0)
            fail_msg("%s %s: %s", flag, r->value, fx->err);
        s_expect(fx, r->flag, r->want);
        if (s_loadv(fx, NULL, ARGS(joined)) != 0)
            fail_msg("%s: %s", joined, fx->err);
        s_expect(fx, r->flag, r->want);
    }
}

static void test_every_env_var(void **state)
{
    fx_t *fx = *state;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_row_t *r = &s_settings[i];
        char name[64], var[256];
        s_env_name(r->flag, name, sizeof name);
        snprintf(var, sizeof var, "%s=%s", name, r->value);
        if (s_loadv(fx, ENV("HOME=/nowhere", var, "ARENA_UNRELATED=x"), NULL) != 0)
            fail_msg("%s: %s", var, fx->err);
        s_expect(fx, r->flag, r->want);
    }
}

static void test_every_file_key(void **state)
{
    fx_t *fx = *state;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_row_t *r = &s_settings[i];
        char key[64], text[512];
        s_key_name(r->flag, key, sizeof key);
        snprintf(text, sizeof text, "{ \"%s\": %s }", key, r->json);
        s_write("c.jsonc", text);
        if (s_loadv(fx, NULL, ARGS("--config", "c.jsonc")) != 0)
            fail_msg("%s: %s", text, fx->err);
        s_expect(fx, r->flag, r->want);
        assert_string_equal(fx->cfg.config_file, "c.jsonc");
    }
}

/*  All settings at once, proving the flags do not disturb each other. */
static void test_all_flags_together(void **state)
{
    fx_t *fx = *state;
    char *argv[2 * N_SETTINGS + 2] = {"arena-node"};
    char flags[N_SETTINGS][64];
    int argc = 1;
    for (size_t i = 0; i < N_SETTINGS; i++)
        argc += s_separate(&s_settings[i], (const char **)argv + argc, flags[i], sizeof flags[i]);
    char *noenv[] = {NULL};
    if (config_load(&fx->cfg, argc, argv, noenv, stdout, fx->err, sizeof fx->err) != 0)
        fail_msg("%s", fx->err);
    for (size_t i = 0; i < N_SETTINGS; i++)
        s_expect(fx, s_settings[i].flag, s_settings[i].want);
}

static void test_bool_forms(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *env; /* ARENA_ALLOW_ANONYMOUS value or NULL */
        const char *arg; /* flag or NULL */
        int want;
    } rows[] = {
        {NULL, "--allow-anonymous", 1},
        {"1", NULL, 1},
        {"yes", NULL, 1},
        {"TRUE", NULL, 1},
        {"0", NULL, 0},
        {"no", NULL, 0},
        {"false", NULL, 0},
        {"yes", "--allow-anonymous=false", 0},
        {"no", "--allow-anonymous", 1},
        {NULL, "--allow-anonymous=0", 0},
        {"false", "--allow-anonymous=yes", 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char var[64];
        snprintf(var, sizeof var, "ARENA_ALLOW_ANONYMOUS=%s", rows[i].env ? rows[i].env : "");
        char *env[] = {rows[i].env ? var : NULL, NULL};
        const char *args[] = {rows[i].arg, NULL};
        if (s_loadv(fx, env, args) != 0)
            fail_msg("row %zu: %s", i, fx->err);
        if (fx->cfg.allow_anonymous != rows[i].want)
            fail_msg("row %zu: got %d", i, fx->cfg.allow_anonymous);
    }
}

/* ---- precedence ------------------------------------------------------- */

typedef struct {
    const char *flag, *json, *env_value, *flag_value;
    const char *want_default, *want_file, *want_env, *want_flag;
} prec_row_t;

static void test_precedence(void **state)
{
    fx_t *fx = *state;
    static const prec_row_t rows[] = {
        {"queue", "10", "20", "30", "256", "10", "20", "30"},
        {"http", "\"127.0.0.1:1\"", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1|5102", "127.0.0.1|1",
         "127.0.0.1|2", "127.0.0.1|3"},
        {"log-level", "\"error\"", "warn", "debug", "2", "0", "1", "3"},
        {"name", "\"file\"", "env", "flag", NULL, "file", "env", "flag"},
        {"max-body", "2048", "3k", "1m", "33554432", "2048", "3072", "1048576"},
        {"arena-origin", "\"https://f.example\"", "https://e.example", "https://g.example",
         "https://lmarena.ai", "https://f.example", "https://e.example", "https://g.example"},
        {"seed", "[\"127.0.0.1:11\", \"127.0.0.1:12\"]", "127.0.0.1:21,127.0.0.1:22",
         "127.0.0.1:31", "", "127.0.0.1:11,127.0.0.1:12", "127.0.0.1:21,127.0.0.1:22",
         "127.0.0.1:31"},
        {"api-key", "[\"kf\"]", "ke1, ke2", "kg", "", "kf", "ke1,ke2", "kg"},
        {"dead-after", "7000", "8000", "9000", "5500", "7000", "8000", "9000"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const prec_row_t *r = &rows[i];
        char key[64], text[256], name[64], var[256], flag[64];
        s_key_name(r->flag, key, sizeof key);
        s_env_name(r->flag, name, sizeof name);
        snprintf(text, sizeof text, "// layer test\n{ \"%s\": %s, }\n", key, r->json);
        snprintf(var, sizeof var, "%s=%s", name, r->env_value);
        snprintf(flag, sizeof flag, "--%s=%s", r->flag, r->flag_value);
        mkdir("data", 0700);
        unlink("data/arena-node.jsonc");

        assert_int_equal(s_loadv(fx, NULL, NULL), 0);
        if (r->want_default)
            s_expect(fx, r->flag, r->want_default);
        assert_int_equal(s_loadv(fx, ENV(var), ARGS(flag)), 0); /* env + flag: flag */
        s_expect(fx, r->flag, r->want_flag);

        s_write("data/arena-node.jsonc", text); /* the default file is found */
        assert_int_equal(s_loadv(fx, NULL, NULL), 0);
        s_expect(fx, r->flag, r->want_file);
        assert_string_equal(fx->cfg.config_file, "./data/arena-node.jsonc");
        assert_int_equal(s_loadv(fx, ENV(var), NULL), 0);
        s_expect(fx, r->flag, r->want_env);
        assert_int_equal(s_loadv(fx, ENV(var), ARGS(flag)), 0);
        s_expect(fx, r->flag, r->want_flag);
        assert_int_equal(s_loadv(fx, NULL, ARGS(flag)), 0);
        s_expect(fx, r->flag, r->want_flag);
    }
}

static void test_repeatables_replace(void **state)
{
    fx_t *fx = *state;
    s_write("c.jsonc",
            "{ \"seed\": [\"127.0.0.1:1\", \"127.0.0.1:2\"], \"api_keys\": [\"k1\", \"k2\"],\n"
            "  \"link_origin\": \"https://one.example\" }");
    assert_int_equal(s_loadv(fx, NULL, ARGS("--config=c.jsonc")), 0);
    s_expect(fx, "seed", "127.0.0.1:1,127.0.0.1:2");
    s_expect(fx, "api-key", "k1,k2");
    s_expect(fx, "link-origin", "https://one.example");

    /* env replaces the file's list */
    assert_int_equal(s_loadv(fx, ENV("ARENA_SEED=127.0.0.1:3", "ARENA_API_KEYS=k3,k4"),
                             ARGS("--config=c.jsonc")),
                     0);
    s_expect(fx, "seed", "127.0.0.1:3");
    s_expect(fx, "api-key", "k3,k4");
    s_expect(fx, "link-origin", "https://one.example");

    /* repeated flags accumulate with each other and replace env and file */
    assert_int_equal(s_loadv(fx, ENV("ARENA_SEED=127.0.0.1:3"),
                             ARGS("--config=c.jsonc", "--seed", "127.0.0.1:4", "--seed=127.0.0.1:5",
                                  "--link-origin", "http://localhost:8080")),
                     0);
    s_expect(fx, "seed", "127.0.0.1:4,127.0.0.1:5");
    s_expect(fx, "api-key", "k1,k2");
    s_expect(fx, "link-origin", "http://localhost:8080");

    /* an empty array in the file clears the default-less list too */
    s_write("c.jsonc", "{ \"api_key\": [] }");
    assert_int_equal(s_loadv(fx, NULL, ARGS("--config=c.jsonc")), 0);
    s_expect(fx, "api-key", "");
}

static void test_env_comma_lists(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(s_loadv(fx,
                             ENV("ARENA_LINK_ORIGIN= https://a.example , ,"
                                 "https://b.example:8443,",
                                 "ARENA_SEED=[::1]:7000,localhost:1", "ARENA_API_KEYS=only"),
                             NULL),
                     0);
    s_expect(fx, "link-origin", "https://a.example,https://b.example:8443");
    s_expect(fx, "seed", "[::1]:7000,localhost:1");
    s_expect(fx, "api-key", "only");
    /* an empty variable counts as unset */
    assert_int_equal(s_loadv(fx, ENV("ARENA_NAME=", "ARENA_QUEUE="), NULL), 0);
    s_expect(fx, "queue", "256");
}

static void test_jsonc_file(void **state)
{
    fx_t *fx = *state;
    s_write("node.jsonc", "// arena-node settings\n"
                          "{\n"
                          "  /* who we are */\n"
                          "  \"name\": \"n-1\", // trailing comment\n"
                          "  \"arena_origin\": \"https://lmarena.ai\",\n"
                          "  \"link_origin\": [\"https://x.example\", \"https://y.example\",],\n"
                          "  \"queue\": 12,\n"
                          "  \"allow_anonymous\": false,\n"
                          "  \"api_key\": \"k//not-a-comment\",\n"
                          "}\n");
    assert_int_equal(s_loadv(fx, ENV("ARENA_CONFIG=node.jsonc"), NULL), 0);
    s_expect(fx, "name", "n-1");
    s_expect(fx, "link-origin", "https://x.example,https://y.example");
    s_expect(fx, "queue", "12");
    s_expect(fx, "api-key", "k//not-a-comment");
    assert_string_equal(fx->cfg.config_file, "node.jsonc");
    /* --config beats ARENA_CONFIG */
    s_write("other.jsonc", "{\"queue\": 13}");
    assert_int_equal(s_loadv(fx, ENV("ARENA_CONFIG=node.jsonc"), ARGS("--config", "other.jsonc")),
                     0);
    s_expect(fx, "queue", "13");
    s_expect(fx, "link-origin", "");
}

/*  The default file is looked for in DATA from --data / ARENA_DATA; a "data"
    key inside a file counts only when neither gave one. */
static void test_data_dir_and_file(void **state)
{
    fx_t *fx = *state;
    mkdir("d1", 0700);
    mkdir("d2", 0700);
    s_write("d1/arena-node.jsonc", "{\"queue\": 1}");
    s_write("d2/arena-node.jsonc", "{\"queue\": 2, \"data\": \"elsewhere\"}");
    s_write("c.jsonc", "{\"data\": \"from-file\"}");

    assert_int_equal(s_loadv(fx, NULL, ARGS("--data", "d1")), 0);
    s_expect(fx, "queue", "1");
    s_expect(fx, "data", "d1");
    assert_int_equal(s_loadv(fx, ENV("ARENA_DATA=d2"), NULL), 0);
    s_expect(fx, "queue", "2");
    s_expect(fx, "data", "d2");
    assert_int_equal(s_loadv(fx, ENV("ARENA_DATA=d2"), ARGS("--data=d1")), 0);
    s_expect(fx, "queue", "1");
    assert_int_equal(s_loadv(fx, NULL, ARGS("--config", "c.jsonc")), 0);
    s_expect(fx, "data", "from-file");
    assert_int_equal(s_loadv(fx, ENV("ARENA_DATA=d1"), ARGS("--config", "c.jsonc")), 0);
    s_expect(fx, "data", "d1");
    /* no default file: nothing read */
    assert_int_equal(s_loadv(fx, NULL, ARGS("--data", "missing")), 0);
    assert_null(fx->cfg.config_file);
}

/* ---- bad input -------------------------------------------------------- */

typedef struct {
    const char *args[4];
    const char *env;   /* one variable or NULL */
    const char *file;  /* c.jsonc content, passed with --config, or NULL */
    const char *want;  /* substring of the message */
    const char * not ; /* must not appear (secrets), or NULL */
} bad_row_t;

static const bad_row_t s_bad[] = {
    {{"--bogus"}, NULL, NULL, "unknown option --bogus", NULL},
    {{"--cors-origin", "evil.test"}, NULL, NULL, "--cors-origin: expected * or an origin", NULL},
    {{"--cors-origin", "http://a.test/path"}, NULL, NULL, "expected * or an origin", NULL},
    {{"--http-name", "a b"}, NULL, NULL, "--http-name: expected a host name", NULL},
    {{"--http-name", "a.test:0"}, NULL, NULL, "--http-name: expected a host name", NULL},
    {{"--http-name", "http://a.test"}, NULL, NULL, "--http-name: expected a host name", NULL},
    {{"--body-budget", "1m", "--max-body", "2m"},
     NULL,
     NULL,
     "--body-budget (1048576 bytes) must be at least --max-body",
     NULL},
    {{"--model-alias", "best"}, NULL, NULL, "--model-alias: expected ALIAS=MODEL", NULL},
    {{"--model-alias", "=gpt"}, NULL, NULL, "expected ALIAS=MODEL", NULL},
    {{"--model-alias", "a=b=c"}, NULL, NULL, "expected ALIAS=MODEL", NULL},
    {{"--model-alias", "a b=c"}, NULL, NULL, "expected ALIAS=MODEL", NULL},
    {{"--model-allow", "a b"}, NULL, NULL, "--model-allow: must not contain spaces", NULL},
    {{"--price", "gpt"}, NULL, NULL, "--price: expected MODEL=IN/OUT", NULL},
    {{"--price", "gpt=1"}, NULL, NULL, "--price: expected MODEL=IN/OUT", NULL},
    {{"--price", "gpt=-1/2"}, NULL, NULL, "--price: expected MODEL=IN/OUT", NULL},
    {{"--price", "gpt=1/2000000"}, NULL, NULL, "--price: expected MODEL=IN/OUT", NULL},
    {{"--usage-keep", "3651"}, NULL, NULL, "--usage-keep", NULL},
    {{"--usage-rollup-keep", "0"}, NULL, NULL, "--usage-rollup-keep", NULL},
    {{"--bogus=1"}, NULL, NULL, "unknown option --bogus", NULL},
    {{"positional"}, NULL, NULL, "unexpected argument \"positional\"", NULL},
    {{"-q"}, NULL, NULL, "unexpected argument \"-q\"", NULL},
    {{"--"}, NULL, NULL, "unexpected argument \"--\"", NULL},
    {{"--queue"}, NULL, NULL, "--queue needs a value", NULL},
    {{"--name", "--queue=1"}, NULL, NULL, "--name needs a value", NULL},
    {{"--queue", "abc"}, NULL, NULL, "--queue: expected an integer from 0 to 100000", NULL},
    {{"--queue=-1"}, NULL, NULL, "--queue: expected an integer", NULL},
    {{"--queue=100001"}, NULL, NULL, "--queue", NULL},
    {{"--queue=12x"}, NULL, NULL, "got \"12x\"", NULL},
    {{"--queue= 12"}, NULL, NULL, "--queue", NULL},
    {{"--queue="}, NULL, NULL, "--queue", NULL},
    {{"--retries=99999999999999999999"}, NULL, NULL, "--retries", NULL},
    {{"--tab-jobs=0"}, NULL, NULL, "--tab-jobs: expected an integer from 1 to 10000", NULL},
    {{"--link-max-pending=0"},
     NULL,
     NULL,
     "--link-max-pending: expected an integer from 1 to 100000",
     NULL},
    {{"--queue-timeout=0"}, NULL, NULL, "--queue-timeout", NULL},
    {{"--first-byte-timeout=86400001"}, NULL, NULL, "--first-byte-timeout", NULL},
    {{"--cooldown-default=1"}, NULL, NULL, "--cooldown-default", NULL},
    {{"--max-body=1023"}, NULL, NULL, "--max-body: expected a size", NULL},
    {{"--max-body=2g"}, NULL, NULL, "--max-body", NULL},
    {{"--max-body=1t"}, NULL, NULL, "--max-body", NULL},
    {{"--max-body=1kb"}, NULL, NULL, "--max-body", NULL},
    {{"--max-body=99999999999999999g"}, NULL, NULL, "--max-body", NULL},
    {{"--http=nohost"}, NULL, NULL, "--http: expected ADDR:PORT", NULL},
    {{"--http=:5102"}, NULL, NULL, "--http", NULL},
    {{"--http=127.0.0.1:65536"}, NULL, NULL, "--http", NULL},
    {{"--link=127.0.0.1:"}, NULL, NULL, "--link", NULL},
    {{"--mesh=::1:80"}, NULL, NULL, "--mesh", NULL},
    {{"--seed=h:0"}, NULL, NULL, "--seed: expected HOST:PORT", NULL},
    {{"--advertise=h"}, NULL, NULL, "--advertise", NULL},
    {{"--log-level=loud"}, NULL, NULL, "--log-level: expected error, warn, info or debug", NULL},
    {{"--link-origin=ftp://x"}, NULL, NULL, "--link-origin: expected an origin", NULL},
    {{"--link-origin=https://x/path"}, NULL, NULL, "--link-origin", NULL},
    {{"--arena-origin=lmarena.ai"}, NULL, NULL, "--arena-origin", NULL},
    {{"--name=has space"}, NULL, NULL, "--name: must not contain spaces", NULL},
    {{"--name="}, NULL, NULL, "--name: must be 1 to 64", NULL},
    {{"--mesh-secret=a b"}, NULL, NULL, "--mesh-secret", "a b"},
    {{"--help=1"}, NULL, NULL, "--help takes no value", NULL},
    {{"--allow-anonymous=maybe"}, NULL, NULL, "--allow-anonymous: expected true or false", NULL},
    {{"--config", "missing.jsonc"}, NULL, NULL, "config file missing.jsonc", NULL},
    {{"--arena-mode=Direct"}, NULL, NULL, "--arena-mode: expected an LMArena mode", NULL},
    {{"--arena-mode=direct battle"}, NULL, NULL, "--arena-mode", NULL},
    {{"--arena-mode=a-mode-name-that-is-far-too-long"}, NULL, NULL, "--arena-mode", NULL},
    {{"--recaptcha-backoff-max=59"}, NULL, NULL, "--recaptcha-backoff-max", NULL},
    {{"--pace=maybe"}, NULL, NULL, "--pace: expected on or off", NULL},
    {{"--pace-interval=-1"}, NULL, NULL, "--pace-interval", NULL},
    {{"--pace-window=3"}, NULL, NULL, "--pace-window: expected COUNT/SECONDS", NULL},
    {{"--pace-window=0/60"}, NULL, NULL, "--pace-window", NULL},
    {{"--pace-window=3/0"}, NULL, NULL, "--pace-window", NULL},
    {{"--pace-window=3/x"}, NULL, NULL, "--pace-window", NULL},
    {{"--browser-tabs=0"}, NULL, NULL, "--browser-tabs", NULL},
    {{"--browser-tabs=33"}, NULL, NULL, "--browser-tabs", NULL},
    {{"--browser-stuck-after=9"}, NULL, NULL, "--browser-stuck-after", NULL},
    {{"--browser=maybe"}, NULL, NULL, "--browser: expected true or false", NULL},
    {{NULL}, "ARENA_PACE=sometimes", NULL, "ARENA_PACE: expected on or off", NULL},
    {{NULL}, NULL, "{\"pace_window\": \"1001/60\"}", "key \"pace_window\"", NULL},
    {{NULL}, "ARENA_QUEUE=abc", NULL, "ARENA_QUEUE: expected an integer", NULL},
    {{NULL}, "ARENA_ALLOW_ANONYMOUS=maybe", NULL, "ARENA_ALLOW_ANONYMOUS", NULL},
    {{NULL}, "ARENA_HTTP=bad", NULL, "ARENA_HTTP: expected ADDR:PORT", NULL},
    {{NULL}, "ARENA_SEED=a:1,bad", NULL, "ARENA_SEED", NULL},
    {{NULL}, "ARENA_API_KEYS=good,b\tad", NULL, "ARENA_API_KEYS", "b\tad"},
    {{NULL}, "ARENA_LOG_LEVEL=verbose", NULL, "ARENA_LOG_LEVEL", NULL},
    {{NULL}, "ARENA_CONFIG=nope.jsonc", NULL, "config file nope.jsonc", NULL},
    {{NULL}, NULL, "{\"bogus\": 1}", "c.jsonc: unknown key \"bogus\"", NULL},
    {{NULL}, NULL, "{\"queue\": \"300\"}", "key \"queue\": expected a JSON integer", NULL},
    {{NULL}, NULL, "{\"queue\": 1.5}", "key \"queue\"", NULL},
    {{NULL}, NULL, "{\"queue\": 100001}", "key \"queue\": expected an integer", NULL},
    {{NULL}, NULL, "{\"allow_anonymous\": 1}", "key \"allow_anonymous\": expected true", NULL},
    {{NULL}, NULL, "{\"seed\": [1]}", "key \"seed\": expected an array of strings", NULL},
    {{NULL}, NULL, "{\"seed\": {}}", "key \"seed\"", NULL},
    {{NULL}, NULL, "{\"http\": 5102}", "key \"http\": expected a string", NULL},
    {{NULL}, NULL, "{\"config\": \"x\"}", "\"config\" cannot be set in a config file", NULL},
    {{NULL}, NULL, "{\"help\": true}", "\"help\" cannot be set", NULL},
    {{NULL},
     NULL,
     "{\"api_key\": [\"a\"], \"api_keys\": [\"b\"]}",
     "set the same list; keep one",
     NULL},
    {{NULL}, NULL, "{\"max_body\": \"lots\"}", "key \"max_body\": expected a size", NULL},
    {{NULL}, NULL, "{\"queue\": 1", "config file c.jsonc: ", NULL},
    {{NULL}, NULL, "[1, 2]", "expected a JSON object", NULL},
    {{NULL}, NULL, "", "config file c.jsonc", NULL},
    {{"--queue=5"}, NULL, "{\"mesh_secret\": \"x y\"}", "key \"mesh_secret\"", "x y"},
};

static void test_bad_input(void **state)
{
    fx_t *fx = *state;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const bad_row_t *r = &s_bad[i];
        const char *args[8] = {0};
        size_t n = 0;
        for (; n < 4 && r->args[n]; n++)
            args[n] = r->args[n];
        if (r->file) {
            s_write("c.jsonc", r->file);
            args[n++] = "--config=c.jsonc";
        }
        char *env[] = {(char *)r->env, NULL};
        int rc = s_loadv(fx, env, args);
        if (rc != -1)
            fail_msg("row %zu (%s): accepted", i, r->want);
        if (!strstr(fx->err, r->want))
            fail_msg("row %zu: message \"%s\" lacks \"%s\"", i, fx->err, r->want);
        if (r->not &&strstr(fx->err, r->not ))
            fail_msg("row %zu: message \"%s\" reveals the value", i, fx->err);
        assert_null(fx->cfg.name); /* nothing left allocated */
        assert_int_equal(fx->cfg.seeds.n, 0);
    }
}

/* ---- mesh timing ------------------------------------------------------ */

/*  Every timing setting's range, in each of the three forms: one below the
    lowest and one above the highest value are refused with the range. */
static void test_mesh_timing_ranges(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *flag;
        long long min, max;
        const char *unit; /* as printed after the range */
    } rows[] = {
        {"gossip-interval", 10, 60000, " milliseconds"},
        {"gossip-fanout", 1, 64, ""},
        {"ping-interval", 10, 3600000, " milliseconds"},
        {"ping-timeout", 10, 3600000, " milliseconds"},
        {"suspect-after", 100, 3600000, " milliseconds"},
        {"dead-after", 100, 3600000, " milliseconds"},
        {"forget-after", 100, 3600000, " milliseconds"},
        {"forward-accept-timeout", 100, 600000, " milliseconds"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char name[64], key[64];
        s_env_name(rows[i].flag, name, sizeof name);
        s_key_name(rows[i].flag, key, sizeof key);
        const long long bad[] = {rows[i].min - 1, rows[i].max + 1};
        for (size_t j = 0; j < 2; j++) {
            char flag[96], var[96], text[128], who[3][96], want[512];
            snprintf(flag, sizeof flag, "--%s=%lld", rows[i].flag, bad[j]);
            snprintf(var, sizeof var, "%s=%lld", name, bad[j]);
            snprintf(text, sizeof text, "{\"%s\": %lld}", key, bad[j]);
            snprintf(who[0], sizeof who[0], "--%s", rows[i].flag);
            snprintf(who[1], sizeof who[1], "%s", name);
            snprintf(who[2], sizeof who[2], "config file c.jsonc: key \"%s\"", key);
            s_write("c.jsonc", text);
            for (int form = 0; form < 3; form++) {
                int rc = form == 0   ? s_loadv(fx, NULL, ARGS(flag))
                         : form == 1 ? s_loadv(fx, ENV(var), NULL)
                                     : s_loadv(fx, NULL, ARGS("--config=c.jsonc"));
                snprintf(want, sizeof want,
                         "%s: expected an integer from %lld to %lld%s, got \"%lld\"", who[form],
                         rows[i].min, rows[i].max, rows[i].unit, bad[j]);
                if (rc != -1)
                    fail_msg("%s (form %d): accepted", flag, form);
                if (strcmp(fx->err, want) != 0)
                    fail_msg("%s (form %d): \"%s\", want \"%s\"", flag, form, fx->err, want);
                assert_null(fx->cfg.name);
            }
        }
    }
}

/*  The bounds themselves are accepted, when the relations hold. */
static void test_mesh_timing_extremes(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *args[9];
        const char *want[8]; /* gossip-interval … forward-accept-timeout */
    } rows[] = {
        {{"--gossip-interval=10", "--gossip-fanout=1", "--ping-timeout=10", "--ping-interval=11",
          "--suspect-after=100", "--dead-after=101", "--forget-after=102",
          "--forward-accept-timeout=100"},
         {"10", "1", "11", "10", "100", "101", "102", "100"}},
        {{"--gossip-interval=60000", "--gossip-fanout=64", "--ping-interval=1799999",
          "--ping-timeout=1799998", "--suspect-after=3599998", "--dead-after=3599999",
          "--forget-after=3600000", "--forward-accept-timeout=600000"},
         {"60000", "64", "1799999", "1799998", "3599998", "3599999", "3600000", "600000"}},
    };
    static const char *settings[] = {"gossip-interval", "gossip-fanout",         "ping-interval",
                                     "ping-timeout",    "suspect-after",         "dead-after",
                                     "forget-after",    "forward-accept-timeout"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (s_loadv(fx, NULL, rows[i].args) != 0)
            fail_msg("row %zu: %s", i, fx->err);
        for (size_t k = 0; k < sizeof settings / sizeof settings[0]; k++)
            s_expect(fx, settings[k], rows[i].want[k]);
    }
}

/*  The relations between timings are judged on the merged layers; a broken
    one names every setting in it, with its value, and says why. */
#define WHY_RETRY ": so the second ping goes out before the next regular one"
#define WHY_PROBE ": so a quiet peer gets both pings before it is suspected"
#define WHY_DEAD ": so a peer is suspect before it is dead"
#define WHY_FORGET                                                                                 \
    ": so a dead peer is remembered (and greeted again every dead-after) before it is forgotten"
#define MT "mesh timing: "

static void test_mesh_timing_relations(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *args[6];
        const char *env;  /* one variable or NULL */
        const char *file; /* c.jsonc content, passed with --config, or NULL */
        const char *want; /* the whole message; NULL: accepted */
    } rows[] = {
        /* ping-timeout < ping-interval */
        {{"--ping-timeout=1000"},
         NULL,
         NULL,
         MT "--ping-timeout (1000 ms) must be less than --ping-interval (1000 ms)" WHY_RETRY},
        {{"--ping-interval=400"},
         NULL,
         NULL,
         MT "--ping-timeout (500 ms) must be less than --ping-interval (400 ms)" WHY_RETRY},
        {{"--ping-timeout=999", "--suspect-after=2001"}, NULL, NULL, NULL},
        /* ping-interval + ping-timeout < suspect-after */
        {{"--ping-interval=1500"},
         NULL,
         NULL,
         MT "--ping-interval (1500 ms) + --ping-timeout (500 ms) must be less than "
            "--suspect-after (2000 ms)" WHY_PROBE},
        {{"--ping-interval=1499"}, NULL, NULL, NULL},
        {{"--suspect-after=1500"},
         NULL,
         NULL,
         MT "--ping-interval (1000 ms) + --ping-timeout (500 ms) must be less than "
            "--suspect-after (1500 ms)" WHY_PROBE},
        {{"--suspect-after=1501"}, NULL, NULL, NULL},
        /* suspect-after < dead-after */
        {{"--dead-after=2000"},
         NULL,
         NULL,
         MT "--suspect-after (2000 ms) must be less than --dead-after (2000 ms)" WHY_DEAD},
        {{"--suspect-after=6000"},
         NULL,
         NULL,
         MT "--suspect-after (6000 ms) must be less than --dead-after (5500 ms)" WHY_DEAD},
        {{"--dead-after=2001"}, NULL, NULL, NULL},
        /* dead-after < forget-after */
        {{"--forget-after=5500"},
         NULL,
         NULL,
         MT "--dead-after (5500 ms) must be less than --forget-after (5500 ms)" WHY_FORGET},
        {{"--dead-after=70000"},
         NULL,
         NULL,
         MT "--dead-after (70000 ms) must be less than --forget-after (60000 ms)" WHY_FORGET},
        {{"--forget-after=5501"}, NULL, NULL, NULL},
        /* from the environment and the file: the same check, the same names */
        {{NULL},
         "ARENA_DEAD_AFTER=1000",
         NULL,
         MT "--suspect-after (2000 ms) must be less than --dead-after (1000 ms)" WHY_DEAD},
        {{NULL},
         NULL,
         "{\"ping_timeout\": 2000}",
         MT "--ping-timeout (2000 ms) must be less than --ping-interval (1000 ms)" WHY_RETRY},
        {{NULL},
         NULL,
         "{\"suspect_after\": 600}",
         MT "--ping-interval (1000 ms) + --ping-timeout (500 ms) must be less than "
            "--suspect-after (600 ms)" WHY_PROBE},
        /* the same file is fine once flags and environment complete it */
        {{"--ping-interval=200", "--ping-timeout=100"},
         "ARENA_DEAD_AFTER=1500",
         "{\"suspect_after\": 600}",
         NULL},
        /* several broken: the first of the list above is reported */
        {{"--ping-interval=500", "--suspect-after=1000", "--dead-after=1000"},
         NULL,
         NULL,
         MT "--ping-timeout (500 ms) must be less than --ping-interval (500 ms)" WHY_RETRY},
        /* gossip and fanout take no part in the relations */
        {{"--gossip-interval=60000", "--gossip-fanout=64"}, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *args[8] = {0};
        size_t n = 0;
        for (; n < 6 && rows[i].args[n]; n++)
            args[n] = rows[i].args[n];
        if (rows[i].file) {
            s_write("c.jsonc", rows[i].file);
            args[n++] = "--config=c.jsonc";
        }
        char *env[] = {(char *)rows[i].env, NULL};
        int rc = s_loadv(fx, env, args);
        if (!rows[i].want) {
            if (rc != 0)
                fail_msg("row %zu: refused: %s", i, fx->err);
            continue;
        }
        if (rc != -1)
            fail_msg("row %zu: accepted, want \"%s\"", i, rows[i].want);
        if (strcmp(fx->err, rows[i].want) != 0)
            fail_msg("row %zu: \"%s\", want \"%s\"", i, fx->err, rows[i].want);
        assert_null(fx->cfg.name);
    }
    /* and the values of the merged row are those of their layers */
    s_write("c.jsonc", "{\"suspect_after\": 600}");
    assert_int_equal(s_loadv(fx, ENV("ARENA_DEAD_AFTER=1500"),
                             ARGS("--config=c.jsonc", "--ping-interval=200", "--ping-timeout=100")),
                     0);
    s_expect(fx, "suspect-after", "600");
    s_expect(fx, "dead-after", "1500");
    s_expect(fx, "ping-interval", "200");
    s_expect(fx, "ping-timeout", "100");
    s_expect(fx, "forget-after", "60000");
}

/* ---- --help / --version ----------------------------------------------- */

static void test_help_and_version(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(s_loadv(fx, NULL, ARGS("--version")), 1);
    assert_string_equal(fx->out, "arena-node " ARENA_VERSION "\n");
    /* --help wins over a broken environment and other flags */
    assert_int_equal(s_loadv(fx, ENV("ARENA_QUEUE=abc"), ARGS("--queue=1", "--help")), 1);
    assert_null(fx->cfg.name);
    static const char *must[] = {
        "arena-node [options]",
        "--name NAME",
        "--data DIR",
        "--config FILE",
        "--http ADDR:PORT",
        "--link ADDR:PORT",
        "--mesh ADDR:PORT",
        "--advertise HOST:PORT",
        "--seed HOST:PORT",
        "--mesh-secret SECRET",
        "--link-token TOKEN",
        "--link-origin ORIGIN",
        "--arena-origin ORIGIN",
        "--api-key KEY",
        "--admin-key KEY",
        "--allow-anonymous",
        "--log-level LEVEL",
        "--version | --help",
        "--tab-jobs N",
        "--queue N",
        "--queue-timeout MS",
        "--max-body BYTES",
        "--max-messages N",
        "--max-json-depth N",
        "--retries N",
        "--cooldown-default SECONDS",
        "--first-byte-timeout MS",
        "--stream-idle-timeout MS",
        "--max-connections N",
        "--link-max-pending N",
        "\nMesh timing (every node of a mesh should use the same values) and bounds:\n"
        "  --gossip-interval MS    how often state digests go to random peers (default: 200)\n",
        "--gossip-fanout N",
        "--ping-interval MS",
        "--ping-timeout MS",
        "--suspect-after MS",
        "--dead-after MS",
        "--forget-after MS",
        "--mesh-max-peers N",
        "--mesh-max-new N",
        "--mesh-dial-rate N",
        "--mesh-secret-file FILE",
        "(default: ~/.config/arena-mesh/mesh-secret ($XDG_CONFIG_HOME if set))",
        "--forward-accept-timeout MS\n",
        "(default: 5500)",
        "config \"forward_accept_timeout\"",
        "Must hold: ping-timeout < ping-interval, ping-interval + ping-timeout <\n"
        "  suspect-after < dead-after < forget-after.\n",
        "ARENA_API_KEYS (comma list)",
        "ARENA_LINK_ORIGIN (comma list)",
        "ARENA_MESH_SECRET",
        "ARENA_ALLOW_ANONYMOUS",
        "ARENA_STREAM_IDLE_TIMEOUT",
        "ARENA_CONFIG",
        "config \"link_origin\" (array)",
        "(default: 127.0.0.1:5102)",
        "(default: 127.0.0.1:5103)",
        "(default: 127.0.0.1:5104)",
        "(default: ./data)",
        "(default: https://lmarena.ai)",
        "(default: 32m)",
        "(default: 180000)",
        "Precedence: flags > ARENA_* environment > config file > defaults",
    };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!strstr(fx->out, must[i]))
            fail_msg("--help lacks \"%s\"", must[i]);
    /* the timings are a group of their own, after the tuning */
    const char *tuning = strstr(fx->out, "\nTuning:\n");
    const char *mesh = strstr(fx->out, "\nMesh timing");
    assert_non_null(tuning);
    assert_non_null(mesh);
    assert_true(tuning < mesh);
    assert_true(strstr(fx->out, "--model-allow MODEL") < mesh);
    assert_true(strstr(fx->out, "--forget-after MS") > mesh);
    /* every table setting's variable is listed */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char name[64];
        s_env_name(s_settings[i].flag, name, sizeof name);
        if (!strstr(fx->out, name))
            fail_msg("--help lacks %s", name);
    }
    /* config_usage is the same text */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_usage(f);
    fclose(f);
    assert_string_equal(buf, fx->out);
    free(buf);
}

/* ---- security refusals ------------------------------------------------ */

static void test_refusals(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *args[4];
        const char *env;
        int rc;
        const char *want;
    } rows[] = {
        {{"--http", "0.0.0.0:5102"},
         NULL,
         -1,
         "refusing to serve the API on 0.0.0.0:5102 without an API key: set --api-key (or "
         "ARENA_API_KEYS) or pass --allow-anonymous"},
        {{"--http=[::]:80"}, NULL, -1, "refusing to serve the API on [::]:80 without an API key"},
        {{"--http=192.168.1.2:0"}, "ARENA_API_KEYS=", -1, "192.168.1.2:0"},
        {{"--http=0.0.0.0:5102", "--api-key=k"}, NULL, 0, NULL},
        {{"--http=0.0.0.0:5102", "--allow-anonymous"}, NULL, 0, NULL},
        /* the admin key: keys are configured (made with it), never a user key */
        {{"--http=0.0.0.0:5102", "--admin-key=admin-key-0123456789"}, NULL, 0, NULL},
        {{"--http=0.0.0.0:5102"}, "ARENA_ADMIN_KEY=admin-key-0123456789", 0, NULL},
        {{"--admin-key=short-key"}, NULL, -1, "admin-key"},
        {{"--admin-key=admin key with spaces"}, NULL, -1, "admin-key"},
        {{"--api-key=admin-key-0123456789", "--admin-key=admin-key-0123456789"},
         NULL,
         -1,
         "--admin-key must not be one of the --api-key keys"},
        {{"--http=[::]:5102"}, "ARENA_API_KEYS=k", 0, NULL},
        {{"--http=0.0.0.0:1"}, "ARENA_ALLOW_ANONYMOUS=yes", 0, NULL},
        {{"--http=localhost:1"}, NULL, 0, NULL},
        {{"--http=127.5.5.5:1"}, NULL, 0, NULL},
        {{"--http=[::1]:1"}, NULL, 0, NULL},
        {{"--mesh=0.0.0.0:5104"},
         NULL,
         -1,
         "refusing to open the mesh on 0.0.0.0:5104 without a mesh secret"},
        {{"--mesh=10.1.2.3:5104"}, NULL, -1, "--mesh-secret (or ARENA_MESH_SECRET"},
        {{"--mesh=10.1.2.3:5104"}, "HOME=/home/u", -1, "without a mesh secret"},
        {{"--mesh=10.1.2.3:5104", "--mesh-secret-file=/etc/arena/secret"}, NULL, 0, NULL},
        {{"--seed=10.0.0.1:5104"}, "ARENA_MESH_SECRET_FILE=/etc/arena/secret", 0, NULL},
        {{"--mesh=0.0.0.0:5104", "--mesh-secret", "s"}, NULL, 0, NULL},
        {{"--mesh=0.0.0.0:5104"}, "ARENA_MESH_SECRET=s", 0, NULL},
        {{"--link=0.0.0.0:5103"}, NULL, 0, NULL},
        /* a seed or advertised address off this machine needs the secret too,
           as the mesh will (one rule: protocol/hostport's loopback) */
        {{"--seed=10.0.0.1:5104"},
         NULL,
         -1,
         "refusing the seed 10.0.0.1:5104 without a mesh secret"},
        {{"--seed=my_host:5104"}, NULL, -1, "--mesh-secret (or ARENA_MESH_SECRET"},
        {{"--seed=my_host:5104", "--mesh-secret=s"}, NULL, 0, NULL},
        {{"--seed=127.0.0.1:5104", "--seed=localhost:1", "--seed=[::1]:2"}, NULL, 0, NULL},
        {{NULL},
         "ARENA_ADVERTISE=mesh.example.org:6000",
         -1,
         "refusing to advertise mesh.example.org:6000"},
        {{"--advertise=mesh.example.org:6000"}, "ARENA_MESH_SECRET=s", 0, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *env[] = {(char *)rows[i].env, NULL};
        const char *args[5] = {0};
        for (size_t j = 0; j < 4 && rows[i].args[j]; j++)
            args[j] = rows[i].args[j];
        int rc = s_loadv(fx, env, args);
        if (rc != rows[i].rc)
            fail_msg("row %zu: rc %d (%s)", i, rc, fx->err);
        if (rows[i].want && !strstr(fx->err, rows[i].want))
            fail_msg("row %zu: \"%s\" lacks \"%s\"", i, fx->err, rows[i].want);
    }
}

/*  Without --mesh-secret the secret comes from a per-user file (XDG base
    directories); only a secret the operator gave lets the mesh off loopback. */
static void test_mesh_secret_file(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *env[3];
        const char *args[3];
        const char *want;
    } rows[] = {
        {{"HOME=/home/u"}, {NULL}, "/home/u/.config/arena-mesh/mesh-secret local"},
        {{"HOME=/home/u", "XDG_CONFIG_HOME=/xdg"}, {NULL}, "/xdg/arena-mesh/mesh-secret local"},
        {{"HOME=/home/u", "XDG_CONFIG_HOME=rel"},
         {NULL},
         "/home/u/.config/arena-mesh/mesh-secret local"},
        {{"XDG_CONFIG_HOME=/xdg"}, {NULL}, "/xdg/arena-mesh/mesh-secret local"},
        {{NULL}, {NULL}, "(null) local"},
        {{"HOME=/home/u"}, {"--mesh-secret=s"}, "(null)"},
        {{"HOME=/home/u"}, {"--mesh-secret-file=/etc/a/s"}, "/etc/a/s"},
        {{"HOME=/h", "ARENA_MESH_SECRET_FILE=/etc/b"}, {NULL}, "/etc/b"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *env[4] = {(char *)rows[i].env[0], (char *)rows[i].env[1], (char *)rows[i].env[2]};
        if (s_loadv(fx, env, rows[i].args) != 0)
            fail_msg("row %zu: %s", i, fx->err);
        char got[512];
        s_render(&fx->cfg, "mesh-secret-file", got, sizeof got);
        if (strcmp(got, rows[i].want) != 0)
            fail_msg("row %zu: got \"%s\", want \"%s\"", i, got, rows[i].want);
        config_free(&fx->cfg);
    }
}

static void test_free_is_idempotent(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(s_loadv(fx, NULL, ARGS("--seed=a:1", "--api-key=k", "--mesh-secret=s")), 0);
    config_free(&fx->cfg);
    assert_null(fx->cfg.name);
    assert_null(fx->cfg.seeds.items);
    assert_int_equal(fx->cfg.seeds.n, 0);
    config_free(&fx->cfg);
    config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_every_flag_two_forms, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_every_env_var, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_every_file_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_all_flags_together, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bool_forms, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_precedence, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_repeatables_replace, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_env_comma_lists, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_jsonc_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_data_dir_and_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_mesh_timing_ranges, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_mesh_timing_extremes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_mesh_timing_relations, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_help_and_version, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_mesh_secret_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_free_is_idempotent, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
