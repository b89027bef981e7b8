/* Per-frame overlay writes into 8-bit planes, compiled.
 *
 * The numpy path (media_core/draw/program.py) pays microseconds of call
 * overhead per fancy-indexing operation, and a frame's overlay needs dozens
 * of them. Here one call per plane does all of its writes:
 *
 *   paint(dst, offsets, lengths, values, at, keys, table)
 *       copies runs of known bytes (run i: lengths[i] bytes of ``values``,
 *       which holds all runs' bytes back to back, at byte offsets[i] of
 *       ``dst``), then blends: dst[at[i]] = table[keys[i] + dst[at[i]]].
 *   blit(dst, src, top, left)
 *       copies a 2-D ``src`` into ``dst`` at row ``top``, column ``left``;
 *   fill_columns(dst, left, right, value)
 *       sets columns [left, right) of every row of a 2-D ``dst``.
 *
 * ``dst`` is a writable byte buffer: 1-D contiguous, or a 2-D plane with
 * contiguous rows (line padding allowed) addressed as row * stride + column.
 * Index arrays are contiguous int64, ``values`` and ``table`` contiguous
 * bytes, none overlapping ``dst``; runs rise without overlapping, ``at``
 * rises strictly. Every index is checked before anything is written, so bad
 * input raises ValueError and leaves ``dst`` unchanged. Only the buffer
 * protocol is used: the build needs no numpy headers.
 */

#include "_planes.h"

#include <string.h>

/* How many runs or pixels ahead to prefetch. A decoder has just written the
 * frame, so the rows an overlay touches are out of L1/L2 and each sits in its
 * own 4 KiB page: asking early overlaps the misses (about 20% at 4K). */
#define PREFETCH 16

/* Runs per batch before the blends among them: a fringe pixel is then
 * blended while its row is still in L1 (10% faster than two passes). */
#define BATCH 32

/* A writable view of ``obj`` and how many bytes from its start can be written. */
static int
get_plane(PyObject *obj, Py_buffer *view, Py_ssize_t *extent)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_STRIDES) < 0) {
        return -1;
    }
    if (view->itemsize != 1 || view->ndim > 2) {
        PyErr_SetString(PyExc_ValueError, "dst must be a 1-D or 2-D buffer of bytes");
        goto fail;
    }
    if (view->ndim <= 1) {
        if (view->ndim == 1 && view->strides[0] != 1) {
            PyErr_SetString(PyExc_ValueError, "a 1-D dst must be contiguous");
            goto fail;
        }
        *extent = view->len;
        return 0;
    }
    Py_ssize_t rows = view->shape[0], cols = view->shape[1];
    Py_ssize_t stride = view->strides[0];
    if (rows == 0 || cols == 0) {
        *extent = 0;
        return 0;
    }
    if (view->strides[1] != 1 || (rows > 1 && stride < cols)) {
        PyErr_SetString(PyExc_ValueError,
                        "a 2-D dst needs contiguous, non-overlapping rows");
        goto fail;
    }
    /* Up to the last row's end; between rows lies the allocation's padding. */
    *extent = (rows - 1) * stride + cols;
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

static int
is_int64_format(const char *format)
{
    char code = format_code(format);
    /* numpy exports int64 and intp as 'l' on LP64 and as 'q' elsewhere. */
    return code == 'q' || code == 'n' || (code == 'l' && sizeof(long) == 8);
}

