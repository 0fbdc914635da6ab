/*  tiers — see tiers.h. */
#include "node/tiers.h"

#include <string.h>

/*  The defaults of the gateways this project replaces (requests per
    minute / hour / day). */
static const tier_t s_tiers[] = {
    {"free", 10, 100, 1000},
    {"premium", 60, 1000, 10000},
    {"enterprise", 300, 5000, 50000},
    {TIERS_CONFIG, TIERS_UNLIMITED, TIERS_UNLIMITED, TIERS_UNLIMITED},
};

const tier_t *tiers_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof s_tiers / sizeof s_tiers[0]; i++)
        if (strcmp(s_tiers[i].name, name) == 0)
            return &s_tiers[i];
    return NULL;
}

const tier_t *tiers_table(size_t *n)
{
    *n = sizeof s_tiers / sizeof s_tiers[0];
    return s_tiers;
}
