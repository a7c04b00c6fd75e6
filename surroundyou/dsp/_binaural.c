/* The binaural renderer's per-frame loops (surroundyou/dsp/binaural.py), each one pass over a block
   with the GIL released, where numpy took a dozen to thirty passes and their temporaries:

   split_bass  the input's bass (two first-order low-passes per channel) and what is above it;
   shade       per source: the rear shelf mixed in by its weight on the motion grid and the front/back
               bands by their facing weight, then the head shadow's low-pass;
   ear         per ear: the head shadow's mix g_low·LP(x) + g_direct·x, gains interpolated on the
               motion grid, then, for the far ear, an order-3 Lagrange fractional delay.

   The filters run in double precision (their recursions per channel and stage are independent, so
   the processor overlaps them: pedalboard ran one pass per section and channel). ``ear`` does what
   numpy did in float32, step by step (built with -ffp-contract=off: no fused multiply-adds).

   The constants below are exported by the module; motion.py and binaural.py read them from here. */

#include "_buffers.h"
#include <math.h>

#define GRID_SHIFT 6
#define GRID (1 << GRID_SHIFT) /* motion.GRID: 64 frames keep the error < 1e-4 at a 2 s circle and 8 kHz */
#define GRID_MASK (GRID - 1)
#define TAPS 4       /* the order-3 Lagrange stencil p0..p3 */
#define BASE_DELAY 1 /* frames: the stencil reaches one frame ahead of the delay, so no delay is shorter */
#define BASS_STATE 8 /* split_bass: per channel and section x[-1], y[-1] */
#define SHADE_STATE 4 /* shade: per section x[-1], y[-1] */
#define BAND_FIELDS 7 /* shade: per front/back band b0 b1 b2 a1 a2 m s */
#define BAND_STATE 2  /* shade: per band, the biquad's two delays */
#define BANDS 6       /* shade: front/back bands, always this many (unused ones all zeros) */
#define PAIRS (BANDS / 2)
typedef double v2d __attribute__((vector_size(16)));

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

PyDoc_STRVAR(ear_doc,
             "ear($module, out, line, low, x, g_low, g_direct, delay, skip, /)\n--\n\n"
             "out[i] = the delay line ``line`` read ``delay`` frames back (None: BASE_DELAY), after writing\n"
             "g_low·low + g_direct·x into it. ``line``: the line's history (its first len(line) - n frames)\n"
             "followed by room for the n new ones. g_low, g_direct and delay: values on the motion grid,\n"
             "frame i at grid position skip + i. Delays in frames, at least BASE_DELAY and under len(line) - n - 1.");

