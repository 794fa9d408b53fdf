/* py_interp — the CPython implementation of the interpreter interface.
 *
 * CPython is initialised once, in the zygote, with an isolated
 * configuration (no PYTHON* variables, no user site) whose sys.executable
 * is the system python3, so subprocesses and site-packages behave as users
 * expect. The Python half (runtime.py, compiled into this binary as
 * sandcell_runtime_source) does the cell semantics; this file only moves
 * records between it and the channel through a builtin module _sandcell:
 *   _sandcell.send(text)  one record out (the GIL is released meanwhile)
 *   _sandcell.recv()      one record in; a signal raises KeyboardInterrupt */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "interp.h"

extern const char sandcell_runtime_source[];

static channel_t *s_chan;
static PyObject *s_runtime; /* the sandcell_runtime module */
static PyObject *s_handle;  /* sandcell_runtime.handle */

static PyObject *s_py_send(PyObject *self, PyObject *arg)
{
    Py_ssize_t len;
    const char *text = PyUnicode_AsUTF8AndSize(arg, &len);
    if (!text)
        return NULL;
    if (!s_chan) {
        PyErr_SetString(PyExc_RuntimeError, "no channel");
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = channel_send(s_chan, text, (size_t)len, -1);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        errno = -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *s_py_recv(PyObject *self, PyObject *unused)
{
    if (!s_chan) {
        PyErr_SetString(PyExc_RuntimeError, "no channel");
        return NULL;
    }
    for (;;) {
        char *text;
        size_t len;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = channel_recv(s_chan, 0, &text, &len);
        Py_END_ALLOW_THREADS
        if (rc == 1) {
            PyObject *s = PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "replace");
            free(text);
            return s;
        }
        if (rc == -EINTR || rc == -EMSGSIZE) {
            if (PyErr_CheckSignals() < 0)
                return NULL;
            continue;
        }
        errno = rc == -ECONNRESET ? EPIPE : -rc;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
}

static PyMethodDef s_methods[] = {
    {"send", s_py_send, METH_O, "Send one record to the manager."},
    {"recv", s_py_recv, METH_NOARGS, "Receive one record from the manager."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef s_module = {
    PyModuleDef_HEAD_INIT, "_sandcell", "sandcell's channel to the manager.", -1, s_methods,
    NULL, NULL, NULL, NULL,
};

static PyObject *s_module_init(void)
{
    return PyModule_Create(&s_module);
}

/* Prints the pending Python error with a prefix; returns NULL. */
static void *s_fail(const char *what)
{
    fprintf(stderr, "sandcell-worker: %s failed:\n", what);
    PyErr_Print();
    return NULL;
}

static int s_init_python(void)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 1; /* SIGINT raises KeyboardInterrupt */
    config.write_bytecode = 0;
    config.user_site_directory = 0;
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, SC_PYTHON_EXECUTABLE);
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "sandcell-worker: cannot initialise Python: %s\n",
                st.err_msg ? st.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

/* Executes the embedded runtime as module sandcell_runtime. */
static PyObject *s_load_runtime(void)
{
    PyObject *code = Py_CompileString(sandcell_runtime_source, "<sandcell_runtime>",
                                      Py_file_input);
    if (!code)
        return NULL;
    PyObject *mod = PyImport_ExecCodeModule("sandcell_runtime", code);
    Py_DECREF(code);
    return mod;
}

static char *s_prepare(const interp_config_t *config)
{
    if (PyImport_AppendInittab("_sandcell", s_module_init) < 0 || s_init_python() < 0)
        return NULL;
    s_runtime = s_load_runtime();
    if (!s_runtime)
        return s_fail("loading the runtime");
    s_handle = PyObject_GetAttrString(s_runtime, "handle");
    if (!s_handle)
        return s_fail("finding sandcell_runtime.handle");

    PyObject *names = PyList_New(0);
    const char *p = config->preload ? config->preload : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n > 0) {
            PyObject *name = PyUnicode_FromStringAndSize(p, (Py_ssize_t)n);
            PyList_Append(names, name);
            Py_DECREF(name);
        }
        p += n + (p[n] == ',');
    }
    PyObject *failures = PyObject_CallMethod(s_runtime, "preload", "O", names);
    Py_DECREF(names);
    if (!failures)
        return s_fail("preloading modules");

    json_t *errors = json_array();
    Py_ssize_t n = PyList_Check(failures) ? PyList_GET_SIZE(failures) : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *text = PyObject_Str(PyList_GET_ITEM(failures, i));
        if (text) {
            json_array_append_new(errors, json_string(PyUnicode_AsUTF8(text)));
            Py_DECREF(text);
        }
    }
    Py_DECREF(failures);

    /* Everything imported so far is shared copy-on-write with every
     * interpreter; keep the collector from touching (and so copying) it. */
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
    Py_XDECREF(r);
    r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(gc);
    PyErr_Clear();

    json_t *rec = json_pack("{s:s, s:o}", "type", "zygote_ready", "preload_errors", errors);
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

static char *s_strdup_py(PyObject *str)
{
    const char *s = str ? PyUnicode_AsUTF8(str) : NULL;
    return s ? strdup(s) : NULL;
}

/* Replaces os.environ (and so the C environment) with |env|. */
static int s_set_environment(const char *const *env)
{
    PyObject *os = PyImport_ImportModule("os");
    PyObject *environ = os ? PyObject_GetAttrString(os, "environ") : NULL;
    PyObject *r = environ ? PyObject_CallMethod(environ, "clear", NULL) : NULL;
    int rc = r ? 0 : -1;
    Py_XDECREF(r);
    for (size_t i = 0; rc == 0 && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq)
            continue;
        PyObject *key = PyUnicode_FromStringAndSize(env[i], eq - env[i]);
        PyObject *value = PyUnicode_FromString(eq + 1);
        rc = key && value ? PyObject_SetItem(environ, key, value) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    Py_XDECREF(environ);
    Py_XDECREF(os);
    return rc;
}

static char *s_child_init(channel_t *chan, const char *const *env)
{
    PyOS_AfterFork_Child();
    s_chan = chan;
    if (env && s_set_environment(env) < 0)
        return s_fail("setting the environment");
    /* The zygote ignores SIGINT (a terminal's Ctrl-C is not for it), and
     * Python leaves an ignored SIGINT alone; an interpreter wants it as
     * KeyboardInterrupt. */
    PyObject *signal_mod = PyImport_ImportModule("signal");
    PyObject *handler = signal_mod ? PyObject_GetAttrString(signal_mod, "default_int_handler") : NULL;
    PyObject *r = handler ? PyObject_CallMethod(signal_mod, "signal", "iO", SIGINT, handler) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(handler);
    Py_XDECREF(signal_mod);
    if (!r)
        return s_fail("installing the SIGINT handler");
    PyObject *content = PyObject_CallMethod(s_runtime, "child_init", NULL);
    if (!content)
        return s_fail("initialising the interpreter");
    /* The journal's header names the preloaded modules' versions, and the
     * CPU time of the first cell counts from here. */
    PyObject *preload = PyObject_CallMethod(s_runtime, "preload_versions", NULL);
    PyObject *usage = PyObject_CallMethod(s_runtime, "usage", NULL);
    PyObject *json = PyImport_ImportModule("json");
    PyObject *record = preload && usage ? Py_BuildValue("{s:s, s:O, s:O, s:O}", "type", "ready",
                                                        "content", content, "preload", preload,
                                                        "usage", usage)
                                        : NULL;
    PyObject *text = json && record ? PyObject_CallMethod(json, "dumps", "O", record) : NULL;
    Py_DECREF(content);
    Py_XDECREF(preload);
    Py_XDECREF(usage);
    Py_XDECREF(json);
    Py_XDECREF(record);
    if (!text)
        return s_fail("encoding the ready record");
    char *out = s_strdup_py(text);
    Py_DECREF(text);
    return out;
}

static char *s_handle_request(const char *request, size_t len)
{
    /* An interrupt that arrived after the last cell ended must not hit
     * this one. */
    if (PyErr_CheckSignals() < 0)
        PyErr_Clear();
    PyObject *arg = PyUnicode_DecodeUTF8(request, (Py_ssize_t)len, "replace");
    PyObject *reply = arg ? PyObject_CallOneArg(s_handle, arg) : NULL;
    Py_XDECREF(arg);
    char *text = s_strdup_py(reply);
    Py_XDECREF(reply);
    if (!text) {
        PyErr_Print();
        text = strdup("{\"type\":\"reply\",\"content\":{\"status\":\"error\","
                      "\"ename\":\"InternalError\",\"evalue\":\"the runtime failed\","
                      "\"traceback\":[]}}");
    }
    return text;
}

const interp_ops_t py_interp_ops = {
    .name = "python",
    .prepare = s_prepare,
    .child_init = s_child_init,
    .handle = s_handle_request,
};
