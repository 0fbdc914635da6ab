/*  fake-arena — the fake LMArena as an HTTP server for end-to-end tests
    (tests/support/fake_arena_server.h; docs/testing.md, "Fake LMArena
    server"). A thin shell: flags, the models file, the ready line, then it
    waits for SIGINT/SIGTERM on the main thread (blocked everywhere else). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"
#include "tests/support/fake_arena.h"
#include "tests/support/fake_arena_server.h"

#define S_MAX_MODELS_FILE (4u * 1024 * 1024)

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: fake-arena [--port N] [--models FILE] [--token-ttl-ms N]\n"
            "                  [--scenario DIRECTIVE] [--force DIRECTIVE] [--era 2026|2025]\n"
            "                  [--log-level error|warn|info|debug]\n"
            "  --port N           listen on 127.0.0.1:N (default 0: any free port)\n"
            "  --models FILE      extra catalog models (a JSON array, as fake-link's)\n"
            "  --token-ttl-ms N   reCAPTCHA token lifetime (default %u, max %u)\n"
            "  --scenario D       directive used when a prompt has none\n"
            "  --force D          directive that wins over the prompt's\n"
            "  --era E            how the site behaves: 2026 (default) or 2025\n"
            "Prints \"fake-arena ready url=http://127.0.0.1:PORT\" once listening;\n"
            "runs until SIGINT or SIGTERM, then exits 0.\n",
            FAKE_SERVER_TOKEN_TTL_MS, FAKE_SERVER_MAX_TOKEN_TTL_MS);
}

/*  Reads a whole file of at most S_MAX_MODELS_FILE bytes. NULL with a
    message on stderr. */
static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fake-arena: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(S_MAX_MODELS_FILE + 1);
    size_t n = buf ? fread(buf, 1, S_MAX_MODELS_FILE + 1, f) : 0;
    int bad = !buf || ferror(f) || n > S_MAX_MODELS_FILE;
    fclose(f);
    if (bad) {
        fprintf(stderr, "fake-arena: %s: unreadable or over %u bytes\n", path, S_MAX_MODELS_FILE);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/*  A decimal in [0, max]. */
static int s_number(const char *s, unsigned long max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

typedef struct {
    fake_arena_server_config_t cfg;
    const char *models_path;
} s_args_t;

/*  0, or -1 after printing why (exit 2). */
static int s_parse(int argc, char **argv, s_args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            s_usage(stdout);
            exit(0);
        }
        if (!val) {
            fprintf(stderr, "fake-arena: %s needs a value (or is unknown)\n", flag);
            return -1;
        }
        i++;
        int bad = 0;
        if (strcmp(flag, "--port") == 0)
            bad = s_number(val, 65535, &a->cfg.port);
        else if (strcmp(flag, "--token-ttl-ms") == 0)
            bad = s_number(val, FAKE_SERVER_MAX_TOKEN_TTL_MS, &a->cfg.token_ttl_ms) < 0 ||
                  a->cfg.token_ttl_ms == 0;
        else if (strcmp(flag, "--models") == 0)
            a->models_path = val;
        else if (strcmp(flag, "--scenario") == 0)
            a->cfg.default_scenario = val;
        else if (strcmp(flag, "--force") == 0)
            a->cfg.force_scenario = val;
        else if (strcmp(flag, "--era") == 0) {
            fake_era_t era;
            bad = fake_era_parse(val, &era);
            a->cfg.era = val;
        } else if (strcmp(flag, "--log-level") == 0) {
            alog_level_t level;
            bad = alog_level_parse(val, &level);
            if (!bad)
                alog_set_level(level);
        } else {
            fprintf(stderr, "fake-arena: unknown flag %s\n", flag);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "fake-arena: bad value for %s: %s\n", flag, val);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    s_args_t a;
    memset(&a, 0, sizeof a);
    if (s_parse(argc, argv, &a) < 0) {
        s_usage(stderr);
        return 2;
    }
    char *models = NULL;
    if (a.models_path && !(models = s_read_file(a.models_path, &a.cfg.models_len)))
        return 1;
    a.cfg.models_text = models;

    /* Every thread the server starts inherits this mask; only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[400];
    fake_arena_server_t *srv = fake_arena_server_new(&a.cfg, err, sizeof err);
    free(models);
    if (!srv) {
        fprintf(stderr, "fake-arena: %s\n", err);
        return 1;
    }
    printf("fake-arena ready url=%s\n", fake_arena_server_url(srv));
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    alog_info("fake-arena: signal %d, stopping", sig);
    fake_arena_server_destroy(&srv);
    return 0;
}
