/*  jsonc — JSON with comments (// and block) and trailing commas, as used by
    the node's config file. Strips them, keeping strings intact, then parses
    with jansson. */
#ifndef ARENA_JSONC_H
#define ARENA_JSONC_H

#include <jansson.h>
#include <stddef.h>

/*  Returns a new reference or NULL with a message (with line number) in err. */
json_t *jsonc_loadb(const char *text, size_t len, char *err, size_t errlen);

#endif
