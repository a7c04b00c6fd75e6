/* The limiter's per-frame loops (surroundyou/dsp/limiter.py), each one pass with the GIL released:

   peaks    the true-peak detector (TruePeakLimiter.peaks);
   hold     the gain's hold and attack: the running minimum of the needed gains over the window,
            then its moving average over the look-ahead (numpy: about ten passes; the same values);
   release  the release, g[i] = min(g[i], g[i - 1] + rate) (numpy's minimum.accumulate; the same).

   peaks: for each detection frame: the largest sample magnitude over the channels, raised to the largest
   4x-interpolated point between the samples where that could reach the threshold (BS.1770's
   true-peak method, decided per CHUNK of frames as in numpy before: a chunk is interpolated
   only if WORST_GAIN times the largest sample it is made of exceeds the threshold). One pass for
   the magnitudes, then the interpolation of the hot chunks, vectorised over the chunk's frames;
   the GIL is released. numpy needed about ten passes and a matrix product per block.

   The interpolator's shape is fixed here, where the loops are compiled for it: the module exports
   OVERSAMPLE, TAPS_PER_PHASE and DETECT_DELAY, and limiter.py reads them from it. */

#include "_buffers.h"
#include <math.h>

#define TAPS_PER_PHASE 12
#define OVERSAMPLE 4
#define DETECT_DELAY (TAPS_PER_PHASE / 2) /* frames the detection lags the samples */
#define CHUNK 32                          /* frames per decision whether to interpolate */

static inline float chunk_max(const float *magnitude, Py_ssize_t from, Py_ssize_t to) {
    float m = 0.0f;
    for (Py_ssize_t k = from; k < to; k++) m = magnitude[k] > m ? magnitude[k] : m;
    return m;
}

PyDoc_STRVAR(peaks_doc,
             "peaks($module, out, ext, phases, threshold, worst_gain, /)\n--\n\n"
             "ext: (channels, n + TAPS_PER_PHASE) float32, the previous block's last TAPS_PER_PHASE frames then\n"
             "the block; out: n float64, each detection frame's true peak (its sample lagged by DETECT_DELAY\n"
             "frames, or a point between samples where one could exceed threshold); phases: (OVERSAMPLE,\n"
             "TAPS_PER_PHASE) float32, the interpolator's taps by phase. Returns False (out untouched) when\n"
             "nothing in the block can reach threshold, else True.");

