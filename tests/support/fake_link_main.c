/*  fake-link — the fake browser link as a program (docs/testing.md):
    plays N userscript tabs against an arena-node's link until SIGINT or
    SIGTERM. Prints `fake-link ready tabs=N` once every tab is welcomed and
    `fake-link reconnected tab=IDX id=UUID` whenever a tab is welcomed again.
    A thin shell over fake_link.h: parse flags, start, wait for a signal. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/alog.h"
#include "tests/support/fake_link.h"

#define S_MAX_PAIRS (3 * FAKE_LINK_MAX_TABS)
#define S_DEFAULT_READY_MS 10000

typedef enum { S_PAIR_SCENARIO = 0, S_PAIR_FORCE, S_PAIR_ACCOUNT } s_pair_kind_t;

typedef struct {
    size_t idx;
    const char *value; /* a directive or an account */
    s_pair_kind_t kind;
} s_pair_t;

typedef struct {
    const char *url, *token, *origin, *events_path, *models, *scenario, *era, *account;
    unsigned pace[3]; /* interval_ms, window, window_ms */
    size_t tabs;
    int no_reconnect;
    long ready_ms;
    s_pair_t pairs[S_MAX_PAIRS];
    size_t n_pairs;
} s_opts_t;

/*  Shared with the event callback (the fake thread). */
typedef struct {
    unsigned long *welcomes; /* per tab, fake thread only */
    size_t n;
} s_state_t;

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: fake-link --url ws://HOST:PORT/PATH --token TOKEN [options]\n"
            "  --origin ORIGIN            Origin header and page origin (default %s)\n"
            "  --tabs N                   tabs, one WebSocket each (default 1, max %d)\n"
            "  --events FILE|-            JSON-lines events to FILE (- for stdout)\n"
            "  --models FILE              extra models: JSON array of {name,id?,modality?,...}\n"
            "  --scenario DIRECTIVE       default scenario of every tab\n"
            "  --tab-scenario IDX=DIRECTIVE  default scenario of tab IDX (repeatable)\n"
            "  --tab-force IDX=DIRECTIVE  scenario of tab IDX that wins over prompts (repeatable)\n"
            "  --era 2026|2025            how the site behaves (default 2026)\n"
            "  --account HASH             logged-in account of every tab (32 lowercase hex)\n"
            "  --tab-account IDX=HASH     account of tab IDX (repeatable)\n"
            "  --pace MS[,COUNT,WINDOW_MS]  429 \"prompt failed\" for an account's request MS\n"
            "                             after its last, or over COUNT within WINDOW_MS\n"
            "  --no-reconnect             do not reconnect after a close\n"
            "  --ready-timeout MS         give up when not ready within MS (default %d)\n"
            "  --log-level LEVEL          error|warn|info|debug (default warn)\n"
            "Directives: see docs/testing.md, e.g. \"ratelimit retry=3\".\n",
            FAKE_LINK_DEFAULT_ORIGIN, FAKE_LINK_MAX_TABS, S_DEFAULT_READY_MS);
}

static int s_number(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int s_add_pair(s_opts_t *o, const char *arg, s_pair_kind_t kind)
{
    const char *eq = strchr(arg, '=');
    char idx[16];
    long v;
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof idx || o->n_pairs == S_MAX_PAIRS)
        return -1;
    memcpy(idx, arg, (size_t)(eq - arg));
    idx[eq - arg] = '\0';
    if (s_number(idx, 0, FAKE_LINK_MAX_TABS - 1, &v) < 0)
        return -1;
    o->pairs[o->n_pairs++] = (s_pair_t){(size_t)v, eq + 1, kind};
    return 0;
}

/*  "MS" or "MS,COUNT,WINDOW_MS" into o->pace. */
static int s_parse_pace(s_opts_t *o, const char *arg)
{
    char buf[64];
    long v[3] = {0, 0, 0};
    if (strlen(arg) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", arg);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == 3 || s_number(tok, 0, 86400000, &v[n]) < 0)
            return -1;
        n++;
    }
    if (n != 1 && n != 3)
        return -1;
    for (size_t i = 0; i < 3; i++)
        o->pace[i] = (unsigned)v[i];
    return 0;
}

