#ifndef FOLIO_VECTOR_KERNELS_H
#define FOLIO_VECTOR_KERNELS_H
#include <stddef.h>

/// Σ a[i]·b[i] and Σ (a[i] − b[i])² over n floats: AVX2 with FMA when the processor has
/// them (AVX-512 first; checked once at run time), plain loops otherwise.
float folio_dot(const float *a, const float *b, size_t n);
float folio_l2sq(const float *a, const float *b, size_t n);
/// Σ w[i]·c[i] over n floats and n bytes (scalar-quantized codes against a prepared query).
float folio_dot_u8(const float *w, const unsigned char *c, size_t n);
/// Differing bits of two bit strings of `words` 64-bit words (binary-quantized codes).
unsigned folio_hamming(const unsigned long long *a, const unsigned long long *b, size_t words);
/// Asks for the cache line at `p` ahead of its use (the graph walk's next vector). Inline:
/// the walk calls it for every neighbour it reads.
static inline void folio_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
/// Memory for the graph's vectors and links: from 2 MiB up, aligned to 2 MiB and marked for
/// transparent huge pages (Linux), since the walk reads it at random and 4 KiB pages cost a
/// TLB miss per vector; 64-byte aligned below. Free with folio_large_free. NULL on failure.
void *folio_large_alloc(size_t bytes);
void folio_large_free(void *p);

#endif