static PyObject *ear(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *objs[7];
    Py_ssize_t skip;
    if (!PyArg_ParseTuple(args, "OOOOOOOn:ear", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &objs[5],
                          &objs[6], &skip))
        return NULL;
    static const char *const names[7] = {"out", "line", "low", "x", "g_low", "g_direct", "delay"};
    Py_buffer views[7];
    if (get_buffers(objs, views, 7, 0x3, "fffffff", "ear", names) < 0) return NULL;
    int fail = 0, delayed = views[6].buf != NULL;
    Py_ssize_t n = views[0].len / 4, history = views[1].len / 4 - n, points = views[4].len / 4;
    Py_ssize_t need = skip < 0 || n == 0 ? 0 : ((skip + n - 1) >> GRID_SHIFT) + 2;
    if (views[2].len / 4 != n || views[3].len / 4 != n || history < TAPS || skip < 0 || points < need ||
        views[5].len / 4 != points || (delayed && views[6].len / 4 != points)) {
        PyErr_SetString(PyExc_ValueError, "ear: arrays of inconsistent lengths");
        fail = 1;
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
                for (Py_ssize_t j = 0; j < m; j++) out_i[j] = line_i[j - BASE_DELAY];
                continue;
            }
            /* Within a cell the delay is linear, so its ends bound it (float rounding is monotonic). */
            float d0 = delay[cell], d1 = delay[cell + 1] - d0;
            float first_d = d1 * ramp[0] + d0, last_d = d1 * ramp[m - 1] + d0;
            if (!(fminf(first_d, last_d) >= (float)BASE_DELAY &&
                  fmaxf(first_d, last_d) < (float)(history - 1))) { /* NaN too */
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
    release_buffers(views, 7);
    if (fail) return NULL;
    Py_RETURN_NONE;
}

/* One first-order section, y = b0·x + b1·x[-1] - a1·y[-1]; s: x[-1], y[-1]. */
static inline double first_order(const double *c, double *s, double x) {
    double y = (c[0] * x + c[1] * s[0]) - c[2] * s[1];
    s[0] = x, s[1] = y;
    return y;
}

PyDoc_STRVAR(split_bass_doc,
             "split_bass($module, highs, bass, block, coefficients, state, /)\n--\n\n"
             "block: (2, n) float32; bass: n float32, the mean of the channels' low-passed signals; highs:\n"
             "(2, n), each channel less its low-passed signal. The low-pass: two first-order sections, both\n"
             "b0 b1 a1 = coefficients (3 float64); state: BASS_STATE float64 (per channel and section x[-1], y[-1]).");

static PyObject *split_bass(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *objs[5];
    if (!PyArg_ParseTuple(args, "OOOOO:split_bass", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4])) return NULL;
    static const char *const names[5] = {"highs", "bass", "block", "coefficients", "state"};
    Py_buffer views[5];
    if (get_buffers(objs, views, 5, 0x3, "fffdd", "split_bass", names) < 0) return NULL;
    Py_ssize_t n = views[1].len / 4;
    if (views[0].len != 2 * n * 4 || views[2].len != 2 * n * 4 || views[3].len != 3 * 8 ||
        views[4].len != BASS_STATE * 8) {
        release_buffers(views, 5);
        PyErr_SetString(PyExc_ValueError, "split_bass: arrays of inconsistent lengths");
        return NULL;
    }
    float *highs = views[0].buf, *bass = views[1].buf;
    const float *block = views[2].buf;
    const double *c = views[3].buf;
    double *s = views[4].buf;
    Py_BEGIN_ALLOW_THREADS;
    const float *left = block, *right = block + n;
    for (Py_ssize_t i = 0; i < n; i++) { /* four recursions, independent of each other across frames */
        double l = first_order(c, s + 2, first_order(c, s, left[i]));
        double r = first_order(c, s + 6, first_order(c, s + 4, right[i]));
        highs[i] = (float)(left[i] - l);
        highs[n + i] = (float)(right[i] - r);
        bass[i] = (float)(0.5 * (l + r));
    }
    Py_END_ALLOW_THREADS;
    release_buffers(views, 5);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(shade_doc,
             "shade($module, mixed, low, x, rear, skip, rear_gain, coefficients, state, facing, bands, band_state, /)\n--\n\n"
             "mixed[i] = y[i] + sum over bands k of (m_k + s_k·facing(i))·BP_k(y)[i], y = x + rear_gain·rear·HP(x)\n"
             "(rear: the rear weight on the motion grid, frame i at grid position skip + i; None: 0, but HP still\n"
             "runs to keep its state; facing: -cos of the azimuth on the same grid, None: no bands), low = LP(mixed).\n"
             "coefficients: b0 b1 a1 of the shelf's high-pass, then of the shadow's low-pass (6 float64);\n"
             "state: SHADE_STATE float64 (each section's x[-1], y[-1]); bands: per band b0 b1 b2 a1 a2 m s\n"
             "(BANDS x BAND_FIELDS float64, a0 = 1); band_state: BANDS x BAND_STATE float64 (transposed direct form II).");

static PyObject *shade(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *objs[9];
    Py_ssize_t skip;
    double rear_gain;
    if (!PyArg_ParseTuple(args, "OOOOndOOOOO:shade", &objs[0], &objs[1], &objs[2], &objs[3], &skip, &rear_gain,
                          &objs[4], &objs[5], &objs[6], &objs[7], &objs[8]))
        return NULL;
    static const char *const names[9] = {"mixed", "low", "x", "rear", "coefficients", "state", "facing", "bands",
                                         "band_state"};
    Py_buffer views[9];
    if (get_buffers(objs, views, 9, 0x123, "ffffddfdd", "shade", names) < 0) return NULL;
    Py_ssize_t n = views[2].len / 4, points = views[3].len / 4;
    int behind = views[3].buf != NULL, facing_given = views[6].buf != NULL;
    Py_ssize_t need = n == 0 ? 0 : ((skip + n - 1) >> GRID_SHIFT) + 2;
    if (views[0].len != n * 4 || views[1].len != n * 4 || skip < 0 || (behind && points < need) ||
        views[4].len != 6 * 8 || views[5].len != SHADE_STATE * 8 ||
        (facing_given && (views[6].len / 4 < need || views[7].len != BANDS * BAND_FIELDS * 8 ||
                          views[8].len != BANDS * BAND_STATE * 8))) {
        release_buffers(views, 9);
        PyErr_SetString(PyExc_ValueError, "shade: arrays of inconsistent lengths");
        return NULL;
    }
    float *mixed = views[0].buf, *low = views[1].buf;
    const float *x = views[2].buf, *rear = views[3].buf, *facing = views[6].buf;
    const double *c = views[4].buf, *band = views[7].buf;
    double *s = views[5].buf, *band_s = views[8].buf;
    Py_BEGIN_ALLOW_THREADS;
    /* The six bands as three pairs in GCC/Clang vector types (portable: SSE2 on x86-64, NEON on arm64):
       their recursions are independent, so each pair runs in one register. */
    v2d b0[PAIRS], b1[PAIRS], b2[PAIRS], a1[PAIRS], a2[PAIRS], mean[PAIRS], swing[PAIRS], z0[PAIRS], z1[PAIRS];
    for (int k = 0; k < BANDS && facing_given; k++) {
        const double *b = band + k * BAND_FIELDS;
        int p = k / 2, lane = k % 2;
        b0[p][lane] = b[0], b1[p][lane] = b[1], b2[p][lane] = b[2], a1[p][lane] = b[3], a2[p][lane] = b[4];
        mean[p][lane] = b[5], swing[p][lane] = b[6];
        z0[p][lane] = band_s[k * BAND_STATE], z1[p][lane] = band_s[k * BAND_STATE + 1];
    }
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t at = skip + i, cell = at >> GRID_SHIFT, first = at & GRID_MASK;
        Py_ssize_t m = (GRID - first < n - i) ? GRID - first : n - i;
        double w0 = behind ? rear[cell] : 0.0, w1 = behind ? rear[cell + 1] - rear[cell] : 0.0;
        if (!facing_given) { /* the shelf alone (rear_cue off): no band arithmetic in the loop */
            for (Py_ssize_t j = 0; j < m; j++) {
                double in = x[i + j];
                double out = in + rear_gain * (w1 * RAMP[first + j] + w0) * first_order(c, s, in);
                mixed[i + j] = (float)out;
                low[i + j] = (float)first_order(c + 3, s + 2, out);
            }
            i += m;
            continue;
        }
        double u0 = facing[cell], u1 = facing[cell + 1] - facing[cell];
        for (Py_ssize_t j = 0; j < m; j++) {
            double in = x[i + j];
            double shelved = in + rear_gain * (w1 * RAMP[first + j] + w0) * first_order(c, s, in);
            double u = u1 * RAMP[first + j] + u0;
            v2d sum = {0.0, 0.0};
            for (int p = 0; p < PAIRS; p++) { /* transposed direct form II, in series with the shelf */
                v2d y = b0[p] * shelved + z0[p];
                z0[p] = (b1[p] * shelved - a1[p] * y) + z1[p];
                z1[p] = b2[p] * shelved - a2[p] * y;
                sum += (mean[p] + swing[p] * u) * y;
            }
            double out = shelved + (sum[0] + sum[1]);
            mixed[i + j] = (float)out;
            low[i + j] = (float)first_order(c + 3, s + 2, out);
        }
        i += m;
    }
    for (int k = 0; k < BANDS && facing_given; k++)
        band_s[k * BAND_STATE] = z0[k / 2][k % 2], band_s[k * BAND_STATE + 1] = z1[k / 2][k % 2];
    Py_END_ALLOW_THREADS;
    release_buffers(views, 9);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ear", ear, METH_VARARGS, ear_doc},
    {"split_bass", split_bass, METH_VARARGS, split_bass_doc},
    {"shade", shade, METH_VARARGS, shade_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_binaural",
    .m_doc = "The binaural renderer's per-frame loops.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__binaural(void) {
    for (int j = 0; j < GRID; j++) RAMP[j] = (float)j / GRID;
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntMacro(m, GRID) < 0 || PyModule_AddIntMacro(m, TAPS) < 0 ||
              PyModule_AddIntMacro(m, BASE_DELAY) < 0 || PyModule_AddIntMacro(m, BASS_STATE) < 0 ||
              PyModule_AddIntMacro(m, SHADE_STATE) < 0 ||
              PyModule_AddIntMacro(m, BAND_FIELDS) < 0 || PyModule_AddIntMacro(m, BAND_STATE) < 0 || PyModule_AddIntMacro(m, BANDS) < 0))
        Py_CLEAR(m);
    return m;
}
