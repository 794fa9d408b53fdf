/* test_output_compare — a cell's outputs as a notebook shows them
 * (cell_outputs) and the replay's notion of "same" (output_compare). */
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell_outputs.h"
#include "output_compare.h"
#include "tap.h"

/* Notebook outputs from a journal outputs array written as JSON. */
static json_t *s_view(const char *outputs_json)
{
    json_t *outputs = json_loads(outputs_json, 0, NULL);
    if (!outputs)
        TAP_BAIL("bad test JSON: %s", outputs_json);
    json_t *count = json_integer(7);
    json_t *view = cell_outputs_to_notebook(outputs, count);
    json_decref(count);
    json_decref(outputs);
    return view;
}

static int s_cmp(const char *a, const char *b, char **diff)
{
    json_t *va = s_view(a), *vb = s_view(b);
    int rc = output_compare(va, vb, 20, diff);
    json_decref(va);
    json_decref(vb);
    return rc;
}

#define OUT(type, content) "{\"msg_type\":\"" type "\",\"content\":" content "}"
#define STREAM(name, text) OUT("stream", "{\"name\":\"" name "\",\"text\":\"" text "\"}")
#define RESULT(text) OUT("execute_result", "{\"data\":{\"text/plain\":\"" text "\"},\"metadata\":{}}")
#define DISPLAY(mime, value, id)                                                        \
    OUT("display_data", "{\"data\":{\"" mime "\":\"" value "\"},\"metadata\":{},"        \
                        "\"transient\":{\"display_id\":\"" id "\"}}")
#define ERROR(ename, evalue, tb)                                                        \
    OUT("error", "{\"ename\":\"" ename "\",\"evalue\":\"" evalue "\",\"traceback\":[\"" tb "\"]}")

static void test_normalise(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"<function f at 0x7f3a12bc0040>", "<function f at 0x?>"},
        {"[<matplotlib.lines.Line2D at 0x7F00AB>]\n", "[<matplotlib.lines.Line2D at 0x?>]\n"},
        {"a at 0x1 and b at 0x2", "a at 0x? and b at 0x?"},
        {"look at 0xg", "look at 0xg"},
        {"hex(255) is 0xff", "hex(255) is 0xff"},
        {"ends at 0x", "ends at 0x"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        char *got = output_compare_normalise(cases[i].in, strlen(cases[i].in), &len);
        CHECK_STR(got, cases[i].out);
        CHECK_INT(len, strlen(cases[i].out));
        free(got);
    }
    tap_case("memory addresses in reprs are masked, other hex is kept");
}

