/* The energy of each frame after a filter of two biquads: the loudness meter's K-weighting
   (surroundyou/dsp/loudness.py) and the motion meter's high-pass (motion_meter.py).

   The biquads run in double precision with their state carried across blocks, then the squares
   are summed over the channels (or kept per channel): one pass over the block, with the GIL
   released. With pedalboard's float32 filters (one pass per first-order section and channel) and
   numpy for the squares it took about four times as long. The module exports STATE, the state's
   size per channel, which weighted_energy.py reads from it. */

#include "_buffers.h"

#define STAGES 2
#define COEFFS 5 /* per stage, a0 = 1: b0 b1 b2 a1 a2 */
#define STAGE_STATE 4 /* per stage and channel, direct form I: x[n-1] x[n-2] y[n-1] y[n-2] */
#define STATE (STAGES * STAGE_STATE) /* per channel */
#define CHUNK 2048 /* frames summed on the stack */

/* One frame through both stages of one channel; returns the K-weighted sample. */
static inline double step(const double *c, double *s, double in) {
    double y = (c[0] * in + c[1] * s[0] + c[2] * s[1] - c[4] * s[3]) - c[3] * s[2]; /* shelf */
    s[1] = s[0], s[0] = in, s[3] = s[2], s[2] = y;
    double v = (c[5] * y + c[6] * s[4] + c[7] * s[5] - c[9] * s[7]) - c[8] * s[6]; /* high-pass */
    s[5] = s[4], s[4] = y, s[7] = s[6], s[6] = v;
    return v;
}

PyDoc_STRVAR(energy_doc,
             "energy($module, out, block, coefficients, state, /)\n--\n\n"
             "out[i] = the sum over channels of the squared, filtered block[c, i], or, if out has as many\n"
             "values as block, out[c, i] = that square for each channel. block: (channels, n) float32;\n"
             "coefficients: 10 float64 (b0 b1 b2 a1 a2 of the first biquad, then of the second, a0 = 1);\n"
             "state: (channels, STATE) float64 (each stage's last two inputs and outputs), updated in place.");

static PyObject *energy(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *objs[4];
    if (!PyArg_ParseTuple(args, "OOOO:energy", &objs[0], &objs[1], &objs[2], &objs[3])) return NULL;
    static const char *const names[4] = {"out", "block", "coefficients", "state"};
    Py_buffer views[4];
    if (get_buffers(objs, views, 4, 0x9, "ffdd", "energy", names) < 0) return NULL;
    int fail = 0, per_channel = 0;
    Py_ssize_t n = 0, channels = 0;
    if (views[1].ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "energy: block must be (channels, frames)");
        fail = 1;
    } else {
        channels = views[1].shape[0], n = views[1].shape[1];
        per_channel = channels > 1 && views[0].len == views[1].len;
        if ((!per_channel && views[0].len != n * 4) || views[2].len != STAGES * COEFFS * 8 ||
            views[3].len != channels * STATE * 8) {
            PyErr_SetString(PyExc_ValueError, "energy: arrays of inconsistent sizes");
            fail = 1;
        }
    }
    if (!fail && n) {
        float *out = views[0].buf;
        const float *block = views[1].buf;
        const double *c = views[2].buf;
        double *state = views[3].buf;
        Py_BEGIN_ALLOW_THREADS;
        if (per_channel) {
            for (Py_ssize_t ch = 0; ch < channels; ch++) {
                const float *x = block + ch * n;
                double *s = state + ch * STATE;
                float *o = out + ch * n;
                for (Py_ssize_t i = 0; i < n; i++) {
                    double v = step(c, s, x[i]);
                    o[i] = (float)(v * v);
                }
            }
        } else {
            double sum[CHUNK];
            for (Py_ssize_t start = 0; start < n; start += CHUNK) {
                Py_ssize_t m = n - start < CHUNK ? n - start : CHUNK;
                for (Py_ssize_t j = 0; j < m; j++) sum[j] = 0.0;
                /* Two channels at a time: four independent recursions keep the processor's pipeline full. */
                Py_ssize_t ch = 0;
                for (; ch + 1 < channels; ch += 2) {
                    const float *xa = block + ch * n + start, *xb = xa + n;
                    double *sa = state + ch * STATE, *sb = sa + STATE;
                    for (Py_ssize_t j = 0; j < m; j++) {
                        double va = step(c, sa, xa[j]), vb = step(c, sb, xb[j]);
                        sum[j] += va * va + vb * vb;
                    }
                }
                for (; ch < channels; ch++) {
                    const float *xa = block + ch * n + start;
                    double *sa = state + ch * STATE;
                    for (Py_ssize_t j = 0; j < m; j++) {
                        double va = step(c, sa, xa[j]);
                        sum[j] += va * va;
                    }
                }
                for (Py_ssize_t j = 0; j < m; j++) out[start + j] = (float)sum[j];
            }
        }
        Py_END_ALLOW_THREADS;
    }
    release_buffers(views, 4);
    if (fail) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"energy", energy, METH_VARARGS, energy_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_energy",
    .m_doc = "The energy of each frame after two biquads, in one pass.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__energy(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntMacro(m, STATE) < 0) Py_CLEAR(m);
    return m;
}