/* A read-only contiguous view of int64 (itemsize 8) or byte (itemsize 1) items. */
static int
get_array(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return -1;
    }
    int ok = itemsize == 8 ? view->itemsize == 8 && is_int64_format(view->format)
                           : view->itemsize == 1;
    if (!ok) {
        PyErr_Format(PyExc_ValueError, "%s must be a contiguous %s buffer", name,
                     itemsize == 8 ? "int64" : "uint8");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* The checks below are branch-free so they vectorise: each term's top bit is
 * set when something is negative or out of range (64-bit compares would not
 * vectorise without SSE4.2, and the checks would cost as much as the writes).
 * Values are at most the extent before they are added, so sums are exact. */

/* Whether runs lie inside the extent, rise without overlapping and add up to
 * ``total`` bytes. */
static int
runs_ok(const int64_t *offsets, const int64_t *lengths, Py_ssize_t count,
        Py_ssize_t extent, Py_ssize_t total)
{
    uint64_t limit = (uint64_t)extent, bad = 0, sum = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        uint64_t offset = (uint64_t)offsets[i], length = (uint64_t)lengths[i];
        bad |= offset | length | (limit - offset) | (limit - length) |
               (limit - offset - length);
        sum += length;
    }
    for (Py_ssize_t i = 1; i < count; i++) {
        uint64_t end = (uint64_t)offsets[i - 1] + (uint64_t)lengths[i - 1];
        bad |= (uint64_t)offsets[i] - end;
    }
    return !(bad >> 63) && sum == (uint64_t)total;
}

/* Whether blended pixels lie inside the extent and rise strictly, and each
 * key plus any byte value stays inside a table of ``size`` bytes. */
static int
blends_ok(const int64_t *at, const int64_t *keys, Py_ssize_t count,
          Py_ssize_t extent, Py_ssize_t size)
{
    if (count == 0) {
        return 1;
    }
    if (size < 256) {
        return 0;
    }
    uint64_t last = (uint64_t)extent - 1, top = (uint64_t)(size - 256), bad = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        uint64_t pixel = (uint64_t)at[i], key = (uint64_t)keys[i];
        bad |= pixel | (last - pixel) | key | (top - key);
    }
    for (Py_ssize_t i = 1; i < count; i++) {
        bad |= (uint64_t)at[i] - (uint64_t)at[i - 1] - 1;
    }
    return !(bad >> 63);
}

/* The first and the last ``width`` of ``n`` bytes (width <= n <= 2 * width):
 * two overlapping loads, then two stores; inlined with a constant width. */
static inline void
copy_ends(uint8_t *dst, const uint8_t *src, size_t n, size_t width)
{
    uint8_t head[16], tail[16];
    memcpy(head, src, width);
    memcpy(tail, src + n - width, width);
    memcpy(dst, head, width);
    memcpy(dst + n - width, tail, width);
}

/* Copy a short run inline: strokes cross a row in a few dozen bytes, and a
 * call to memcpy with its size dispatch costs more than such a copy. */
static inline void
copy_run(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n > 32) {
        memcpy(dst, src, n);
    } else if (n >= 16) {
        copy_ends(dst, src, n, 16);
    } else if (n >= 8) {
        copy_ends(dst, src, n, 8);
    } else if (n >= 4) {
        copy_ends(dst, src, n, 4);
    } else if (n >= 2) {
        copy_ends(dst, src, n, 2);
    } else if (n) {
        *dst = *src;
    }
}

/* Four pixels at a time, loads before stores: ``restrict`` (sound because
 * paint() rejects buffers overlapping dst and repeated pixels) lets the
 * compiler keep the independent look-ups in flight together. */
static void
blend_loop(uint8_t *restrict dst, const int64_t *restrict at,
           const int64_t *restrict keys, const uint8_t *restrict table,
           Py_ssize_t count)
{
    Py_ssize_t i = 0;
    for (; i + 4 <= count; i += 4) {
        if (i + PREFETCH < count) {
            __builtin_prefetch(dst + at[i + PREFETCH], 1);
        }
        uint8_t a = dst[at[i]], b = dst[at[i + 1]];
        uint8_t c = dst[at[i + 2]], d = dst[at[i + 3]];
        a = table[keys[i] + a];
        b = table[keys[i + 1] + b];
        c = table[keys[i + 2] + c];
        d = table[keys[i + 3] + d];
        dst[at[i]] = a;
        dst[at[i + 1]] = b;
        dst[at[i + 2]] = c;
        dst[at[i + 3]] = d;
    }
    for (; i < count; i++) {
        dst[at[i]] = table[keys[i] + dst[at[i]]];
    }
}

