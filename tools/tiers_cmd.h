/*  tiers_cmd — `arena-mesh tiers list` and `arena-mesh tiers set NAME
    [--per-minute N] [--per-hour N] [--per-day N] [--tokens-per-day N]
    [--concurrent N] [--models LIST] [--priority N]` (docs/arena-mesh.md):
    GET /admin/tiers and PUT /admin/tiers/{name} of one node, with
    --node, --admin-key (or ARENA_ADMIN_KEY) and --json (tools/admin_cli.h).
    A change made on one node reaches every node (docs/keys.md). Exit codes
    as keys_cmd's. */
#ifndef ARENA_TOOLS_TIERS_CMD_H
#define ARENA_TOOLS_TIERS_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

bool tiers_cmd_is_tiers(int argc, char **argv);
int tiers_cmd_main(int argc, char **argv, const char *env_node, const char *env_admin_key,
                   const volatile sig_atomic_t *stop, FILE *out, FILE *err);

#endif