static int s_parse(int argc, char **argv, s_opts_t *o)
{
    enum {
        O_URL = 256,
        O_TOKEN,
        O_ORIGIN,
        O_TABS,
        O_EVENTS,
        O_MODELS,
        O_SCENARIO,
        O_TAB_SC,
        O_TAB_FORCE,
        O_ERA,
        O_ACCOUNT,
        O_TAB_ACCOUNT,
        O_PACE,
        O_NO_RECONNECT,
        O_READY,
        O_LOG,
        O_HELP
    };
    static const struct option opts[] = {
        {"url", required_argument, NULL, O_URL},
        {"token", required_argument, NULL, O_TOKEN},
        {"origin", required_argument, NULL, O_ORIGIN},
        {"tabs", required_argument, NULL, O_TABS},
        {"events", required_argument, NULL, O_EVENTS},
        {"models", required_argument, NULL, O_MODELS},
        {"scenario", required_argument, NULL, O_SCENARIO},
        {"tab-scenario", required_argument, NULL, O_TAB_SC},
        {"tab-force", required_argument, NULL, O_TAB_FORCE},
        {"era", required_argument, NULL, O_ERA},
        {"account", required_argument, NULL, O_ACCOUNT},
        {"tab-account", required_argument, NULL, O_TAB_ACCOUNT},
        {"pace", required_argument, NULL, O_PACE},
        {"no-reconnect", no_argument, NULL, O_NO_RECONNECT},
        {"ready-timeout", required_argument, NULL, O_READY},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    long v;
    alog_level_t level;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_URL:
            o->url = optarg;
            break;
        case O_TOKEN:
            o->token = optarg;
            break;
        case O_ORIGIN:
            o->origin = optarg;
            break;
        case O_EVENTS:
            o->events_path = optarg;
            break;
        case O_MODELS:
            o->models = optarg;
            break;
        case O_SCENARIO:
            o->scenario = optarg;
            break;
        case O_NO_RECONNECT:
            o->no_reconnect = 1;
            break;
        case O_TABS:
            if (s_number(optarg, 1, FAKE_LINK_MAX_TABS, &v) < 0) {
                fprintf(stderr, "fake-link: --tabs %s: expected 1..%d\n", optarg,
                        FAKE_LINK_MAX_TABS);
                return -1;
            }
            o->tabs = (size_t)v;
            break;
        case O_TAB_SC:
        case O_TAB_FORCE:
            if (s_add_pair(o, optarg, c == O_TAB_FORCE ? S_PAIR_FORCE : S_PAIR_SCENARIO) < 0) {
                fprintf(stderr, "fake-link: %s %s: expected IDX=DIRECTIVE\n",
                        c == O_TAB_FORCE ? "--tab-force" : "--tab-scenario", optarg);
                return -1;
            }
            break;
        case O_ERA:
            if (strcmp(optarg, "2026") != 0 && strcmp(optarg, "2025") != 0) {
                fprintf(stderr, "fake-link: --era %s: expected 2026 or 2025\n", optarg);
                return -1;
            }
            o->era = optarg;
            break;
        case O_ACCOUNT:
            if (!fake_link_account_ok(optarg)) {
                fprintf(stderr, "fake-link: --account %s: expected 32 lowercase hex\n", optarg);
                return -1;
            }
            o->account = optarg;
            break;
        case O_TAB_ACCOUNT:
            if (s_add_pair(o, optarg, S_PAIR_ACCOUNT) < 0 ||
                !fake_link_account_ok(o->pairs[o->n_pairs - 1].value)) {
                fprintf(stderr, "fake-link: --tab-account %s: expected IDX=HASH (32 hex)\n",
                        optarg);
                return -1;
            }
            break;
        case O_PACE:
            if (s_parse_pace(o, optarg) < 0) {
                fprintf(stderr, "fake-link: --pace %s: expected MS or MS,COUNT,WINDOW_MS\n",
                        optarg);
                return -1;
            }
            break;
        case O_READY:
            if (s_number(optarg, 1, 3600000, &v) < 0) {
                fprintf(stderr, "fake-link: --ready-timeout %s: expected milliseconds\n", optarg);
                return -1;
            }
            o->ready_ms = v;
            break;
        case O_LOG:
            if (alog_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "fake-link: --log-level %s: expected error|warn|info|debug\n",
                        optarg);
                return -1;
            }
            alog_set_level(level);
            break;
        case O_HELP:
            s_usage(stdout);
            exit(0);
        default:
            s_usage(stderr);
            return -1;
        }
    }
    if (optind < argc || !o->url || !o->token) {
        fprintf(stderr, "fake-link: --url and --token are required\n");
        s_usage(stderr);
        return -1;
    }
    for (size_t i = 0; i < o->n_pairs; i++)
        if (o->pairs[i].idx >= o->tabs) {
            fprintf(stderr, "fake-link: tab index %zu is out of range for --tabs %zu\n",
                    o->pairs[i].idx, o->tabs);
            return -1;
        }
    return 0;
}

