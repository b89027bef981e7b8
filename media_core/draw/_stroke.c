/* Anti-aliased thick polylines into a yuv420p box, compiled.
 *
 *   stroke(y, u, v, points, colour, thickness)
 *       strokes the polyline through ``points`` (a contiguous int32 (n, 2)
 *       array of luma (x, y) in 1/16 pixel, each joined to the next) with
 *       round caps and joins, ``thickness`` luma pixels wide, in ``colour``
 *       (3 bytes: Y, U, V). ``y`` is a 2-D plane with contiguous rows (line
 *       padding allowed); ``u`` and ``v`` are its 4:2:0 chroma planes,
 *       ((rows + 1) / 2, (cols + 1) / 2). Pixels outside the planes are
 *       clipped.
 *
 * The vitals sweeps call this every frame with a few new samples per strip.
 * OpenCV's LINE_AA thick polyline costs about 9 us for such a piece at 4K
 * (it fills a polygon per segment and per round cap), plus two hard-edged
 * chroma passes of about 2 us each: 16 us a strip on a freshly decoded
 * frame's turn, against 6 us here (2 us of it computing, the rest waiting
 * for the strip's rows).
 *
 * Coverage is exact distance-based: a pixel centre at distance d from the
 * polyline is covered by clamp(thickness / 2 + 1 - d, 0, 1), fully within
 * half the thickness and fading over the pixel beyond, as OpenCV's LINE_AA
 * strokes look (the traces keep the weight they had when drawn with it). Each
 * pixel's coverage is the largest over all segments, so a join is blended
 * once (no darker knots where segments meet). Luma blends with its pixel's
 * coverage; each chroma sample with the mean coverage of its 2x2 luma
 * pixels, so colour edges are anti-aliased too. Integer blending: the same
 * bytes on every machine.
 */

#include "_planes.h"

#include <math.h>
#include <string.h>

static int
is_int32_format(const char *format)
{
    char code = format_code(format);
    return code == 'i' || (code == 'l' && sizeof(long) == 4);
}

/* The covered box on the luma plane, chroma-aligned: [x0, x1) x [y0, y1)
 * with x0 and y0 even. Empty when the polyline misses the plane. */
typedef struct {
    Py_ssize_t x0, y0, x1, y1;
} Box;

static Box
cover_box(const int32_t *pts, Py_ssize_t n, double reach, Py_ssize_t cols,
          Py_ssize_t rows)
{
    double lox = INFINITY, loy = INFINITY, hix = -INFINITY, hiy = -INFINITY;
    for (Py_ssize_t i = 0; i < n; i++) {
        double x = pts[2 * i] / 16.0, y = pts[2 * i + 1] / 16.0;
        lox = x < lox ? x : lox;
        hix = x > hix ? x : hix;
        loy = y < loy ? y : loy;
        hiy = y > hiy ? y : hiy;
    }
    /* Clamp in double before converting: int32 / 16 always fits, and the
     * plane's size bounds the result. */
    double fx0 = floor(lox - reach), fy0 = floor(loy - reach);
    double fx1 = ceil(hix + reach) + 1, fy1 = ceil(hiy + reach) + 1;
    Box box;
    box.x0 = fx0 < 0 ? 0 : (fx0 > (double)cols ? cols : (Py_ssize_t)fx0);
    box.y0 = fy0 < 0 ? 0 : (fy0 > (double)rows ? rows : (Py_ssize_t)fy0);
    box.x1 = fx1 < 0 ? 0 : (fx1 > (double)cols ? cols : (Py_ssize_t)fx1);
    box.y1 = fy1 < 0 ? 0 : (fy1 > (double)rows ? rows : (Py_ssize_t)fy1);
    box.x0 &= ~(Py_ssize_t)1;
    box.y0 &= ~(Py_ssize_t)1;
    if (box.x1 <= box.x0 || box.y1 <= box.y0) {
        box.x1 = box.x0;
        box.y1 = box.y0;
    }
    return box;
}

/* One row of one segment's coverage, max-ed into ``row[0..count)``.
 * Between the segment's ends the distance is the distance to its line,
 * linear along the row (an add per pixel, no square root); only the round
 * caps past either end need the distance to the end point. (A branch-free
 * version, vectorised by the compiler, was slower: rows here are a dozen
 * pixels, shorter than the vector loop's set-up pays for.) */
