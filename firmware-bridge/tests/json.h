/* A tiny JSON reader for the test vectors (RFC 8259; strings are returned as UTF-8 bytes). No dependencies. */
#ifndef TEST_JSON_H
#define TEST_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type_t;

typedef struct json json_t;
struct json {
    json_type_t type;
    int boolean;
    double number;
    char *str;      /* JSON_STRING: UTF-8, NUL-terminated (may also contain NULs: use len) */
    size_t len;     /* JSON_STRING: bytes */
    size_t n;       /* JSON_ARRAY / JSON_OBJECT: members */
    json_t *items;  /* members */
    char **keys;    /* JSON_OBJECT: member names */
};

/** Parses `len` bytes; returns NULL and a message in `err` on a syntax error. */
json_t *json_parse(const char *text, size_t len, char *err, size_t err_len);
void json_free(json_t *v);

/** Member `key` of an object, or NULL. */
const json_t *json_get(const json_t *obj, const char *key);
/** Convenience: the string member `key`, or NULL when absent or not a string. */
const char *json_str(const json_t *obj, const char *key);
/** The number member `key`, or `fallback`. */
double json_num(const json_t *obj, const char *key, double fallback);
/** 1 when member `key` is true. */
int json_true(const json_t *obj, const char *key);

/** Reads a whole file (NUL-terminated); NULL on error. */
char *read_file(const char *path, size_t *len);

/** Decodes lower- or upper-case hex into a new buffer (never NULL for valid hex, even when empty). */
unsigned char *hex_decode(const char *hex, size_t *out_len);

#endif
