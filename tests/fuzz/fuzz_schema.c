/*  libFuzzer driver for protocol/schema: input is a schema, a NUL byte, then
    a document. Beyond not crashing or hanging (the limits of schema.h): the
    answer is -1, 0 or 1, the error text is terminated, and a schema that
    schema_check refuses is refused by schema_validate too. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t slen = nul ? (size_t)(nul - text) : size;
    const char *doc = nul ? nul + 1 : "{}";
    size_t dlen = nul ? size - slen - 1 : 2;
    char err[256];
    memset(err, 'X', sizeof err);
    int v = schema_validate(text, slen, doc, dlen, err, sizeof err);
    if (v < -1 || v > 1 || !memchr(err, '\0', sizeof err))
        __builtin_trap();
    if (v == 1 && err[0] != '\0')
        __builtin_trap();
    memset(err, 'X', sizeof err);
    int c = schema_check(text, slen, err, sizeof err);
    if (!memchr(err, '\0', sizeof err) || (c == -1 && v != -1))
        __builtin_trap();
    return 0;
}
