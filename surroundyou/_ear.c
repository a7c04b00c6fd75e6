/* One ear of a binaural source, per frame in one pass (surroundyou/binaural.py, _Source.process).

   The same arithmetic as numpy would do in float32, step by step (built with -ffp-contract=off, so
   no fused multiply-adds): gains and delay interpolated linearly between the motion grid's points,
   the head shadow's mix g_low·LP(x) + g_direct·x, then, for the far ear, an order-3 Lagrange
   fractional delay of that mix, or, for the near ear, one whole frame. In numpy that is about
   thirty full-length passes with their temporaries; here it is one, with the GIL released. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#define GRID_SHIFT 6 /* motion.GRID = 64 frames between grid points */
#define GRID (1 << GRID_SHIFT)
#define GRID_MASK (GRID - 1)

static float RAMP[GRID]; /* j / GRID: motion._RAMP */

static inline float lagrange(float p0, float p1, float p2, float p3, float d) {
    /* The cubic through p0..p3 (at 0..3) at d: Newton form by Horner's rule. */
    float step = p2 - p1;
    float d3 = (p3 - p0) - step * 3.0f;
    d3 = d3 * (float)(1.0 / 6.0);
    float d1 = p1 - p0;
    float d2 = (step - d1) * 0.5f;
    float t = (d - 2.0f) * d3;
    t = (t + d2) * (d - 1.0f);
    t = (t + d1) * d;
    return t + p0;
}

static int buffer(PyObject *obj, Py_buffer *view, int writable, const char *name) {
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE | PyBUF_FORMAT : PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != 4 || view->format == NULL || strcmp(view->format, "f") != 0) {
        PyErr_Format(PyExc_TypeError, "ear: %s must be contiguous float32", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(ear_doc,
             "ear(out, line, low, x, g_low, g_direct, delay, skip)\n\n"
             "out[i] = the delay line ``line`` read ``delay`` frames back (None: one frame), after writing\n"
             "g_low·low + g_direct·x into it. ``line``: the line's history (its first len(line) - n frames)\n"
             "followed by room for the n new ones. g_low, g_direct and delay: values on the motion grid,\n"
             "frame i at grid position skip + i. Delays in frames, at least 1 and under len(line) - n - 1.");

static PyObject *ear(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *objs[7];
    Py_ssize_t skip;
    if (!PyArg_ParseTuple(args, "OOOOOOOn:ear", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &objs[5],
                          &objs[6], &skip))
        return NULL;
    static const char *names[7] = {"out", "line", "low", "x", "g_low", "g_direct", "delay"};
    Py_buffer views[7];
    int got = 0, fail = 0;
    int delayed = objs[6] != Py_None;
    int count = delayed ? 7 : 6;
    for (; got < count; got++) {
        if (buffer(objs[got], &views[got], got < 2, names[got]) < 0) {
            fail = 1;
            break;
        }
    }
    Py_ssize_t n = 0, history = 0, points = 0;
    if (!fail) {
        n = views[0].len / 4;
        history = views[1].len / 4 - n;
        points = views[4].len / 4;
        Py_ssize_t need = skip < 0 || n == 0 ? 0 : ((skip + n - 1) >> GRID_SHIFT) + 2;
        if (views[2].len / 4 != n || views[3].len / 4 != n || history < 4 || skip < 0 || points < need ||
            views[5].len / 4 != points || (delayed && views[6].len / 4 != points)) {
            PyErr_SetString(PyExc_ValueError, "ear: arrays of inconsistent lengths");
            fail = 1;
        }
    }
    int out_of_range = 0;
    if (!fail) {
        float *out = views[0].buf, *line = (float *)views[1].buf + history;
        const float *low = views[2].buf, *x = views[3].buf, *g_low = views[4].buf, *g_direct = views[5].buf;
        const float *delay = delayed ? views[6].buf : NULL;
        Py_BEGIN_ALLOW_THREADS;
        /* Cell by cell of the grid, so that each value is its cell's left point plus a ramp:
           numpy's (v[c + 1] - v[c]) * ((frame mod 64) / 64) + v[c]. */
        for (Py_ssize_t i = 0; i < n;) {
            Py_ssize_t at = skip + i, cell = at >> GRID_SHIFT, first = at & GRID_MASK;
            Py_ssize_t m = (GRID - first < n - i) ? GRID - first : n - i;
            const float *ramp = RAMP + first;
            float a0 = g_low[cell], a1 = g_low[cell + 1] - a0, b0 = g_direct[cell], b1 = g_direct[cell + 1] - b0;
            float *line_i = line + i, *out_i = out + i;
            const float *low_i = low + i, *x_i = x + i;
            for (Py_ssize_t j = 0; j < m; j++) line_i[j] = (a1 * ramp[j] + a0) * low_i[j] + (b1 * ramp[j] + b0) * x_i[j];
            i += m;
            if (!delayed) {
                for (Py_ssize_t j = 0; j < m; j++) out_i[j] = line_i[j - 1];
                continue;
            }
            /* Within a cell the delay is linear, so its ends bound it (float rounding is monotonic). */
            float d0 = delay[cell], d1 = delay[cell + 1] - d0;
            float first_d = d1 * ramp[0] + d0, last_d = d1 * ramp[m - 1] + d0;
            if (!(fminf(first_d, last_d) >= 1.0f && fmaxf(first_d, last_d) < (float)(history - 1))) { /* NaN too */
                out_of_range = 1;
                break;
            }
            Py_ssize_t whole = (Py_ssize_t)first_d; /* floor: the delay is positive */
            if (whole == (Py_ssize_t)last_d) {
                /* The usual case: one whole delay over the cell, so the stencil slides (vectorised). */
                const float *p = line_i + 1 - whole; /* p[j] is frame j delayed by whole - 1 */
                float w = (float)whole;
                for (Py_ssize_t j = 0; j < m; j++)
                    out_i[j] = lagrange(p[j], p[j - 1], p[j - 2], p[j - 3], ((d1 * ramp[j] + d0) - w) + 1.0f);
            } else {
                for (Py_ssize_t j = 0; j < m; j++) {
                    float d = d1 * ramp[j] + d0;
                    Py_ssize_t k = (Py_ssize_t)d;
                    const float *p = line_i + j + 1 - k;
                    out_i[j] = lagrange(p[0], p[-1], p[-2], p[-3], (d - (float)k) + 1.0f);
                }
            }
        }
        Py_END_ALLOW_THREADS;
        if (out_of_range) {
            PyErr_SetString(PyExc_ValueError, "ear: a delay outside the line");
            fail = 1;
        }
    }
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    if (fail) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"ear", ear, METH_VARARGS, ear_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ear",
    .m_doc = "One binaural ear per frame in one pass.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__ear(void) {
    for (int j = 0; j < GRID; j++) RAMP[j] = (float)j / GRID;
    return PyModule_Create(&module);
}