static void test_view(void)
{
    json_t *v = s_view("[" STREAM("stdout", "a") "," STREAM("stdout", "b\\n") ","
                       STREAM("stderr", "w\\n") "," STREAM("stdout", "c") "]");
    CHECK_INT(json_array_size(v), 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "text")), "ab\n");
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "output_type")), "stream");
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 1), "name")), "stderr");
    json_decref(v);
    tap_case("consecutive streams of one name are merged, others kept apart");

    v = s_view("[" STREAM("stdout", "old") "," OUT("clear_output", "{\"wait\":false}") ","
               RESULT("1") "]");
    CHECK_INT(json_array_size(v), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "output_type")),
              "execute_result");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(v, 0), "execution_count")), 7);
    CHECK(json_object_get(json_array_get(v, 0), "metadata") != NULL);
    json_decref(v);
    tap_case("clear_output clears at once; execute_result gets the cell's count");

    v = s_view("[" STREAM("stdout", "1") "," OUT("clear_output", "{\"wait\":true}") ","
               STREAM("stdout", "2") "," OUT("clear_output", "{\"wait\":true}") "]");
    CHECK_INT(json_array_size(v), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "text")), "2");
    json_decref(v);
    tap_case("clear_output with wait clears before the next output; a last one clears nothing");

    v = s_view("[" DISPLAY("text/plain", "0%", "bar") "," STREAM("stdout", "x") ","
               OUT("update_display_data", "{\"data\":{\"text/plain\":\"100%\"},\"metadata\":{},"
                   "\"transient\":{\"display_id\":\"bar\"}}") ","
               OUT("comm_msg", "{}") "]");
    CHECK_INT(json_array_size(v), 2);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_array_get(v, 0), "data"), "text/plain")),
              "100%");
    CHECK(json_object_get(json_array_get(v, 0), "transient") == NULL);
    json_decref(v);
    tap_case("update_display_data updates the output with its display id; unknown types dropped");

    v = s_view("[" DISPLAY("text/plain", "0%", "bar") "," STREAM("stdout", "a") ","
               OUT("update_display_data", "{\"data\":{\"text/plain\":\"50%\"},\"metadata\":{},"
                   "\"transient\":{\"display_id\":\"bar\"}}") ","
               STREAM("stdout", "b") "," DISPLAY("text/plain", "chart", "c") ","
               STREAM("stdout", "c") "," STREAM("stdout", "d") ","
               OUT("clear_output", "{\"wait\":true}") "," STREAM("stdout", "e") ","
               STREAM("stdout", "f") "]");
    CHECK_INT(json_array_size(v), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "text")), "ef");
    json_decref(v);
    v = s_view("[" DISPLAY("text/plain", "0%", "bar") "," STREAM("stdout", "a") ","
               OUT("update_display_data", "{\"data\":{\"text/plain\":\"50%\"},\"metadata\":{},"
                   "\"transient\":{\"display_id\":\"bar\"}}") ","
               STREAM("stdout", "b") "," DISPLAY("text/plain", "chart", "c") ","
               STREAM("stdout", "c") "," STREAM("stdout", "d") "]");
    CHECK_INT(json_array_size(v), 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 1), "text")), "ab");
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 3), "text")), "cd");
    json_decref(v);
    v = s_view("[" STREAM("stdout", "a") "," STREAM("stdout", "b") ","
               OUT("clear_output", "{\"wait\":false}") "," STREAM("stdout", "c") "]");
    CHECK_INT(json_array_size(v), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "text")), "c");
    json_decref(v);
    tap_case("a stream run goes on past update_display_data and ends at any other output or a "
             "clear");
}

/* Many small writes, as the runtime sends a large print (8 KiB each), come
 * out as one text holding every byte in order. */
static void test_view_many_writes(void)
{
    enum { PIECES = 2048, PIECE = 512 };
    json_t *outputs = json_array();
    char piece[PIECE + 1];
    for (size_t i = 0; i < PIECES; i++) {
        snprintf(piece, sizeof piece, "%-*zu\n", PIECE - 1, i);
        json_array_append_new(outputs, json_pack("{s:s, s:{s:s, s:s}}", "msg_type", "stream",
                                                 "content", "name", "stdout", "text", piece));
    }
    json_t *v = cell_outputs_to_notebook(outputs, NULL);
    CHECK_INT(json_array_size(v), 1);
    const json_t *text = json_object_get(json_array_get(v, 0), "text");
    CHECK_INT(json_string_length(text), (size_t)PIECES * PIECE);
    bool in_order = json_string_length(text) == (size_t)PIECES * PIECE;
    for (size_t i = 0; in_order && i < PIECES; i++) {
        snprintf(piece, sizeof piece, "%-*zu\n", PIECE - 1, i);
        in_order = memcmp(json_string_value(text) + i * PIECE, piece, PIECE) == 0;
    }
    CHECK(in_order);
    json_decref(v);
    json_decref(outputs);
    tap_case("2048 stream messages of 512 bytes become one text of 1 MiB, in order");
}

/* A base64 PNG-like file: signature, IHDR, optional tEXt, IDAT |pixels|, IEND. */
static char *s_png(const char *text, const char *pixels)
{
    unsigned char buf[512];
    size_t n = 0;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(buf, sig, 8);
    n = 8;
    const char *types[4] = {"IHDR", text ? "tEXt" : NULL, "IDAT", "IEND"};
    const char *datas[4] = {"0123456789abc", text, pixels, ""};
    for (int i = 0; i < 4; i++) {
        if (!types[i])
            continue;
        size_t len = strlen(datas[i]);
        buf[n++] = 0, buf[n++] = 0, buf[n++] = 0, buf[n++] = (unsigned char)len;
        memcpy(buf + n, types[i], 4);
        memcpy(buf + n + 4, datas[i], len);
        memset(buf + n + 4 + len, 0xab, 4); /* CRC, not checked */
        n += 8 + len;
    }
    char *b64 = malloc(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL));
    sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL), buf, n,
                      sodium_base64_VARIANT_ORIGINAL);
    return b64;
}

