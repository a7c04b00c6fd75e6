/* The true-peak detector of the limiter (surroundyou/limiter.py, TruePeakLimiter.peaks).

   For each detection frame: the largest sample magnitude over the channels, raised to the largest
   4x-interpolated point between the samples where that could reach the threshold (BS.1770's
   true-peak method, decided per chunk of 32 frames as in numpy before: a chunk is interpolated
   only if WORST_GAIN times the largest sample it is made of exceeds the threshold). One pass for
   the magnitudes, then the interpolation of the hot chunks, vectorised over the chunk's frames;
   the GIL is released. numpy needed about ten passes and a matrix product per block. */

#include "_buffers.h"
#include <math.h>

#define TAPS 12   /* per phase */
#define PHASES 4  /* the oversampling */
#define DELAY 6   /* frames the detection lags the samples: TAPS / 2 */
#define CHUNK 32  /* frames per decision whether to interpolate */

static inline float chunk_max(const float *magnitude, Py_ssize_t from, Py_ssize_t to) {
    float m = 0.0f;
    for (Py_ssize_t k = from; k < to; k++) m = magnitude[k] > m ? magnitude[k] : m;
    return m;
}

PyDoc_STRVAR(peaks_doc,
             "peaks(out, ext, phases, threshold, worst_gain) -> bool\n\n"
             "ext: (channels, n + 12) float32, the last 12 frames of the previous block then the block;\n"
             "out: n float64, each detection frame's true peak (its sample lagged by 6 frames, or a point\n"
             "between samples where one could exceed threshold); phases: (4, 12) float32, the interpolator's\n"
             "taps by phase. Returns False (out untouched) when nothing in the block can reach threshold.");

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
    if (views[1].ndim != 2 || views[1].shape[1] != n + TAPS || views[2].len != PHASES * TAPS * 4) {
        PyErr_SetString(PyExc_ValueError, "peaks: arrays of inconsistent sizes");
        fail = 1;
    } else {
        channels = views[1].shape[0], width = n + TAPS;
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
            /* Frame i interpolates ext[:, i + 1 .. i + 12]: chunk h needs the samples from h·32 + 1 up to
               the next chunk's, so the larger of the two chunk peaks bounds it. */
            Py_ssize_t chunks = (n + CHUNK - 1) / CHUNK;
            float next = chunk_max(magnitude, 1, CHUNK + 1 < width ? CHUNK + 1 : width);
            for (Py_ssize_t h = 0; h < chunks; h++) {
                Py_ssize_t first = h * CHUNK, m = n - first < CHUNK ? n - first : CHUNK;
                double *o = out + first;
                for (Py_ssize_t i = 0; i < m; i++) o[i] = magnitude[first + i + DELAY];
                float this = next;
                Py_ssize_t from = first + CHUNK + 1, to = first + 2 * CHUNK + 1;
                next = from < width ? chunk_max(magnitude, from, to < width ? to : width) : 0.0f;
                if (!((double)(this > next ? this : next) * worst_gain > threshold)) continue;
                float best[CHUNK] = {0.0f};
                for (Py_ssize_t c = 0; c < channels; c++) {
                    const float *x = ext + c * width + first + 1;
                    for (int p = 0; p < PHASES; p++) {
                        const float *taps = phases + p * TAPS;
                        float acc[CHUNK] = {0.0f};
                        for (int j = 0; j < TAPS; j++) { /* frame i reads up to ext[first + m + 11]: inside */
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

static PyMethodDef methods[] = {{"peaks", peaks, METH_VARARGS, peaks_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_true_peak",
    .m_doc = "The true-peak limiter's detector, in one pass.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__true_peak(void) { return PyModule_Create(&module); }
