/*  admin_cli — what the admin commands of arena-mesh (keys, tiers, audit;
    docs/arena-mesh.md) share: the common flags --node URL, --admin-key KEY
    (or ARENA_ADMIN_KEY) and --json, their checks, and one admin HTTP call
    with its error reporting and exit codes (0; 1 the node refused, its
    message printed; 2 unreachable or nonsense; 130 interrupted). */
#ifndef ARENA_TOOLS_ADMIN_CLI_H
#define ARENA_TOOLS_ADMIN_CLI_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#define ADMIN_CLI_REFUSED 1

typedef struct {
    const char *node;      /* base URL (no trailing slash needed) */
    const char *admin_key; /* --admin-key or ARENA_ADMIN_KEY */
    bool json;             /* --json: print the node's answer as it is */
} admin_cli_t;

/*  arg is exactly name, or name=VALUE. */
bool admin_cli_is(const char *arg, const char *name);
/*  The value of the option at argv[*i] (after its '=', or the next word,
 *i moved past it); NULL when missing. */
const char *admin_cli_value(int argc, char **argv, int *i);
/*  Whether argv's first word that is neither an option nor an option's
    value (valued: the options taking one, NULL-ended) is cmd. */
bool admin_cli_is_cmd(int argc, char **argv, const char *cmd, const char *const *valued);
/*  argv[*i] as one of the common flags: 1 taken (the value consumed), 0 not
    one of them, -1 missing value (why set). */
int admin_cli_flag(int argc, char **argv, int *i, admin_cli_t *c, char *why, size_t wlen);
/*  The admin key is there and --node is an http(s) URL: 0, or -1 with why. */
int admin_cli_check(const admin_cli_t *c, char *why, size_t wlen);
/*  METHOD base+path (path starts with '/') with the admin key and body
    (JSON, may be NULL). With --json the answer is printed as it is; else,
    on 2xx, *doc (when doc is not NULL) gets the parsed object for the
    caller to print (json_decref it). Errors go to err. The exit code. */
int admin_cli_call(const admin_cli_t *c, const char *method, const char *path, const char *body,
                   const volatile sig_atomic_t *stop, FILE *out, FILE *err, json_t **doc);

#endif