static inline void
cover_row(uint8_t *restrict row, Py_ssize_t count, double px, double py, double dx,
          double dy, double inverse, double across, double reach)
{
    /* Signed distance to the line, and the projection on the segment, at px. */
    double line = (px * dy - py * dx) * across, step = dy * across;
    /* A zero-length segment (a dot) is all cap. */
    double t = inverse > 0 ? (px * dx + py * dy) * inverse : -1.0;
    double t_step = dx * inverse;
    double limit = reach * reach;
    for (Py_ssize_t i = 0; i < count; i++, px += 1.0, line += step, t += t_step) {
        double d;
        if (t >= 0.0 && t <= 1.0) {
            d = line < 0 ? -line : line;
            if (d >= reach) {
                continue;
            }
        } else {
            double ex = t < 0.0 ? px : px - dx, ey = t < 0.0 ? py : py - dy;
            double d2 = ex * ex + ey * ey;
            if (d2 >= limit) {
                continue;
            }
            d = sqrt(d2);
        }
        double c = reach - d;
        int alpha = c >= 1.0 ? 255 : (int)(c * 255.0 + 0.5);
        if (alpha > row[i]) {
            row[i] = (uint8_t)alpha;
        }
    }
}

/* Largest coverage (0..255) of each pixel of ``box`` by each segment, into
 * ``mask`` (``pitch`` bytes a row, zeroed by the caller). */
static void
cover(uint8_t *mask, Py_ssize_t pitch, Box box, const int32_t *pts, Py_ssize_t n,
      double reach)
{
    for (Py_ssize_t s = 0; s < (n > 1 ? n - 1 : 1); s++) {
        const int32_t *a = pts + 2 * s, *b = n > 1 ? a + 2 : a;
        double ax = a[0] / 16.0, ay = a[1] / 16.0;
        double dx = b[0] / 16.0 - ax, dy = b[1] / 16.0 - ay;
        double length2 = dx * dx + dy * dy;
        double inverse = length2 > 0 ? 1.0 / length2 : 0.0;
        double across = length2 > 0 ? 1.0 / sqrt(length2) : 0.0;
        /* This segment's own box, inside the covered one. */
        double sx0 = floor((dx < 0 ? ax + dx : ax) - reach);
        double sx1 = ceil((dx < 0 ? ax : ax + dx) + reach) + 1;
        double sy0 = floor((dy < 0 ? ay + dy : ay) - reach);
        double sy1 = ceil((dy < 0 ? ay : ay + dy) + reach) + 1;
        Py_ssize_t x0 = sx0 < (double)box.x0 ? box.x0 : (Py_ssize_t)sx0;
        Py_ssize_t x1 = sx1 > (double)box.x1 ? box.x1 : (Py_ssize_t)sx1;
        Py_ssize_t y0 = sy0 < (double)box.y0 ? box.y0 : (Py_ssize_t)sy0;
        Py_ssize_t y1 = sy1 > (double)box.y1 ? box.y1 : (Py_ssize_t)sy1;
        for (Py_ssize_t y = y0; y < y1; y++) {
            cover_row(mask + (y - box.y0) * pitch + (x0 - box.x0), x1 - x0, x0 - ax,
                      y - ay, dx, dy, inverse, across, reach);
        }
    }
}

/* Blend ``colour`` into the planes by the mask's coverage. */
static void
blend(Py_buffer *planes, const uint8_t *mask, Py_ssize_t pitch, Box box,
      const uint8_t *colour)
{
    Py_ssize_t stride = planes[0].strides[0];
    int value = colour[0];
    for (Py_ssize_t y = box.y0; y < box.y1; y++) {
        uint8_t *out = (uint8_t *)planes[0].buf + y * stride;
        const uint8_t *row = mask + (y - box.y0) * pitch;
        for (Py_ssize_t x = box.x0; x < box.x1; x++) {
            int a = row[x - box.x0];
            if (a) {
                out[x] = (uint8_t)((out[x] * (255 - a) + value * a + 127) / 255);
            }
        }
    }
    /* The mask has an even number of rows and columns, zero past the box. */
    Py_ssize_t cy0 = box.y0 / 2, cy1 = (box.y1 + 1) / 2;
    Py_ssize_t cx0 = box.x0 / 2, cx1 = (box.x1 + 1) / 2;
    for (int p = 1; p < 3; p++) {
        Py_ssize_t chroma_stride = planes[p].strides[0];
        value = colour[p];
        for (Py_ssize_t cy = cy0; cy < cy1; cy++) {
            uint8_t *out = (uint8_t *)planes[p].buf + cy * chroma_stride;
            const uint8_t *top = mask + (2 * cy - box.y0) * pitch;
            const uint8_t *bottom = top + pitch;
            for (Py_ssize_t cx = cx0; cx < cx1; cx++) {
                Py_ssize_t m = 2 * cx - box.x0;
                int s = top[m] + top[m + 1] + bottom[m] + bottom[m + 1];
                if (s) {
                    out[cx] = (uint8_t)((out[cx] * (1020 - s) + value * s + 510) / 1020);
                }
            }
        }
    }
}

