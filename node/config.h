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

typedef struct {
    char *name;        /* default: host name */
    char *data_dir;    /* default: ./data */
    char *config_file; /* the file actually read, or NULL */
    char *http_host;   /* default 127.0.0.1 */
    int http_port;     /* default 5102; 0 = pick */
    char *link_host;   /* default 127.0.0.1 */
    int link_port;     /* default 5103 */
    char *mesh_host;   /* default 127.0.0.1 */
    int mesh_port;     /* default 5104 */
    char *advertise;   /* HOST:PORT or NULL */
    strlist_t seeds;   /* HOST:PORT each */
    char *mesh_secret;
    char *link_token; /* NULL: generated once, kept in DATA */
    strlist_t link_origins;
    char *arena_origin; /* default https://lmarena.ai */
    strlist_t api_keys;
    bool allow_anonymous;
    alog_level_t log_level; /* default info */

    /* tuning extensions (flags --tab-jobs, --queue, …) */
    int tab_jobs;               /* concurrent fetches per tab, default 1 */
    int queue_max;              /* requests waiting for a tab, default 256 */
    int queue_timeout_ms;       /* wait for capacity before 503, default 10000 */
    size_t max_body;            /* request body bytes, default 32 MiB */
    int max_messages;           /* default 1024 */
    int max_json_depth;         /* default 32 */
    int retries;                /* extra attempts before the first byte, default 2 */
    int cooldown_default_s;     /* 429 without Retry-After, default 1800 */
    int first_byte_timeout_ms;  /* default 180000 */
    int stream_idle_timeout_ms; /* default 180000 */
    int max_connections;        /* HTTP connections, default 4096 */
    strlist_t model_aliases;    /* "ALIAS=MODEL" each */
    strlist_t model_allow;      /* empty: every model of the catalog */

    /* mesh timing (flags --gossip-interval, …): the defaults equal those of
       mesh/mesh.c and node/forward.c (docs/mesh-protocol.md); config_load
       checks the relations between them */
    int gossip_interval_ms;        /* digest interval, default 200 */
    int gossip_fanout;             /* peers sent a digest per interval, default 3 */
    int ping_interval_ms;          /* ping a peer quiet this long, default 1000 */
    int ping_timeout_ms;           /* second ping after this, default 500 */
    int suspect_after_ms;          /* silence before suspect, default 2000 */
    int dead_after_ms;             /* silence before dead, default 5500 */
    int forget_after_ms;           /* dead and left peers kept, default 60000 */
    int forward_accept_timeout_ms; /* a peer accepts a forwarded request, default 2000 */

    /* LMArena as it is now (docs/upstream.md) */
    char *arena_mode;            /* mode of a new conversation, default "direct-battle" */
    int recaptcha_backoff_max_s; /* ceiling of the reCAPTCHA cooldown, default 7200 */
    char *pace;                  /* "on" (default) or "off" */
    int pace_interval_s;         /* least time between starts of one account, default 60 */
    char *pace_window;           /* "COUNT/SECONDS", default "3/390" */
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
/*  "HOST:PORT" or "[v6]:PORT" → host and port; 0 or -1. */
int config_split_hostport(const char *s, char *host, size_t hostlen, int *port);
/*  1 for 127.0.0.0/8, ::1 and "localhost". */
int config_is_loopback(const char *host);

#endif
