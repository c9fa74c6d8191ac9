/*
 * sparsebokeh: OpenFX memory suite ABI (own text; layout and names from the published standard).
 */
#ifndef SPARSEBOKEH_OFX_MEMORY_H
#define SPARSEBOKEH_OFX_MEMORY_H

#include "ofxCore.h"

#ifdef __cplusplus
extern "C" {
#endif

#define kOfxMemorySuite "OfxMemorySuite"

/* General-purpose allocations from the host (not image memory). */
typedef struct OfxMemorySuiteV1 {
  OfxStatus (*memoryAlloc)(void *handle, size_t nBytes, void **allocatedData);
  OfxStatus (*memoryFree)(void *allocatedData);
} OfxMemorySuiteV1;

#ifdef __cplusplus
}
#endif

#endif