/* Runs in batches, each followed by the blends before the next batch. As runs
 * rise without overlapping, a pixel blended inside a run is still blended
 * after it: this equals all runs, then all blends. */
static void
paint_loop(uint8_t *dst, const int64_t *offsets, const int64_t *lengths,
           const uint8_t *values, Py_ssize_t runs, const int64_t *at,
           const int64_t *keys, const uint8_t *table, Py_ssize_t blends)
{
    Py_ssize_t done = 0;
    for (Py_ssize_t start = 0; start < runs; start += BATCH) {
        Py_ssize_t stop = start + BATCH < runs ? start + BATCH : runs;
        for (Py_ssize_t i = start; i < stop; i++) {
            if (i + PREFETCH < runs) {
                __builtin_prefetch(dst + offsets[i + PREFETCH], 1);
            }
            size_t length = (size_t)lengths[i];
            copy_run(dst + offsets[i], values, length);
            values += length;
        }
        Py_ssize_t upto = done;
        if (stop < runs) {
            while (upto < blends && at[upto] < offsets[stop]) {
                upto++;
            }
        } else {
            upto = blends;
        }
        blend_loop(dst, at + done, keys + done, table, upto - done);
        done = upto;
    }
    blend_loop(dst, at + done, keys + done, table, blends - done);
}

static PyObject *
paint(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[6] = {"offsets", "lengths", "values",
                                         "at",      "keys",    "table"};
    static const Py_ssize_t sizes[6] = {8, 8, 1, 8, 8, 1};
    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError, "paint() takes exactly 7 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    Py_buffer views[7];
    Py_ssize_t extent;
    if (get_plane(args[0], &views[0], &extent) < 0) {
        return NULL;
    }
    for (int i = 1; i < 7; i++) {
        if (get_array(args[i], &views[i], sizes[i - 1], names[i - 1]) < 0) {
            release_all(views, i);
            return NULL;
        }
    }
    uint8_t *dst = views[0].buf;
    const int64_t *offsets = views[1].buf, *lengths = views[2].buf;
    const int64_t *at = views[4].buf, *keys = views[5].buf;
    const uint8_t *values = views[3].buf, *table = views[6].buf;
    Py_ssize_t runs = views[1].len / 8, blends = views[4].len / 8;
    if (views[2].len / 8 != runs || views[5].len / 8 != blends) {
        PyErr_SetString(PyExc_ValueError,
                        "offsets and lengths, at and keys must pair up");
        goto fail;
    }
    for (int i = 1; i < 7; i++) {
        if (overlap(dst, extent, views[i].buf, views[i].len)) {
            PyErr_Format(PyExc_ValueError, "%s overlaps dst", names[i - 1]);
            goto fail;
        }
    }
    if (!runs_ok(offsets, lengths, runs, extent, views[3].len)) {
        PyErr_SetString(PyExc_ValueError,
                        "runs must rise inside dst without overlapping, "
                        "and values hold exactly their bytes");
        goto fail;
    }
    if (!blends_ok(at, keys, blends, extent, views[6].len)) {
        PyErr_SetString(PyExc_ValueError,
                        "blended pixels must rise strictly inside dst, "
                        "and keys leave a 256-byte row of the table");
        goto fail;
    }
    PyThreadState *state = NULL;
    if (views[3].len + blends >= GIL_THRESHOLD) {
        state = PyEval_SaveThread();
    }
    paint_loop(dst, offsets, lengths, values, runs, at, keys, table, blends);
    if (state != NULL) {
        PyEval_RestoreThread(state);
    }
    release_all(views, 7);
    Py_RETURN_NONE;
fail:
    release_all(views, 7);
    return NULL;
}

