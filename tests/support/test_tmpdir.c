/*  test_tmpdir — see test_tmpdir.h. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "tests/support/test_tmpdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int test_tmpdir_make(char *out, size_t outlen, const char *tag)
{
    int n = snprintf(out, outlen, "/tmp/%s.XXXXXX", tag);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

void test_tmpdir_remove(const char *path)
{
    nftw(path, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}
