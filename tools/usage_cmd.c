/*  usage_cmd — see usage_cmd.h. */
#include "tools/usage_cmd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/keys_cmd.h"
#include "tools/status_view.h"

static const char *const s_valued[] = {"--node",  "--admin-key", "--api-key",
                                       "--range", "--key",       NULL};

bool usage_cmd_is_usage(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-')
            return strcmp(argv[i], "usage") == 0;
        for (size_t k = 0; s_valued[k]; k++)
            if (strcmp(argv[i], s_valued[k]) == 0)
                i++; /* its value follows */
    }
    return false;
}

static void s_usage(FILE *to)
{
    fputs("usage: arena-mesh usage [--range day|week|month] [--key NAME] [--details] [--json]\n"
          "                        [--node URL] [--api-key KEY | --admin-key KEY]\n"
          "  a user key (--api-key or ARENA_API_KEY) sees its own usage; the admin key\n"
          "  (--admin-key or ARENA_ADMIN_KEY) every key's, or --key NAME's\n"
          "  --details adds each key's models and its hours (day) or days (week, month)\n",
          to);
}

static bool s_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static const char *s_value(int argc, char **argv, int *i)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq)
        return eq + 1;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

typedef struct {
    const char *node, *admin_key, *api_key, *range, *key;
    bool details, json;
} s_args_t;

static bool s_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    if (strcmp(s, "-") == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static int s_parse(int argc, char **argv, s_args_t *a, char *why, size_t wlen)
{
    bool seen = false;
    const char *flag_admin = NULL, *flag_api = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char **dst = s_is(arg, "--node")        ? &a->node
                           : s_is(arg, "--admin-key") ? &flag_admin
                           : s_is(arg, "--api-key")   ? &flag_api
                           : s_is(arg, "--range")     ? &a->range
                           : s_is(arg, "--key")       ? &a->key
                                                      : NULL;
        if (dst) {
            if (!(*dst = s_value(argc, argv, &i))) {
                snprintf(why, wlen, "%s needs a value", arg);
                return -1;
            }
        } else if (strcmp(arg, "--json") == 0) {
            a->json = true;
        } else if (strcmp(arg, "--details") == 0) {
            a->details = true;
        } else if (!seen && strcmp(arg, "usage") == 0) {
            seen = true;
        } else {
            snprintf(why, wlen, "unexpected argument: %.100s", arg);
            return -1;
        }
    }
    if (flag_admin && flag_api) {
        snprintf(why, wlen, "pass --api-key or --admin-key, not both");
        return -1;
    }
    if (flag_admin || flag_api) { /* a flag beats the variables */
        a->admin_key = flag_admin;
        a->api_key = flag_api;
    } else if (a->admin_key && a->admin_key[0]) {
        a->api_key = NULL;
    }
    if ((!a->admin_key || !a->admin_key[0]) && (!a->api_key || !a->api_key[0])) {
        a->admin_key = a->api_key = NULL; /* a node without keys answers anyone */
    }
    if (a->range && strcmp(a->range, "day") != 0 && strcmp(a->range, "week") != 0 &&
        strcmp(a->range, "month") != 0) {
        snprintf(why, wlen, "--range must be day, week or month, not %.40s", a->range);
        return -1;
    }
    if (a->key && !s_name_ok(a->key)) {
        snprintf(why, wlen, "--key must be a key name (1..64 of A-Z a-z 0-9 . _ -)");
        return -1;
    }
    size_t nl = strlen(a->node);
    if (nl == 0 || nl > 500 ||
        (strncmp(a->node, "http://", 7) != 0 && strncmp(a->node, "https://", 8) != 0)) {
        snprintf(why, wlen, "--node must be an http:// or https:// URL");
        return -1;
    }
    return 0;
}

static long long s_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/*  A string for the terminal: control characters as '?', at most cap - 1. */
static const char *s_shown(const char *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", s ? s : "-");
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return buf;
}

static void s_when(long long ms, bool hours, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, len, hours ? "%Y-%m-%dT%H:00Z" : "%Y-%m-%d", &tm))
        snprintf(out, len, "%lld", ms);
}

static void s_avg(const json_t *t, const char *k, char *buf, size_t cap)
{
    const json_t *v = json_object_get(t, k);
    if (json_is_integer(v))
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, cap, "-");
}

/*  One line of sums under a label. */
static void s_line(FILE *out, const char *label, const char *tier, const json_t *t)
{
    char ttfb[24], dur[24];
    s_avg(t, "avg_ttfb_ms", ttfb, sizeof ttfb);
    s_avg(t, "avg_duration_ms", dur, sizeof dur);
    fprintf(out, "%-24s %-10s %9lld %7lld %11lld %11lld %9lld %12.6f %8s %8s\n", label, tier,
            s_int(t, "requests"), s_int(t, "errors"), s_int(t, "prompt_tokens"),
            s_int(t, "completion_tokens"), s_int(t, "estimated_requests"),
            json_real_value(json_object_get(t, "cost_usd")) +
                (double)json_integer_value(json_object_get(t, "cost_usd")),
            ttfb, dur);
}

static void s_limit(char *buf, size_t cap, const json_t *lim, const char *k)
{
    const json_t *v = json_object_get(lim, k);
    if (json_is_integer(v) && json_integer_value(v) >= 0) /* remaining's -1: no limit */
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else
        snprintf(buf, cap, "none");
}

