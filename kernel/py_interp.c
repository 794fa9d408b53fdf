/* py_interp — the CPython implementation of the interpreter interface.
 *
 * CPython is initialised once, in the zygote, with an isolated
 * configuration (no PYTHON* variables, no user site) whose sys.executable
 * is the system python3, so subprocesses and site-packages behave as users
 * expect. The Python half (kernel/runtime*.py, compiled into this binary
 * as sandcell_runtime_modules) does the cell semantics; this file only moves
 * records between it and the channel through a builtin module _sandcell:
 *   _sandcell.send(text)  one record out (the GIL is released meanwhile)
 *   _sandcell.recv()      one record in; a signal raises KeyboardInterrupt
 *
 * The zygote also does, before it forks, what would otherwise be written
 * (and so copied page by page) in every interpreter: warm-up cells through
 * the request path, the code they ran copied together, and the free blocks
 * of pymalloc and malloc taken (docs/internals.md). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "interp.h"

/* Pairs of a module's name and source, in the order they run; 0 ends. */
extern const char *const sandcell_runtime_modules[];
/* Exported by libpython; its header is internal to CPython. */
PyAPI_FUNC(int) _PyObject_DebugMallocStats(FILE *out);

static channel_t *s_chan;
static bool s_warming;      /* the zygote's warm-up: records sent go nowhere */
static PyObject *s_runtime; /* the sandcell_runtime module */
static PyObject *s_handle;  /* sandcell_runtime.handle */

