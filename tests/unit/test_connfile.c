/* test_connfile — connection files: save/load round trip, endpoints, and
 * each way a file can be refused. Works in a fresh mkdtemp directory and
 * checks that nothing is left in it. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connfile.h"
#include "tap.h"

static char s_dir[] = "/tmp/sandcell-test-connfile-XXXXXX";

static void s_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", s_dir, name);
}

/* Names in the test directory, as one comma-separated string. */
static void s_listing(char *out, size_t len)
{
    out[0] = '\0';
    DIR *d = opendir(s_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (out[0])
            strncat(out, ",", len - strlen(out) - 1);
        strncat(out, e->d_name, len - strlen(out) - 1);
    }
    closedir(d);
}

static int s_write(const char *name, const char *text)
{
    char path[256];
    s_path(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static connfile_t s_sample(const char *transport, const char *ip)
{
    connfile_t c = {0};
    snprintf(c.transport, sizeof c.transport, "%s", transport);
    snprintf(c.ip, sizeof c.ip, "%s", ip);
    for (int i = 0; i < CONN_NCHANNELS; i++)
        c.ports[i] = 50000 + 11 * i;
    c.key = strdup("a0b1c2d3-e4f5-4678-9abc-def012345678");
    snprintf(c.signature_scheme, sizeof c.signature_scheme, "hmac-sha256");
    return c;
}

static void test_round_trip(void)
{
    char path[256], why[256] = "", listing[512];
    s_path(path, sizeof path, "kernel-1.json");
    connfile_t c = s_sample("tcp", "127.0.0.1");
    CHECK_INT(connfile_save(&c, path), 0);
    struct stat st;
    CHECK_INT(stat(path, &st), 0);
    if (!CHECK_INT(st.st_mode & 07777, 0600))
        tap_diag("    mode %o", (unsigned)(st.st_mode & 07777));
    s_listing(listing, sizeof listing);
    CHECK_STR(listing, "kernel-1.json");
    tap_case("save: writes the file with mode 0600 and no temporary left behind");

    connfile_t back;
    proto_err_t err = PROTO_ERR_COUNT;
    CHECK_INT(connfile_load(path, &back, &err, why, sizeof why), 0);
    CHECK_INT(err, PROTO_OK);
    CHECK_STR(back.transport, "tcp");
    CHECK_STR(back.ip, "127.0.0.1");
    CHECK_STR(back.key, c.key);
    CHECK_STR(back.signature_scheme, "hmac-sha256");
    for (int i = 0; i < CONN_NCHANNELS; i++)
        CHECK_INT(back.ports[i], c.ports[i]);
    connfile_clear(&back);
    CHECK(back.key == NULL);
    tap_case("load: reads back what save wrote");

    /* The file is what jupyter_client expects: the five *_port keys. */
    json_error_t jerr;
    json_t *obj = json_load_file(path, 0, &jerr);
    CHECK(json_is_object(obj));
    for (int i = 0; i < CONN_NCHANNELS; i++)
        CHECK_INT(json_integer_value(json_object_get(obj, connfile_port_name((conn_channel_t)i))),
                  c.ports[i]);
    CHECK_STR(json_string_value(json_object_get(obj, "key")), c.key);
    CHECK_STR(json_string_value(json_object_get(obj, "transport")), "tcp");
    CHECK_STR(json_string_value(json_object_get(obj, "signature_scheme")), "hmac-sha256");
    json_decref(obj);
    CHECK_STR(connfile_port_name(CONN_SHELL), "shell_port");
    CHECK_STR(connfile_port_name(CONN_IOPUB), "iopub_port");
    CHECK_STR(connfile_port_name(CONN_STDIN), "stdin_port");
    CHECK_STR(connfile_port_name(CONN_CONTROL), "control_port");
    CHECK_STR(connfile_port_name(CONN_HB), "hb_port");
    tap_case("save: the JSON has the jupyter_client keys");

    /* Saving over an existing, world-readable file replaces it with 0600. */
    CHECK_INT(chmod(path, 0644), 0);
    c.ports[CONN_HB] = 1234;
    CHECK_INT(connfile_save(&c, path), 0);
    CHECK_INT(stat(path, &st), 0);
    CHECK_INT(st.st_mode & 07777, 0600);
    CHECK_INT(connfile_load(path, &back, &err, why, sizeof why), 0);
    CHECK_INT(back.ports[CONN_HB], 1234);
    connfile_clear(&back);
    s_listing(listing, sizeof listing);
    CHECK_STR(listing, "kernel-1.json");
    tap_case("save: replaces an existing file, which ends up 0600");

    char missing_dir[300];
    s_path(missing_dir, sizeof missing_dir, "no-such-dir/kernel.json");
    CHECK_INT(connfile_save(&c, missing_dir), -ENOENT);
    tap_case("save: a missing directory gives -ENOENT");

    CHECK_INT(unlink(path), 0);
    connfile_clear(&c);
}

static void test_endpoints(void)
{
    connfile_t c = s_sample("tcp", "127.0.0.1");
    char ep[128];
    CHECK_INT(connfile_endpoint(&c, CONN_SHELL, ep, sizeof ep), 0);
    CHECK_STR(ep, "tcp://127.0.0.1:50000");
    CHECK_INT(connfile_endpoint(&c, CONN_HB, ep, sizeof ep), 0);
    CHECK_STR(ep, "tcp://127.0.0.1:50044");
    tap_case("endpoint: tcp://IP:PORT");

    connfile_t d = s_sample("ipc", "/tmp/kernel-abc");
    d.ports[CONN_CONTROL] = 3;
    CHECK_INT(connfile_endpoint(&d, CONN_CONTROL, ep, sizeof ep), 0);
    CHECK_STR(ep, "ipc:///tmp/kernel-abc-3");
    CHECK_INT(connfile_endpoint(&d, CONN_IOPUB, ep, sizeof ep), 0);
    CHECK_STR(ep, "ipc:///tmp/kernel-abc-50011");
    tap_case("endpoint: ipc://IP-PORT");

    /* "tcp://127.0.0.1:50000" is 21 characters: 22 bytes fit, 21 do not. */
    CHECK_INT(connfile_endpoint(&c, CONN_SHELL, ep, 22), 0);
    CHECK_INT(connfile_endpoint(&c, CONN_SHELL, ep, 21), -1);
    CHECK_INT(connfile_endpoint(&c, CONN_SHELL, ep, 1), -1);
    tap_case("endpoint: -1 when it does not fit");

    /* An ipc connection file loads and keeps its transport. */
    char path[256], why[256];
    s_path(path, sizeof path, "ipc.json");
    CHECK_INT(connfile_save(&d, path), 0);
    connfile_t back;
    proto_err_t err;
    CHECK_INT(connfile_load(path, &back, &err, why, sizeof why), 0);
    CHECK_STR(back.transport, "ipc");
    CHECK_INT(connfile_endpoint(&back, CONN_CONTROL, ep, sizeof ep), 0);
    CHECK_STR(ep, "ipc:///tmp/kernel-abc-3");
    connfile_clear(&back);
    unlink(path);
    tap_case("ipc: save/load round trip");
    connfile_clear(&c);
    connfile_clear(&d);
}

#define PORTS "\"shell_port\":1,\"iopub_port\":2,\"stdin_port\":3,\"control_port\":4,\"hb_port\":5"

static void test_defaults(void)
{
    char path[256], why[256];
    s_path(path, sizeof path, "min.json");
    CHECK_INT(s_write("min.json", "{\"ip\":\"10.0.0.1\",\"key\":\"k\"," PORTS "}"), 0);
    connfile_t c;
    proto_err_t err;
    CHECK_INT(connfile_load(path, &c, &err, why, sizeof why), 0);
    CHECK_STR(c.transport, "tcp");
    CHECK_STR(c.signature_scheme, "hmac-sha256");
    CHECK_INT(c.ports[CONN_SHELL], 1);
    CHECK_INT(c.ports[CONN_HB], 5);
    connfile_clear(&c);
    unlink(path);
    tap_case("load: transport defaults to tcp and signature_scheme to hmac-sha256");

    /* Files written by jupyter_client carry extra keys. */
    CHECK_INT(s_write("jc.json", "{\"ip\":\"127.0.0.1\",\"key\":\"k\"," PORTS
                                 ",\"transport\":\"tcp\",\"signature_scheme\":\"hmac-sha256\","
                                 "\"kernel_name\":\"sandcell-python\",\"jupyter_session\":\"x\"}"),
              0);
    s_path(path, sizeof path, "jc.json");
    CHECK_INT(connfile_load(path, &c, &err, why, sizeof why), 0);
    connfile_clear(&c);
    unlink(path);
    tap_case("load: unknown keys such as kernel_name are ignored");
}

static void test_errors(void)
{
    static const struct {
        const char *name;
        const char *text; /* NULL: the file does not exist */
    } cases[] = {
        {"missing file", NULL},
        {"empty file", ""},
        {"not JSON", "shell_port = 1\n"},
        {"truncated JSON", "{\"ip\":\"127.0.0.1\","},
        {"a JSON array", "[1,2,3]"},
        {"duplicate keys", "{\"ip\":\"127.0.0.1\",\"key\":\"k\",\"key\":\"j\"," PORTS "}"},
        {"missing key", "{\"ip\":\"127.0.0.1\"," PORTS "}"},
        {"empty key", "{\"ip\":\"127.0.0.1\",\"key\":\"\"," PORTS "}"},
        {"key not a string", "{\"ip\":\"127.0.0.1\",\"key\":123," PORTS "}"},
        {"missing ip", "{\"key\":\"k\"," PORTS "}"},
        {"empty ip", "{\"ip\":\"\",\"key\":\"k\"," PORTS "}"},
        {"missing port", "{\"ip\":\"127.0.0.1\",\"key\":\"k\",\"shell_port\":1,"
                         "\"iopub_port\":2,\"stdin_port\":3,\"control_port\":4}"},
        {"port over 65535", "{\"ip\":\"127.0.0.1\",\"key\":\"k\",\"shell_port\":65536,"
                            "\"iopub_port\":2,\"stdin_port\":3,\"control_port\":4,\"hb_port\":5}"},
        {"negative port", "{\"ip\":\"127.0.0.1\",\"key\":\"k\",\"shell_port\":1,"
                          "\"iopub_port\":-2,\"stdin_port\":3,\"control_port\":4,\"hb_port\":5}"},
        {"port as a string", "{\"ip\":\"127.0.0.1\",\"key\":\"k\",\"shell_port\":1,"
                             "\"iopub_port\":2,\"stdin_port\":\"3\",\"control_port\":4,\"hb_port\":5}"},
        {"port as a float", "{\"ip\":\"127.0.0.1\",\"key\":\"k\",\"shell_port\":1,"
                            "\"iopub_port\":2,\"stdin_port\":3,\"control_port\":4.5,\"hb_port\":5}"},
        {"bad transport", "{\"transport\":\"udp\",\"ip\":\"127.0.0.1\",\"key\":\"k\"," PORTS "}"},
        {"transport TCP in capitals", "{\"transport\":\"TCP\",\"ip\":\"127.0.0.1\",\"key\":\"k\"," PORTS "}"},
        {"transport too long for its field",
         "{\"transport\":\"tcp-and-more\",\"ip\":\"127.0.0.1\",\"key\":\"k\"," PORTS "}"},
        {"bad signature_scheme",
         "{\"signature_scheme\":\"hmac-md5\",\"ip\":\"127.0.0.1\",\"key\":\"k\"," PORTS "}"},
        {"empty signature_scheme",
         "{\"signature_scheme\":\"\",\"ip\":\"127.0.0.1\",\"key\":\"k\"," PORTS "}"},
    };
    char path[256];
    s_path(path, sizeof path, "bad.json");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].text)
            CHECK_INT(s_write("bad.json", cases[i].text), 0);
        connfile_t c;
        memset(&c, 0x5a, sizeof c);
        proto_err_t err = PROTO_OK;
        char why[256] = "";
        CHECK_INT(connfile_load(path, &c, &err, why, sizeof why), -1);
        CHECK_INT(err, PROTO_ERR_BAD_CONNFILE);
        CHECK(why[0] != '\0');
        CHECK(c.key == NULL); /* nothing to free after a failure */
        connfile_clear(&c);
        unlink(path);
        tap_case("load refuses %s (%s)", cases[i].name, why);
    }

    /* A small |why| is truncated, not overrun. */
    CHECK_INT(s_write("bad.json", "{\"ip\":\"127.0.0.1\"," PORTS "}"), 0);
    connfile_t c;
    proto_err_t err;
    char why[8];
    memset(why, 'Z', sizeof why);
    CHECK_INT(connfile_load(path, &c, &err, why, 5), -1);
    CHECK_INT(strlen(why), 4);
    CHECK(why[5] == 'Z');
    connfile_clear(&c);
    unlink(path);
    tap_case("load: the reason is truncated to the given size");

    json_t *notobj = json_array();
    char why2[64];
    CHECK_INT(connfile_from_json(notobj, &c, &err, why2, sizeof why2), -1);
    CHECK_INT(err, PROTO_ERR_BAD_CONNFILE);
    json_decref(notobj);
    tap_case("from_json refuses a non-object");
}

int main(void)
{
    if (!mkdtemp(s_dir))
        TAP_BAIL("mkdtemp: %s", strerror(errno));
    test_round_trip();
    test_endpoints();
    test_defaults();
    test_errors();
    char listing[512];
    s_listing(listing, sizeof listing);
    CHECK_STR(listing, "");
    CHECK_INT(rmdir(s_dir), 0);
    tap_case("the test directory is left empty and removed");
    return tap_done();
}
