/*  audit_cmd — see audit_cmd.h. */
#include "tools/audit_cmd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/admin_cli.h"
#include "tools/keys_cmd.h"
#include "tools/status_view.h"

#define S_NODES_MAX 64
#define S_LIMIT "1000"

static const char *const s_valued[] = {"--node", "--admin-key", "--api-key", "--since", NULL};

bool audit_cmd_is_audit(int argc, char **argv)
{
    return admin_cli_is_cmd(argc, argv, "audit", s_valued);
}

static void s_usage(FILE *to)
{
    fputs("usage: arena-mesh audit [--since DATE|+N[s|m|h|d]] [--node URL] [--json]\n"
          "                        [--admin-key KEY] [--api-key KEY]\n"
          "  the admin key (or ARENA_ADMIN_KEY) reads each node's log; the API key\n"
          "  (or ARENA_API_KEY) lists the mesh's nodes (without it only --node is asked)\n"
          "  DATE: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (UTC), unix ms; +N: the last N\n",
          to);
}

int audit_cmd_parse_since(const char *text, long long now_ms, long long *ms)
{
    long long v = 0;
    if (keys_cmd_parse_expiry(text, now_ms, &v) < 0)
        return -1;
    *ms = text[0] == '+' ? now_ms - (v - now_ms) : v;
    if (*ms < 0)
        *ms = 0;
    return 0;
}

typedef struct {
    admin_cli_t c; /* --node, --admin-key, --json */
    const char *api_key, *since;
} s_args_t;

static int s_parse(int argc, char **argv, s_args_t *a, char *why, size_t wlen)
{
    bool seen = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char **dst = admin_cli_is(arg, "--api-key") ? &a->api_key
                           : admin_cli_is(arg, "--since") ? &a->since
                                                          : NULL;
        int taken = dst ? 0 : admin_cli_flag(argc, argv, &i, &a->c, why, wlen);
        if (taken < 0)
            return -1;
        if (dst) {
            if (!(*dst = admin_cli_value(argc, argv, &i))) {
                snprintf(why, wlen, "%s needs a value", arg);
                return -1;
            }
        } else if (taken) {
            continue;
        } else if (!seen && strcmp(arg, "audit") == 0) {
            seen = true;
        } else {
            snprintf(why, wlen, "unexpected argument: %.100s", arg);
            return -1;
        }
    }
    return admin_cli_check(&a->c, why, wlen);
}

/*  The http addresses of the nodes other than first that are up (alive, or
    suspect: late answers to probes, which a slow node gives; one that does
    not answer is named unreachable), from /mesh/status. */
static size_t s_peers(const char *base, const s_args_t *a, const volatile sig_atomic_t *stop,
                      char urls[][520], size_t cap, FILE *err)
{
    char url[600], why[512] = "";
    snprintf(url, sizeof url, "%s/mesh/status", base);
    mesh_http_opts_t opts = {.api_key = a->api_key, .cancel = stop, .display = base};
    mesh_http_response_t resp;
    if (mesh_http_get(url, &opts, &resp, why, sizeof why) != MESH_HTTP_OK) {
        fprintf(err, "arena-mesh: cannot list the mesh's nodes: %s\n", why);
        return 0;
    }
    size_t n = 0;
    json_t *doc = resp.status == 200 ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    if (!doc)
        fprintf(err, "arena-mesh: cannot list the mesh's nodes: %s answered HTTP %ld\n", url,
                resp.status);
    size_t i;
    json_t *node;
    json_array_foreach(json_object_get(doc, "nodes"), i, node)
    {
        const char *http = json_string_value(json_object_get(node, "http"));
        const char *state = json_string_value(json_object_get(node, "state"));
        if (json_is_true(json_object_get(node, "self")) || !http || !state ||
            (strcmp(state, "alive") != 0 && strcmp(state, "suspect") != 0) ||
            strlen(http) >= sizeof urls[0] || n == cap ||
            (strncmp(http, "http://", 7) != 0 && strncmp(http, "https://", 8) != 0))
            continue;
        snprintf(urls[n++], sizeof urls[0], "%s", http);
    }
    json_decref(doc);
    mesh_http_response_free(&resp);
    return n;
}

/*  One node's entries appended to all; 0, 1 refused, 2 unreachable. */
static int s_fetch(const char *base, const s_args_t *a, long long since,
                   const volatile sig_atomic_t *stop, json_t *all, char *why, size_t wlen)
{
    char url[700];
    snprintf(url, sizeof url, "%s/admin/audit?since=%lld&limit=" S_LIMIT, base, since);
    mesh_http_opts_t opts = {.api_key = a->c.admin_key, .cancel = stop, .display = base};
    mesh_http_response_t resp;
    if (mesh_http_get(url, &opts, &resp, why, wlen) != MESH_HTTP_OK)
        return MESH_EXIT_FAIL;
    json_t *doc = json_loadb(resp.body, resp.len, 0, NULL);
    int rc = MESH_EXIT_OK;
    json_t *entries = json_object_get(doc, "entries");
    if (resp.status >= 400) {
        const char *m =
            json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
        snprintf(why, wlen, "%s refused: HTTP %ld%s%.200s%s", base, resp.status, m ? " " : "",
                 m ? m : "",
                 resp.status == 401 ? " — pass the admin key with --admin-key or ARENA_ADMIN_KEY"
                                    : "");
        rc = MESH_EXIT_REFUSED;
    } else if (!json_is_array(entries)) {
        snprintf(why, wlen, "%s answered HTTP %ld with no entries", base, resp.status);
        rc = MESH_EXIT_FAIL;
    } else {
        json_array_extend(all, entries);
    }
    json_decref(doc);
    mesh_http_response_free(&resp);
    return rc;
}