static PyObject *
blit(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "blit() takes exactly 4 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    Py_ssize_t top = PyLong_AsSsize_t(args[2]), left = PyLong_AsSsize_t(args[3]);
    if ((top == -1 || left == -1) && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer views[2];
    if (get_rows(args[0], &views[0], PyBUF_WRITABLE, "dst") < 0) {
        return NULL;
    }
    if (get_rows(args[1], &views[1], 0, "src") < 0) {
        release_all(views, 1);
        return NULL;
    }
    Py_buffer *dst = &views[0], *src = &views[1];
    Py_ssize_t rows = src->shape[0], cols = src->shape[1];
    if (top < 0 || left < 0 || rows > dst->shape[0] - top ||
        cols > dst->shape[1] - left) {
        PyErr_SetString(PyExc_ValueError, "src does not fit in dst at that place");
        goto fail;
    }
    if (overlap(dst->buf, span(dst), src->buf, span(src))) {
        PyErr_SetString(PyExc_ValueError, "src overlaps dst");
        goto fail;
    }
    if (rows == 0 || cols == 0) {
        release_all(views, 2);
        Py_RETURN_NONE;
    }
    uint8_t *out = (uint8_t *)dst->buf + top * dst->strides[0] + left;
    const uint8_t *in = src->buf;
    Py_ssize_t out_stride = dst->strides[0], in_stride = src->strides[0];
    PyThreadState *state = NULL;
    if (rows * cols >= GIL_THRESHOLD) {
        state = PyEval_SaveThread();
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        /* Each destination row starts in a page the hardware prefetcher will
         * not enter by itself: ask for the row after next early. */
        if (r + 2 < rows) {
            const uint8_t *ahead = out + (r + 2) * out_stride;
            for (Py_ssize_t c = 0; c < cols; c += 64) {
                __builtin_prefetch(ahead + c, 1);
            }
        }
        memcpy(out + r * out_stride, in + r * in_stride, (size_t)cols);
    }
    if (state != NULL) {
        PyEval_RestoreThread(state);
    }
    release_all(views, 2);
    Py_RETURN_NONE;
fail:
    release_all(views, 2);
    return NULL;
}

static PyObject *
fill_columns(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError,
                     "fill_columns() takes exactly 4 arguments (%zd given)", nargs);
        return NULL;
    }
    Py_ssize_t left = PyLong_AsSsize_t(args[1]), right = PyLong_AsSsize_t(args[2]);
    long value = PyLong_AsLong(args[3]);
    if ((left == -1 || right == -1 || value == -1) && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (get_rows(args[0], &view, PyBUF_WRITABLE, "dst") < 0) {
        return NULL;
    }
    if (left < 0 || right < left || right > view.shape[1] || value < 0 ||
        value > 255) {
        PyErr_SetString(PyExc_ValueError,
                        "columns must lie inside dst and value be a byte");
        PyBuffer_Release(&view);
        return NULL;
    }
    uint8_t *first = (uint8_t *)view.buf + left;
    Py_ssize_t rows = view.shape[0], stride = view.strides[0];
    size_t width = (size_t)(right - left);
    PyThreadState *state = NULL;
    if (rows * (Py_ssize_t)width >= GIL_THRESHOLD) {
        state = PyEval_SaveThread();
    }
    /* A narrow band down a panel strip: one line per row, each in another
     * page, so ask a few rows ahead. */
    for (Py_ssize_t r = 0; width && r < rows; r++) {
        if (r + 4 < rows) {
            __builtin_prefetch(first + (r + 4) * stride, 1);
        }
        memset(first + r * stride, (int)value, width);
    }
    if (state != NULL) {
        PyEval_RestoreThread(state);
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"paint", (PyCFunction)(void (*)(void))paint, METH_FASTCALL,
     "paint(dst, offsets, lengths, values, at, keys, table): copy byte runs "
     "into dst, then dst[at[i]] = table[keys[i] + dst[at[i]]]."},
    {"blit", (PyCFunction)(void (*)(void))blit, METH_FASTCALL,
     "blit(dst, src, top, left): copy 2-D src into dst at row top, column left."},
    {"fill_columns", (PyCFunction)(void (*)(void))fill_columns, METH_FASTCALL,
     "fill_columns(dst, left, right, value): dst[:, left:right] = value."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "media_core.draw._paint",
    .m_doc = "Compiled per-frame plane writes (see _paint.c).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__paint(void)
{
    return PyModule_Create(&module_def);
}