static void s_on_event(void *arg, const json_t *ev)
{
    s_state_t *st = arg;
    const char *name = json_string_value(json_object_get(ev, "ev"));
    json_int_t idx = json_integer_value(json_object_get(ev, "tab"));
    if (!name || strcmp(name, "welcome") != 0 || idx < 0 || (size_t)idx >= st->n)
        return;
    if (++st->welcomes[idx] > 1) {
        printf("fake-link reconnected tab=%lld id=%s\n", (long long)idx,
               json_string_value(json_object_get(ev, "tab_id")));
        fflush(stdout);
    }
}

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*  1 when SIGINT/SIGTERM arrived within wait_ms. */
static int s_signalled(const sigset_t *set, long wait_ms)
{
    struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig == SIGINT || sig == SIGTERM;
}

static int s_serve(fake_link_t *link, size_t tabs, long ready_ms, const sigset_t *set)
{
    long long deadline = s_now_ms() + ready_ms;
    while (fake_link_wait_ready(link, tabs, 50) < 0) {
        if (s_signalled(set, 0))
            return 0;
        if (s_now_ms() >= deadline) {
            fprintf(stderr, "fake-link: not ready: %zu of %zu tabs welcomed within %ld ms\n",
                    fake_link_ready_tabs(link), tabs, ready_ms);
            return 1;
        }
    }
    printf("fake-link ready tabs=%zu\n", tabs);
    fflush(stdout);
    while (!s_signalled(set, 1000))
        ;
    return 0;
}

int main(int argc, char **argv)
{
    static s_opts_t o;
    o.tabs = 1;
    o.ready_ms = S_DEFAULT_READY_MS;
    alog_set_level(ALOG_WARN);
    if (s_parse(argc, argv, &o) < 0)
        return 2;

    const char **scen = calloc(o.tabs, sizeof *scen), **force = calloc(o.tabs, sizeof *force);
    const char **accounts = calloc(o.tabs, sizeof *accounts);
    s_state_t st = {calloc(o.tabs, sizeof(unsigned long)), o.tabs};
    if (!scen || !force || !accounts || !st.welcomes) {
        fprintf(stderr, "fake-link: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < o.n_pairs; i++) {
        const char **into = o.pairs[i].kind == S_PAIR_FORCE     ? force
                            : o.pairs[i].kind == S_PAIR_ACCOUNT ? accounts
                                                                : scen;
        into[o.pairs[i].idx] = o.pairs[i].value;
    }

    FILE *events = NULL;
    if (o.events_path && strcmp(o.events_path, "-") == 0) {
        events = stdout;
    } else if (o.events_path && !(events = fopen(o.events_path, "a"))) {
        fprintf(stderr, "fake-link: cannot open %s: %s\n", o.events_path, strerror(errno));
        return 1;
    }

    /* Signals are taken synchronously by main; every thread inherits the mask. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    fake_link_config_t cfg = {
        .url = o.url,
        .origin = o.origin,
        .token = o.token,
        .tabs = o.tabs,
        .default_scenario = o.scenario,
        .tab_scenario = scen,
        .n_tab_scenario = o.tabs,
        .tab_force = force,
        .n_tab_force = o.tabs,
        .no_reconnect = o.no_reconnect,
        .models_file = o.models,
        .events = events,
        .on_event = s_on_event,
        .on_event_arg = &st,
        .era = o.era,
        .account = o.account,
        .tab_account = accounts,
        .n_tab_account = o.tabs,
        .pace_interval_ms = o.pace[0],
        .pace_window = o.pace[1],
        .pace_window_ms = o.pace[2],
    };
    fake_link_t *link = fake_link_new(&cfg);
    int rc = 1;
    if (link)
        rc = s_serve(link, o.tabs, o.ready_ms, &set);
    else
        fprintf(stderr, "fake-link: cannot start (see the messages above)\n");
    fake_link_destroy(&link);
    if (events && events != stdout)
        fclose(events);
    free(scen);
    free(force);
    free(accounts);
    free(st.welcomes);
    return rc;
}
