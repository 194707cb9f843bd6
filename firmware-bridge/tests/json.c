#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t len, pos;
    char *err;
    size_t err_len;
    int depth;
} parser_t;

static int fail(parser_t *p, const char *what)
{
    if (p->err && p->err[0] == '\0')
        snprintf(p->err, p->err_len, "%s at byte %zu", what, p->pos);
    return -1;
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len &&
           (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int parse_value(parser_t *p, json_t *out);

static int buf_put(char **buf, size_t *len, size_t *cap, unsigned char c)
{
    if (*len + 2 > *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        char *n = realloc(*buf, ncap);
        if (!n)
            return -1;
        *buf = n;
        *cap = ncap;
    }
    (*buf)[(*len)++] = (char)c;
    (*buf)[*len] = '\0';
    return 0;
}

static int put_utf8(char **buf, size_t *len, size_t *cap, unsigned long cp)
{
    int r = 0;
    if (cp < 0x80) {
        r |= buf_put(buf, len, cap, (unsigned char)cp);
    } else if (cp < 0x800) {
        r |= buf_put(buf, len, cap, (unsigned char)(0xC0 | (cp >> 6)));
        r |= buf_put(buf, len, cap, (unsigned char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        r |= buf_put(buf, len, cap, (unsigned char)(0xE0 | (cp >> 12)));
        r |= buf_put(buf, len, cap, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
        r |= buf_put(buf, len, cap, (unsigned char)(0x80 | (cp & 0x3F)));
    } else {
        r |= buf_put(buf, len, cap, (unsigned char)(0xF0 | (cp >> 18)));
        r |= buf_put(buf, len, cap, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
        r |= buf_put(buf, len, cap, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
        r |= buf_put(buf, len, cap, (unsigned char)(0x80 | (cp & 0x3F)));
    }
    return r;
}

static int hex4(parser_t *p, unsigned long *cp)
{
    int i;
    *cp = 0;
    if (p->pos + 4 > p->len)
        return fail(p, "short \\u escape");
    for (i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        *cp <<= 4;
        if (c >= '0' && c <= '9')
            *cp |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *cp |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *cp |= (unsigned long)(c - 'A' + 10);
        else
            return fail(p, "bad \\u escape");
    }
    return 0;
}

static int parse_string(parser_t *p, char **str, size_t *slen)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    p->pos++; /* opening quote */
    if (buf_put(&buf, &len, &cap, 0) != 0)
        return fail(p, "out of memory");
    len = 0;
    for (;;) {
        unsigned char c;
        if (p->pos >= p->len) {
            free(buf);
            return fail(p, "unterminated string");
        }
        c = (unsigned char)p->s[p->pos++];
        if (c == '"')
            break;
        if (c < 0x20) {
            free(buf);
            return fail(p, "control character in string");
        }
        if (c != '\\') {
            if (buf_put(&buf, &len, &cap, c) != 0) {
                free(buf);
                return fail(p, "out of memory");
            }
            continue;
        }
        if (p->pos >= p->len) {
            free(buf);
            return fail(p, "unterminated escape");
        }
        c = (unsigned char)p->s[p->pos++];
        {
            unsigned long cp;
            int r = 0;
            switch (c) {
            case '"': case '\\': case '/': r = buf_put(&buf, &len, &cap, c); break;
            case 'b': r = buf_put(&buf, &len, &cap, '\b'); break;
            case 'f': r = buf_put(&buf, &len, &cap, '\f'); break;
            case 'n': r = buf_put(&buf, &len, &cap, '\n'); break;
            case 'r': r = buf_put(&buf, &len, &cap, '\r'); break;
            case 't': r = buf_put(&buf, &len, &cap, '\t'); break;
            case 'u':
                if (hex4(p, &cp) != 0) {
                    free(buf);
                    return -1;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF && p->pos + 6 <= p->len && p->s[p->pos] == '\\' &&
                    p->s[p->pos + 1] == 'u') {
                    unsigned long lo;
                    size_t save = p->pos;
                    p->pos += 2;
                    if (hex4(p, &lo) != 0) {
                        free(buf);
                        return -1;
                    }
                    if (lo >= 0xDC00 && lo <= 0xDFFF)
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    else
                        p->pos = save; /* a lone high surrogate: kept as is (WTF-8) */
                }
                r = put_utf8(&buf, &len, &cap, cp);
                break;
            default:
                free(buf);
                return fail(p, "bad escape");
            }
            if (r != 0) {
                free(buf);
                return fail(p, "out of memory");
            }
        }
    }
    *str = buf;
    *slen = len;
    return 0;
}

static int parse_number(parser_t *p, json_t *out)
{
    char tmp[64];
    size_t start = p->pos, n;
    char *end;
    while (p->pos < p->len && strchr("+-0123456789.eE", p->s[p->pos]))
        p->pos++;
    n = p->pos - start;
    if (n == 0 || n >= sizeof tmp)
        return fail(p, "bad number");
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    out->type = JSON_NUMBER;
    out->number = strtod(tmp, &end);
    if (*end != '\0')
        return fail(p, "bad number");
    return 0;
}

static int literal(parser_t *p, const char *word)
{
    size_t n = strlen(word);
    if (p->pos + n > p->len || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "unexpected token");
    p->pos += n;
    return 0;
}

static int add_item(json_t *out, size_t *cap)
{
    if (out->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        json_t *items = realloc(out->items, ncap * sizeof *items);
        if (!items)
            return -1;
        out->items = items;
        if (out->type == JSON_OBJECT) {
            char **keys = realloc(out->keys, ncap * sizeof *keys);
            if (!keys)
                return -1;
            out->keys = keys;
        }
        *cap = ncap;
    }
    memset(&out->items[out->n], 0, sizeof out->items[0]);
    if (out->type == JSON_OBJECT)
        out->keys[out->n] = NULL;
    out->n++;
    return 0;
}

static int parse_container(parser_t *p, json_t *out, int object)
{
    size_t cap = 0;
    char close = object ? '}' : ']';
    out->type = object ? JSON_OBJECT : JSON_ARRAY;
    if (++p->depth > 64)
        return fail(p, "nested too deep");
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        if (add_item(out, &cap) != 0)
            return fail(p, "out of memory");
        skip_ws(p);
        if (object) {
            size_t klen;
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, "expected a member name");
            if (parse_string(p, &out->keys[out->n - 1], &klen) != 0)
                return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, "expected ':'");
            p->pos++;
        }
        if (parse_value(p, &out->items[out->n - 1]) != 0)
            return -1;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            p->depth--;
            return 0;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(parser_t *p, json_t *out)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "unexpected end");
    switch (p->s[p->pos]) {
    case '{':
        return parse_container(p, out, 1);
    case '[':
        return parse_container(p, out, 0);
    case '"':
        out->type = JSON_STRING;
        return parse_string(p, &out->str, &out->len);
    case 't':
        out->type = JSON_BOOL;
        out->boolean = 1;
        return literal(p, "true");
    case 'f':
        out->type = JSON_BOOL;
        return literal(p, "false");
    case 'n':
        out->type = JSON_NULL;
        return literal(p, "null");
    default:
        return parse_number(p, out);
    }
}

static void free_members(json_t *v)
{
    size_t i;
    for (i = 0; i < v->n; i++) {
        free_members(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

void json_free(json_t *v)
{
    if (!v)
        return;
    free_members(v);
    free(v);
}

json_t *json_parse(const char *text, size_t len, char *err, size_t err_len)
{
    parser_t p;
    json_t *v = calloc(1, sizeof *v);
    if (err && err_len)
        err[0] = '\0';
    if (!v)
        return NULL;
    p.s = text;
    p.len = len;
    p.pos = 0;
    p.err = err;
    p.err_len = err_len;
    p.depth = 0;
    if (parse_value(&p, v) == 0) {
        skip_ws(&p);
        if (p.pos == p.len)
            return v;
        fail(&p, "trailing data");
    }
    json_free(v);
    return NULL;
}

const json_t *json_get(const json_t *obj, const char *key)
{
    size_t i;
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (i = 0; i < obj->n; i++)
        if (obj->keys[i] && strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

const char *json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_get(obj, key);
    return v && v->type == JSON_STRING ? v->str : NULL;
}

double json_num(const json_t *obj, const char *key, double fallback)
{
    const json_t *v = json_get(obj, key);
    return v && v->type == JSON_NUMBER ? v->number : fallback;
}

int json_true(const json_t *obj, const char *key)
{
    const json_t *v = json_get(obj, key);
    return v && v->type == JSON_BOOL && v->boolean;
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        size_t got;
        if (n + 4096 + 1 > cap) {
            char *nb;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

unsigned char *hex_decode(const char *hex, size_t *out_len)
{
    size_t n = strlen(hex), i;
    unsigned char *out;
    if (n % 2)
        return NULL;
    out = malloc(n / 2 + 1); /* + 1: malloc(0) may return NULL */
    if (!out)
        return NULL;
    for (i = 0; i < n / 2; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *out_len = n / 2;
    return out;
}
