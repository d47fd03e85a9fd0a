/* Direct depthwise convolution on one channel plane.  Depthwise layers have
 * one k*k filter per channel: im2col + GEMM spends most of its time copying
 * (each GEMM is 1 x k*k x P), so a direct loop over the plane is far faster.
 *
 * The fast versions walk whole output rows: for each tap (i, j) the valid
 * output columns form one range, so the inner loop has no bounds checks and
 * (at stride 1) runs over contiguous memory, which the compiler vectorises.
 * The same body is compiled twice, plain and with AVX2+FMA, and the choice
 * is made at run time from mn_cpu_features(). */
#include "kernels/dwconv.h"
#include "core/cpu.h"

#include <immintrin.h>

#include "kernels/avx512.h"


/* ---- reference: the definition, one output at a time ---- */

void mn_dw_plane_fwd_ref(const float *x, int H, int W, const float *w, int k, int s,
                         int pad, float bias, float *y, int OH, int OW) {
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            float acc = bias;
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    int iy = oy * s - pad + i, ix = ox * s - pad + j;
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W) acc += w[i * k + j] * x[iy * W + ix];
                }
            y[oy * OW + ox] = acc;
        }
}

void mn_dw_plane_bwd_ref(const float *x, const float *dy, int H, int W, const float *w,
                         int k, int s, int pad, int OH, int OW, float *gw, float *dx) {
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            float d = dy[oy * OW + ox];
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    int iy = oy * s - pad + i, ix = ox * s - pad + j;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                    gw[i * k + j] += d * x[iy * W + ix];
                    if (dx) dx[iy * W + ix] += d * w[i * k + j];
                }
        }
}

/* ---- fast: row-wise over valid ranges ---- */

/* Output columns ox with 0 <= ox*s - pad + j < W. */
static inline void col_range(int j, int s, int pad, int W, int OW, int *lo, int *hi) {
    int a = pad - j, l = a > 0 ? (a + s - 1) / s : 0;
    int b = W - 1 + pad - j, h = b >= 0 ? b / s + 1 : 0;
    *lo = l;
    *hi = h < OW ? h : OW;
}

static inline __attribute__((always_inline)) void fwd_body(const float *x, int H, int W,
        const float *w, int k, int s, int pad, float bias, float *y, int OH, int OW) {
    for (int oy = 0; oy < OH; oy++) {
        float *yr = y + (int64_t)oy * OW;
        for (int ox = 0; ox < OW; ox++) yr[ox] = bias;
        for (int i = 0; i < k; i++) {
            int iy = oy * s - pad + i;
            if (iy < 0 || iy >= H) continue;
            const float *xr = x + (int64_t)iy * W;
            const float *wr = w + i * k;
            /* Stride 1, k 3 or 5: one pass over the columns where every tap
             * is valid, all taps at once (one load/store of y, not k); the
             * per-tap loops below then cover only the borders. */
            int L = 0, R = 0;
            if (s == 1 && (k == 3 || k == 5)) {
                int t;
                col_range(0, 1, pad, W, OW, &L, &t);
                col_range(k - 1, 1, pad, W, OW, &t, &R);
                const float *xs = xr - pad;
                if (k == 3)
                    for (int ox = L; ox < R; ox++)
                        yr[ox] += wr[0] * xs[ox] + wr[1] * xs[ox + 1] + wr[2] * xs[ox + 2];
                else
                    for (int ox = L; ox < R; ox++)
                        yr[ox] += wr[0] * xs[ox] + wr[1] * xs[ox + 1] + wr[2] * xs[ox + 2] +
                                  wr[3] * xs[ox + 3] + wr[4] * xs[ox + 4];
                if (R < L) R = L;
            }
            for (int j = 0; j < k; j++) {
                int lo, hi;
                col_range(j, s, pad, W, OW, &lo, &hi);
                if (R > L) { /* only the border columns are left */
                    float wv = w[i * k + j];
                    const float *xs = xr + j - pad;
                    for (int ox = lo; ox < hi && ox < L; ox++) yr[ox] += wv * xs[ox];
                    for (int ox = lo > R ? lo : R; ox < hi; ox++) yr[ox] += wv * xs[ox];
                    continue;
                }
                float wv = w[i * k + j];
                const float *xs = xr + j - pad;
                if (s == 1)
                    for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xs[ox];
                else
                    for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xs[ox * s];
            }
        }
    }
}

