/* test_replay_limits — the sandbox limits a replay takes from a journal's
 * header: recorded values win, null or 0 keep the defaults (but mean "none"
 * for the time and output limits), jail and cgroups as recorded. */
#include <jansson.h>
#include <string.h>

#include "replay_cmd.h"
#include "tap.h"

static json_t *s_header;

/* The header stays alive until the next call: data_dir points into it. */
static void s_limits(const char *limits_json, sandbox_limits_t *out, bool *jail, bool *cgroups)
{
    char text[512];
    snprintf(text, sizeof text, "{\"type\":\"header\",\"limits\":%s}", limits_json);
    json_decref(s_header);
    s_header = json_loads(text, 0, NULL);
    if (!s_header)
        TAP_BAIL("bad test JSON %s", text);
    replay_limits_from_header(s_header, out, jail, cgroups);
}

int main(void)
{
    sandbox_limits_t l, def;
    bool jail, cgroups;
    sandbox_limits_default(&def);

    s_limits("{\"timeout_s\":2.5,\"memory_mib\":256,\"pids\":16,\"cpus\":0.5,\"disk_mib\":20,"
             "\"open_files\":64,\"max_output_bytes\":1572864,\"data_dir\":\"/srv/d\","
             "\"jail\":true,\"cgroups\":false}",
             &l, &jail, &cgroups);
    CHECK(l.timeout_s == 2.5 && l.cpus == 0.5);
    CHECK_INT(l.memory_mib, 256);
    CHECK_INT(l.pids, 16);
    CHECK_INT(l.disk_mib, 20);
    CHECK_INT(l.open_files, 64);
    CHECK_INT(l.max_output_mib, 2); /* 1.5 MiB rounds up */
    CHECK_STR(l.data_dir, "/srv/d");
    CHECK(jail && !cgroups);
    CHECK(!l.no_jail && !l.no_cgroups); /* only the command line turns layers off */
    tap_case("recorded limits are used; the journal alone never turns a layer off");

    s_limits("{\"timeout_s\":null,\"memory_mib\":null,\"pids\":0,\"cpus\":null,"
             "\"max_output_bytes\":0,\"data_dir\":null,\"jail\":false}",
             &l, &jail, &cgroups);
    CHECK(l.timeout_s == 0);
    CHECK_INT(l.max_output_mib, 0);
    CHECK_INT(l.memory_mib, def.memory_mib);
    CHECK_INT(l.pids, def.pids);
    CHECK(l.cpus == def.cpus);
    CHECK(l.data_dir == NULL);
    CHECK(!jail && cgroups);
    tap_case("null or 0: no time or output limit, the default for the others");

    s_limits("{}", &l, &jail, &cgroups);
    CHECK(l.timeout_s == def.timeout_s && l.memory_mib == def.memory_mib);
    CHECK_INT(l.max_output_mib, def.max_output_mib);
    CHECK(jail && cgroups);
    tap_case("absent limits are the defaults, jailed with cgroups");
    json_decref(s_header);
    return tap_done();
}