static PyObject *s_py_send(PyObject *self, PyObject *arg)
{
    Py_ssize_t len;
    const char *text = PyUnicode_AsUTF8AndSize(arg, &len);
    if (!text)
        return NULL;
    if (!s_chan) {
        if (s_warming)
            Py_RETURN_NONE;
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

/* Executes the embedded runtime's modules in order, each registered under
 * its own name with __name__ "sandcell_runtime" (so that tracebacks drop
 * all of their frames), and returns the last: sandcell_runtime itself. */
static PyObject *s_load_runtime(void)
{
    PyObject *mod = NULL;
    for (const char *const *m = sandcell_runtime_modules; m[0]; m += 2) {
        Py_XDECREF(mod);
        PyObject *fresh = PyImport_AddModule(m[0]); /* borrowed */
        if (!fresh || PyModule_AddStringConstant(fresh, "__name__", "sandcell_runtime") < 0)
            return NULL;
        PyObject *code = Py_CompileString(m[1], "<sandcell_runtime>", Py_file_input);
        if (!code)
            return NULL;
        mod = PyImport_ExecCodeModule(m[0], code);
        Py_DECREF(code);
        if (!mod)
            return NULL;
    }
    return mod;
}

/* The blocks and chunks the zygote takes before it forks (never freed). */
static struct {
    void **items;
    size_t n, cap;
} s_taken;

static bool s_take(void *p)
{
    if (s_taken.n == s_taken.cap) {
        size_t cap = s_taken.cap ? 2 * s_taken.cap : 4096;
        void **items = realloc(s_taken.items, cap * sizeof *items);
        if (!items)
            return false;
        s_taken.items = items;
        s_taken.cap = cap;
    }
    s_taken.items[s_taken.n++] = p;
    return true;
}

/* Takes every free block of pymalloc's used pools: the table of
 * _PyObject_DebugMallocStats gives, per size class, the blocks still
 * available ("class size pools in-use avail"), and PyObject_Malloc of that
 * size takes one. Done in C, so that nothing Python makes and frees
 * meanwhile opens new holes. Returns how many blocks it took. */
static size_t s_take_pymalloc_blocks(void)
{
    char *text = NULL;
    size_t len = 0, taken = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return 0;
    int used = _PyObject_DebugMallocStats(out);
    fclose(out);
    for (char *line = used ? text : NULL; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        unsigned cls, size;
        unsigned long pools, in_use, avail;
        char extra;
        if (sscanf(line, "%u %u %lu %lu %lu %c", &cls, &size, &pools, &in_use, &avail, &extra) == 5)
            for (unsigned long i = 0; i < avail; i++) {
                void *p = PyObject_Malloc(size);
                if (p && !s_take(p)) {
                    PyObject_Free(p);
                    p = NULL;
                }
                if (!p)
                    break;
                taken++;
            }
        line = end ? end + 1 : NULL;
    }
    free(text);
    return taken;
}

/* Takes the free chunks of glibc's main heap (bins, tcache), largest
 * sizes first, so that an interpreter's mallocs extend the heap into pages
 * of its own instead of writing into pages it shares with the zygote. A
 * chunk that comes from the top of the heap (at or above where the top
 * was) is given back and the next size tried. Stops at once when the heap
 * does not look like glibc's (a sanitizer's allocator, say). */
static void s_take_malloc_chunks(void)
{
    struct mallinfo2 mi = mallinfo2();
    char *brk_end = sbrk(0);
    if (mi.arena == 0 || mi.keepcost == 0 || brk_end == (char *)-1 || mi.keepcost > mi.arena)
        return;
    uintptr_t top = (uintptr_t)brk_end - mi.keepcost;
    uintptr_t bottom = (uintptr_t)brk_end - mi.arena;
    for (size_t size = 64 * 1024; size >= 16; size = size > 1024 ? size / 2 : size - 16) {
        for (;;) {
            void *p = malloc(size);
            if (!p)
                return;
            if ((uintptr_t)p >= top || (uintptr_t)p < bottom || !s_take(p)) {
                free(p);
                break;
            }
        }
    }
}

static char *s_handle_request(const char *request, size_t len);

static void s_call_quietly(const char *name)
{
    PyObject *r = PyObject_CallMethod(s_runtime, name, NULL);
    if (!r)
        PyErr_Print();
    Py_XDECREF(r);
}

/* The zygote's steps after the preload, each best effort: the state every
 * interpreter starts with (runtime.prepare_interpreter); WARM_UP_ROUNDS
 * rounds of the warm-up cells, run through the request path exactly as an
 * interpreter runs a cell, their output discarded (s_warming), and of the
 * interpreter's start path (runtime.warm_up_ready); after the first round
 * the code that ran is copied to fresh pages (runtime.relocate_code, the
 * free blocks taken just before so that the copies land together); then
 * runtime.settle (undo, collect). What is written here is not written,
 * and so not copied, in each interpreter. */
static void s_prepare_children(void)
{
    s_call_quietly("prepare_interpreter");
    PyObject *rounds = PyObject_GetAttrString(s_runtime, "WARM_UP_ROUNDS");
    long n = rounds ? PyLong_AsLong(rounds) : 0;
    Py_XDECREF(rounds);
    PyErr_Clear();
    s_warming = true;
    for (long i = 0; i < n; i++) {
        PyObject *requests = PyObject_CallMethod(s_runtime, "warm_up_requests", NULL);
        Py_ssize_t count = requests && PyList_Check(requests) ? PyList_GET_SIZE(requests) : 0;
        if (i == 0 && count > 0)
            s_call_quietly("trace_code");
        s_call_quietly("warm_up_ready");
        for (Py_ssize_t j = 0; j < count; j++) {
            Py_ssize_t len;
            const char *text = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(requests, j), &len);
            free(text ? s_handle_request(text, (size_t)len) : NULL);
        }
        Py_XDECREF(requests);
        PyErr_Clear();
        if (i == 0 && count > 0) {
            s_take_pymalloc_blocks();
            s_take_malloc_chunks();
            s_call_quietly("relocate_code");
        }
    }
    s_warming = false;
    s_call_quietly("settle");
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
        PyObject *item = PyList_GET_ITEM(failures, i);
        PyObject *text = PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2
                             ? PyUnicode_FromFormat("%S: %S", PyTuple_GET_ITEM(item, 0),
                                                    PyTuple_GET_ITEM(item, 1))
                             : PyObject_Str(item);
        if (text) {
            json_array_append_new(errors, json_string(PyUnicode_AsUTF8(text)));
            Py_DECREF(text);
        }
    }
    Py_DECREF(failures);

    s_prepare_children();

    /* Everything made so far is shared copy-on-write with every
     * interpreter; keep the collector from touching (and so copying) it. */
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(gc);
    PyErr_Clear();

    json_t *rec = json_pack("{s:s, s:o}", "type", "zygote_ready", "preload_errors", errors);
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    /* Last, when nothing more is made or freed before the forks: the free
     * blocks of pymalloc, then of malloc, are taken, so an interpreter's
     * allocations land on pages of its own. Again while a pass still finds
     * some (at most three). */
    for (int pass = 0; pass < 3 && s_take_pymalloc_blocks() > 0; pass++)
        ;
    s_take_malloc_chunks();
    return text;
}

static char *s_strdup_py(PyObject *str)
{
    const char *s = str ? PyUnicode_AsUTF8(str) : NULL;
    return s ? strdup(s) : NULL;
}

/* Makes os.environ (and so the C environment) |env|: runtime.set_environment
 * changes only the variables that differ, so that few of the zygote's
 * objects are written. */
static int s_set_environment(const char *const *env)
{
    PyObject *list = PyList_New(0);
    int rc = list ? 0 : -1;
    for (size_t i = 0; rc == 0 && env[i]; i++) {
        PyObject *item = PyUnicode_FromString(env[i]);
        rc = item ? PyList_Append(list, item) : -1;
        Py_XDECREF(item);
    }
    PyObject *r = rc == 0 ? PyObject_CallMethod(s_runtime, "set_environment", "O", list) : NULL;
    rc = r ? 0 : -1;
    Py_XDECREF(list);
    Py_XDECREF(r);
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
     * KeyboardInterrupt. (_signal, not signal: its wrapper would make
     * an enum of the old handler, running and so copying enum's code.) */
    PyObject *signal_mod = PyImport_ImportModule("_signal");
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