/* gw needs a sum over the plane; summing into a small vector of partial
 * sums (one per output column) keeps the inner loop elementwise, so it
 * vectorises without reassociating a scalar reduction. */
#define DW_CHUNK 64
static inline __attribute__((always_inline)) void bwd_body(const float *x, const float *dy,
        int H, int W, const float *w, int k, int s, int pad, int OH, int OW, float *gw, float *dx) {
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            int lo, hi;
            col_range(j, s, pad, W, OW, &lo, &hi);
            float wv = w[i * k + j], sum = 0;
            for (int c0 = lo; c0 < hi; c0 += DW_CHUNK) {
                int c1 = c0 + DW_CHUNK < hi ? c0 + DW_CHUNK : hi;
                float acc[DW_CHUNK] = {0};
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * s - pad + i;
                    if (iy < 0 || iy >= H) continue;
                    const float *dr = dy + (int64_t)oy * OW + c0;
                    const float *xs = x + (int64_t)iy * W + j - pad + (int64_t)c0 * s;
                    int n = c1 - c0;
                    if (s == 1)
                        for (int t = 0; t < n; t++) acc[t] += dr[t] * xs[t];
                    else
                        for (int t = 0; t < n; t++) acc[t] += dr[t] * xs[t * s];
                    if (!dx) continue;
                    float *ds = dx + (int64_t)iy * W + j - pad + (int64_t)c0 * s;
                    if (s == 1)
                        for (int t = 0; t < n; t++) ds[t] += wv * dr[t];
                    else
                        for (int t = 0; t < n; t++) ds[t * s] += wv * dr[t];
                }
                for (int t = 0; t < c1 - c0; t++) sum += acc[t];
            }
            gw[i * k + j] += sum;
        }
}

