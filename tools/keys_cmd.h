/*  keys_cmd — `arena-mesh keys create|list|revoke|set-tier` (docs/arena-mesh.md):
    the admin API of one node (node/admin.h) from the command line, with
    the admin key from --admin-key or ARENA_ADMIN_KEY. Exit codes: 0; 1 the
    node refused the request (its message is printed); 2 the node cannot be
    reached or answered nonsense; 64 usage. No shared state. */
#ifndef ARENA_TOOLS_KEYS_CMD_H
#define ARENA_TOOLS_KEYS_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#define MESH_EXIT_REFUSED 1

/*  argv as main's: the program, then options and "keys" and its words. */
int keys_cmd_main(int argc, char **argv, const char *env_node, const char *env_admin_key,
                  const volatile sig_atomic_t *stop, FILE *out, FILE *err);
/*  --expires: unix ms (digits), YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (UTC),
    or +N with s, m, h or d from now_ms. 0 and *ms, or -1. */
int keys_cmd_parse_expiry(const char *text, long long now_ms, long long *ms);
/*  Whether argv names the keys command (its first word that is not an
    option or an option's value). */
bool keys_cmd_is_keys(int argc, char **argv);

#endif
