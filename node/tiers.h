/*  tiers — the named limit sets a key belongs to (issue #11, item 2): one
    table, as data, for the limits work to enforce. Today only the names
    are checked (an unknown tier is refused) and the limits shown; nothing
    is enforced yet. Pure: constant data; any thread. */
#ifndef ARENA_TIERS_H
#define ARENA_TIERS_H

#include <stddef.h>

#define TIERS_UNLIMITED 0     /* a limit of 0: none */
#define TIERS_CONFIG "config" /* the tier of the --api-key keys */

typedef struct {
    const char *name;
    long per_minute, per_hour, per_day; /* requests; TIERS_UNLIMITED: none */
} tier_t;

/*  The tier of that name, or NULL. */
const tier_t *tiers_find(const char *name);
/*  The whole table, in order; *n gets its length. */
const tier_t *tiers_table(size_t *n);

#endif
