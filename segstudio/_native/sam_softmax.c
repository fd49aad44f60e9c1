/* SAM 2's attention softmaxes per click, compiled: part of segstudio._native.pixels (the module and
 * its method table are in pixels.c). models/sam_softmax.py runs torch's softmax where it is not
 * built; tests/models/test_sam_softmax.py holds the two together.
 *
 * Why: a click's softmaxes (its tokens' scores against the 4096 pixels, and each pixel's scores
 * against the few tokens) took ~3 ms of its ~41 ms at one thread on this project's Zen 3 VM:
 * torch's kernel spends ~1.4 ns a value along rows and ~2.6 across the tokens (a strided
 * reduction over 7-12 values). Here exp is a branchless polynomial (Cephes' expf: Cody-Waite range
 * reduction, degree-6 polynomial, 2^n from the exponent bits, ~1 ulp) on 8 floats at once with
 * AVX2 and FMA, and the softmax across the tokens runs 8 pixels side by side, each head's rows in
 * L1. Without AVX2 (or with ``portable``) the same loops run on libm's expf, one value at a time. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

/* Softmax of each row of `length` floats, rows from-to of x, in place. */
static void sam_softmax_rows_portable(float *x, Py_ssize_t length, Py_ssize_t from, Py_ssize_t to)
{
    Py_ssize_t r, i;
    for (r = from; r < to; r++) {
        float *row = x + r * length, top = row[0], sum = 0.0f;
        for (i = 1; i < length; i++)
            top = row[i] > top ? row[i] : top;
        float lanes[8] = {0};
        for (i = 0; i < length; i++) {
            row[i] = expf(row[i] - top);
            lanes[i % 8] += row[i]; /* 8 partial sums, as the AVX2 loop (and torch's) */
        }
        for (i = 0; i < 8; i++)
            sum += lanes[i];
        const float inverse = 1.0f / sum;
        for (i = 0; i < length; i++)
            row[i] *= inverse;
    }
}

/* Softmax of column p across the `count` rows of `length` floats of group, in place, by exp_of:
 * the portable path's whole work (expf) and the vector path's tail columns (its own exp). */
static inline void sam_softmax_column(float *group, Py_ssize_t count, Py_ssize_t length, Py_ssize_t p,
                                      float (*exp_of)(float))
{
    Py_ssize_t t;
    float top = group[p], sum = 0.0f;
    for (t = 1; t < count; t++)
        top = group[t * length + p] > top ? group[t * length + p] : top;
    for (t = 0; t < count; t++) {
        group[t * length + p] = exp_of(group[t * length + p] - top);
        sum += group[t * length + p];
    }
    const float inverse = 1.0f / sum;
    for (t = 0; t < count; t++)
        group[t * length + p] *= inverse;
}

/* Softmax across `count` rows of `length` floats (each column on its own), groups from-to of x
 * (count x length floats each), in place. */
static void sam_softmax_columns_portable(float *x, Py_ssize_t count, Py_ssize_t length, Py_ssize_t from,
                                         Py_ssize_t to)
{
    Py_ssize_t g, p;
    for (g = from; g < to; g++)
        for (p = 0; p < length; p++)
            sam_softmax_column(x + g * count * length, count, length, p, expf);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define SAM_AVX2 __attribute__((target("avx2,fma")))

/* exp of 8 floats (Cephes' expf): x clamped to float's range, x = n ln 2 + r with |r| <= ln 2 / 2
 * (ln 2 in two parts), exp(r) by a degree-6 polynomial, 2^n put in the exponent bits. */
SAM_AVX2 static inline __m256 sam_exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365448f)), _mm256_set1_ps(88.3762626647949f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* The one-value twin of sam_exp8, for the tails of rows and columns (the same results). */
SAM_AVX2 static inline float sam_exp1(float x)
{
    float lanes[8];
    _mm256_storeu_ps(lanes, sam_exp8(_mm256_set1_ps(x)));
    return lanes[0];
}

SAM_AVX2 static inline float sam_max8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

SAM_AVX2 static inline float sam_sum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

SAM_AVX2 static void sam_softmax_rows_avx2(float *x, Py_ssize_t length, Py_ssize_t from, Py_ssize_t to)
{
    Py_ssize_t r, i;
    const Py_ssize_t whole = length - length % 8;
    for (r = from; r < to; r++) {
        float *row = x + r * length;
        float top = row[0], sum;
        if (whole) {
            __m256 tops = _mm256_loadu_ps(row);
            for (i = 8; i < whole; i += 8)
                tops = _mm256_max_ps(tops, _mm256_loadu_ps(row + i));
            top = sam_max8(tops);
        }
        for (i = whole; i < length; i++)
            top = row[i] > top ? row[i] : top;
        const __m256 shift = _mm256_set1_ps(top);
        __m256 sums = _mm256_setzero_ps();
        for (i = 0; i < whole; i += 8) {
            const __m256 e = sam_exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), shift));
            _mm256_storeu_ps(row + i, e);
            sums = _mm256_add_ps(sums, e);
        }
        sum = sam_sum8(sums);
        for (i = whole; i < length; i++) {
            row[i] = sam_exp1(row[i] - top);
            sum += row[i];
        }
        const float inverse = 1.0f / sum;
        const __m256 scale = _mm256_set1_ps(inverse);
        for (i = 0; i < whole; i += 8)
            _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), scale));
        for (i = whole; i < length; i++)
            row[i] *= inverse;
    }
}

/* Rows held in registers (and the stack) by the softmax across rows: more than L1's 8 ways, as
 * rows 16 KB apart (4096 pixels) fall in one set, so each row's line is read and written once
 * (12 tokens: 0.09 ms instead of 0.3 for 4 heads, measured). */
