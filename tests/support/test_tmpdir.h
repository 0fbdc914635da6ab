/*  test_tmpdir — a scratch directory for a unit test: made under /tmp with
    a name of its own, removed with everything in it. */
#ifndef ARENA_TEST_TMPDIR_H
#define ARENA_TEST_TMPDIR_H

#include <stddef.h>

/*  Makes "/tmp/TAG.XXXXXX" (mkdtemp) into out; 0, or -1 when it cannot. */
int test_tmpdir_make(char *out, size_t outlen, const char *tag);
/*  Removes path and everything under it (no symlink is followed). */
void test_tmpdir_remove(const char *path);

#endif
