/*  tiers_cmd — see tiers_cmd.h. */
#include "tools/tiers_cmd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tools/admin_cli.h"
#include "tools/status_view.h"

/*  The limits `tiers set` takes: flag → the JSON field of PUT /admin/tiers. */
static const struct {
    const char *flag, *field;
} s_limits[] = {
    {"--per-minute", "per_minute"}, {"--per-hour", "per_hour"},
    {"--per-day", "per_day"},       {"--tokens-per-day", "tokens_per_day"},
    {"--concurrent", "concurrent"}, {"--priority", "priority"},
};
#define S_N_LIMITS (sizeof s_limits / sizeof s_limits[0])

static const char *const s_valued[] = {
    "--node",           "--admin-key",  "--api-key",  "--per-minute", "--per-hour", "--per-day",
    "--tokens-per-day", "--concurrent", "--priority", "--models",     NULL};

bool tiers_cmd_is_tiers(int argc, char **argv)
{
    return admin_cli_is_cmd(argc, argv, "tiers", s_valued);
}

static void s_usage(FILE *to)
{
    fputs("usage: arena-mesh tiers list\n"
          "       arena-mesh tiers set NAME [--per-minute N] [--per-hour N] [--per-day N]\n"
          "                           [--tokens-per-day N] [--concurrent N] [--models LIST]\n"
          "                           [--priority N]\n"
          "  each with [--node URL] [--json] [--admin-key KEY] (or ARENA_ADMIN_KEY)\n"
          "  N: 0 for no limit; --priority 0..9 (higher is served first);\n"
          "  LIST: model names separated by commas, \"\" for any model.\n"
          "  set creates the tier or changes only the limits given; every node learns it.\n",
          to);
}

typedef struct {
    admin_cli_t c;
    bool set;
    const char *name;
    const char *limit[S_N_LIMITS];
    const char *models;
} s_args_t;

static int s_parse(int argc, char **argv, s_args_t *a, char *why, size_t wlen)
{
    const char *pos[3] = {0};
    int npos = 0;
    bool seen = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int taken = admin_cli_flag(argc, argv, &i, &a->c, why, wlen);
        if (taken < 0)
            return -1;
        if (taken)
            continue;
        if (arg[0] != '-') {
            if (!seen && strcmp(arg, "tiers") == 0) {
                seen = true;
                continue;
            }
            if (npos == 3) {
                snprintf(why, wlen, "unexpected argument %.100s", arg);
                return -1;
            }
            pos[npos++] = arg;
            continue;
        }
        const char **dst = admin_cli_is(arg, "--models") ? &a->models : NULL;
        for (size_t k = 0; !dst && k < S_N_LIMITS; k++)
            if (admin_cli_is(arg, s_limits[k].flag))
                dst = &a->limit[k];
        if (!dst) {
            snprintf(why, wlen, "unknown option %.100s", arg);
            return -1;
        }
        if (!(*dst = admin_cli_value(argc, argv, &i))) {
            snprintf(why, wlen, "%.40s needs a value", arg);
            return -1;
        }
    }
    if (npos == 1 && strcmp(pos[0], "list") == 0) {
        a->set = false;
    } else if (npos == 2 && strcmp(pos[0], "set") == 0) {
        a->set = true;
        a->name = pos[1];
    } else {
        snprintf(why, wlen, "%s",
                 !npos                         ? "missing tiers command"
                 : strcmp(pos[0], "set") == 0  ? "tiers set takes NAME"
                 : strcmp(pos[0], "list") == 0 ? "tiers list takes no argument"
                                               : "unknown tiers command");
        return -1;
    }
    if (!a->set) {
        for (size_t k = 0; k < S_N_LIMITS; k++)
            if (a->limit[k]) {
                snprintf(why, wlen, "%s is for tiers set", s_limits[k].flag);
                return -1;
            }
        if (a->models) {
            snprintf(why, wlen, "--models is for tiers set");
            return -1;
        }
    }
    return admin_cli_check(&a->c, why, wlen);
}

