/*  keys_cmd — see keys_cmd.h. */
#include "tools/keys_cmd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/admin_cli.h"
#include "tools/status_view.h"

typedef enum { S_CREATE, S_LIST, S_REVOKE, S_SET_TIER } s_cmd_t;

typedef struct {
    s_cmd_t cmd;
    admin_cli_t c; /* --node, --admin-key, --json */
    const char *name, *tier, *expires, *models;
} s_args_t;

static const char *const s_valued[] = {"--node",    "--admin-key", "--name",    "--tier",
                                       "--expires", "--models",    "--api-key", NULL};

bool keys_cmd_is_keys(int argc, char **argv)
{
    return admin_cli_is_cmd(argc, argv, "keys", s_valued);
}

static void s_usage(FILE *to)
{
    fputs("usage: arena-mesh keys create --name NAME --tier TIER [--expires DATE] [--models LIST]\n"
          "       arena-mesh keys list\n"
          "       arena-mesh keys revoke NAME\n"
          "       arena-mesh keys set-tier NAME TIER\n"
          "  each with [--node URL] [--json] [--admin-key KEY] (or ARENA_ADMIN_KEY)\n"
          "  DATE: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (UTC), unix ms, or +N[s|m|h|d]\n"
          "  LIST: model names separated by commas\n"
          "  tiers: free, premium, enterprise, or one the operator made (arena-mesh tiers list)\n",
          to);
}

static bool s_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