static void s_table(FILE *out, const json_t *doc)
{
    char from[32], f[2][80];
    const char *range = json_string_value(json_object_get(doc, "range"));
    bool hours = range && strcmp(range, "day") == 0;
    s_when(s_int(doc, "from_ms"), true, from, sizeof from);
    fprintf(out, "usage over the last %s (since %s, UTC)\n", range ? range : "?", from);
    fprintf(out, "%-24s %-10s %9s %7s %11s %11s %9s %12s %8s %8s\n", "KEY", "TIER", "REQUESTS",
            "ERRORS", "PROMPT", "COMPLETION", "ESTIMATED", "COST_USD", "TTFB_MS", "AVG_MS");
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(doc, "keys"), i, k)
    {
        s_line(out, s_shown(json_string_value(json_object_get(k, "key")), f[0], sizeof f[0]),
               s_shown(json_string_value(json_object_get(k, "tier")), f[1], sizeof f[1]),
               json_object_get(k, "totals"));
        const json_t *lim = json_object_get(k, "limits");
        if (json_is_object(lim)) {
            char m[24], h[24], d[24], tk[24];
            s_limit(m, sizeof m, lim, "requests_per_minute");
            s_limit(h, sizeof h, lim, "requests_per_hour");
            s_limit(d, sizeof d, lim, "requests_per_day");
            s_limit(tk, sizeof tk, lim, "tokens_per_day");
            const json_t *rem = json_object_get(lim, "remaining");
            fprintf(out, "  limits: %s/min %s/hour %s/day, tokens %s/day", m, h, d, tk);
            if (json_is_object(rem)) {
                s_limit(m, sizeof m, rem, "requests_per_minute");
                s_limit(h, sizeof h, rem, "requests_per_hour");
                s_limit(d, sizeof d, rem, "requests_per_day");
                s_limit(tk, sizeof tk, rem, "tokens_per_day");
                fprintf(out, "; remaining %s/min %s/hour %s/day, tokens %s", m, h, d, tk);
            }
            fputc('\n', out);
        }
        size_t j;
        json_t *x;
        json_array_foreach(json_object_get(k, "models"), j, x)
        {
            char label[96];
            snprintf(label, sizeof label, "  %s",
                     s_shown(json_string_value(json_object_get(x, "model")), f[0], 80));
            if (strcmp(label, "  ") == 0)
                snprintf(label, sizeof label, "  (no model)");
            s_line(out, label, "", x);
        }
        json_array_foreach(json_object_get(k, "buckets"), j, x)
        {
            char label[40], when[32];
            s_when(s_int(x, "start_ms"), hours, when, sizeof when);
            snprintf(label, sizeof label, "  %s", when);
            s_line(out, label, "", x);
        }
    }
    s_line(out, "TOTAL", "", json_object_get(doc, "totals"));
}

int usage_cmd_main(int argc, char **argv, const char *env_node, const char *env_admin_key,
                   const char *env_api_key, const volatile sig_atomic_t *stop, FILE *out, FILE *err)
{
    s_args_t a = {.node = env_node && *env_node ? env_node : STATUS_VIEW_DEFAULT_NODE,
                  .admin_key = env_admin_key,
                  .api_key = env_api_key};
    char why[700] = "";
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(out);
            return MESH_EXIT_OK;
        }
    if (s_parse(argc, argv, &a, why, sizeof why) < 0) {
        fprintf(err, "arena-mesh: %s\n", why);
        s_usage(err);
        return MESH_EXIT_USAGE;
    }
    char url[800];
    size_t nl = strlen(a.node);
    while (nl && a.node[nl - 1] == '/')
        nl--;
    snprintf(url, sizeof url, "%.*s/v1/usage?range=%s%s%s%s", (int)nl, a.node,
             a.range ? a.range : "day", a.details ? "&details=true" : "", a.key ? "&key=" : "",
             a.key ? a.key : "");
    mesh_http_opts_t opts = {
        .api_key = a.admin_key ? a.admin_key : a.api_key, .cancel = stop, .display = a.node};
    mesh_http_response_t resp;
    if (mesh_http_get(url, &opts, &resp, why, sizeof why) != MESH_HTTP_OK) {
        fprintf(err, "arena-mesh: %s\n", why);
        return MESH_EXIT_FAIL;
    }
    json_t *doc = json_loadb(resp.body, resp.len, 0, NULL);
    int rc = MESH_EXIT_OK;
    if (resp.status >= 400) {
        const char *m =
            json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
        char shown[300];
        fprintf(err, "arena-mesh: %.*s refused: HTTP %ld %s%s\n", (int)nl, a.node, resp.status,
                s_shown(m ? m : "", shown, sizeof shown),
                resp.status == 401 ? " — pass a key with --api-key (ARENA_API_KEY) or the admin "
                                     "key with --admin-key (ARENA_ADMIN_KEY)"
                                   : "");
        rc = MESH_EXIT_REFUSED;
    } else if (!json_is_array(json_object_get(doc, "keys"))) {
        fprintf(err, "arena-mesh: %.*s answered HTTP %ld without usage\n", (int)nl, a.node,
                resp.status);
        rc = MESH_EXIT_FAIL;
    } else if (a.json) {
        fprintf(out, "%.*s\n", (int)resp.len, resp.body);
    } else {
        s_table(out, doc);
    }
    json_decref(doc);
    mesh_http_response_free(&resp);
    if (rc == MESH_EXIT_OK && fflush(out) != 0)
        rc = MESH_EXIT_FAIL;
    return rc;
}
