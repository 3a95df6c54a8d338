// glibc's memmem (GNU, also in the BSDs and macOS): substring search in linear time (the
// two-way algorithm). Swift's Glibc module leaves it out (it is declared only under
// _GNU_SOURCE), so it is declared here from its stable prototype; the C library is always linked.
#include <stddef.h>

extern void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
