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
/// Asks for the cache line at `p` ahead of its use (the graph walk's next vector).
void folio_prefetch(const void *p);

#endif