static PyObject *peaks(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *objs[3];
    double threshold, worst_gain;
    if (!PyArg_ParseTuple(args, "OOOdd:peaks", &objs[0], &objs[1], &objs[2], &threshold, &worst_gain)) return NULL;
    static const char *const names[3] = {"out", "ext", "phases"};
    Py_buffer views[3];
    if (get_buffers(objs, views, 3, 0x1, "dff", "peaks", names) < 0) return NULL;
    int fail = 0;
    Py_ssize_t n = 0, channels = 0, width = 0;
    n = views[0].len / 8;
    if (views[1].ndim != 2 || views[1].shape[1] != n + TAPS_PER_PHASE ||
        views[2].len != OVERSAMPLE * TAPS_PER_PHASE * 4) {
        PyErr_SetString(PyExc_ValueError, "peaks: arrays of inconsistent sizes");
        fail = 1;
    } else {
        channels = views[1].shape[0], width = n + TAPS_PER_PHASE;
    }
    float *magnitude = NULL;
    if (!fail && !(magnitude = PyMem_RawMalloc((size_t)width * sizeof(float)))) {
        PyErr_NoMemory();
        fail = 1;
    }
    int any = 0;
    if (!fail && n) {
        double *out = views[0].buf;
        const float *ext = views[1].buf, *phases = views[2].buf;
        Py_BEGIN_ALLOW_THREADS;
        for (Py_ssize_t k = 0; k < width; k++) magnitude[k] = 0.0f;
        for (Py_ssize_t c = 0; c < channels; c++) {
            const float *x = ext + c * width;
            for (Py_ssize_t k = 0; k < width; k++) {
                float a = fabsf(x[k]);
                magnitude[k] = a > magnitude[k] ? a : magnitude[k];
            }
        }
        any = (double)chunk_max(magnitude, 0, width) * worst_gain > threshold;
        if (any) {
            /* Frame i interpolates ext[:, i + 1 .. i + TAPS_PER_PHASE]: chunk h needs the samples from
               h·CHUNK + 1 up to the next chunk's, so the larger of the two chunk peaks bounds it. */
            Py_ssize_t chunks = (n + CHUNK - 1) / CHUNK;
            float next = chunk_max(magnitude, 1, CHUNK + 1 < width ? CHUNK + 1 : width);
            for (Py_ssize_t h = 0; h < chunks; h++) {
                Py_ssize_t first = h * CHUNK, m = n - first < CHUNK ? n - first : CHUNK;
                double *o = out + first;
                for (Py_ssize_t i = 0; i < m; i++) o[i] = magnitude[first + i + DETECT_DELAY];
                float this = next;
                Py_ssize_t from = first + CHUNK + 1, to = first + 2 * CHUNK + 1;
                next = from < width ? chunk_max(magnitude, from, to < width ? to : width) : 0.0f;
                if (!((double)(this > next ? this : next) * worst_gain > threshold)) continue;
                float best[CHUNK] = {0.0f};
                for (Py_ssize_t c = 0; c < channels; c++) {
                    const float *x = ext + c * width + first + 1;
                    for (int p = 0; p < OVERSAMPLE; p++) {
                        const float *taps = phases + p * TAPS_PER_PHASE;
                        float acc[CHUNK] = {0.0f};
                        /* frame i reads up to ext[first + m + TAPS_PER_PHASE - 1]: inside */
                        for (int j = 0; j < TAPS_PER_PHASE; j++) {
                            float t = taps[j];
                            const float *xj = x + j;
                            for (Py_ssize_t i = 0; i < m; i++) acc[i] += t * xj[i];
                        }
                        for (Py_ssize_t i = 0; i < m; i++) {
                            float a = fabsf(acc[i]);
                            best[i] = a > best[i] ? a : best[i];
                        }
                    }
                }
                for (Py_ssize_t i = 0; i < m; i++) o[i] = best[i] > o[i] ? best[i] : o[i];
            }
        }
        Py_END_ALLOW_THREADS;
    }
    PyMem_RawFree(magnitude);
    release_buffers(views, 3);
    if (fail) return NULL;
    return PyBool_FromLong(any);
}

PyDoc_STRVAR(hold_doc,
             "hold($module, out, need, need_history, average_history, /)\n--\n\n"
             "out[i] = the mean over the look-ahead L = len(average_history) + 1 of held values, where\n"
             "held[i] = the least of the window W = len(need_history) + 1 of needed gains ending at need[i]\n"
             "(the histories: the last W - 1 needs and L - 1 held values before the block; updated in place).\n"
             "The mean as numpy's cumsum differences give it, bit for bit. All float64.");

