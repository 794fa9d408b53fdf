/* log — timestamped one-line messages on stderr. Each line is written with
 * a single write() so lines from several processes never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "header.h"

static log_level_t s_level = LEVEL_INFO;
static const char *const s_names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level_t level)
{
    s_level = level;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_vmsg(log_level_t level, const char *fmt, va_list ap)
{
    if (level > s_level)
        return;
    char line[1024], date[HEADER_DATE_LEN + 1];
    header_now(date);
    int n = snprintf(line, sizeof line, "[sandcell %s %s] ", date, s_names[level]);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    for (size_t i = (size_t)n; i < len; i++) /* keep it one line */
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
