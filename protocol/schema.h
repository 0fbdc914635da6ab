/*  schema — JSON Schema validation of a model's answer (response_format
    json_schema with strict), by valijson over nlohmann::json (Debian's
    libvalijson-dev, nlohmann-json3-dev) behind a C API. The only C++ in the
    tree (protocol/schema.cc); every exception stays inside it.

    Both the schema and the document come from untrusted parties (a client
    and a model the client can steer), so before valijson sees them:
      - sizes: schema <= SCHEMA_MAX_SCHEMA bytes, document <= SCHEMA_MAX_DOC;
      - nesting: both <= SCHEMA_MAX_DEPTH levels (checked while parsing);
      - $ref: only local JSON pointers ("#", "#/definitions/x", "#/$defs/x");
        a loop of references that never descends into the instance (e.g.
        {"$ref":"#"}, or allOf → $ref → back) is refused, recursion that
        descends (a tree: items → $ref "#") is fine;
      - work: the number of (schema node, instance node) visits valijson
        would make is bounded from the schema's graph and the document's
        shape, <= SCHEMA_MAX_VISITS, else "too complex";
      - regexes: "pattern" (<= SCHEMA_MAX_PATTERN bytes, no back-references,
        at most ~1000 NFA states once its repetitions are expanded) is
        compiled by us with libstdc++'s polynomial (Thompson NFA) engine,
        anchored as "^[\s\S]*(?:p)" so that regex_search makes one linear
        pass instead of one per start position, and handed to valijson's
        cache, so its backtracking engine never runs a client's pattern; each
        string a pattern runs on counts (length x states) against the work
        bound; "patternProperties" is refused (valijson would compile it
        itself; OpenAI's strict mode does not accept it either);
      - "format" is not asserted (an annotation, as JSON Schema 2019+ allows):
        valijson checks date/time with a backtracking regex whose recursion
        grows with the string.
    Pure: no I/O, no globals, no threads. */
#ifndef ARENA_SCHEMA_H
#define ARENA_SCHEMA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCHEMA_MAX_SCHEMA (256u * 1024u)
#define SCHEMA_MAX_DOC (8u * 1024u * 1024u)
#define SCHEMA_MAX_DEPTH 32
#define SCHEMA_MAX_PATTERN 256
#define SCHEMA_MAX_VISITS 250000u /* ~0.1-0.2 s worst case: it runs on the node thread */

/*  Validates the JSON text doc against the JSON Schema text schema (draft 7
    keywords; draft 4 schemas read the same). Returns 1 when valid; 0 when
    not, err holding the first failure as "at $.a.b[2]: <what>", or why the
    document cannot conform (not JSON, too big or deep, too much to check):
    the answer is at fault; -1 when the schema cannot be used (not JSON, not
    a schema, a limit above): the request is at fault. err may be NULL;
    it is always NUL-terminated when errlen > 0. */
int schema_validate(const char *schema, size_t slen, const char *doc, size_t dlen, char *err,
                    size_t errlen);

/*  0 when schema is usable (the same checks as schema_validate, against no
    document), -1 with err filled otherwise — for rejecting a request's
    response_format up front. */
int schema_check(const char *schema, size_t slen, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