int keys_cmd_parse_expiry(const char *t, long long now_ms, long long *ms)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > 32)
        return -1;
    if (t[0] == '+' && n >= 3 && s_digits(t + 1, n - 2)) {
        long long v = strtoll(t + 1, NULL, 10), unit = 0;
        switch (t[n - 1]) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60000;
            break;
        case 'h':
            unit = 3600000;
            break;
        case 'd':
            unit = 86400000;
            break;
        default:
            return -1;
        }
        if (v <= 0 || v > 36500LL * 86400000 / unit)
            return -1;
        *ms = now_ms + v * unit;
        return 0;
    }
    if (s_digits(t, n)) {
        if (n > 15)
            return -1;
        *ms = strtoll(t, NULL, 10);
        return 0;
    }
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
    if (sscanf(t, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
        return -1;
    if (t[used] != '\0') {
        int more = 0;
        if (t[used] != 'T' || sscanf(t + used + 1, "%2d:%2d%n", &h, &mi, &more) != 2)
            return -1;
        used += 1 + more;
        if (t[used] == ':') {
            if (sscanf(t + used + 1, "%2d%n", &sec, &more) != 1)
                return -1;
            used += 1 + more;
        }
        if (strcmp(t + used, "Z") != 0)
            return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t when = timegm(&tm);
    if (when == (time_t)-1 || tm.tm_mday != d) /* 2026-02-30 is not a date */
        return -1;
    *ms = (long long)when * 1000;
    return 0;
}

/*  0, or -1 with why. */
static int s_parse(int argc, char **argv, s_args_t *a, char *why, size_t wlen)
{
    const char *pos[4] = {0};
    int npos = 0;
    bool seen_keys = false;
    static const char *const opts[] = {"--name", "--tier", "--expires", "--models"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int taken = admin_cli_flag(argc, argv, &i, &a->c, why, wlen);
        if (taken < 0)
            return -1;
        if (taken)
            continue;
        if (arg[0] != '-' && !seen_keys && strcmp(arg, "keys") == 0) {
            seen_keys = true; /* the command's own name */
            continue;
        }
        if (arg[0] != '-') {
            if (npos == 4) {
                snprintf(why, wlen, "unexpected argument %s", arg);
                return -1;
            }
            pos[npos++] = arg;
            continue;
        }
        const char **dst[] = {&a->name, &a->tier, &a->expires, &a->models};
        size_t k = 0;
        while (k < sizeof opts / sizeof opts[0] && !admin_cli_is(arg, opts[k]))
            k++;
        if (k == sizeof opts / sizeof opts[0]) {
            snprintf(why, wlen, "unknown option %s", arg);
            return -1;
        }
        if (!(*dst[k] = admin_cli_value(argc, argv, &i))) {
            snprintf(why, wlen, "%s needs a value", opts[k]);
            return -1;
        }
    }
    static const char *const cmds[] = {"create", "list", "revoke", "set-tier"};
    static const int want[] = {1, 1, 2, 3};
    int c = 0;
    while (npos && c < 4 && strcmp(pos[0], cmds[c]) != 0)
        c++;
    if (!npos || c == 4) {
        snprintf(why, wlen, "%s", npos ? "unknown keys command" : "missing keys command");
        return -1;
    }
    a->cmd = (s_cmd_t)c;
    if (npos != want[c]) {
        snprintf(why, wlen, "keys %s takes %s", cmds[c],
                 want[c] == 1   ? "no argument"
                 : want[c] == 2 ? "NAME"
                                : "NAME TIER");
        return -1;
    }
    if (a->cmd == S_REVOKE || a->cmd == S_SET_TIER)
        a->name = pos[1];
    if (a->cmd == S_SET_TIER)
        a->tier = pos[2];
    if (a->cmd == S_CREATE && (!a->name || !a->tier)) {
        snprintf(why, wlen, "keys create needs --name and --tier");
        return -1;
    }
    return admin_cli_check(&a->c, why, wlen);
}

/*  The request body of create; NULL with why. */
static char *s_create_body(const s_args_t *a, char *why, size_t wlen)
{
    json_t *o = json_pack("{s:s, s:s}", "name", a->name, "tier", a->tier);
    if (a->expires) {
        long long ms = 0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (keys_cmd_parse_expiry(a->expires, now, &ms) < 0) {
            snprintf(why, wlen,
                     "bad --expires %s: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, unix "
                     "ms or +N[s|m|h|d]",
                     a->expires);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "expires", json_integer(ms));
    }
    if (a->models) {
        json_t *list = json_array();
        for (const char *p = a->models; *p;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            if (n)
                json_array_append_new(list, json_stringn(p, n));
            p += n + (comma ? 1 : 0);
        }
        json_object_set_new(o, "models", list); /* empty: the node says what is wrong */
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        snprintf(why, wlen, "out of memory");
    return text;
}

static void s_when(long long ms, char *out, size_t len)
{
    if (ms <= 0) {
        snprintf(out, len, "never");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, len, "%lld", ms);
}

static long long s_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static const char *s_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "?";
}

static void s_models_text(const json_t *o, char *out, size_t len)
{
    const json_t *m = json_object_get(o, "models");
    snprintf(out, len, "%s", json_is_array(m) ? "" : "any");
    size_t i;
    const json_t *v;
    json_array_foreach(m, i, v)
    {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%s", i ? "," : "",
                 json_string_value(v) ? json_string_value(v) : "?");
    }
}

/*  Plain text of a successful answer. */
static int s_text(const s_args_t *a, json_t *doc, FILE *out)
{
    char when[40], models[256];
    switch (a->cmd) {
    case S_CREATE:
        s_when(s_int(doc, "expires"), when, sizeof when);
        s_models_text(doc, models, sizeof models);
        fprintf(out,
                "created key %s (tier %s, expires %s, models %s)\n%s\n"
                "the key is shown only now: keep it\n",
                s_str(doc, "name"), s_str(doc, "tier"), when, models, s_str(doc, "key"));
        break;
    case S_LIST: {
        const json_t *data = json_object_get(doc, "data");
        fprintf(out, "%-24s %-10s %-8s %-20s %s\n", "NAME", "TIER", "STATE", "EXPIRES", "MODELS");
        size_t i;
        const json_t *k;
        json_array_foreach(data, i, k)
        {
            bool revoked = json_is_true(json_object_get(k, "revoked"));
            bool active = json_is_true(json_object_get(k, "active"));
            s_when(s_int(k, "expires"), when, sizeof when);
            s_models_text(k, models, sizeof models);
            fprintf(out, "%-24s %-10s %-8s %-20s %s\n", s_str(k, "name"), s_str(k, "tier"),
                    revoked  ? "revoked"
                    : active ? "active"
                             : "expired",
                    when, models);
        }
        break;
    }
    case S_REVOKE:
        fprintf(out, "revoked key %s\n", s_str(doc, "name"));
        break;
    case S_SET_TIER:
        fprintf(out, "key %s is now in tier %s\n", s_str(doc, "name"), s_str(doc, "tier"));
        break;
    }
    return fflush(out) == 0 ? 0 : MESH_EXIT_FAIL;
}

int keys_cmd_main(int argc, char **argv, const char *env_node, const char *env_admin_key,
                  const volatile sig_atomic_t *stop, FILE *out, FILE *err)
{
    s_args_t a = {.c = {.node = env_node && *env_node ? env_node : STATUS_VIEW_DEFAULT_NODE,
                        .admin_key = env_admin_key}};
    char why[512] = "";
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
    char url[700], *body = NULL;
    const char *method = "GET";
    switch (a.cmd) {
    case S_CREATE:
        method = "POST";
        snprintf(url, sizeof url, "/admin/keys");
        if (!(body = s_create_body(&a, why, sizeof why))) {
            fprintf(err, "arena-mesh: %s\n", why);
            return MESH_EXIT_USAGE;
        }
        break;
    case S_LIST:
        snprintf(url, sizeof url, "/admin/keys");
        break;
    case S_REVOKE:
        method = "DELETE";
        snprintf(url, sizeof url, "/admin/keys/%.64s", a.name);
        break;
    case S_SET_TIER:
        method = "POST";
        snprintf(url, sizeof url, "/admin/keys/%.64s/tier", a.name);
        json_t *o = json_pack("{s:s}", "tier", a.tier);
        body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        break;
    }
    if (a.cmd != S_CREATE && a.cmd != S_LIST) {
        /* a name the node would refuse anyway must not change the path */
        for (const char *p = a.name; *p; p++)
            if (*p == '/' || *p == '?' || *p == '#' || *p == '%' || (unsigned char)*p <= 0x20) {
                fprintf(err, "arena-mesh: no key is named %s\n", a.name);
                free(body);
                return MESH_EXIT_REFUSED;
            }
    }
    json_t *doc = NULL;
    int code = admin_cli_call(&a.c, method, url, body, stop, out, err, &doc);
    free(body);
    if (code == MESH_EXIT_OK && doc)
        code = s_text(&a, doc, out);
    json_decref(doc);
    return code;
}