/*  The PUT body: the limits given (numbers are checked by the node, which
    names the field it refuses). NULL with why. */
static char *s_body(const s_args_t *a, char *why, size_t wlen)
{
    json_t *o = json_object();
    for (size_t k = 0; o && k < S_N_LIMITS; k++) {
        const char *v = a->limit[k];
        if (!v)
            continue;
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (!v[0] || *end || strlen(v) > 18) {
            snprintf(why, wlen, "%s wants a whole number, not %.40s", s_limits[k].flag, v);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, s_limits[k].field, json_integer(n));
    }
    if (o && a->models) {
        json_t *list = a->models[0] ? json_array() : json_null();
        for (const char *p = a->models; list && *p;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            json_array_append_new(list, json_stringn(p, n)); /* empty: the node refuses it */
            p += n + (comma ? 1 : 0);
        }
        json_object_set_new(o, "models", list);
    }
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        snprintf(why, wlen, "out of memory");
    return text;
}

static long long s_int(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static void s_limit(long long v, char *out, size_t len)
{
    if (v)
        snprintf(out, len, "%lld", v);
    else
        snprintf(out, len, "-");
}

static void s_row(const json_t *t, FILE *out)
{
    char f[5][24];
    static const char *const k[] = {"per_minute", "per_hour", "per_day", "tokens_per_day",
                                    "concurrent"};
    for (size_t i = 0; i < 5; i++)
        s_limit(s_int(t, k[i]), f[i], sizeof f[i]);
    char models[512] = "any";
    const json_t *m = json_object_get(t, "models");
    if (json_is_array(m)) {
        models[0] = '\0';
        size_t i;
        const json_t *v;
        json_array_foreach(m, i, v)
        {
            size_t used = strlen(models);
            snprintf(models + used, sizeof models - used, "%s%s", i ? "," : "",
                     json_string_value(v) ? json_string_value(v) : "?");
        }
    }
    const char *name = json_string_value(json_object_get(t, "name"));
    fprintf(out, "%-16s %8s %8s %8s %12s %10s %8lld  %s\n", name ? name : "?", f[0], f[1], f[2],
            f[3], f[4], s_int(t, "priority"), models);
}

int tiers_cmd_main(int argc, char **argv, const char *env_node, const char *env_admin_key,
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
    char path[200];
    char *body = NULL;
    if (a.set) {
        for (const char *p = a.name; *p; p++)
            if (*p == '/' || *p == '?' || *p == '#' || *p == '%' || (unsigned char)*p <= 0x20) {
                fprintf(err, "arena-mesh: %s is not a tier name (A-Z a-z 0-9 . _ -)\n", a.name);
                return ADMIN_CLI_REFUSED;
            }
        if (!(body = s_body(&a, why, sizeof why))) {
            fprintf(err, "arena-mesh: %s\n", why);
            return MESH_EXIT_USAGE;
        }
        snprintf(path, sizeof path, "/admin/tiers/%.64s", a.name);
    } else {
        snprintf(path, sizeof path, "/admin/tiers");
    }
    json_t *doc = NULL;
    int code = admin_cli_call(&a.c, a.set ? "PUT" : "GET", path, body, stop, out, err, &doc);
    free(body);
    if (code == MESH_EXIT_OK && doc) {
        fprintf(out, "%-16s %8s %8s %8s %12s %10s %8s  %s\n", "TIER", "PER-MIN", "PER-HOUR",
                "PER-DAY", "TOKENS/DAY", "CONCURRENT", "PRIORITY", "MODELS");
        const json_t *data = json_object_get(doc, "data");
        if (json_is_array(data)) {
            size_t i;
            const json_t *t;
            json_array_foreach(data, i, t) s_row(t, out);
        } else {
            s_row(doc, out);
        }
        code = fflush(out) == 0 ? MESH_EXIT_OK : MESH_EXIT_FAIL;
    }
    json_decref(doc);
    return code;
}