#define SAM_HELD_ROWS 32

SAM_AVX2 static void sam_softmax_columns_avx2(float *x, Py_ssize_t count, Py_ssize_t length, Py_ssize_t from,
                                             Py_ssize_t to)
{
    Py_ssize_t g, t, p;
    const Py_ssize_t whole = length - length % 8, lines = count <= SAM_HELD_ROWS ? length - length % 16 : 0;
    __m256 held[SAM_HELD_ROWS][2];
    for (g = from; g < to; g++) {
        float *group = x + g * count * length;
        for (p = 0; p < lines; p += 16) { /* a 64-byte line of each row, loaded and stored once */
            __m256 top[2], sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
            int h;
            for (h = 0; h < 2; h++)
                top[h] = held[0][h] = _mm256_loadu_ps(group + p + 8 * h);
            for (t = 1; t < count; t++)
                for (h = 0; h < 2; h++) {
                    held[t][h] = _mm256_loadu_ps(group + t * length + p + 8 * h);
                    top[h] = _mm256_max_ps(top[h], held[t][h]);
                }
            for (t = 0; t < count; t++)
                for (h = 0; h < 2; h++) {
                    held[t][h] = sam_exp8(_mm256_sub_ps(held[t][h], top[h]));
                    sum[h] = _mm256_add_ps(sum[h], held[t][h]);
                }
            for (h = 0; h < 2; h++)
                sum[h] = _mm256_div_ps(_mm256_set1_ps(1.0f), sum[h]);
            for (t = 0; t < count; t++)
                for (h = 0; h < 2; h++)
                    _mm256_storeu_ps(group + t * length + p + 8 * h, _mm256_mul_ps(held[t][h], sum[h]));
        }
        for (p = lines; p < whole; p += 8) {
            __m256 top = _mm256_loadu_ps(group + p), sum = _mm256_setzero_ps();
            for (t = 1; t < count; t++)
                top = _mm256_max_ps(top, _mm256_loadu_ps(group + t * length + p));
            for (t = 0; t < count; t++) {
                const __m256 e = sam_exp8(_mm256_sub_ps(_mm256_loadu_ps(group + t * length + p), top));
                _mm256_storeu_ps(group + t * length + p, e);
                sum = _mm256_add_ps(sum, e);
            }
            const __m256 inverse = _mm256_div_ps(_mm256_set1_ps(1.0f), sum);
            for (t = 0; t < count; t++)
                _mm256_storeu_ps(group + t * length + p, _mm256_mul_ps(_mm256_loadu_ps(group + t * length + p), inverse));
        }
        for (p = whole; p < length; p++)
            sam_softmax_column(group, count, length, p, sam_exp1);
    }
}

#else
#define sam_softmax_rows_avx2 sam_softmax_rows_portable
#define sam_softmax_columns_avx2 sam_softmax_columns_portable
#endif

int sam_has_avx2(void); /* sam_kernels.c */

const char sam_softmax_rows_doc[] = PyDoc_STR(
    "sam_softmax_rows(x, length, portable=False) -> None\n\n"
    "Softmax of each row of ``length`` floats of ``x`` (float32, contiguous, a whole number of\n"
    "rows), in place, as torch's ``softmax(dim=-1)`` to ~1e-7 relative. The GIL released;\n"
    "``portable``: the build without AVX2 (libm's expf; for tests).");

PyObject *sam_softmax_rows(PyObject *self, PyObject *args)
{
    Py_buffer x;
    Py_ssize_t length, rows;
    int portable = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*n|p", &x, &length, &portable))
        return NULL;
    if (length < 1 || x.len % (length * (Py_ssize_t)sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "sam_softmax_rows: %zd bytes are not rows of %zd floats", x.len, length);
        PyBuffer_Release(&x);
        return NULL;
    }
    rows = x.len / (length * (Py_ssize_t)sizeof(float));
    Py_BEGIN_ALLOW_THREADS
    if (!portable && sam_has_avx2())
        sam_softmax_rows_avx2((float *)x.buf, length, 0, rows);
    else
        sam_softmax_rows_portable((float *)x.buf, length, 0, rows);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    Py_RETURN_NONE;
}

const char sam_softmax_columns_doc[] = PyDoc_STR(
    "sam_softmax_columns(x, count, length, portable=False) -> None\n\n"
    "``x`` (float32, contiguous) as groups of ``count`` rows of ``length`` floats: the softmax across\n"
    "each group's rows, position by position, in place (torch's ``softmax(dim=1)`` of a (groups,\n"
    "count, length) tensor) to ~1e-7 relative. The GIL released; ``portable``: the build without\n"
    "AVX2 (libm's expf; for tests).");

PyObject *sam_softmax_columns(PyObject *self, PyObject *args)
{
    Py_buffer x;
    Py_ssize_t count, length, groups;
    int portable = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*nn|p", &x, &count, &length, &portable))
        return NULL;
    if (count < 1 || length < 1 || count > PY_SSIZE_T_MAX / 4 / length
        || x.len % (count * length * (Py_ssize_t)sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "sam_softmax_columns: %zd bytes are not groups of %zd x %zd floats", x.len,
                     count, length);
        PyBuffer_Release(&x);
        return NULL;
    }
    groups = x.len / (count * length * (Py_ssize_t)sizeof(float));
    Py_BEGIN_ALLOW_THREADS
    if (!portable && sam_has_avx2())
        sam_softmax_columns_avx2((float *)x.buf, count, length, 0, groups);
    else
        sam_softmax_columns_portable((float *)x.buf, count, length, 0, groups);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    Py_RETURN_NONE;
}
