/* Buffer helpers shared by the compiled drawing kernels (_paint.c, _stroke.c).
 *
 * Each kernel is its own extension module and includes this file: the
 * helpers are static, so each module gets its own copy and no symbol is
 * shared between them.
 */
#ifndef MEDIA_CORE_DRAW_PLANES_H
#define MEDIA_CORE_DRAW_PLANES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* Releasing the GIL costs a little and taking it back may wait for another
 * thread's switch interval, so short loops keep it (as numpy does). */
#define GIL_THRESHOLD 2048

static void
release_all(Py_buffer *views, int count)
{
    for (int i = 0; i < count; i++) {
        PyBuffer_Release(&views[i]);
    }
}

/* Whether the n bytes at a and the m bytes at b share any. */
static int
overlap(const void *a, Py_ssize_t n, const void *b, Py_ssize_t m)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return n > 0 && m > 0 && x < y + (uintptr_t)m && y < x + (uintptr_t)n;
}

/* A 2-D byte view with contiguous rows, or an error. */
static int
get_rows(PyObject *obj, Py_buffer *view, int flags, const char *name)
{
    if (PyObject_GetBuffer(obj, view, flags | PyBUF_STRIDES) < 0) {
        return -1;
    }
    if (view->itemsize != 1 || view->ndim != 2 || view->strides[1] != 1 ||
        view->strides[0] < 0) {
        PyErr_Format(PyExc_ValueError, "%s must be 2-D bytes with contiguous rows",
                     name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* How many bytes a 2-D view spans from its first byte. */
static Py_ssize_t
span(const Py_buffer *view)
{
    if (view->shape[0] == 0 || view->shape[1] == 0) {
        return 0;
    }
    return (view->shape[0] - 1) * view->strides[0] + view->shape[1];
}

/* The one item code of a buffer's format ("<q", "=i", "l", ...) in native
 * byte order, or 0 for anything else (several items, a foreign order). */
static char
format_code(const char *format)
{
    if (format == NULL) {
        return 0;
    }
    if (*format == '@' || *format == '=' || (PY_LITTLE_ENDIAN && *format == '<') ||
        (!PY_LITTLE_ENDIAN && *format == '>')) {
        format++;
    }
    return format[0] != '\0' && format[1] == '\0' ? format[0] : 0;
}

#endif /* MEDIA_CORE_DRAW_PLANES_H */
