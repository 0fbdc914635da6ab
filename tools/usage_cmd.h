/*  usage_cmd — `arena-mesh usage [--range day|week|month] [--key NAME]
    [--details] [--json] [--node URL] [--api-key KEY | --admin-key KEY]`
    (docs/arena-mesh.md, docs/usage.md): GET /v1/usage of one node (any
    node answers for the whole mesh once the rollups are replicated) as a
    table, or its JSON with --json. With a user key (--api-key or
    ARENA_API_KEY) that key's own usage; with the admin key (--admin-key or
    ARENA_ADMIN_KEY) every key's, or --key's. A flag beats a variable; the
    two key flags together are a usage error. Exit codes: 0 answered; 1 the
    node refused (the error's message printed); 2 it cannot be reached or
    answered garbage; 64 usage. */
#ifndef ARENA_TOOLS_USAGE_CMD_H
#define ARENA_TOOLS_USAGE_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

bool usage_cmd_is_usage(int argc, char **argv);
int usage_cmd_main(int argc, char **argv, const char *env_node, const char *env_admin_key,
                   const char *env_api_key, const volatile sig_atomic_t *stop, FILE *out,
                   FILE *err);

#endif
