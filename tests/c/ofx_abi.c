/*
 * Compiles include/ofx/ofx.h as C (and, from the same source, as C++), checks the layouts a C
 * compiler gives the OpenFX structs against the published headers' member order (x86-64: 8 bytes
 * per pointer), then dlopens the plugin library named by argv[1] and checks its exports and
 * plugin record. Exit status 0 when every check passes.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ofx.h"

static int failures = 0;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                       \
    }                                                                   \
  } while (0)

#define AT(type, member, off) CHECK(offsetof(type, member) == (off))

static void layouts(void) {
  CHECK(sizeof(OfxHost) == 16);
  AT(OfxHost, fetchSuite, 8);
  CHECK(sizeof(OfxPlugin) == 48);
  AT(OfxPlugin, apiVersion, 8);
  AT(OfxPlugin, pluginIdentifier, 16);
  AT(OfxPlugin, pluginVersionMajor, 24);
  AT(OfxPlugin, pluginVersionMinor, 28);
  AT(OfxPlugin, setHost, 32);
  AT(OfxPlugin, mainEntry, 40);
  CHECK(sizeof(OfxRectI) == 16 && sizeof(OfxRectD) == 32 && sizeof(OfxPointD) == 16);

  CHECK(sizeof(OfxPropertySuiteV1) == 144);
  AT(OfxPropertySuiteV1, propSetInt, 24);
  AT(OfxPropertySuiteV1, propGetPointer, 64);
  AT(OfxPropertySuiteV1, propGetInt, 88);
  AT(OfxPropertySuiteV1, propGetDimension, 136);

  CHECK(sizeof(OfxParameterSuiteV1) == 144);
  AT(OfxParameterSuiteV1, paramGetValueAtTime, 40);
  AT(OfxParameterSuiteV1, paramSetValueAtTime, 72);
  AT(OfxParameterSuiteV1, paramEditEnd, 136);

  CHECK(sizeof(OfxImageEffectSuiteV1) == 104);
  AT(OfxImageEffectSuiteV1, clipGetImage, 40);
  AT(OfxImageEffectSuiteV1, clipGetRegionOfDefinition, 56);
  AT(OfxImageEffectSuiteV1, abort, 64);
  AT(OfxImageEffectSuiteV1, imageMemoryUnlock, 96);

  CHECK(sizeof(OfxMemorySuiteV1) == 16);
  CHECK(sizeof(OfxMultiThreadSuiteV1) == 72);
  AT(OfxMultiThreadSuiteV1, mutexCreate, 32);
  AT(OfxMultiThreadSuiteV1, mutexTryLock, 64);
  CHECK(sizeof(OfxMessageSuiteV1) == 8);
  CHECK(sizeof(OfxMessageSuiteV2) == 24);

  CHECK(kOfxStatReplyDefault == 14 && kOfxStatErrImageFormat == 1000);
  CHECK(strcmp(kOfxImageEffectPropSupportsMultipleClipDepths, "OfxImageEffectPropMultipleClipDepths") == 0);
  CHECK(strcmp(kOfxImagePreMultiplied, "OfxImageAlphaPremultiplied") == 0);
}

typedef int (*CountFn)(void);
typedef OfxPlugin *(*GetFn)(int);

static void plugin(const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    failures++;
    return;
  }
  CountFn count = NULL;
  GetFn get = NULL;
  /* POSIX's way to turn dlsym's object pointer into function pointers. */
  *(void **)(&count) = dlsym(lib, "OfxGetNumberOfPlugins");
  *(void **)(&get) = dlsym(lib, "OfxGetPlugin");
  CHECK(count != NULL && get != NULL);
  if (!count || !get) return;
  CHECK(count() == 1);
  CHECK(get(1) == NULL);
  OfxPlugin *p = get(0);
  CHECK(p != NULL);
  if (!p) return;
  CHECK(strcmp(p->pluginApi, kOfxImageEffectPluginApi) == 0);
  CHECK(p->apiVersion == kOfxImageEffectPluginApiVersion);
  CHECK(strcmp(p->pluginIdentifier, "org.sparsebokeh.LensBlur") == 0);
  CHECK(p->pluginVersionMajor == 1 && p->pluginVersionMinor == 0);
  CHECK(p->setHost != NULL && p->mainEntry != NULL);
  /* Load before setHost: refused with a status, not a crash. */
  CHECK(p->mainEntry(kOfxActionLoad, NULL, NULL, NULL) == kOfxStatErrMissingHostFeature);
  /* A host whose fetchSuite is missing: refused too. */
  static OfxHost broken = {NULL, NULL};
  p->setHost(&broken);
  CHECK(p->mainEntry(kOfxActionLoad, NULL, NULL, NULL) == kOfxStatErrMissingHostFeature);
  /* Actions before a successful Load fail cleanly. */
  CHECK(p->mainEntry(kOfxActionDescribe, NULL, NULL, NULL) == kOfxStatFailed);
  dlclose(lib);
}

int main(int argc, char **argv) {
  layouts();
  if (argc > 1) plugin(argv[1]);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("ofx_abi: all checks passed\n");
  return failures ? 1 : 0;
}
