#ifndef FOLIO_VECTOR_KERNELS_H
#define FOLIO_VECTOR_KERNELS_H
#include <stddef.h>

/// Σ a[i]·b[i] and Σ (a[i] − b[i])² over n floats: AVX2 with FMA when the processor has
/// them (checked once at run time), SSE otherwise.
float folio_dot(const float *a, const float *b, size_t n);
float folio_l2sq(const float *a, const float *b, size_t n);

#endif
