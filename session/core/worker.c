/* worker — one interpreter as the manager sees it. Requests go out
 * through the channel's queue: the manager never waits for an interpreter
 * to read (user code holds the other end and may never read it). */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content_check.h"
#include "interp_record.h"
#include "reactor.h"

worker_t *worker_spawn(zygote_client_t *zygote, const json_t *jail, int *err)
{
    int fd = -1;
    int id = zygote_client_spawn(zygote, jail, &fd);
    if (id < 0) {
        *err = id;
        return NULL;
    }
    worker_t *self = calloc(1, sizeof *self);
    if (!self || !(self->chan = channel_new(fd))) {
        if (!self)
            close(fd);
        free(self);
        *err = -ENOMEM;
        return NULL;
    }
    self->spawn_id = id;
    self->state = WORKER_STARTING;
    self->exit_code = -1;
    return self;
}

static void s_kill(worker_t *self)
{
    if (self->pid > 0 && !self->exited) {
        kill(-self->pid, SIGKILL);
        kill(self->pid, SIGKILL);
    }
}

void worker_destroy(worker_t **self_p)
{
    worker_t *self = *self_p;
    if (!self)
        return;
    s_kill(self);
    channel_destroy(&self->chan);
    json_decref(self->ready);
    json_decref(self->preload);
    free(self);
    *self_p = NULL;
}

int worker_send(worker_t *self, json_t *request)
{
    if (!self->chan)
        return -EPIPE;
    char *text = json_dumps(request, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    int rc = channel_queue(self->chan, text, strlen(text));
    free(text);
    return rc;
}

int worker_flush(worker_t *self)
{
    return self->chan ? channel_flush(self->chan) : -EPIPE;
}

size_t worker_pending(const worker_t *self)
{
    return self->chan ? channel_pending(self->chan) : 0;
}

int worker_interrupt(worker_t *self)
{
    if (self->pid <= 0 || self->exited)
        return -ESRCH;
    return kill(self->pid, SIGINT) < 0 ? -errno : 0;
}

static void s_signal_group(worker_t *self, int sig)
{
    if (self->pid > 0 && !self->exited)
        kill(-self->pid, sig);
}

void worker_freeze(worker_t *self)
{
    if (self->frozen)
        return;
    self->frozen = true;
    s_signal_group(self, SIGSTOP);
}

void worker_thaw(worker_t *self)
{
    if (!self->frozen)
        return;
    self->frozen = false;
    s_signal_group(self, SIGCONT);
}

void worker_set_pid(worker_t *self, pid_t pid)
{
    self->pid = pid;
    if (self->frozen)
        s_signal_group(self, SIGSTOP);
}

void worker_mark_dying(worker_t *self, long long now_ms)
{
    if (self->state == WORKER_DYING || self->state == WORKER_DEAD)
        return;
    channel_destroy(&self->chan);
    s_kill(self);
    self->state = self->exited ? WORKER_DEAD : WORKER_DYING;
    self->dying_since_ms = now_ms;
}

void worker_set_exit(worker_t *self, json_t *event)
{
    json_t *code = json_object_get(event, "code");
    json_t *sig = json_object_get(event, "signal");
    self->exited = true;
    self->exit_code = json_is_integer(code) ? (int)json_integer_value(code) : -1;
    self->exit_signal = json_is_integer(sig) ? (int)json_integer_value(sig) : 0;
    self->oom_killed = json_is_true(json_object_get(event, "oom"));
    if (self->state == WORKER_DYING)
        self->state = WORKER_DEAD;
}

void worker_describe_end(const worker_t *self, char *out, size_t out_len)
{
    if (!self->exited)
        snprintf(out, out_len, "stopped responding");
    else if (self->exit_code < 0 && !self->exit_signal)
        snprintf(out, out_len, "could not be started");
    else if (self->exit_signal)
        snprintf(out, out_len, "was killed by signal %d (SIG%s)", self->exit_signal,
                 sigabbrev_np(self->exit_signal) ? sigabbrev_np(self->exit_signal) : "?");
    else
        snprintf(out, out_len, "exited with code %d", self->exit_code);
}

bool worker_set_ready(worker_t *self, const json_t *record)
{
    json_t *content = json_object_get(record, "content");
    if (self->ready || !json_is_object(content))
        return false;
    self->ready = json_incref(content);
    json_t *preload = json_object_get(record, "preload");
    if (json_is_object(preload))
        self->preload = json_incref(preload);
    double cpu;
    long long peak;
    self->cpu_s = 0;
    if (worker_take_usage(self, record, &cpu, &peak))
        self->cpu_s = cpu;
    self->state = WORKER_IDLE;
    return true;
}

bool worker_take_usage(worker_t *self, const json_t *record, double *cpu_s, long long *peak)
{
    json_t *usage = json_object_get(record, "usage");
    json_t *cpu = json_object_get(usage, "cpu_s");
    json_t *mem = json_object_get(usage, "peak_memory_bytes");
    *cpu_s = -1;
    *peak = -1;
    if (!json_is_number(cpu) || !json_is_integer(mem) || json_number_value(cpu) < self->cpu_s ||
        json_integer_value(mem) < 0)
        return false;
    *cpu_s = json_number_value(cpu) - self->cpu_s;
    *peak = (long long)json_integer_value(mem);
    self->cpu_s = json_number_value(cpu);
    return true;
}

worker_record_kind_t worker_record_parse(const char *text, size_t len, json_t **rec,
                                         const char **type, json_t **content, char *why,
                                         size_t why_len)
{
    *rec = NULL;
    *type = NULL;
    *content = NULL;
    if (interp_record_too_many_values(text, len)) {
        snprintf(why, why_len, "the record has more than %d JSON values",
                 WORKER_RECORD_MAX_VALUES);
        return WORKER_RECORD_TOO_BIG;
    }
    json_t *r = interp_record_decode(text, len, why, why_len);
    if (!r)
        return WORKER_RECORD_MALFORMED;
    const char *t = json_string_value(json_object_get(r, "type"));
    *rec = r;
    *type = t;
    *content = json_object_get(r, "content");
    static const struct {
        const char *type;
        worker_record_kind_t kind;
    } kinds[] = {
        {"ready", WORKER_RECORD_READY},
        {"reply", WORKER_RECORD_REPLY},
        {"input_request", WORKER_RECORD_INPUT_REQUEST},
        {"jail_failed", WORKER_RECORD_JAIL_FAILED},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(t, kinds[i].type) == 0)
            return kinds[i].kind;
    if (content_check_is_output(t))
        return WORKER_RECORD_OUTPUT;
    snprintf(why, why_len, "the record's type is not one an interpreter sends");
    return WORKER_RECORD_UNKNOWN;
}
