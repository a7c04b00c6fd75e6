/* Shared by the C loops: a numpy array's memory as a contiguous buffer of the expected type. */

#ifndef SURROUNDYOU_BUFFERS_H
#define SURROUNDYOU_BUFFERS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* format "f": float32, "d": float64. On failure sets a TypeError naming the function and argument. */
static int get_buffer(PyObject *obj, Py_buffer *view, int writable, const char *format, const char *function,
                      const char *name) {
    if (PyObject_GetBuffer(obj, view, (writable ? PyBUF_WRITABLE : 0) | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->format == NULL || strcmp(view->format, format) != 0) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be contiguous %s", function, name,
                     format[0] == 'f' ? "float32" : "float64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* views[i] from objs[i] for i < count, of type formats[i], writable where bit i of ``writable`` is
   set; a None object gives an empty view (buf NULL). Returns 0, or -1 with nothing held and an
   error set. */
static int get_buffers(PyObject **objs, Py_buffer *views, int count, unsigned writable, const char *formats,
                       const char *function, const char *const *names) {
    for (int i = 0; i < count; i++) {
        if (objs[i] == Py_None) {
            views[i].obj = NULL;
            views[i].buf = NULL;
            views[i].len = 0;
            continue;
        }
        char format[2] = {formats[i], 0};
        if (get_buffer(objs[i], &views[i], (writable >> i) & 1u, format, function, names[i]) < 0) {
            for (int k = 0; k < i; k++)
                if (views[k].obj) PyBuffer_Release(&views[k]);
            return -1;
        }
    }
    return 0;
}

static void release_buffers(Py_buffer *views, int count) {
    for (int i = 0; i < count; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
}

#endif
