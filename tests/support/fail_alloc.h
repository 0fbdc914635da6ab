/*  fail_alloc — allocations that fail on demand, for the tests that check
    a module survives running out of memory (tests/unit/test_*alloc*.c).

    Those tests are linked with -Wl,--wrap=malloc,calloc,realloc,strdup,
    zhashx_new,zlistx_new (CMakeLists.txt), so our own objects' calls reach
    the __wrap_ functions of fail_alloc.c; libc's and the libraries' own
    calls are untouched. Per thread: a test arms its own thread only. */
#ifndef ARENA_FAIL_ALLOC_H
#define ARENA_FAIL_ALLOC_H

#include <stdbool.h>

/*  From now on the n-th allocation call fails (and, with rest, every one
    after it); counting starts at 1. */
void fail_alloc_arm(long n, bool rest);
/*  Back to normal; returns how many calls failed while armed. */
long fail_alloc_disarm(void);

#endif