static PyObject *
stroke(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[3] = {"y", "u", "v"};
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "stroke() takes exactly 6 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    double thickness = PyFloat_AsDouble(args[5]);
    if (thickness == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (!(thickness >= 1.0 && thickness <= 256.0)) {
        PyErr_SetString(PyExc_ValueError, "thickness must be 1 to 256 pixels");
        return NULL;
    }
    Py_buffer views[5];
    int held = 0;
    for (; held < 3; held++) {
        if (get_rows(args[held], &views[held], PyBUF_WRITABLE, names[held]) < 0) {
            release_all(views, held);
            return NULL;
        }
    }
    if (PyObject_GetBuffer(args[3], &views[3], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) <
        0) {
        release_all(views, held);
        return NULL;
    }
    held++;
    if (PyObject_GetBuffer(args[4], &views[4], PyBUF_SIMPLE) < 0) {
        release_all(views, held);
        return NULL;
    }
    held++;
    Py_buffer *points = &views[3];
    Py_ssize_t rows = views[0].shape[0], cols = views[0].shape[1];
    Py_ssize_t chroma_rows = (rows + 1) / 2, chroma_cols = (cols + 1) / 2;
    if (views[1].shape[0] != chroma_rows || views[1].shape[1] != chroma_cols ||
        views[2].shape[0] != chroma_rows || views[2].shape[1] != chroma_cols) {
        PyErr_SetString(PyExc_ValueError, "u and v must be y's 4:2:0 chroma planes");
        goto fail;
    }
    if (points->itemsize != 4 || !is_int32_format(points->format) ||
        points->ndim != 2 || points->shape[1] != 2) {
        PyErr_SetString(PyExc_ValueError, "points must be a contiguous int32 (n, 2) array");
        goto fail;
    }
    if (views[4].len != 3) {
        PyErr_SetString(PyExc_ValueError, "colour must be 3 bytes: Y, U, V");
        goto fail;
    }
    for (int i = 0; i < 3; i++) {
        for (int j = i + 1; j < 5; j++) {
            Py_ssize_t other = j < 3 ? span(&views[j]) : views[j].len;
            if (overlap(views[i].buf, span(&views[i]), views[j].buf, other)) {
                PyErr_Format(PyExc_ValueError, "%s overlaps another argument",
                             names[i]);
                goto fail;
            }
        }
    }
    Py_ssize_t n = points->shape[0];
    /* Coverage reaches half the thickness and the 1-pixel ramp beyond. */
    double reach = thickness / 2.0 + 1.0;
    Box box = n ? cover_box(points->buf, n, reach, cols, rows) : (Box){0, 0, 0, 0};
    if (box.x1 > box.x0) {
        /* Even width and height, so every chroma sample's 2x2 block is in it. */
        Py_ssize_t pitch = (box.x1 - box.x0 + 1) & ~(Py_ssize_t)1;
        Py_ssize_t height = (box.y1 - box.y0 + 1) & ~(Py_ssize_t)1;
        uint8_t *mask = PyMem_Calloc((size_t)(pitch * height), 1);
        if (mask == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        cover(mask, pitch, box, points->buf, n, reach);
        blend(views, mask, pitch, box, views[4].buf);
        PyMem_Free(mask);
    }
    release_all(views, held);
    Py_RETURN_NONE;
fail:
    release_all(views, held);
    return NULL;
}

static PyMethodDef methods[] = {
    {"stroke", (PyCFunction)(void (*)(void))stroke, METH_FASTCALL,
     "stroke(y, u, v, points, colour, thickness): an anti-aliased polyline "
     "through int32 (n, 2) points in 1/16 luma pixel, into a yuv420p box."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "media_core.draw._stroke",
    .m_doc = "Compiled anti-aliased polyline strokes (see _stroke.c).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__stroke(void)
{
    return PyModule_Create(&module_def);
}
