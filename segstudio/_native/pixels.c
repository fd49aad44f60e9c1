/* The per-pixel loops of reading and scoring label PNGs, compiled (segstudio._native.pixels).
 *
 * unfilter: PNG row filters (None, Sub, Up, Average, Paeth) undone on the image data that
 *   libdeflate inflated, straight into the caller's array: libpng would need the data stored
 *   again as a zlib stream and would recompute its CRC-32 and Adler-32 (io/png_restore.py).
 * unfilter_rgb_ids: the same for 8-bit RGB rows, each pixel written as the uint32 segment id
 *   R + 256 G + 65536 B of COCO panoptic PNGs (no RGB image in between).
 * pair_run_starts: where a run of equal (a, b) values starts along two 4-byte maps, in one pass
 *   (core/runs.py does it in five numpy passes over every pixel).
 * pair_counts: the pixels of every distinct (a, b) pair of two uint32 maps, sorted: the overlaps
 *   of PQ's matching (core/pq.py), counted per run in a small hash table instead of sorted.
 * pair_counts_rgb: pair_counts of two COCO panoptic PNGs' id maps straight from their inflated
 *   rows (eval panoptic's pair): unfiltered and counted a row at a time, no map in between; rows
 *   that repeat the one above are not done again.
 * pq_match: PQ's matching of one image from its pair counts and segments_info (core/pq.py's
 *   pq_of_overlaps, whose Python stays the reference and takes anything but plain input).
 *
 * Plain C on the buffer protocol, no numpy C API; the GIL is released in the loops. Optional:
 * without this module the numpy/libpng paths give the same results (tests hold them equal).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* Paeth's predictor without branches (a: left, b: above, c: upper left), ties as the PNG
 * specification breaks them: a, then b, then c. */
static inline int paeth(int a, int b, int c)
{
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    int not_a = pb <= pc ? b : c;
    return pa <= pb && pa <= pc ? a : not_a;
}

/* Sub, Average and Paeth rows of a fixed number of bytes per pixel: the left pixel is kept in
 * registers (a store and reload per byte would chain the store-forwarding latency) and the
 * channels, independent chains, are unrolled. The first pixel has no left neighbour. */
#define LEFT_ROWS(BPP)                                                                               \
    static void sub_row_##BPP(uint8_t *out, const uint8_t *in, Py_ssize_t stride)                    \
    {                                                                                                \
        uint8_t left[BPP];                                                                           \
        Py_ssize_t x;                                                                                \
        int k;                                                                                       \
        for (k = 0; k < BPP; k++)                                                                    \
            out[k] = left[k] = in[k];                                                                \
        for (x = BPP; x < stride; x += BPP)                                                          \
            for (k = 0; k < BPP; k++)                                                                \
                out[x + k] = left[k] = (uint8_t)(in[x + k] + left[k]);                               \
    }                                                                                                \
    static void average_row_##BPP(uint8_t *out, const uint8_t *in, const uint8_t *up, Py_ssize_t stride) \
    {                                                                                                \
        uint8_t left[BPP];                                                                           \
        Py_ssize_t x;                                                                                \
        int k;                                                                                       \
        for (k = 0; k < BPP; k++)                                                                    \
            out[k] = left[k] = (uint8_t)(in[k] + (up[k] >> 1));                                      \
        for (x = BPP; x < stride; x += BPP)                                                          \
            for (k = 0; k < BPP; k++)                                                                \
                out[x + k] = left[k] = (uint8_t)(in[x + k] + ((left[k] + up[x + k]) >> 1));          \
    }                                                                                                \
    static void paeth_row_##BPP(uint8_t *out, const uint8_t *in, const uint8_t *up, Py_ssize_t stride) \
    {                                                                                                \
        int left[BPP], corner[BPP];                                                                  \
        Py_ssize_t x;                                                                                \
        int k;                                                                                       \
        for (k = 0; k < BPP; k++) {                                                                  \
            corner[k] = up[k];                                                                       \
            out[k] = (uint8_t)(left[k] = (in[k] + up[k]) & 0xFF);                                    \
        }                                                                                            \
        for (x = BPP; x < stride; x += BPP) {                                                        \
            if (memcmp(up + x, up + x - BPP, BPP) == 0) { /* above == upper left: the left pixel */  \
                for (k = 0; k < BPP; k++)                                                            \
                    out[x + k] = (uint8_t)(left[k] = (in[x + k] + left[k]) & 0xFF);                  \
                continue; /* corner[k] stays: it equals the byte above */                           \
            }                                                                                        \
            for (k = 0; k < BPP; k++) {                                                              \
                int above = up[x + k];                                                               \
                left[k] = (in[x + k] + paeth(left[k], above, corner[k])) & 0xFF;                      \
                corner[k] = above;                                                                   \
                out[x + k] = (uint8_t)left[k];                                                       \
            }                                                                                        \
        }                                                                                            \
    }
LEFT_ROWS(1)
LEFT_ROWS(2)
LEFT_ROWS(3)
LEFT_ROWS(4)
LEFT_ROWS(6)
LEFT_ROWS(8)

#define BY_BPP(ROW, ...)                     \
    switch (bpp) {                           \
    case 1: ROW##_1(__VA_ARGS__); return 0;  \
    case 2: ROW##_2(__VA_ARGS__); return 0;  \
    case 3: ROW##_3(__VA_ARGS__); return 0;  \
    case 4: ROW##_4(__VA_ARGS__); return 0;  \
    case 6: ROW##_6(__VA_ARGS__); return 0;  \
    case 8: ROW##_8(__VA_ARGS__); return 0;  \
    default: return -1;                      \
    }

/* Row y of the image: filtered bytes `in` (stride), the row above `up` (NULL for the first);
 * stride is a whole number of pixels of bpp (1, 2, 3, 4, 6 or 8) bytes. -1 for an unknown
 * filter type. */
static int unfilter_row(uint8_t *restrict out, const uint8_t *restrict in, const uint8_t *restrict up, int kind,
                        Py_ssize_t stride, Py_ssize_t bpp)
{
    Py_ssize_t x;
    if (up == NULL) { /* the first row: the row above is zeros */
        if (kind == 3) {
            for (x = 0; x < bpp; x++)
                out[x] = in[x];
            for (; x < stride; x++)
                out[x] = (uint8_t)(in[x] + (out[x - bpp] >> 1));
            return 0;
        }
        if (kind == 2)
            kind = 0; /* Up is None */
        else if (kind == 4)
            kind = 1; /* Paeth is Sub */
    }
    switch (kind) {
    case 0:
        memcpy(out, in, (size_t)stride);
        return 0;
    case 1:
        BY_BPP(sub_row, out, in, stride)
    case 2:
        for (x = 0; x < stride; x++)
            out[x] = (uint8_t)(in[x] + up[x]);
        return 0;
    case 3:
        BY_BPP(average_row, out, in, up, stride)
    case 4:
        BY_BPP(paeth_row, out, in, up, stride)
    default:
        return -1;
    }
}

/* 1, or 0 with ValueError naming the row (bad_row >= 0) whose filter type is unknown. */
static int row_accepted(Py_ssize_t bad_row, int bad_kind)
{
    if (bad_row < 0)
        return 1;
    PyErr_Format(PyExc_ValueError, "row %zd has unknown filter type %d", bad_row, bad_kind);
    return 0;
}

