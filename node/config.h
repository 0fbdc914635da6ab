/*  config — arena-node settings from flags, ARENA_* environment variables, a
    JSONC config file and defaults, in that precedence (ARCHITECTURE.md).

    Every flag of INTERFACES.md plus tuning and mesh-timing extensions
    documented in docs/configuration.md. Environment: --link-origin → ARENA_LINK_ORIGIN
    (repeatables as comma lists), --api-key → ARENA_API_KEYS. Config-file keys
    are the flag names without dashes, with '_' for '-' ("link_origin": [..]).
    Config file: --config FILE, else DATA/arena-node.jsonc when present. */
#ifndef ARENA_CONFIG_H
#define ARENA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "protocol/alog.h"

typedef struct {
    char **items;
    size_t n;
} strlist_t;

/*  Every field's default, range and help text are in the option table of
    config.c (s_opts), the one place they are written; --help and
    docs/configuration.md show them. */
typedef struct {
    char *name;
    char *data_dir;
    char *config_file; /* the file actually read, or NULL */
    char *http_host;
    int http_port; /* 0 = pick */
    char *link_host;
    int link_port;
    char *mesh_host;
    int mesh_port;
    char *advertise;        /* HOST:PORT or NULL */
    strlist_t seeds;        /* HOST:PORT each */
    char *mesh_secret;      /* NULL: the one in mesh_secret_file */
    char *mesh_secret_file; /* given, or the per-user default (NULL: no HOME) */
    bool mesh_secret_local; /* neither was given: this machine's own, loopback only */
    char *link_token;       /* NULL: generated once, kept in DATA */
    strlist_t link_origins;
    char *arena_origin;
    strlist_t api_keys;
    char *admin_key; /* NULL: no admin API (node/admin.h) */
    bool allow_anonymous;
    bool metrics_public;      /* GET /metrics answered without an API key */
    bool discover;            /* LAN discovery (mesh/mesh_discover.h) */
    int discover_port;        /* its UDP port */
    char *discover_interface; /* NULL: czmq's choice */
    /* the browser boundary (docs/operations.md, "Security") */
    strlist_t http_names;   /* Host names the API answers to beside its own address */
    strlist_t cors_origins; /* web origins allowed to call it ("*": any); empty: the default */
    size_t body_budget;     /* request body bytes in flight, node-wide */
    alog_level_t log_level;

    /* tuning extensions (flags --tab-jobs, --queue, …) */
    int tab_jobs;               /* concurrent fetches per tab */
    int queue_max;              /* requests waiting for a tab */
    int queue_timeout_ms;       /* wait for capacity before 503 */
    size_t max_body;            /* request body bytes */
    int max_messages;           /* messages in one chat request */
    int max_json_depth;         /* JSON nesting of a request */
    int retries;                /* extra attempts before the first byte */
    int cooldown_default_s;     /* 429 without Retry-After */
    int first_byte_timeout_ms;  /* the first content byte of an answer */
    int stream_idle_timeout_ms; /* silence inside a running stream */
    int max_connections;        /* HTTP connections */
    strlist_t model_aliases;    /* "ALIAS=MODEL" each */
    strlist_t model_allow;      /* empty: every model of the catalog */
    int link_max_pending;       /* browser-link connections before hello */
    int responses_keep_s;       /* Responses output items kept for item_reference */
    size_t responses_keep_bytes;
    size_t stream_buffer;       /* unsent stream bytes per client */
    int usage_keep_days;        /* raw usage rows (node/usage.h) */
    int usage_rollup_keep_days; /* hourly usage rollups */
    strlist_t prices;           /* "MODEL=IN/OUT" each: dollars per million tokens */

    /* mesh timing (flags --gossip-interval, …): the defaults are the mesh
       engine's and forward's own macros (docs/mesh-protocol.md); config_load
       checks the relations between them */
    int gossip_interval_ms;        /* digest interval */
    int gossip_fanout;             /* peers sent a digest per interval */
    int ping_interval_ms;          /* ping a peer quiet this long */
    int ping_timeout_ms;           /* second ping after this */
    int suspect_after_ms;          /* silence before suspect */
    int dead_after_ms;             /* silence before dead */
    int forget_after_ms;           /* dead and left peers kept */
    int mesh_max_peers;            /* peers kept at most */
    int mesh_max_new;              /* new peers one message may introduce */
    int mesh_dial_rate;            /* new peers dialed per second */
    int forward_accept_timeout_ms; /* a peer accepts a forwarded request */

    /* LMArena as it is now (docs/upstream.md) */
    char *arena_mode;            /* mode of a new conversation */
    int recaptcha_backoff_max_s; /* ceiling of the reCAPTCHA cooldown */
    char *pace;                  /* "on" or "off" */
    int pace_interval_s;         /* least time between starts of one account */
    char *pace_window;           /* "COUNT/SECONDS" */

    /* the managed browser (node/browser.h) */
    bool browser;          /* start and watch Chromium */
    int browser_tabs;      /* tabs kept open on the arena origin */
    bool browser_headless; /* --headless=new */
    char *browser_path;    /* the program */
    int browser_stuck_s;   /* a tab without a link this long is reloaded */
} config_t;

/*  Loads everything. Returns 0 on success, 1 when --help or --version was
    printed to out (the caller exits 0), -1 with a message in err.
    envp is the environment to read (usually `environ`). */
int config_load(config_t *cfg, int argc, char **argv, char **envp, FILE *out, char *err,
                size_t errlen);
void config_free(config_t *cfg);
void config_usage(FILE *out);
/*  "COUNT/SECONDS" (1..1000 / 1..86400) → its parts (either may be NULL);
    0 or -1. */
int config_parse_window(const char *s, int *count, int *seconds);

#endif