static void fwd_plain(const float *x, int H, int W, const float *w, int k, int s, int pad,
                      float bias, float *y, int OH, int OW) {
    fwd_body(x, H, W, w, k, s, pad, bias, y, OH, OW);
}
static void bwd_plain(const float *x, const float *dy, int H, int W, const float *w, int k,
                      int s, int pad, int OH, int OW, float *gw, float *dx) {
    bwd_body(x, dy, H, W, w, k, s, pad, OH, OW, gw, dx);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DW_HAVE_AVX2 1
__attribute__((target("avx2,fma")))
static void fwd_avx2(const float *x, int H, int W, const float *w, int k, int s, int pad,
                     float bias, float *y, int OH, int OW) {
    fwd_body(x, H, W, w, k, s, pad, bias, y, OH, OW);
}
__attribute__((target("avx2,fma")))
static void bwd_avx2(const float *x, const float *dy, int H, int W, const float *w, int k,
                     int s, int pad, int OH, int OW, float *gw, float *dx) {
    bwd_body(x, dy, H, W, w, k, s, pad, OH, OW, gw, dx);
}
#endif

/* AVX-512 forward: 16 outputs of a row per vector, k*k FMAs each, the
 * taps that fall in the padding masked off at the load (nothing outside
 * the plane is read), stride 2 as 32 loaded inputs whose even ones are
 * kept.  The row-wise body above relies on the vectoriser, which plain
 * -O2 leaves scalar: MobileNet's depthwise layers took 63% of its batch-1
 * forward pass there. */
static inline __attribute__((target("avx512f"))) __mmask32 span32(int a, int b) {
    /* lanes t in [a, b) of 32 */
    if (a < 0) a = 0;
    if (b > 32) b = 32;
    if (b <= a) return 0;
    return (__mmask32)((b - a == 32 ? 0xffffffffu : ((1u << (b - a)) - 1)) << a);
}
__attribute__((target("avx512f")))
static void fwd_avx512(const float *x, int H, int W, const float *w, int k, int s, int pad,
                       float bias, float *y, int OH, int OW) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox += 16) {
            int n = OW - ox < 16 ? OW - ox : 16;
            __m512 acc = _mm512_set1_ps(bias);
            for (int i = 0; i < k; i++) {
                int iy = oy * s - pad + i;
                if (iy < 0 || iy >= H) continue;
                const float *xr = x + (int64_t)iy * W;
                for (int j = 0; j < k; j++) {
                    /* input column of lane t: c0 + t*s, valid in [0, W) */
                    int c0 = ox * s - pad + j;
                    __m512 v;
                    if (s == 1) {
                        __mmask16 m = (__mmask16)span32(-c0, W - c0) & mn__lanes16(n);
                        v = _mm512_maskz_loadu_ps(m, xr + c0);
                    } else {
                        __mmask32 m = span32(-c0, W - c0) & span32(0, 2 * n - 1);
                        __m512 lo = _mm512_maskz_loadu_ps((__mmask16)m, xr + c0);
                        __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(m >> 16), xr + c0 + 16);
                        v = _mm512_permutex2var_ps(lo, even, hi);
                    }
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(w[i * k + j]), v, acc);
                }
            }
            _mm512_mask_storeu_ps(y + (int64_t)oy * OW + ox, mn__lanes16(n), acc);
        }
}

/* mn_cpu_features() reads cpuid once and honours MINNOW_NO_SIMD=1. */
static int use_avx512(void) {
    const mn_cpu *f = mn_cpu_features();
    return f->avx512f && f->fma;
}

static int use_avx2(void) {
#ifdef DW_HAVE_AVX2
    const mn_cpu *f = mn_cpu_features();
    return f->avx2 && f->fma;
#else
    return 0;
#endif
}

void mn_dw_plane_fwd_plain(const float *x, int H, int W, const float *w, int k, int s, int pad,
                           float bias, float *y, int OH, int OW) {
    fwd_plain(x, H, W, w, k, s, pad, bias, y, OH, OW);
}

void mn_dw_plane_bwd_plain(const float *x, const float *dy, int H, int W, const float *w, int k,
                           int s, int pad, int OH, int OW, float *gw, float *dx) {
    bwd_plain(x, dy, H, W, w, k, s, pad, OH, OW, gw, dx);
}

void mn_dw_plane_fwd(const float *x, int H, int W, const float *w, int k, int s, int pad,
                     float bias, float *y, int OH, int OW) {
    if (use_avx512() && (s == 1 || s == 2)) { fwd_avx512(x, H, W, w, k, s, pad, bias, y, OH, OW); return; }
#ifdef DW_HAVE_AVX2
    if (use_avx2()) { fwd_avx2(x, H, W, w, k, s, pad, bias, y, OH, OW); return; }
#endif
    fwd_plain(x, H, W, w, k, s, pad, bias, y, OH, OW);
}

void mn_dw_plane_bwd(const float *x, const float *dy, int H, int W, const float *w, int k,
                     int s, int pad, int OH, int OW, float *gw, float *dx) {
#ifdef DW_HAVE_AVX2
    if (use_avx2()) { bwd_avx2(x, dy, H, W, w, k, s, pad, OH, OW, gw, dx); return; }
#endif
    bwd_plain(x, dy, H, W, w, k, s, pad, OH, OW, gw, dx);
}

const char *mn_dw_path(void) { return use_avx512() ? "avx512 (forward), avx2" : use_avx2() ? "avx2" : "portable"; }