static void test_images(void)
{
    char *a = s_png("Software\0x", "pixels");
    char *a2 = s_png("Software\0x", "pixels");
    char *b = s_png("Creation Time", "pixels");
    char *c = s_png(NULL, "pixels");
    char *d = s_png("Software\0x", "pixelz");
    CHECK(output_compare_images(a, a2));
    CHECK(output_compare_images(a, b));
    CHECK(output_compare_images(b, c));
    CHECK(!output_compare_images(a, d));
    CHECK(!output_compare_images(a, "not base64!"));
    CHECK(output_compare_images("aGVsbG8=", "aGVs\nbG8="));
    CHECK(!output_compare_images("aGVsbG8=", "aGVsbG9="));
    tap_case("images: same bytes or same PNG chunks but text and time match, pixels do not");

    char json_a[1024], json_d[1024], *diff = NULL;
    snprintf(json_a, sizeof json_a, "[" OUT("display_data", "{\"data\":{\"image/png\":\"%s\","
             "\"text/plain\":\"<Figure size 640x480 with 1 Axes>\"},\"metadata\":{}}") "]", a);
    snprintf(json_d, sizeof json_d, "[" OUT("display_data", "{\"data\":{\"image/png\":\"%s\","
             "\"text/plain\":\"<Figure size 640x480 with 1 Axes>\"},\"metadata\":{}}") "]", b);
    CHECK_INT(s_cmp(json_a, json_d, &diff), 0);
    snprintf(json_d, sizeof json_d, "[" OUT("display_data", "{\"data\":{\"image/png\":\"%s\","
             "\"text/plain\":\"<Figure size 640x480 with 1 Axes>\"},\"metadata\":{}}") "]", d);
    CHECK_INT(s_cmp(json_a, json_d, &diff), 1);
    CHECK(diff && strstr(diff, "image/png") && strstr(diff, "images differ"));
    tap_case("a figure whose pixels changed is different (%s)", diff ? strtok(diff, "\n") : "");
    free(diff);
    free(a), free(a2), free(b), free(c), free(d);
}