static PyObject *hold(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *objs[4];
    if (!PyArg_ParseTuple(args, "OOOO:hold", &objs[0], &objs[1], &objs[2], &objs[3])) return NULL;
    static const char *const names[4] = {"out", "need", "need_history", "average_history"};
    Py_buffer views[4];
    if (get_buffers(objs, views, 4, 0xd, "dddd", "hold", names) < 0) return NULL;
    Py_ssize_t n = views[1].len / 8, w = views[2].len / 8 + 1, l = views[3].len / 8 + 1;
    if (views[0].len != n * 8 || w < 2 || l < 2) {
        release_buffers(views, 4);
        PyErr_SetString(PyExc_ValueError, "hold: arrays of inconsistent lengths");
        return NULL;
    }
    /* ext: the window's history then the needs; held: the look-ahead's history then the held values;
       sums: their running sums; front: the running minimum's candidates (indices into ext). */
    Py_ssize_t ext_n = w - 1 + n, held_n = l - 1 + n;
    double *ext = PyMem_RawMalloc((size_t)(ext_n + held_n + held_n + 1) * sizeof(double));
    Py_ssize_t *front = PyMem_RawMalloc((size_t)ext_n * sizeof(Py_ssize_t));
    if (!ext || !front) {
        PyMem_RawFree(ext);
        PyMem_RawFree(front);
        release_buffers(views, 4);
        return PyErr_NoMemory();
    }
    double *held = ext + ext_n, *sums = held + held_n;
    double *out = views[0].buf, *need_history = views[2].buf, *average_history = views[3].buf;
    const double *need = views[1].buf;
    Py_BEGIN_ALLOW_THREADS;
    memcpy(ext, need_history, (size_t)(w - 1) * sizeof(double));
    memcpy(ext + w - 1, need, (size_t)n * sizeof(double));
    memcpy(held, average_history, (size_t)(l - 1) * sizeof(double));
    /* The running minimum over w values by a monotonic queue: each index enters and leaves once. */
    Py_ssize_t head = 0, tail = 0;
    for (Py_ssize_t k = 0; k < ext_n; k++) {
        while (tail > head && ext[front[tail - 1]] >= ext[k]) tail--;
        front[tail++] = k;
        if (front[head] <= k - w) head++;
        if (k >= w - 1) held[l - 1 + k - (w - 1)] = ext[front[head]];
    }
    sums[0] = 0.0;
    for (Py_ssize_t k = 0; k < held_n; k++) sums[k + 1] = sums[k] + held[k];
    for (Py_ssize_t i = 0; i < n; i++) out[i] = (sums[i + l] - sums[i]) / (double)l;
    memcpy(need_history, ext + ext_n - (w - 1), (size_t)(w - 1) * sizeof(double));
    memcpy(average_history, held + held_n - (l - 1), (size_t)(l - 1) * sizeof(double));
    Py_END_ALLOW_THREADS;
    PyMem_RawFree(ext);
    PyMem_RawFree(front);
    release_buffers(views, 4);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(release_doc,
             "release($module, gain_db, ramp, last, /)\n--\n\n"
             "gain_db[i] = min(gain_db[i] - ramp[i], gain_db[i - 1] - ramp[i - 1], .., last) + ramp[i] in place\n"
             "(float64): a gain that rises by at most the ramp's steps. Returns gain_db's last value (``last``\n"
             "if gain_db is empty).");

static PyObject *release(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *objs[2];
    double last;
    if (!PyArg_ParseTuple(args, "OOd:release", &objs[0], &objs[1], &last)) return NULL;
    static const char *const names[2] = {"gain_db", "ramp"};
    Py_buffer views[2];
    if (get_buffers(objs, views, 2, 0x1, "dd", "release", names) < 0) return NULL;
    Py_ssize_t n = views[0].len / 8;
    if (views[1].len != n * 8) {
        release_buffers(views, 2);
        PyErr_SetString(PyExc_ValueError, "release: arrays of inconsistent lengths");
        return NULL;
    }
    double *g = views[0].buf, run = last;
    const double *ramp = views[1].buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < n; i++) {
        double v = g[i] - ramp[i];
        run = v < run ? v : run;
        g[i] = run + ramp[i];
    }
    Py_END_ALLOW_THREADS;
    double end = n ? g[n - 1] : last;
    release_buffers(views, 2);
    return PyFloat_FromDouble(end);
}

static PyMethodDef methods[] = {
    {"peaks", peaks, METH_VARARGS, peaks_doc},
    {"hold", hold, METH_VARARGS, hold_doc},
    {"release", release, METH_VARARGS, release_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_limiter",
    .m_doc = "The true-peak limiter's per-frame loops.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__limiter(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntMacro(m, OVERSAMPLE) < 0 || PyModule_AddIntMacro(m, TAPS_PER_PHASE) < 0 ||
              PyModule_AddIntMacro(m, DETECT_DELAY) < 0))
        Py_CLEAR(m);
    return m;
}
