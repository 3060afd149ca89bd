#ifndef KUBESEED_FUZZER_DRIVER_H
#define KUBESEED_FUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's own driver (compiler-rt, linked by -sanitize=fuzzer): what its main() does, with the
/// per-input callback given here. The fuzz targets call it from their entry point, because SwiftPM
/// links an executable's `main` to the module's entry point (`--defsym main=<Module>_main`), which
/// leaves libFuzzer's main() out.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