static long long s_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static const char *s_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/*  A field for the terminal: control characters (a node's answer is not
    trusted to move the cursor) as '?', at most cap - 1 bytes. */
static const char *s_shown(const json_t *o, const char *k, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", s_str(o, k));
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return buf;
}

static int s_by_time(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    long long ta = s_int(a, "at_ms"), tb = s_int(b, "at_ms");
    if (ta != tb)
        return ta < tb ? -1 : 1;
    int c = strcmp(s_str(a, "node_id"), s_str(b, "node_id"));
    if (c)
        return c;
    long long ia = s_int(a, "id"), ib = s_int(b, "id");
    return ia < ib ? -1 : ia > ib;
}

/*  Sorted by time, a row seen twice (same node and id) once. */
static json_t *s_merge(json_t *all)
{
    size_t n = json_array_size(all);
    json_t **v = calloc(n ? n : 1, sizeof *v);
    json_t *out = json_array();
    if (!v || !out) {
        free(v);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(all, i);
    qsort(v, n, sizeof *v, s_by_time);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || s_by_time(&v[i - 1], &v[i]) != 0)
            json_array_append(out, v[i]);
    free(v);
    return out;
}

static void s_when(long long ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, len, "%lld", ms);
}

int audit_cmd_main(int argc, char **argv, const char *env_node, const char *env_admin_key,
                   const char *env_api_key, const volatile sig_atomic_t *stop, FILE *out, FILE *err)
{
    s_args_t a = {.c = {.node = env_node && *env_node ? env_node : STATUS_VIEW_DEFAULT_NODE,
                        .admin_key = env_admin_key},
                  .api_key = env_api_key && *env_api_key ? env_api_key : NULL};
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
    long long since = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (a.since && audit_cmd_parse_since(a.since, now, &since) < 0) {
        fprintf(err,
                "arena-mesh: bad --since %.100s: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, unix "
                "ms or +N[s|m|h|d]\n",
                a.since);
        return MESH_EXIT_USAGE;
    }
    char base[520];
    size_t nl = strlen(a.c.node);
    while (nl && a.c.node[nl - 1] == '/')
        nl--;
    snprintf(base, sizeof base, "%.*s", (int)nl, a.c.node);
    json_t *all = json_array();
    if (!all)
        return MESH_EXIT_FAIL;
    int rc = s_fetch(base, &a, since, stop, all, why, sizeof why);
    if (rc != MESH_EXIT_OK) {
        fprintf(err, "arena-mesh: %s\n", why);
        json_decref(all);
        return rc;
    }
    static char peers[S_NODES_MAX][520];
    size_t n_peers = 0;
    if (a.api_key)
        n_peers = s_peers(base, &a, stop, peers, S_NODES_MAX, err);
    else
        fprintf(err, "arena-mesh: no API key (--api-key or ARENA_API_KEY): only %s was asked\n",
                base);
    json_t *missed = json_array();
    for (size_t i = 0; i < n_peers; i++) {
        if (strcmp(peers[i], base) == 0)
            continue;
        if (s_fetch(peers[i], &a, since, stop, all, why, sizeof why) != MESH_EXIT_OK) {
            fprintf(err, "arena-mesh: could not read the log of %s: %s\n", peers[i], why);
            json_array_append_new(missed, json_string(peers[i]));
        }
    }
    json_t *merged = s_merge(all);
    json_decref(all);
    if (!merged) {
        json_decref(missed);
        return MESH_EXIT_FAIL;
    }
    if (a.c.json) {
        json_t *doc = json_pack("{s:o, s:o}", "entries", merged, "unreachable", missed);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (text)
            fprintf(out, "%s\n", text);
        free(text);
    } else {
        fprintf(out, "%-20s %-10s %-16s %-6s %-16s %-24s %s\n", "TIME", "NODE", "KIND", "ACTOR",
                "ORIGIN", "SUBJECT", "DETAIL");
        size_t i;
        json_t *e;
        json_array_foreach(merged, i, e)
        {
            char when[40], f[6][520];
            s_when(s_int(e, "at_ms"), when, sizeof when);
            fprintf(out, "%-20s %-10.8s %-16s %-6s %-16s %-24s %s\n", when,
                    s_shown(e, "node_id", f[0], sizeof f[0]), s_shown(e, "kind", f[1], sizeof f[1]),
                    s_shown(e, "actor", f[2], sizeof f[2]), s_shown(e, "origin", f[3], sizeof f[3]),
                    s_shown(e, "subject", f[4], sizeof f[4]),
                    s_shown(e, "detail", f[5], sizeof f[5]));
        }
        if (json_array_size(missed))
            fprintf(out, "(%zu node(s) could not be read: see above)\n", json_array_size(missed));
        json_decref(merged);
        json_decref(missed);
    }
    return fflush(out) == 0 ? MESH_EXIT_OK : MESH_EXIT_FAIL;
}
