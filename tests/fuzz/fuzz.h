/*
 * fuzz.h - the libFuzzer entry point every harness in tests/fuzz/
 * defines. With --enable-fuzzing it links against libFuzzer; otherwise
 * fuzz-main.c calls it once per corpus file (a replay test in make check).
 */
#ifndef AGORA_TESTS_FUZZ_H
#define AGORA_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
