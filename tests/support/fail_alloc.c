/*  fail_alloc — see fail_alloc.h. */
#include "tests/support/fail_alloc.h"

#include <czmq.h>
#include <stddef.h>
#include <string.h>

static __thread long s_fail_at; /* > 0: the s_fail_at-th call from arming fails */
static __thread bool s_fail_rest;
static __thread long s_calls;
static __thread long s_failures;

void fail_alloc_arm(long n, bool rest)
{
    s_calls = 0;
    s_failures = 0;
    s_fail_rest = rest;
    s_fail_at = n;
}

long fail_alloc_disarm(void)
{
    s_fail_at = 0;
    return s_failures;
}

static bool s_fail_now(void)
{
    if (s_fail_at <= 0)
        return false;
    long k = ++s_calls;
    if (k == s_fail_at || (s_fail_rest && k > s_fail_at)) {
        s_failures++;
        return true;
    }
    return false;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
zhashx_t *__real_zhashx_new(void);
zlistx_t *__real_zlistx_new(void);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
zhashx_t *__wrap_zhashx_new(void);
zlistx_t *__wrap_zlistx_new(void);

void *__wrap_malloc(size_t size)
{
    return s_fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return s_fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return s_fail_now() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    return s_fail_now() ? NULL : __real_strdup(s);
}

zhashx_t *__wrap_zhashx_new(void)
{
    return s_fail_now() ? NULL : __real_zhashx_new();
}

zlistx_t *__wrap_zlistx_new(void)
{
    return s_fail_now() ? NULL : __real_zlistx_new();
}