static void test_compare(void)
{
    char *diff = NULL;
    CHECK_INT(s_cmp("[" STREAM("stdout", "a\\nb\\n") "]",
                    "[" STREAM("stdout", "a\\n") "," STREAM("stdout", "b\\n") "]", &diff), 0);
    CHECK(diff == NULL);
    CHECK_INT(s_cmp("[" STREAM("stdout", "x\\n") "," STREAM("stderr", "w\\n") ","
                    STREAM("stdout", "y\\n") "]",
                    "[" STREAM("stderr", "w\\n") "," STREAM("stdout", "x\\ny\\n") "]", &diff), 0);
    tap_case("streams are compared as whole texts, however they were cut");

    CHECK_INT(s_cmp("[" RESULT("<object object at 0x7f0011>") "]",
                    "[" RESULT("<object object at 0x7e9922>") "]", &diff), 0);
    CHECK_INT(s_cmp("[" STREAM("stderr", "[sandcell] This cell runs in a fresh interpreter\\n") ","
                    STREAM("stdout", "1\\n") "]", "[" STREAM("stdout", "1\\n") "]", &diff), 0);
    CHECK_INT(s_cmp("[" ERROR("InterpreterDied", "killed by signal 9", "x") "]",
                    "[" ERROR("InterpreterDied", "killed by signal 6", "y") "]", &diff), 0);
    tap_case("addresses, sandcell's notes and the text of sandcell's own errors do not count");

#define CAPPED STREAM("stderr", "\\n[sandcell] this cell reached the output limit of 1 MiB\\n")
    CHECK_INT(s_cmp("[" STREAM("stdout", "xxxx\\nxx") "," CAPPED "]",
                    "[" STREAM("stdout", "xxxx\\nxxx") "," CAPPED "]", &diff), 0);
    CHECK_INT(s_cmp("[" STREAM("stdout", "xxxx\\nxx") "," CAPPED "]",
                    "[" STREAM("stdout", "xxxx\\nxxx") "]", &diff), 1);
    free(diff);
    CHECK_INT(s_cmp("[" STREAM("stdout", "xxxx\\nxy") "," CAPPED "]",
                    "[" STREAM("stdout", "xxxx\\nxxx") "," CAPPED "]", &diff), 1);
    free(diff);
    tap_case("cells cut at the output limit compare what both kept");

    CHECK_INT(s_cmp("[" STREAM("stdout", "head\\n0.8444218515250481\\ntail\\n") "]",
                    "[" STREAM("stdout", "head\\n0.2550690257394217\\ntail\\n") "]", &diff), 1);
    CHECK(diff && strstr(diff, "@@ stdout, line 2 @@") && strstr(diff, "-0.8444218515250481") &&
          strstr(diff, "+0.2550690257394217") && !strstr(diff, "head") && !strstr(diff, "tail"));
    free(diff);
    tap_case("a different number printed is a short diff of the lines that changed");

    CHECK_INT(s_cmp("[" ERROR("ValueError", "bad", "ValueError: bad") "]",
                    "[" ERROR("KeyError", "bad", "KeyError: bad") "]", &diff), 1);
    CHECK(diff && strstr(diff, "-ValueError") && strstr(diff, "+KeyError"));
    free(diff);
    CHECK_INT(s_cmp("[" ERROR("ValueError", "bad 1", "ValueError: bad 1") "]",
                    "[" ERROR("ValueError", "bad 2", "ValueError: bad 2") "]", &diff), 1);
    free(diff);
    tap_case("errors are compared by ename, evalue and traceback");

    CHECK_INT(s_cmp("[" RESULT("1") "]", "[]", &diff), 1);
    CHECK(diff && strstr(diff, "missing in the replay"));
    free(diff);
    CHECK_INT(s_cmp("[]", "[" DISPLAY("text/html", "<b>", "i") "]", &diff), 1);
    CHECK(diff && strstr(diff, "only in the replay"));
    free(diff);
    CHECK_INT(s_cmp("[" DISPLAY("text/html", "<b>", "i") "]",
                    "[" DISPLAY("text/plain", "<b>", "i") "]", &diff), 1);
    CHECK(diff && strstr(diff, "text/html"));
    free(diff);
    CHECK_INT(s_cmp("[" RESULT("1") "]", "[" DISPLAY("text/plain", "1", "i") "]", &diff), 1);
    free(diff);
    tap_case("a missing, extra or differently typed output is a difference");

    CHECK_INT(s_cmp("[" STREAM("stdout", "\\u001b]52;c;cHduZWQ=\\u0007 \\u009b31m\\n") "]",
                    "[" STREAM("stdout", "\\u001b[2J\\n") "]", &diff), 1);
    CHECK(diff && !strchr(diff, '\x1b') && !strchr(diff, '\a') && !strstr(diff, "\xc2\x9b"));
    CHECK(diff && strstr(diff, "-?]52;c;cHduZWQ=? ??31m") && strstr(diff, "+?[2J"));
    free(diff);
    char text[] = "tab\tok \x1b[1m bell\a del\x7f \xc2\x9b csi \xc3\xa9";
    CHECK_STR(output_compare_printable(text), "tab\tok ?[1m bell? del? ?? csi \xc3\xa9");
    tap_case("diffs cannot carry terminal escape sequences from the cell's output");

    CHECK_INT(s_cmp("[" STREAM("stdout", "1\\n2\\n3\\n4\\n5\\n6\\n") "]",
                    "[" STREAM("stdout", "a\\nb\\nc\\nd\\ne\\nf\\n") "]", &diff), 1);
    CHECK(diff && strstr(diff, "-... 3 more lines") && strstr(diff, "+... 3 more lines"));
    free(diff);
    tap_case("long diffs are cut short");
}

int main(void)
{
    test_normalise();
    test_view();
    test_view_many_writes();
    test_images();
    test_compare();
    return tap_done();
}
