/*
 * Host unit tests of the portable core: `make test` builds them with -fsanitize=address,undefined and runs
 * them against the byte-exact vectors the TypeScript tests use (test/vectors/bridge-frames.json).
 */
#include <stdlib.h>

#include "check.h"

int tt_cases, tt_checks, tt_failures;
const char *tt_case = "";

void tt_begin(const char *name)
{
    tt_case = name;
    tt_cases++;
}

const char *reason_name(bp_reason_t r)
{
    switch (r) {
    case BP_OK: return "ok";
    case BP_OVERSIZE: return "oversize";
    case BP_BAD_COBS: return "bad_cobs";
    case BP_TOO_SHORT: return "too_short";
    case BP_BAD_CRC: return "bad_crc";
    case BP_UNKNOWN_TYPE: return "unknown_type";
    case BP_BAD_LENGTH: return "bad_length";
    case BP_BAD_VALUE: return "bad_value";
    default: return "?";
    }
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "../test/vectors/bridge-frames.json";
    size_t len;
    char err[128];
    char *text = read_file(path, &len);
    json_t *vectors;

    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    vectors = json_parse(text, len, err, sizeof err);
    free(text);
    if (!vectors) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 2;
    }

    test_vectors(vectors);
    test_stream(vectors);
    test_units();
    test_bridge();
    json_free(vectors);

    printf("firmware-bridge host tests: %d cases, %d checks, %d failed\n", tt_cases, tt_checks, tt_failures);
    return tt_failures == 0 ? 0 : 1;
}
