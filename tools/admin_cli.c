/*  admin_cli — see admin_cli.h. */
#include "tools/admin_cli.h"

#include <stdlib.h>
#include <string.h>

#include "tools/status_view.h"

bool admin_cli_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

const char *admin_cli_value(int argc, char **argv, int *i)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq)
        return eq + 1;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

bool admin_cli_is_cmd(int argc, char **argv, const char *cmd, const char *const *valued)
{
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-')
            return strcmp(argv[i], cmd) == 0;
        for (size_t k = 0; valued[k]; k++)
            if (strcmp(argv[i], valued[k]) == 0)
                i++; /* its value follows */
    }
    return false;
}

int admin_cli_flag(int argc, char **argv, int *i, admin_cli_t *c, char *why, size_t wlen)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "--json") == 0) {
        c->json = true;
        return 1;
    }
    const char **dst = admin_cli_is(arg, "--node")        ? &c->node
                       : admin_cli_is(arg, "--admin-key") ? &c->admin_key
                                                          : NULL;
    if (!dst)
        return 0;
    if (!(*dst = admin_cli_value(argc, argv, i))) {
        snprintf(why, wlen, "%.40s needs a value", arg);
        return -1;
    }
    return 1;
}

int admin_cli_check(const admin_cli_t *c, char *why, size_t wlen)
{
    if (!c->admin_key || !c->admin_key[0]) {
        snprintf(why, wlen, "no admin key: pass --admin-key or set ARENA_ADMIN_KEY");
        return -1;
    }
    size_t nl = c->node ? strlen(c->node) : 0;
    if (nl == 0 || nl > 500 ||
        (strncmp(c->node, "http://", 7) != 0 && strncmp(c->node, "https://", 8) != 0)) {
        snprintf(why, wlen, "--node must be an http:// or https:// URL");
        return -1;
    }
    return 0;
}

int admin_cli_call(const admin_cli_t *c, const char *method, const char *path, const char *body,
                   const volatile sig_atomic_t *stop, FILE *out, FILE *err, json_t **doc_out)
{
    char url[1200], why[512] = "";
    size_t nl = strlen(c->node);
    while (nl && c->node[nl - 1] == '/')
        nl--;
    snprintf(url, sizeof url, "%.*s%s", (int)nl, c->node, path);
    if (doc_out)
        *doc_out = NULL;
    mesh_http_opts_t opts = {.api_key = c->admin_key, .cancel = stop, .display = c->node};
    mesh_http_response_t resp;
    mesh_http_rc_t rc = mesh_http_request(url, &opts, method, body, &resp, why, sizeof why);
    if (rc != MESH_HTTP_OK) {
        fprintf(err, "arena-mesh: %s\n", why);
        return rc == MESH_HTTP_CANCELLED ? MESH_EXIT_INTERRUPTED : MESH_EXIT_FAIL;
    }
    int code = MESH_EXIT_OK;
    json_t *doc = json_loadb(resp.body, resp.len, 0, NULL);
    if (resp.status >= 400) {
        abuf_t msg = ABUF_INIT;
        status_view_describe_http_error(url, resp.status, resp.body, resp.len, &msg);
        const char *m = msg.data ? msg.data : "refused";
        /* status's hints (the user key's flag, "is this an arena-node?") do not fit here */
        const char *hint = strstr(m, " — ");
        fprintf(err, "arena-mesh: %.*s%s\n", hint ? (int)(hint - m) : (int)strlen(m), m,
                resp.status == 401 ? " — pass the admin key with --admin-key or ARENA_ADMIN_KEY"
                                   : "");
        abuf_free(&msg);
        code = resp.status == 404 && !json_object_get(doc, "error") ? MESH_EXIT_FAIL
                                                                    : ADMIN_CLI_REFUSED;
    } else if (!json_is_object(doc) || resp.status < 200 || resp.status > 299) {
        fprintf(err, "arena-mesh: %s answered HTTP %ld with no JSON object\n", url, resp.status);
        code = MESH_EXIT_FAIL;
    } else if (c->json) {
        fprintf(out, "%.*s\n", (int)resp.len, resp.body);
        code = fflush(out) == 0 ? MESH_EXIT_OK : MESH_EXIT_FAIL;
    } else if (doc_out) {
        *doc_out = doc;
        doc = NULL;
    }
    json_decref(doc);
    mesh_http_response_free(&resp);
    return code;
}
