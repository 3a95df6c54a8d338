// Distance kernels for vector search, in C so they can use AVX-512, or AVX2 and FMA, where the processor
// has them while the binary still runs on any x86-64 (a function per instruction set, the
// choice made once at run time); Swift's SIMD types compile to the baseline target's SSE
// only. Elsewhere (arm64) plain loops, which the compiler vectorizes with NEON.
#include "vector_kernels.h"
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

void *folio_large_alloc(size_t bytes) {
    void *p = NULL;
    const size_t huge = (size_t)2 << 20;
    if (bytes >= huge) {
        if (posix_memalign(&p, huge, bytes) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
        return p;
    }
    if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) return NULL;
    return p;
}

void folio_large_free(void *p) { free(p); }

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma")))
static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    if (i + 8 <= n) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        i += 8;
    }
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

__attribute__((target("avx2,fma")))
static float l2sq_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    if (i + 8 <= n) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
        i += 8;
    }
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) { float d = a[i] - b[i]; r += d * d; }
    return r;
}
__attribute__((target("avx512f")))
static float dot_avx512(const float *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    if (i + 16 <= n) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        i += 16;
    }
    float r = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

__attribute__((target("avx512f")))
static float l2sq_avx512(const float *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    if (i + 16 <= n) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
        i += 16;
    }
    float r = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++) { float d = a[i] - b[i]; r += d * d; }
    return r;
}

__attribute__((target("avx2,fma")))
static float dot_u8_avx2(const float *w, const unsigned char *c, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + i))));
        __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + i + 8))));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), c0, s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), c1, s1);
    }
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++) r += w[i] * (float)c[i];
    return r;
}

__attribute__((target("avx512f")))
static float dot_u8_avx512(const float *w, const unsigned char *c, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i))));
        __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i + 16))));
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), c0, s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), c1, s1);
    }
    float r = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++) r += w[i] * (float)c[i];
    return r;
}

__attribute__((target("popcnt")))
static unsigned hamming_popcnt(const unsigned long long *a, const unsigned long long *b, size_t words) {
    unsigned r = 0;
    for (size_t i = 0; i < words; i++) r += (unsigned)__builtin_popcountll(a[i] ^ b[i]);
    return r;
}
#endif

static float dot_u8_plain(const float *w, const unsigned char *c, size_t n) {
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += w[i + j] * (float)c[i + j];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += w[i] * (float)c[i];
    return r;
}

static unsigned hamming_plain(const unsigned long long *a, const unsigned long long *b, size_t words) {
    unsigned r = 0;
    for (size_t i = 0; i < words; i++) r += (unsigned)__builtin_popcountll(a[i] ^ b[i]);
    return r;
}

static float dot_plain(const float *a, const float *b, size_t n) {
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

static float l2sq_plain(const float *a, const float *b, size_t n) {
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) { float d = a[i + j] - b[i + j]; s[j] += d * d; }
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) { float d = a[i] - b[i]; r += d * d; }
    return r;
}

typedef float (*kernel)(const float *, const float *, size_t);
static kernel dot_impl, l2sq_impl;
static float (*dot_u8_impl)(const float *, const unsigned char *, size_t);
static unsigned (*hamming_impl)(const unsigned long long *, const unsigned long long *, size_t);

static void choose(void) {
    dot_impl = dot_plain;
    l2sq_impl = l2sq_plain;
    dot_u8_impl = dot_u8_plain;
    hamming_impl = hamming_plain;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        dot_impl = dot_avx512;
        l2sq_impl = l2sq_avx512;
        dot_u8_impl = dot_u8_avx512;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        dot_impl = dot_avx2;
        l2sq_impl = l2sq_avx2;
        dot_u8_impl = dot_u8_avx2;
    }
    if (__builtin_cpu_supports("popcnt")) hamming_impl = hamming_popcnt;
#endif
}

__attribute__((constructor)) static void folio_vector_kernels_init(void) { choose(); }

float folio_dot(const float *a, const float *b, size_t n) { return dot_impl(a, b, n); }
float folio_l2sq(const float *a, const float *b, size_t n) { return l2sq_impl(a, b, n); }
float folio_dot_u8(const float *w, const unsigned char *c, size_t n) { return dot_u8_impl(w, c, n); }
unsigned folio_hamming(const unsigned long long *a, const unsigned long long *b, size_t words) { return hamming_impl(a, b, words); }
