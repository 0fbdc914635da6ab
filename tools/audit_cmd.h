/*  audit_cmd — `arena-mesh audit [--since DATE|+Nh] [--node URL] [--json]
    [--admin-key KEY] [--api-key KEY]` (docs/arena-mesh.md): the mesh's
    audit log. Asks the node for /mesh/status (with the API key, when given)
    to learn the alive nodes' http addresses, then each for GET /admin/audit
    with the admin key, merges the rows by time and prints them; the nodes
    that could not be asked are named on stderr. Exit codes: 0 the first
    node answered; 1 it refused; 2 it cannot be reached; 64 usage. */
#ifndef ARENA_TOOLS_AUDIT_CMD_H
#define ARENA_TOOLS_AUDIT_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

bool audit_cmd_is_audit(int argc, char **argv);
int audit_cmd_main(int argc, char **argv, const char *env_node, const char *env_admin_key,
                   const char *env_api_key, const volatile sig_atomic_t *stop, FILE *out,
                   FILE *err);
/*  --since: +N with s, m, h or d before now_ms, else as keys --expires
    (unix ms, YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z). 0 and *ms, or -1. */
int audit_cmd_parse_since(const char *text, long long now_ms, long long *ms);

#endif