/* Both buffers released; None if ok, else NULL (the error is set). */
static PyObject *release_both(Py_buffer *in, Py_buffer *out, int ok)
{
    PyBuffer_Release(in);
    PyBuffer_Release(out);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(unfilter_doc,
             "unfilter(data, out, height, stride, bpp) -> None\n\n"
             "Undo the PNG row filters of ``data`` (height rows of a filter byte and ``stride`` bytes)\n"
             "into ``out`` (a writable C-contiguous buffer of height * stride bytes); ``bpp``: bytes per\n"
             "complete pixel (at least 1). ValueError naming the row if a filter type is not 0-4.");

static PyObject *unfilter(PyObject *self, PyObject *args)
{
    Py_buffer in, out;
    Py_ssize_t height, stride, bpp, y, bad_row = -1;
    int bad_kind = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*nnn", &in, &out, &height, &stride, &bpp))
        return NULL;
    if (height < 0 || stride < 1 || bpp < 1 || bpp > 8 || bpp == 5 || bpp == 7 || stride % bpp) {
        PyErr_SetString(PyExc_ValueError, "unfilter: height >= 0, bpp 1, 2, 3, 4, 6 or 8 and stride a multiple of bpp expected");
        goto fail;
    }
    if (height > PY_SSIZE_T_MAX / (stride + 1) || in.len != height * (stride + 1) || out.len != height * stride) {
        PyErr_Format(PyExc_ValueError, "unfilter: %zd rows of %zd bytes need %zd filtered and %zd output bytes, got %zd and %zd",
                     height, stride, height * (stride + 1), height * stride, in.len, out.len);
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *src = (const uint8_t *)in.buf;
    uint8_t *dst = (uint8_t *)out.buf;
    for (y = 0; y < height; y++) {
        const uint8_t *row = src + y * (stride + 1);
        uint8_t *target = dst + y * stride;
        if (unfilter_row(target, row + 1, y ? target - stride : NULL, row[0], stride, bpp)) {
            bad_row = y;
            bad_kind = row[0];
            break;
        }
    }
    Py_END_ALLOW_THREADS
    return release_both(&in, &out, row_accepted(bad_row, bad_kind));
fail:
    return release_both(&in, &out, 0);
}

/* R + 256 G + 65536 B of each pixel of an RGB row; rgb[3 * width] must be readable. */
static void pack_rgb(uint32_t *restrict ids, const uint8_t *restrict rgb, Py_ssize_t width)
{
    Py_ssize_t x;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (x = 0; x + 4 <= width; x += 4) { /* four pixels from three 4-byte words */
        uint32_t w0, w1, w2;
        memcpy(&w0, rgb + 3 * x, 4);
        memcpy(&w1, rgb + 3 * x + 4, 4);
        memcpy(&w2, rgb + 3 * x + 8, 4);
        ids[x] = w0 & 0xFFFFFFu;
        ids[x + 1] = (w0 >> 24 | w1 << 8) & 0xFFFFFFu;
        ids[x + 2] = (w1 >> 16 | w2 << 16) & 0xFFFFFFu;
        ids[x + 3] = w2 >> 8;
    }
    for (; x < width; x++) { /* one 4-byte load per pixel, its fourth byte masked off */
        uint32_t word;
        memcpy(&word, rgb + 3 * x, 4);
        ids[x] = word & 0xFFFFFFu;
    }
#else
    for (x = 0; x < width; x++)
        ids[x] = (uint32_t)rgb[3 * x] | (uint32_t)rgb[3 * x + 1] << 8 | (uint32_t)rgb[3 * x + 2] << 16;
#endif
}

PyDoc_STRVAR(unfilter_rgb_ids_doc,
             "unfilter_rgb_ids(data, out, height, width) -> None\n\n"
             "Undo the PNG row filters of 8-bit RGB ``data`` (height rows of a filter byte and 3 * width\n"
             "bytes) into ``out`` (a writable C-contiguous buffer of height * width uint32), each pixel\n"
             "as R + 256 G + 65536 B. ValueError naming the row if a filter type is not 0-4.");

static PyObject *unfilter_rgb_ids(PyObject *self, PyObject *args)
{
    Py_buffer in, out;
    Py_ssize_t height, width, stride, y, bad_row = -1;
    int bad_kind = 0;
    uint8_t *rows = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*nn", &in, &out, &height, &width))
        return NULL;
    if (height < 0 || width < 1 || width > PY_SSIZE_T_MAX / 8) {
        PyErr_SetString(PyExc_ValueError, "unfilter_rgb_ids: height >= 0 and width >= 1 expected");
        goto fail;
    }
    stride = 3 * width;
    if (height > PY_SSIZE_T_MAX / (stride + 1) || in.len != height * (stride + 1) || out.len != height * width * 4) {
        PyErr_Format(PyExc_ValueError, "unfilter_rgb_ids: %zd rows of %zd pixels need %zd filtered and %zd output bytes, got %zd and %zd",
                     height, width, height * (stride + 1), height * width * 4, in.len, out.len);
        goto fail;
    }
    rows = malloc((size_t)(2 * stride + 1)); /* + 1: the last pixel is read as 4 bytes */
    if (rows == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    rows[2 * stride] = 0;
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *src = (const uint8_t *)in.buf;
    uint32_t *ids = (uint32_t *)out.buf;
    uint8_t *current = rows, *above = rows + stride, *swap;
    for (y = 0; y < height; y++) {
        const uint8_t *row = src + y * (stride + 1);
        if (unfilter_row(current, row + 1, y ? above : NULL, row[0], stride, 3)) {
            bad_row = y;
            bad_kind = row[0];
            break;
        }
        pack_rgb(ids + y * width, current, width);
        swap = above;
        above = current;
        current = swap;
    }
    Py_END_ALLOW_THREADS
    free(rows);
    return release_both(&in, &out, row_accepted(bad_row, bad_kind));
fail:
    return release_both(&in, &out, 0);
}

/* The two buffers of 4-byte values (a, b) of a call and their length in values; -1 with the
 * error set and nothing held when they are not two buffers of one size. */
static Py_ssize_t two_maps(PyObject *args, Py_buffer *a, Py_buffer *b, const char *name)
{
    if (!PyArg_ParseTuple(args, "y*y*", a, b))
        return -1;
    if (a->len == b->len && a->len % 4 == 0)
        return a->len / 4;
    PyErr_Format(PyExc_ValueError, "%s: two buffers of as many 4-byte values expected, got %zd and %zd bytes", name,
                 a->len, b->len);
    PyBuffer_Release(a);
    PyBuffer_Release(b);
    return -1;
}

#define RUN_BLOCK 16

/* The first index from i on (i >= 1) where (p, q) differs from the pixel before, else size: blocks
 * of RUN_BLOCK pixels equal to the last one are skipped at once (vectorised compares). */
static inline Py_ssize_t next_change(const uint32_t *p, const uint32_t *q, Py_ssize_t i, Py_ssize_t size)
{
    for (; i + RUN_BLOCK <= size; i += RUN_BLOCK) {
        uint32_t change = 0, last_p = p[i - 1], last_q = q[i - 1];
        for (int k = 0; k < RUN_BLOCK; k++)
            change |= (p[i + k] ^ last_p) | (q[i + k] ^ last_q);
        if (change)
            break;
    }
    for (; i < size; i++)
        if (p[i] != p[i - 1] || q[i] != q[i - 1])
            return i;
    return size;
}

PyDoc_STRVAR(pair_run_starts_doc,
             "pair_run_starts(a, b) -> bytes\n\n"
             "Flat indices (native int64, increasing, 0 first) where a run of equal (a[i], b[i]) starts,\n"
             "``a`` and ``b`` being buffers of as many 4-byte values, compared bitwise (empty: no runs).");

static PyObject *pair_run_starts(PyObject *self, PyObject *args)
{
    Py_buffer a, b;
    PyObject *result = NULL;
    int64_t *starts = NULL;
    Py_ssize_t size, count = 0, capacity, i;
    int failed = 0;
    (void)self;
    size = two_maps(args, &a, &b, "pair_run_starts");
    if (size < 0)
        return NULL;
    capacity = size < 4096 ? size : 4096;
    if (size) {
        starts = malloc((size_t)capacity * sizeof(int64_t));
        if (starts == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    const uint32_t *p = (const uint32_t *)a.buf, *q = (const uint32_t *)b.buf;
    if (size) {
        starts[count++] = 0;
        for (i = next_change(p, q, 1, size); i < size; i = next_change(p, q, i + 1, size)) {
            if (count == capacity) {
                Py_ssize_t grown = capacity * 2 < size ? capacity * 2 : size;
                int64_t *more = realloc(starts, (size_t)grown * sizeof(int64_t));
                if (more == NULL) {
                    failed = 1;
                    break;
                }
                starts = more;
                capacity = grown;
            }
            starts[count++] = i;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed)
        PyErr_NoMemory();
    else
        result = PyBytes_FromStringAndSize((const char *)starts, count * (Py_ssize_t)sizeof(int64_t));
done:
    free(starts);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

/* Pixel counts of (a, b) pairs: an open-addressing table keyed by (a << 32 | b), grown at half full. */
typedef struct {
    uint64_t *keys;
    int64_t *counts;
    unsigned char *used;
    size_t capacity, size;
} PairTable;

static int table_init(PairTable *table, size_t capacity)
{
    table->keys = malloc(capacity * sizeof(uint64_t));
    table->counts = malloc(capacity * sizeof(int64_t));
    table->used = calloc(capacity, 1);
    table->capacity = capacity;
    table->size = 0;
    return table->keys && table->counts && table->used ? 0 : -1;
}

static void table_free(PairTable *table)
{
    free(table->keys);
    free(table->counts);
    free(table->used);
}

static inline size_t slot_of(uint64_t key, size_t capacity)
{
    key *= 0x9E3779B97F4A7C15ull; /* Fibonacci hashing: the high bits are well mixed */
    return (size_t)(key >> 32) & (capacity - 1);
}

static int table_add(PairTable *table, uint64_t key, int64_t count)
{
    size_t slot = slot_of(key, table->capacity);
    while (table->used[slot]) {
        if (table->keys[slot] == key) {
            table->counts[slot] += count;
            return 0;
        }
        slot = (slot + 1) & (table->capacity - 1);
    }
    if (2 * (table->size + 1) > table->capacity) { /* grow, then insert into the new table */
        PairTable grown;
        if (table_init(&grown, 2 * table->capacity)) {
            table_free(&grown);
            return -1;
        }
        for (size_t i = 0; i < table->capacity; i++)
            if (table->used[i])
                table_add(&grown, table->keys[i], table->counts[i]);
        table_free(table);
        *table = grown;
        return table_add(table, key, count);
    }
    table->used[slot] = 1;
    table->keys[slot] = key;
    table->counts[slot] = count;
    table->size++;
    return 0;
}

static int compare_keys(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

#define FLAG_CHUNK 512

/* The runs of equal (a[i], b[i]) along n values added to the table, the run going on at the start
 * (*key, *length; length 0: none) continued and the one going on at the end left in them, so
 * rows can be fed one after another. Changes are flagged first, one byte per value in a loop the
 * compiler vectorises, then found 8 flags at a time: a run costs a few steps, not a branch per
 * value. -1 when out of memory. */
static int count_pair_runs(PairTable *table, const uint32_t *a, const uint32_t *b, Py_ssize_t n, uint64_t *key,
                           int64_t *length)
{
    uint8_t changed[FLAG_CHUNK + 8];
    Py_ssize_t base, count, i, end;
    for (base = 0; base < n; base += FLAG_CHUNK) {
        const uint32_t *p = a + base, *q = b + base;
        count = n - base < FLAG_CHUNK ? n - base : FLAG_CHUNK;
        changed[0] = *length == 0 || ((uint64_t)p[0] << 32 | q[0]) != *key;
        for (i = 1; i < count; i++)
            changed[i] = (uint8_t)((p[i] != p[i - 1]) | (q[i] != q[i - 1]));
        memset(changed + count, 1, 8); /* a change just past the chunk ends every search below */
        for (i = 0; i < count; i = end) {
            uint64_t word;
            for (end = i + 1;; end += 8) {
                memcpy(&word, changed + end, 8);
                if (word)
                    break;
            }
            while (!changed[end])
                end++;
            if (changed[i]) { /* a new run: the one before is complete */
                if (*length && table_add(table, *key, *length))
                    return -1;
                *key = (uint64_t)p[i] << 32 | q[i];
                *length = 0;
            }
            *length += end - i;
        }
    }
    return 0;
}

/* Every key of the table in increasing order, malloc'ed (NULL when out of memory); runs without
 * the GIL. */
static uint64_t *sorted_keys(const PairTable *table)
{
    uint64_t *sorted = malloc((table->size ? table->size : 1) * sizeof(uint64_t));
    size_t n = 0;
    if (sorted == NULL)
        return NULL;
    for (size_t slot = 0; slot < table->capacity; slot++)
        if (table->used[slot])
            sorted[n++] = table->keys[slot];
    qsort(sorted, n, sizeof(uint64_t), compare_keys);
    return sorted;
}

/* (keys, counts) of pair_counts' answer: the sorted keys and each one's count, as bytes. */
static PyObject *counts_result(const PairTable *table, const uint64_t *sorted)
{
    PyObject *keys, *counts, *result = NULL;
    keys = PyBytes_FromStringAndSize((const char *)sorted, (Py_ssize_t)(table->size * sizeof(uint64_t)));
    counts = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(table->size * sizeof(int64_t)));
    if (keys != NULL && counts != NULL) {
        int64_t *out = (int64_t *)PyBytes_AS_STRING(counts);
        for (size_t n = 0; n < table->size; n++) { /* each sorted key's count, looked up again */
            size_t slot = slot_of(sorted[n], table->capacity);
            while (table->keys[slot] != sorted[n] || !table->used[slot])
                slot = (slot + 1) & (table->capacity - 1);
            out[n] = table->counts[slot];
        }
        result = PyTuple_Pack(2, keys, counts);
    }
    Py_XDECREF(keys);
    Py_XDECREF(counts);
    return result;
}

PyDoc_STRVAR(pair_counts_doc,
             "pair_counts(a, b) -> (keys, counts)\n\n"
             "Every distinct pair of ``a[i]`` and ``b[i]`` (buffers of as many uint32) and its pixel count:\n"
             "``keys`` holds native uint64 ``a << 32 | b`` in increasing order, ``counts`` native int64.\n"
             "What ``np.unique`` of the packed pairs gives, in one pass over runs of equal pairs.");

static PyObject *pair_counts(PyObject *self, PyObject *args)
{
    Py_buffer a, b;
    PyObject *result = NULL;
    PairTable table = {NULL, NULL, NULL, 0, 0};
    uint64_t *sorted = NULL;
    Py_ssize_t size;
    int failed = 0;
    (void)self;
    size = two_maps(args, &a, &b, "pair_counts");
    if (size < 0)
        return NULL;
    if (table_init(&table, 1024)) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    uint64_t run_key = 0;
    int64_t run_length = 0;
    failed = count_pair_runs(&table, (const uint32_t *)a.buf, (const uint32_t *)b.buf, size, &run_key, &run_length);
    if (!failed && run_length)
        failed = table_add(&table, run_key, run_length) != 0;
    if (!failed) {
        sorted = sorted_keys(&table);
        failed = sorted == NULL;
    }
    Py_END_ALLOW_THREADS
    if (failed)
        PyErr_NoMemory();
    else
        result = counts_result(&table, sorted);
done:
    free(sorted);
    table_free(&table);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

/* A run of equal (a, b) pairs within a row. */
typedef struct {
    uint64_t key;
    int64_t length;
} PairRun;

/* The index of the first non-zero byte of 8 bytes read from memory into a non-zero word. */
static inline Py_ssize_t first_set_byte(uint64_t word)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_ctzll(word) >> 3;
#else
    unsigned char bytes[8];
    Py_ssize_t k = 0;
    memcpy(bytes, &word, 8);
    while (!bytes[k])
        k++;
    return k;
#endif
}

/* The runs of equal (a, b) pixels along one row of two 8-bit RGB rows of width >= 1 pixels into
 * runs (room for width), keys as pair_counts' (R + 256 G + 65536 B of each); their count. No ids
 * are packed: each byte is compared with the same channel's byte a pixel before, in both rows at
 * once (a loop the compiler vectorises), into changed (room for 3 * width + 32 bytes), and the
 * changes are found 32 bytes at a time; only a run's first pixel is read as its key. */
static Py_ssize_t row_pair_runs(const uint8_t *restrict a, const uint8_t *restrict b, Py_ssize_t width,
                                uint8_t *restrict changed, PairRun *restrict runs)
{
    Py_ssize_t stride = 3 * width, j, start = 0, found = 0;
    changed[0] = changed[1] = changed[2] = 1;
    for (j = 3; j < stride; j++)
        changed[j] = (uint8_t)((a[j] != a[j - 3]) | (b[j] != b[j - 3]));
    memset(changed + stride, 1, 32); /* a change just past the row ends the last search */
    for (;;) {
        const uint8_t *p = a + 3 * start, *q = b + 3 * start;
        uint64_t w0, w1, w2, w3;
        runs[found].key = ((uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16) << 32 |
                          ((uint64_t)q[0] | (uint64_t)q[1] << 8 | (uint64_t)q[2] << 16);
        for (j = 3 * start + 3;; j += 32) { /* the next pixel with a changed byte: 32 flags at a time, */
            memcpy(&w0, changed + j, 8);
            memcpy(&w1, changed + j + 8, 8);
            memcpy(&w2, changed + j + 16, 8);
            memcpy(&w3, changed + j + 24, 8);
            if (w0 | w1 | w2 | w3)
                break;
        }
        for (;; j += 8) { /* then 8 */
            memcpy(&w0, changed + j, 8);
            if (w0)
                break;
        }
        j += first_set_byte(w0);
        if (j >= stride) {
            runs[found++].length = width - start;
            return found;
        }
        runs[found++].length = j / 3 - start;
        start = j / 3;
    }
}

/* An Up row (not the first) undone into out; whether its n filtered bytes were all 0, i.e. the
 * row repeats the one above (one pass, a loop the compiler vectorises; label maps repeat many rows). */
static int up_row_repeats(uint8_t *restrict out, const uint8_t *restrict in, const uint8_t *restrict up, Py_ssize_t n)
{
    uint8_t any = 0;
    Py_ssize_t x;
    for (x = 0; x < n; x++) {
        any |= in[x];
        out[x] = (uint8_t)(in[x] + up[x]);
    }
    return any == 0;
}

PyDoc_STRVAR(pair_counts_rgb_doc,
             "pair_counts_rgb(a, b, height, width) -> (keys, counts)\n\n"
             "``pair_counts`` of the panoptic id maps of two 8-bit RGB PNGs, from their inflated image\n"
             "data ``a`` and ``b`` (height rows of a filter byte and 3 * width bytes each) without the\n"
             "maps: both are unfiltered row by row and each row's runs of equal pairs counted at once\n"
             "(ids R + 256 G + 65536 B). ValueError naming the data (a or b) and the row if a filter type\n"
             "is not 0-4.");

/* A row of a map that repeats the one above (an Up row of zeros) is neither unfiltered nor packed
 * again, and where both maps repeat their rows the pair row's runs are the last row's: they are
 * added to the table once, times the rows that repeat them. */
static PyObject *pair_counts_rgb(PyObject *self, PyObject *args)
{
    Py_buffer a, b;
    Py_ssize_t height, width, stride, y, bad_row = -1, n_runs = 0, k;
    int bad_kind = 0, failed = 0;
    const char *bad_data = "a";
    uint8_t *rows = NULL;
    uint64_t *sorted = NULL;
    PairRun *runs = NULL;
    PairTable table = {NULL, NULL, NULL, 0, 0};
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*nn", &a, &b, &height, &width))
        return NULL;
    if (height < 1 || width < 1 || width > PY_SSIZE_T_MAX / 16) {
        PyErr_SetString(PyExc_ValueError, "pair_counts_rgb: height >= 1 and width >= 1 expected");
        goto done;
    }
    stride = 3 * width;
    if (height > PY_SSIZE_T_MAX / (stride + 1) || a.len != height * (stride + 1) || b.len != a.len) {
        PyErr_Format(PyExc_ValueError, "pair_counts_rgb: %zd rows of %zd pixels need %zd filtered bytes each, got %zd and %zd",
                     height, width, height * (stride + 1), a.len, b.len);
        goto done;
    }
    /* two row buffers per map, then the change flags of a row */
    rows = malloc((size_t)(5 * stride + 32));
    runs = malloc((size_t)width * sizeof(PairRun));
    if (rows == NULL || runs == NULL || table_init(&table, 1024)) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *src_a = (const uint8_t *)a.buf, *src_b = (const uint8_t *)b.buf;
    uint8_t *current_a = rows, *above_a = rows + stride, *current_b = rows + 2 * stride,
            *above_b = current_b + stride, *changed = rows + 4 * stride, *swap;
    int64_t repeat = 0; /* the rows whose pair runs are runs[0 .. n_runs) */
    for (y = 0; y < height && !failed; y++) {
        const uint8_t *row_a = src_a + y * (stride + 1), *row_b = src_b + y * (stride + 1);
        int same_a = 0, same_b = 0;
        if (y && row_a[0] == 2)
            same_a = up_row_repeats(current_a, row_a + 1, above_a, stride);
        else if (unfilter_row(current_a, row_a + 1, y ? above_a : NULL, row_a[0], stride, 3)) {
            bad_row = y;
            bad_kind = row_a[0];
            break;
        }
        if (y && row_b[0] == 2)
            same_b = up_row_repeats(current_b, row_b + 1, above_b, stride);
        else if (unfilter_row(current_b, row_b + 1, y ? above_b : NULL, row_b[0], stride, 3)) {
            bad_data = "b";
            bad_row = y;
            bad_kind = row_b[0];
            break;
        }
        if (!same_a) { /* the row just made is the one above the next */
            swap = above_a;
            above_a = current_a;
            current_a = swap;
        }
        if (!same_b) {
            swap = above_b;
            above_b = current_b;
            current_b = swap;
        }
        if (same_a && same_b) {
            repeat++;
            continue;
        }
        for (k = 0; k < n_runs && !failed; k++)
            failed = table_add(&table, runs[k].key, runs[k].length * repeat) != 0;
        n_runs = row_pair_runs(above_a, above_b, width, changed, runs); /* the rows just made */
        repeat = 1;
    }
    for (k = 0; k < n_runs && !failed && bad_row < 0; k++)
        failed = table_add(&table, runs[k].key, runs[k].length * repeat) != 0;
    if (bad_row < 0 && !failed) {
        sorted = sorted_keys(&table);
        failed = sorted == NULL;
    }
    Py_END_ALLOW_THREADS
    if (bad_row >= 0)
        PyErr_Format(PyExc_ValueError, "%s: row %zd has unknown filter type %d", bad_data, bad_row, bad_kind);
    else if (failed)
        PyErr_NoMemory();
    else
        result = counts_result(&table, sorted);
done:
    free(rows);
    free(runs);
    free(sorted);
    table_free(&table);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

/* ---- The chunks of a plain 8-bit RGB PNG (io/png.py's png_chunks + _plain_layout, for eval's pairs) ---- */

static uint32_t crc_table[8][256];

/* CRC-32's tables (slicing by 8), made once at import. */
static void crc_tables_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            crc_table[t][n] = (crc_table[t - 1][n] >> 8) ^ crc_table[0][crc_table[t - 1][n] & 0xFF];
}

/* The CRC-32 of the PNG specification (zlib's crc32) of n bytes. */
static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t low = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = crc_table[7][low & 0xFF] ^ crc_table[6][(low >> 8) & 0xFF] ^ crc_table[5][(low >> 16) & 0xFF] ^
            crc_table[4][low >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    }
    while (n--)
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t big_endian_32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Chunks that leave the samples as stored (io/png_unfilter.py's PLAIN_CHUNKS). */
static int plain_chunk(const uint8_t *kind)
{
    static const char *const plain[] = {"IHDR", "IDAT", "IEND", "tEXt", "zTXt", "iTXt", "tIME", "pHYs"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (memcmp(kind, plain[i], 4) == 0)
            return 1;
    return 0;
}

/* Where the IDAT bodies of PNG bytes lie, when the file is a plain 8-bit RGB PNG with every chunk
 * whole and its CRC right: the IHDR first and once (13 bytes: non-zero size, 8-bit RGB,
 * compression, filter and interlace 0), only plain chunks, one run of IDATs, IEND. The IDATs'
 * (offset, length) go to idat (room for n_max); their count, or 0 for anything else. */
static Py_ssize_t plain_rgb_chunks(const uint8_t *data, size_t size, uint32_t *width, uint32_t *height,
                                   size_t (*idat)[2], Py_ssize_t n_max)
{
    static const uint8_t signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    size_t offset = 8;
    Py_ssize_t n_idat = 0, chunk = 0;
    int idat_run_over = 0;
    if (size < 8 || memcmp(data, signature, 8) != 0)
        return 0;
    for (;; chunk++) {
        const uint8_t *kind, *body;
        uint32_t length;
        if (size - offset < 12)
            return 0;
        length = big_endian_32(data + offset);
        kind = data + offset + 4;
        body = kind + 4;
        if (length > size - offset - 12 || crc32_of(kind, (size_t)length + 4) != big_endian_32(body + length))
            return 0;
        if (!plain_chunk(kind) || (chunk == 0) != (memcmp(kind, "IHDR", 4) == 0))
            return 0;
        if (chunk == 0) {
            if (length != 13 || body[8] != 8 || body[9] != 2 || body[10] || body[11] || body[12])
                return 0;
            *width = big_endian_32(body);
            *height = big_endian_32(body + 4);
            if (*width == 0 || *height == 0)
                return 0;
        }
        if (memcmp(kind, "IDAT", 4) == 0) {
            if (idat_run_over || n_idat == n_max)
                return 0;
            idat[n_idat][0] = (size_t)(body - data);
            idat[n_idat++][1] = length;
        } else if (n_idat) {
            idat_run_over = 1;
        }
        offset += (size_t)length + 12;
        if (memcmp(kind, "IEND", 4) == 0)
            return n_idat;
    }
}

#define IDAT_MAX 4096

PyDoc_STRVAR(plain_rgb_png_doc,
             "plain_rgb_png(data) -> (height, width, idat) | None\n\n"
             "The size and joined IDAT bodies of PNG bytes that are a plain 8-bit RGB PNG: every chunk\n"
             "whole with its CRC right up to IEND, the IHDR first and once (13 bytes, a non-zero size,\n"
             "8-bit RGB, not interlaced, compression and filter method 0), only chunks that leave the\n"
             "samples as stored, one run of IDATs. None for anything else (io/png.py then reads the file\n"
             "and names any problem). The GIL is released while the chunks are walked.");

static PyObject *plain_rgb_png(PyObject *self, PyObject *args)
{
    Py_buffer data;
    size_t(*idat)[2];
    Py_ssize_t n_idat, k;
    uint32_t width = 0, height = 0;
    size_t total = 0;
    PyObject *joined, *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    idat = malloc(IDAT_MAX * sizeof *idat);
    if (idat == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    n_idat = plain_rgb_chunks((const uint8_t *)data.buf, (size_t)data.len, &width, &height, idat, IDAT_MAX);
    Py_END_ALLOW_THREADS
    if (n_idat == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    for (k = 0; k < n_idat; k++)
        total += idat[k][1];
    joined = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (joined == NULL)
        goto done;
    total = 0;
    for (k = 0; k < n_idat; k++) {
        memcpy(PyBytes_AS_STRING(joined) + total, (const char *)data.buf + idat[k][0], idat[k][1]);
        total += idat[k][1];
    }
    result = Py_BuildValue("(kkN)", (unsigned long)height, (unsigned long)width, joined);
done:
    free(idat);
    PyBuffer_Release(&data);
    return result;
}

/* ---- PQ matching of one image (core/pq.py's pq_of_overlaps + match_segments, panopticapi's rules) ---- */

/* A segments_info entry as the matching needs it. */
typedef struct {
    long long id, category, area; /* area: the ground truth's JSON area (its pixels where absent) */
    int64_t pixels;                /* its pixels in the image: the sum of its pairs */
    int crowd, matched, has_area;
} Segment;

/* A segment's id and its index in segments_info, for lookups by id. */
typedef struct {
    long long id;
    Py_ssize_t index;
} SegmentKey;

/* Per-category sums of one image, in the order categories are first touched. */
typedef struct {
    long long category;
    double iou;
    long long tp, fp, fn;
} CategorySums;

typedef struct {
    Segment *gt, *pred;
    Py_ssize_t n_gt, n_pred;
    SegmentKey *gt_order, *pred_order; /* (id, index) sorted by id, for lookups */
    CategorySums *sums;
    Py_ssize_t n_sums;
} Matching;

static void matching_free(Matching *m)
{
    free(m->gt);
    free(m->pred);
    free(m->gt_order);
    free(m->pred_order);
    free(m->sums);
}

/* The value of an exact int (not bool) field, or -1 with *plain = 0 when absent, of another type
 * or out of range (the caller then leaves the image to the Python path). */
static long long plain_int(PyObject *value, int *plain)
{
    long long result;
    int overflow = 0;
    if (value == NULL || !PyLong_CheckExact(value)) {
        *plain = 0;
        return -1;
    }
    result = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (result == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        *plain = 0;
        return -1;
    }
    return result;
}

static int compare_segment_ids(const void *x, const void *y)
{
    long long a = ((const SegmentKey *)x)->id, b = ((const SegmentKey *)y)->id;
    return (a > b) - (a < b);
}

/* The entries of a segments_info list read into *segments (sorted index in *order): 1, or 0 when
 * it is not plain (not a list of dicts with exact int ids in 1..2^24-1, categories, iscrowd and
 * area, or an id listed twice); -1 when out of memory. Only the ground truth's iscrowd and area are
 * read, as the matching reads them. */
static int read_segments(PyObject *list, int ground_truth, Segment **segments, SegmentKey **order, Py_ssize_t *count)
{
    Py_ssize_t n, i;
    int plain = 1;
    if (!PyList_CheckExact(list))
        return 0;
    n = PyList_GET_SIZE(list);
    *segments = malloc((size_t)(n ? n : 1) * sizeof(Segment));
    *order = malloc((size_t)(n ? n : 1) * sizeof(SegmentKey));
    if (*segments == NULL || *order == NULL)
        return -1;
    *count = n;
    for (i = 0; i < n && plain; i++) {
        PyObject *entry = PyList_GET_ITEM(list, i);
        Segment *s = *segments + i;
        if (!PyDict_CheckExact(entry))
            return 0;
        s->id = plain_int(PyDict_GetItemString(entry, "id"), &plain);
        s->category = plain_int(PyDict_GetItemString(entry, "category_id"), &plain);
        s->pixels = 0;
        s->matched = 0;
        s->crowd = 0;
        s->has_area = 0;
        s->area = 0;
        if (plain && (s->id < 1 || s->id >= 1 << 24))
            return 0; /* id 0 (void) or out of range: the Python path's error */
        if (ground_truth) {
            PyObject *crowd = PyDict_GetItemString(entry, "iscrowd"), *area = PyDict_GetItemString(entry, "area");
            if (crowd != NULL)
                s->crowd = (PyBool_Check(crowd) ? crowd == Py_True : plain_int(crowd, &plain) == 1);
            if (area != NULL) {
                s->area = plain_int(area, &plain);
                s->has_area = 1;
            }
        }
        (*order)[i].id = s->id;
        (*order)[i].index = i;
    }
    if (!plain)
        return 0;
    qsort(*order, (size_t)n, sizeof(SegmentKey), compare_segment_ids);
    for (i = 1; i < n; i++)
        if ((*order)[i].id == (*order)[i - 1].id)
            return 0; /* listed twice: the Python path's error */
    return 1;
}

/* The segment of id, or NULL. */
static Segment *find_segment(Segment *segments, const SegmentKey *order, Py_ssize_t n, long long id)
{
    Py_ssize_t low = 0, high = n;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        long long found = order[middle].id;
        if (found == id)
            return segments + order[middle].index;
        if (found < id)
            low = middle + 1;
        else
            high = middle;
    }
    return NULL;
}

/* The pixels of pair key (gt << 32 | pred) in the sorted keys, 0 when absent. */
static int64_t overlap_of(const uint64_t *keys, const int64_t *counts, Py_ssize_t n, uint64_t key)
{
    Py_ssize_t low = 0, high = n;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        if (keys[middle] == key)
            return counts[middle];
        if (keys[middle] < key)
            low = middle + 1;
        else
            high = middle;
    }
    return 0;
}

/* The image's sums of category (added when first touched); NULL when out of memory. */
static CategorySums *sums_of(Matching *m, long long category)
{
    Py_ssize_t i;
    CategorySums *grown;
    for (i = m->n_sums - 1; i >= 0; i--)
        if (m->sums[i].category == category)
            return m->sums + i;
    grown = realloc(m->sums, (size_t)(m->n_sums + 1) * sizeof(CategorySums));
    if (grown == NULL)
        return NULL;
    m->sums = grown;
    grown += m->n_sums++;
    grown->category = category;
    grown->iou = 0.0;
    grown->tp = grown->fp = grown->fn = 0;
    return grown;
}

/* The matching of one image on plain input: 1 done, 0 not plain (the Python path decides and
 * names any problem), -1 out of memory. */
static int match_image(Matching *m, const uint64_t *keys, const int64_t *counts, Py_ssize_t n, PyObject *categories)
{
    Py_ssize_t k, i;
    for (k = 0; k < n; k++) { /* each id's pixels: the sums of its pairs */
        long long gt_id = (long long)(keys[k] >> 32), pred_id = (long long)(keys[k] & 0xFFFFFFFFu);
        Segment *gt, *pred;
        if (gt_id >= 1 << 24 || pred_id >= 1 << 24)
            return 0; /* ids outside 24 bits: the Python path's error */
        gt = find_segment(m->gt, m->gt_order, m->n_gt, gt_id);
        if (gt != NULL)
            gt->pixels += counts[k];
        pred = find_segment(m->pred, m->pred_order, m->n_pred, pred_id);
        if (pred != NULL)
            pred->pixels += counts[k];
        else if (pred_id != 0)
            return 0; /* in the PNG, not in segments_info */
    }
    for (i = 0; i < m->n_pred; i++) {
        PyObject *category;
        int known;
        if (m->pred[i].pixels == 0)
            return 0; /* in segments_info, not in the PNG */
        category = PyLong_FromLongLong(m->pred[i].category);
        if (category == NULL)
            return -1;
        known = PySequence_Contains(categories, category);
        Py_DECREF(category);
        if (known != 1) {
            PyErr_Clear();
            return 0; /* an unknown category (or a container that fails) */
        }
    }
    for (i = 0; i < m->n_gt; i++) {
        Segment *s = m->gt + i;
        if (!s->has_area)
            s->area = s->pixels;
        else if (s->area != s->pixels)
            return 0; /* the Python path warns about it */
    }
    for (k = 0; k < n; k++) { /* true positives, in (gt, pred) order as the API's dict */
        Segment *gt = find_segment(m->gt, m->gt_order, m->n_gt, (long long)(keys[k] >> 32));
        Segment *pred = find_segment(m->pred, m->pred_order, m->n_pred, (long long)(keys[k] & 0xFFFFFFFFu));
        int64_t union_pixels;
        double iou;
        if (gt == NULL || pred == NULL || gt->crowd || gt->category != pred->category)
            continue;
        union_pixels = pred->pixels + gt->area - counts[k] - overlap_of(keys, counts, n, (uint64_t)pred->id);
        iou = (double)counts[k] / (double)union_pixels;
        if (iou > 0.5) {
            CategorySums *sums = sums_of(m, gt->category);
            if (sums == NULL)
                return -1;
            sums->tp++;
            sums->iou += iou;
            gt->matched = pred->matched = 1;
        }
    }
    for (i = 0; i < m->n_gt; i++) { /* false negatives; the last crowd segment of each category noted */
        Segment *s = m->gt + i;
        CategorySums *sums;
        if (s->matched || s->crowd)
            continue;
        sums = sums_of(m, s->category);
        if (sums == NULL)
            return -1;
        sums->fn++;
    }
    for (i = 0; i < m->n_pred; i++) { /* false positives, unless mostly on void and crowd */
        Segment *s = m->pred + i, *crowd = NULL;
        int64_t ignored;
        Py_ssize_t j;
        CategorySums *sums;
        if (s->matched)
            continue;
        for (j = m->n_gt - 1; j >= 0 && crowd == NULL; j--)
            if (!m->gt[j].matched && m->gt[j].crowd && m->gt[j].category == s->category)
                crowd = m->gt + j;
        ignored = overlap_of(keys, counts, n, (uint64_t)s->id);
        if (crowd != NULL)
            ignored += overlap_of(keys, counts, n, (uint64_t)crowd->id << 32 | (uint64_t)s->id);
        if ((double)ignored / (double)s->pixels > 0.5)
            continue;
        sums = sums_of(m, s->category);
        if (sums == NULL)
            return -1;
        sums->fp++;
    }
    return 1;
}

/* [(category, iou, tp, fp, fn), ...] of the image's sums. */
static PyObject *sums_result(const Matching *m)
{
    PyObject *result = PyList_New(m->n_sums);
    Py_ssize_t i;
    if (result == NULL)
        return NULL;
    for (i = 0; i < m->n_sums; i++) {
        const CategorySums *s = m->sums + i;
        PyObject *row = Py_BuildValue("(LdLLL)", s->category, s->iou, s->tp, s->fp, s->fn);
        if (row == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyList_SET_ITEM(result, i, row);
    }
    return result;
}

PyDoc_STRVAR(pq_match_doc,
             "pq_match(keys, counts, gt_segments, pred_segments, categories) -> list | None\n\n"
             "PQ's matching of one image (core.pq.pq_of_overlaps) from its pair counts (pair_counts'\n"
             "answer: native uint64 keys gt << 32 | pred, increasing, and int64 counts) and both sides'\n"
             "segments_info lists: [(category, iou, tp, fp, fn), ...] per category touched. None where the\n"
             "input is not plain (fields not exact ints, ids out of range or listed twice, ids in one of\n"
             "PNG and JSON only, an unknown predicted category, a ground-truth area that is not its pixel\n"
             "count): the Python path then scores the image or names the problem.");

static PyObject *pq_match(PyObject *self, PyObject *args)
{
    Py_buffer keys, counts;
    PyObject *gt_segments, *pred_segments, *categories, *result = NULL;
    Matching m = {NULL, NULL, 0, 0, NULL, NULL, NULL, 0};
    Py_ssize_t n;
    int state;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*OOO", &keys, &counts, &gt_segments, &pred_segments, &categories))
        return NULL;
    if (keys.len % 8 || counts.len != keys.len) {
        PyErr_Format(PyExc_ValueError, "pq_match: as many 8-byte keys and counts expected, got %zd and %zd bytes",
                     keys.len, counts.len);
        goto done;
    }
    n = keys.len / 8;
    state = read_segments(gt_segments, 1, &m.gt, &m.gt_order, &m.n_gt);
    if (state == 1)
        state = read_segments(pred_segments, 0, &m.pred, &m.pred_order, &m.n_pred);
    if (state == 1)
        state = match_image(&m, (const uint64_t *)keys.buf, (const int64_t *)counts.buf, n, categories);
    if (state < 0)
        PyErr_NoMemory();
    else if (state == 0)
        result = Py_NewRef(Py_None);
    else
        result = sums_result(&m);
done:
    matching_free(&m);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&counts);
    return result;
}

/* ---- SAM 2's mask upscaling per click (models/sam_upscaling.py): the passes between its matrix
 * products fused, each value read once while in cache. Separate from the PNG code above. ---- */

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math") /* lets the clamps of sam_erf become vector min / max */
#endif

#define SAM_LANES 8 /* partial sums per reduction: one 8-float vector (two 4-float ones on SSE2) */
#define SAM_MAX_CHANNELS 1024

#if defined(__GNUC__)
#define SAM_INLINE static inline __attribute__((always_inline))
#else
#define SAM_INLINE static inline
#endif

/* erf(x) to ~3.3e-7 (4.4e-7 without FMA): odd over even polynomial in x, x clamped to +-4 where
 * float's erf is +-1 (Eigen's and XLA's float erf). No exp and no branch: its loops vectorise. */
SAM_INLINE float sam_erf(float x)
{
    x = x < -4.0f ? -4.0f : x;
    x = x > 4.0f ? 4.0f : x;
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return x * p / q;
}

/* torch's exact GELU, x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2)), to ~1.4e-6 (~2.5e-7 relative). */
SAM_INLINE float sam_gelu(float x) { return 0.5f * x * (1.0f + sam_erf(x * 0.70710678118654752f)); }

/* The sum of n floats in SAM_LANES partial sums (a vector's lanes), then the rest. */
SAM_INLINE float sam_sum(const float *restrict v, Py_ssize_t n)
{
    float lanes[SAM_LANES] = {0}, total = 0.0f;
    Py_ssize_t c = 0;
    int l;
    for (; c + SAM_LANES <= n; c += SAM_LANES)
        for (l = 0; l < SAM_LANES; l++)
            lanes[l] += v[c + l];
    for (; c < n; c++)
        total += v[c];
    for (l = 0; l < SAM_LANES; l++)
        total += lanes[l];
    return total;
}

/* The dot product of two n-float rows, in SAM_LANES partial sums. */
SAM_INLINE float sam_dot(const float *restrict a, const float *restrict b, Py_ssize_t n)
{
    float lanes[SAM_LANES] = {0}, total = 0.0f;
    Py_ssize_t c = 0;
    int l;
    for (; c + SAM_LANES <= n; c += SAM_LANES)
        for (l = 0; l < SAM_LANES; l++)
            lanes[l] += a[c + l] * b[c + l];
    for (; c < n; c++)
        total += a[c] * b[c];
    for (l = 0; l < SAM_LANES; l++)
        total += lanes[l];
    return total;
}

typedef struct {
    float *x;
    const float *image, *scale, *added, *weight, *bias;
    float eps;
    Py_ssize_t pixels, groups, channels, added_stride;
} SamNormGelu;

/* Per pixel p and group g of channels: v = x + image * scale[p] + added (its row p, or its one
 * row: added_stride 0), LayerNorm over the group's channels (weight, bias, eps), exact GELU,
 * written back into x. */
SAM_INLINE void sam_norm_gelu_body(const SamNormGelu *a, Py_ssize_t from, Py_ssize_t to)
{
    const Py_ssize_t channels = a->channels;
    float centred[SAM_MAX_CHANNELS];
    Py_ssize_t p, g, c;
    for (p = from; p < to; p++) {
        const float s = a->scale[p];
        for (g = 0; g < a->groups; g++) {
            float *restrict v = a->x + (p * a->groups + g) * channels;
            const float *restrict image = a->image + (p * a->groups + g) * channels;
            const float *restrict added = a->added + p * a->added_stride + g * channels;
            for (c = 0; c < channels; c++)
                v[c] += image[c] * s + added[c];
            const float mean = sam_sum(v, channels) / (float)channels;
            for (c = 0; c < channels; c++)
                centred[c] = (v[c] - mean) * (v[c] - mean);
            const float rstd = 1.0f / sqrtf(sam_sum(centred, channels) / (float)channels + a->eps);
            for (c = 0; c < channels; c++)
                v[c] = sam_gelu((v[c] - mean) * rstd * a->weight[c] + a->bias[c]);
        }
    }
}

typedef struct {
    const float *z, *added, *hyper;
    float *out;
    Py_ssize_t rows, first_pixel, height, width, masks, channels, added_stride;
} SamGeluLogits;

/* Rows (pixel, i, j) of (k, l, channels) values plus added (its row, or its one row: added_stride
 * 0): each value's GELU, each (k, l) group's dot with
 * each mask's hypernetwork row, the logit written at (4 py + 2 i + k, 4 px + 2 j + l) of its
 * mask's (4 height, 4 width) map, pixel = first_pixel + row / 4 = py * width + px. */
SAM_INLINE void sam_gelu_logits_body(const SamGeluLogits *a, Py_ssize_t from, Py_ssize_t to)
{
    const Py_ssize_t channels = a->channels, side = 4 * a->width, plane = 16 * a->height * a->width;
    float activated[4 * SAM_MAX_CHANNELS];
    Py_ssize_t r, c, m;
    int kl;
    for (r = from; r < to; r++) {
        const float *restrict z = a->z + r * 4 * channels;
        const float *restrict added = a->added + r * a->added_stride;
        for (c = 0; c < 4 * channels; c++)
            activated[c] = sam_gelu(z[c] + added[c]);
        const Py_ssize_t pixel = a->first_pixel + r / 4, i = (r / 2) % 2, j = r % 2;
        const Py_ssize_t y = 4 * (pixel / a->width) + 2 * i, x = 4 * (pixel % a->width) + 2 * j;
        for (m = 0; m < a->masks; m++) {
            float *out = a->out + m * plane;
            for (kl = 0; kl < 4; kl++)
                out[(y + kl / 2) * side + x + kl % 2] =
                    sam_dot(activated + kl * channels, a->hyper + m * channels, channels);
        }
    }
}

/* Each kernel over a range of its rows, as a thread runs it (args: its SamNormGelu or SamGeluLogits). */
typedef void (*SamRange)(const void *args, Py_ssize_t from, Py_ssize_t to);

static void sam_norm_gelu_portable(const void *a, Py_ssize_t from, Py_ssize_t to)
{
    sam_norm_gelu_body((const SamNormGelu *)a, from, to);
}
static void sam_gelu_logits_portable(const void *a, Py_ssize_t from, Py_ssize_t to)
{
    sam_gelu_logits_body((const SamGeluLogits *)a, from, to);
}

#if defined(__GNUC__) && defined(__x86_64__)
/* The same loops compiled for AVX2 and FMA (8 floats a step), chosen when the CPU has them. */
__attribute__((target("avx2,fma"))) static void sam_norm_gelu_avx2(const void *a, Py_ssize_t from, Py_ssize_t to)
{
    sam_norm_gelu_body((const SamNormGelu *)a, from, to);
}
__attribute__((target("avx2,fma"))) static void sam_gelu_logits_avx2(const void *a, Py_ssize_t from, Py_ssize_t to)
{
    sam_gelu_logits_body((const SamGeluLogits *)a, from, to);
}
static int sam_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define sam_norm_gelu_avx2 sam_norm_gelu_portable
#define sam_gelu_logits_avx2 sam_gelu_logits_portable
static int sam_has_avx2(void) { return 0; }
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#define SAM_MAX_THREADS 64

typedef struct {
    SamRange run;
    const void *args;
    Py_ssize_t from, to;
} SamPart;

#if !defined(_WIN32)
#include <pthread.h>

static void *sam_part_thread(void *part)
{
    const SamPart *p = (const SamPart *)part;
    p->run(p->args, p->from, p->to);
    return NULL;
}
#endif

/* run over rows 0-count in `threads` contiguous parts, the first on the calling thread, the
 * others on threads of their own (joined before returning); one part where threads cannot start.
 * Called with the GIL released. */
static void sam_in_parts(SamRange run, const void *args, Py_ssize_t count, Py_ssize_t threads)
{
    SamPart parts[SAM_MAX_THREADS];
    Py_ssize_t n = threads < 1 ? 1 : (threads > SAM_MAX_THREADS ? SAM_MAX_THREADS : threads), i;
    if (n > count)
        n = count > 0 ? count : 1;
    for (i = 0; i < n; i++) {
        parts[i].run = run;
        parts[i].args = args;
        parts[i].from = count * i / n;
        parts[i].to = count * (i + 1) / n;
    }
#if !defined(_WIN32)
    pthread_t handles[SAM_MAX_THREADS];
    int started[SAM_MAX_THREADS] = {0};
    for (i = 1; i < n; i++)
        started[i] = pthread_create(&handles[i], NULL, sam_part_thread, &parts[i]) == 0;
    run(args, parts[0].from, parts[0].to);
    for (i = 1; i < n; i++) {
        if (started[i])
            pthread_join(handles[i], NULL);
        else
            run(args, parts[i].from, parts[i].to);
    }
#else
    for (i = 0; i < n; i++)
        run(args, parts[i].from, parts[i].to);
#endif
}

/* The float32 count of a buffer, or -1 with ValueError naming it when its size is not n floats. */
static int sam_floats(const Py_buffer *buffer, Py_ssize_t n, const char *name)
{
    if (buffer->len == n * (Py_ssize_t)sizeof(float))
        return 1;
    PyErr_Format(PyExc_ValueError, "%s: %zd floats expected, got %zd bytes", name, n, buffer->len);
    return 0;
}

PyDoc_STRVAR(sam_norm_gelu_doc,
             "sam_norm_gelu(x, image, scale, added, weight, bias, eps, threads=1, portable=False) -> None\n\n"
             "SAM 2's upscaling after its first transposed convolution, in place on ``x`` (float32, pixels\n"
             "rows of groups x channels, channels = len(weight)): per pixel p and group, x + image *\n"
             "scale[p] + added (its row p, or its one row for every pixel), then LayerNorm over the\n"
             "channels (weight, bias, eps), then the exact GELU to\n"
             "~1.4e-6. On ``threads`` threads (the pixels split), the GIL released; ``portable``: the\n"
             "build without AVX2 (for tests).");

static PyObject *sam_norm_gelu(PyObject *self, PyObject *args)
{
    Py_buffer x, image, scale, added, weight, bias;
    float eps;
    Py_ssize_t threads = 1;
    int portable = 0, ok = 0;
    SamNormGelu a;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*f|np", &x, &image, &scale, &added, &weight, &bias, &eps, &threads,
                          &portable))
        return NULL;
    a.channels = weight.len / (Py_ssize_t)sizeof(float);
    a.pixels = scale.len / (Py_ssize_t)sizeof(float);
    if (a.channels < 1 || a.channels > SAM_MAX_CHANNELS || a.pixels < 1
        || x.len % (a.pixels * a.channels * (Py_ssize_t)sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "sam_norm_gelu: %zd bytes are not rows of %zd pixels of 1-%d channels",
                     x.len, a.pixels, SAM_MAX_CHANNELS);
        goto done;
    }
    a.groups = x.len / (a.pixels * a.channels * (Py_ssize_t)sizeof(float));
    if (!sam_floats(&image, a.pixels * a.groups * a.channels, "sam_norm_gelu image")
        || !sam_floats(&scale, a.pixels, "sam_norm_gelu scale") || !sam_floats(&bias, a.channels, "sam_norm_gelu bias"))
        goto done;
    a.added_stride = added.len == x.len ? a.groups * a.channels : 0;
    if (!a.added_stride && !sam_floats(&added, a.groups * a.channels, "sam_norm_gelu added (one row or one per pixel)"))
        goto done;
    a.x = (float *)x.buf;
    a.image = (const float *)image.buf;
    a.scale = (const float *)scale.buf;
    a.added = (const float *)added.buf;
    a.weight = (const float *)weight.buf;
    a.bias = (const float *)bias.buf;
    a.eps = eps;
    Py_BEGIN_ALLOW_THREADS
    sam_in_parts(!portable && sam_has_avx2() ? sam_norm_gelu_avx2 : sam_norm_gelu_portable, &a, a.pixels, threads);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    PyBuffer_Release(&x);
    PyBuffer_Release(&image);
    PyBuffer_Release(&scale);
    PyBuffer_Release(&added);
    PyBuffer_Release(&weight);
    PyBuffer_Release(&bias);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sam_gelu_logits_doc,
             "sam_gelu_logits(z, added, hyper, out, first_pixel, height, width, threads=1, portable=False) -> None\n\n"
             "SAM 2's last upscaling step and mask product: ``z`` (float32) holds rows (pixel, i, j) of\n"
             "(k, l, channels) values, to which ``added`` (one row per row, or one row for all) is added,\n"
             "``hyper`` (masks, channels) the hypernetwork rows; each value's\n"
             "exact GELU (to ~1.4e-6) dotted with each row gives the logit at (4 py + 2 i + k,\n"
             "4 px + 2 j + l) of that mask's map in ``out`` (masks, 4 height, 4 width), pixel =\n"
             "first_pixel + row / 4 = py * width + px. On ``threads`` threads (the rows split), the GIL\n"
             "released; ``portable``: the build without AVX2 (for tests).");

static PyObject *sam_gelu_logits(PyObject *self, PyObject *args)
{
    Py_buffer z, added, hyper, out;
    Py_ssize_t threads = 1;
    int portable = 0, ok = 0;
    SamGeluLogits a;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nnn|np", &z, &added, &hyper, &out, &a.first_pixel, &a.height, &a.width,
                          &threads, &portable))
        return NULL;
    if (a.height < 1 || a.width < 1 || a.height > PY_SSIZE_T_MAX / 64 / a.width
        || out.len % (16 * a.height * a.width * (Py_ssize_t)sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "sam_gelu_logits: %zd output bytes are not maps of (4 x %zd, 4 x %zd) floats",
                     out.len, a.height, a.width);
        goto done;
    }
    a.masks = out.len / (16 * a.height * a.width * (Py_ssize_t)sizeof(float));
    a.channels = a.masks ? hyper.len / (a.masks * (Py_ssize_t)sizeof(float)) : 0;
    if (a.masks < 1 || a.channels < 1 || a.channels > SAM_MAX_CHANNELS
        || !sam_floats(&hyper, a.masks * a.channels, "sam_gelu_logits hyper")
        || z.len % (16 * a.channels * (Py_ssize_t)sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "sam_gelu_logits: %zd and %zd bytes are not 4 x 4 x channels per pixel and "
                     "masks x channels (1-%d)", z.len, hyper.len, SAM_MAX_CHANNELS);
        goto done;
    }
    a.rows = z.len / (4 * a.channels * (Py_ssize_t)sizeof(float));
    a.added_stride = added.len == z.len ? 4 * a.channels : 0;
    if (!a.added_stride && !sam_floats(&added, 4 * a.channels, "sam_gelu_logits added (one row or one per row)"))
        goto done;
    if (a.first_pixel < 0 || a.first_pixel > a.height * a.width - a.rows / 4) {
        PyErr_Format(PyExc_ValueError, "sam_gelu_logits: pixels %zd to %zd are outside the %zd x %zd grid",
                     a.first_pixel, a.first_pixel + a.rows / 4, a.height, a.width);
        goto done;
    }
    a.z = (const float *)z.buf;
    a.added = (const float *)added.buf;
    a.hyper = (const float *)hyper.buf;
    a.out = (float *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    sam_in_parts(!portable && sam_has_avx2() ? sam_gelu_logits_avx2 : sam_gelu_logits_portable, &a, a.rows, threads);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    PyBuffer_Release(&z);
    PyBuffer_Release(&added);
    PyBuffer_Release(&hyper);
    PyBuffer_Release(&out);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"unfilter", unfilter, METH_VARARGS, unfilter_doc},
    {"unfilter_rgb_ids", unfilter_rgb_ids, METH_VARARGS, unfilter_rgb_ids_doc},
    {"pair_counts", pair_counts, METH_VARARGS, pair_counts_doc},
    {"pair_counts_rgb", pair_counts_rgb, METH_VARARGS, pair_counts_rgb_doc},
    {"pair_run_starts", pair_run_starts, METH_VARARGS, pair_run_starts_doc},
    {"pq_match", pq_match, METH_VARARGS, pq_match_doc},
    {"plain_rgb_png", plain_rgb_png, METH_VARARGS, plain_rgb_png_doc},
    {"sam_norm_gelu", sam_norm_gelu, METH_VARARGS, sam_norm_gelu_doc},
    {"sam_gelu_logits", sam_gelu_logits, METH_VARARGS, sam_gelu_logits_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pixels", "Compiled PNG unfiltering and run finding (optional; see segstudio._native).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_pixels(void)
{
    crc_tables_init();
    return PyModule_Create(&module);
}
