/*
 * A small OpenFX host in C99, written for sparsebokeh's tests against include/ofx/. It dlopens a
 * plugin binary, supplies the property, parameter, image effect, memory, multi-thread and message
 * suites (the variadic ones with real va_lists), and drives
 *   Load -> Describe -> DescribeInContext(Filter) -> CreateInstance -> set params ->
 *   GetRegionsOfInterest -> IsIdentity -> Render (several layouts) -> DestroyInstance -> Unload
 * on images it allocates. Render results are written as packed top-down f32 files for the Rust
 * test to compare with the engine.
 *
 * usage: ofx_host PLUGIN BUNDLE W H SRC.raw DEPTH.raw SRC_HALF.raw DEPTH_HALF.raw OUT_PREFIX
 *        ofx_host --threads PLUGIN BUNDLE W H CPUS    (timing of concurrent frames, see threads_mode)
 * (raw files: W x H x 4 floats, top row first; the half files are W/2 x H/2.)
 * Prints "roi x1 y1 x2 y2" for the region of interest asked for [10,12,20,18] at scale 1, and
 * exits 0 when every action returned what it should.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ofx.h"

static int failures = 0;
#define EXPECT(cond, what)                                                   \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "FAIL %s (line %d): %s\n", what, __LINE__, #cond);     \
      failures++;                                                            \
    }                                                                        \
  } while (0)

/* ---------------------------------------------------------------- property sets */

#define MAXV 16
typedef struct {
  char name[96];
  char type; /* 'i', 'd', 'p', 's' */
  int n;
  int i[MAXV];
  double d[MAXV];
  void *p[MAXV];
  char *s[MAXV];
} Prop;

typedef struct {
  Prop props[96];
  int n;
  pthread_mutex_t lock;
} PropSet;

static void ps_init(PropSet *ps) {
  memset(ps, 0, sizeof *ps);
  pthread_mutex_init(&ps->lock, NULL);
}

static Prop *ps_find(PropSet *ps, const char *name, int create) {
  int k;
  for (k = 0; k < ps->n; k++)
    if (strcmp(ps->props[k].name, name) == 0) return &ps->props[k];
  if (!create || ps->n == 96) return NULL;
  memset(&ps->props[ps->n], 0, sizeof(Prop));
  strncpy(ps->props[ps->n].name, name, sizeof ps->props[0].name - 1);
  return &ps->props[ps->n++];
}

static OfxStatus ps_set(OfxPropertySetHandle h, const char *name, int index, char type, const void *v) {
  PropSet *ps = (PropSet *)h;
  Prop *p;
  if (!ps) return kOfxStatErrBadHandle;
  if (index < 0 || index >= MAXV) return kOfxStatErrBadIndex;
  pthread_mutex_lock(&ps->lock);
  p = ps_find(ps, name, 1);
  if (!p) {
    pthread_mutex_unlock(&ps->lock);
    return kOfxStatErrMemory;
  }
  p->type = type;
  if (index >= p->n) p->n = index + 1;
  switch (type) {
    case 'i': p->i[index] = *(const int *)v; break;
    case 'd': p->d[index] = *(const double *)v; break;
    case 'p': p->p[index] = *(void *const *)v; break;
    default: {
      const char *src = *(const char *const *)v;
      size_t len = strlen(src);
      char *copy = (char *)malloc(len + 1);
      memcpy(copy, src, len + 1);
      free(p->s[index]);
      p->s[index] = copy;
    }
  }
  pthread_mutex_unlock(&ps->lock);
  return kOfxStatOK;
}

static OfxStatus ps_get(OfxPropertySetHandle h, const char *name, int index, char type, void *out) {
  PropSet *ps = (PropSet *)h;
  Prop *p;
  OfxStatus st = kOfxStatOK;
  if (!ps) return kOfxStatErrBadHandle;
  pthread_mutex_lock(&ps->lock);
  p = ps_find(ps, name, 0);
  if (!p) st = kOfxStatErrUnknown;
  else if (index < 0 || index >= p->n) st = kOfxStatErrBadIndex;
  else if (p->type != type) st = kOfxStatErrValue;
  else switch (type) {
      case 'i': *(int *)out = p->i[index]; break;
      case 'd': *(double *)out = p->d[index]; break;
      case 'p': *(void **)out = p->p[index]; break;
      default: *(char **)out = p->s[index]; break;
    }
  pthread_mutex_unlock(&ps->lock);
  return st;
}

static OfxStatus setPointer(OfxPropertySetHandle h, const char *n, int i, void *v) { return ps_set(h, n, i, 'p', &v); }
static OfxStatus setString(OfxPropertySetHandle h, const char *n, int i, const char *v) { return ps_set(h, n, i, 's', &v); }
static OfxStatus setDouble(OfxPropertySetHandle h, const char *n, int i, double v) { return ps_set(h, n, i, 'd', &v); }
static OfxStatus setInt(OfxPropertySetHandle h, const char *n, int i, int v) { return ps_set(h, n, i, 'i', &v); }
static OfxStatus getPointer(OfxPropertySetHandle h, const char *n, int i, void **v) { return ps_get(h, n, i, 'p', v); }
static OfxStatus getString(OfxPropertySetHandle h, const char *n, int i, char **v) { return ps_get(h, n, i, 's', v); }
static OfxStatus getDouble(OfxPropertySetHandle h, const char *n, int i, double *v) { return ps_get(h, n, i, 'd', v); }
static OfxStatus getInt(OfxPropertySetHandle h, const char *n, int i, int *v) { return ps_get(h, n, i, 'i', v); }
static OfxStatus getDimension(OfxPropertySetHandle h, const char *n, int *count) {
  PropSet *ps = (PropSet *)h;
  Prop *p;
  if (!ps) return kOfxStatErrBadHandle;
  p = ps_find(ps, n, 0);
  *count = p ? p->n : 0;
  return p ? kOfxStatOK : kOfxStatErrUnknown;
}
static OfxStatus propReset(OfxPropertySetHandle h, const char *n) {
  (void)h;
  (void)n;
  return kOfxStatOK;
}

/* ---------------------------------------------------------------- params, clips, effects */

typedef struct {
  char name[64];
  char type[40];
  PropSet props;
  int ival;
  double dval;
  double dval2; /* the second component of a Double2D */
  char sval[1024];
} Param;

typedef struct {
  PropSet props;
  Param params[40];
  int n;
} ParamSet;

typedef struct {
  int have;
  void *data;
  int bounds[4];
  int row_bytes;
} Image;

#define FRAMES 8
typedef struct {
  char name[32];
  PropSet props;
  Image images[FRAMES];
  OfxRectD rod;
} Clip;

typedef struct {
  PropSet props;
  ParamSet params;
  Clip clips[4];
  int nclips;
} Effect;

static int outstanding_images = 0;
static pthread_mutex_t images_lock = PTHREAD_MUTEX_INITIALIZER;

static OfxStatus getPropertySet(OfxImageEffectHandle e, OfxPropertySetHandle *out) {
  if (!e) return kOfxStatErrBadHandle;
  *out = (OfxPropertySetHandle) & ((Effect *)e)->props;
  return kOfxStatOK;
}
static OfxStatus getParamSet(OfxImageEffectHandle e, OfxParamSetHandle *out) {
  if (!e) return kOfxStatErrBadHandle;
  *out = (OfxParamSetHandle) & ((Effect *)e)->params;
  return kOfxStatOK;
}
static OfxStatus clipDefine(OfxImageEffectHandle h, const char *name, OfxPropertySetHandle *out) {
  Effect *e = (Effect *)h;
  Clip *c;
  if (!e || e->nclips == 4) return kOfxStatErrBadHandle;
  c = &e->clips[e->nclips++];
  memset(c, 0, sizeof *c);
  strncpy(c->name, name, sizeof c->name - 1);
  ps_init(&c->props);
  setString((OfxPropertySetHandle)&c->props, kOfxPropName, 0, name);
  *out = (OfxPropertySetHandle)&c->props;
  return kOfxStatOK;
}
static Clip *find_clip(Effect *e, const char *name) {
  int k;
  for (k = 0; k < e->nclips; k++)
    if (strcmp(e->clips[k].name, name) == 0) return &e->clips[k];
  return NULL;
}
static OfxStatus clipGetHandle(OfxImageEffectHandle h, const char *name, OfxImageClipHandle *clip,
                               OfxPropertySetHandle *props) {
  Clip *c;
  if (!h) return kOfxStatErrBadHandle;
  c = find_clip((Effect *)h, name);
  if (!c) return kOfxStatErrUnknown;
  *clip = (OfxImageClipHandle)c;
  if (props) *props = (OfxPropertySetHandle)&c->props;
  return kOfxStatOK;
}
static OfxStatus clipGetPropertySet(OfxImageClipHandle c, OfxPropertySetHandle *out) {
  if (!c) return kOfxStatErrBadHandle;
  *out = (OfxPropertySetHandle) & ((Clip *)c)->props;
  return kOfxStatOK;
}
static OfxStatus clipGetImage(OfxImageClipHandle h, OfxTime time, const OfxRectD *region, OfxPropertySetHandle *out) {
  Clip *c = (Clip *)h;
  Image *img;
  PropSet *ps;
  OfxPropertySetHandle p;
  int k;
  (void)region;
  if (!c) return kOfxStatErrBadHandle;
  if (time < 0 || time >= FRAMES || !c->images[(int)time].have) return kOfxStatFailed;
  img = &c->images[(int)time];
  ps = (PropSet *)malloc(sizeof *ps);
  ps_init(ps);
  p = (OfxPropertySetHandle)ps;
  setPointer(p, kOfxImagePropData, 0, img->data);
  for (k = 0; k < 4; k++) setInt(p, kOfxImagePropBounds, k, img->bounds[k]);
  setInt(p, kOfxImagePropRowBytes, 0, img->row_bytes);
  setString(p, kOfxImageEffectPropComponents, 0, kOfxImageComponentRGBA);
  setString(p, kOfxImageEffectPropPixelDepth, 0, kOfxBitDepthFloat);
  *out = p;
  pthread_mutex_lock(&images_lock);
  outstanding_images++;
  pthread_mutex_unlock(&images_lock);
  return kOfxStatOK;
}
static OfxStatus clipReleaseImage(OfxPropertySetHandle h) {
  PropSet *ps = (PropSet *)h;
  int k, j;
  if (!ps) return kOfxStatErrBadHandle;
  for (k = 0; k < ps->n; k++)
    for (j = 0; j < MAXV; j++) free(ps->props[k].s[j]);
  pthread_mutex_destroy(&ps->lock);
  free(ps);
  pthread_mutex_lock(&images_lock);
  outstanding_images--;
  pthread_mutex_unlock(&images_lock);
  return kOfxStatOK;
}
static OfxStatus clipGetRegionOfDefinition(OfxImageClipHandle h, OfxTime time, OfxRectD *out) {
  (void)time;
  if (!h) return kOfxStatErrBadHandle;
  *out = ((Clip *)h)->rod;
  return kOfxStatOK;
}
static int abortNever(OfxImageEffectHandle e) {
  (void)e;
  return 0;
}

static Param *find_param(ParamSet *s, const char *name) {
  int k;
  for (k = 0; k < s->n; k++)
    if (strcmp(s->params[k].name, name) == 0) return &s->params[k];
  return NULL;
}
static OfxStatus paramDefine(OfxParamSetHandle h, const char *type, const char *name, OfxPropertySetHandle *out) {
  ParamSet *s = (ParamSet *)h;
  Param *p;
  if (!s || s->n == 40) return kOfxStatErrBadHandle;
  if (find_param(s, name)) return kOfxStatErrExists;
  p = &s->params[s->n++];
  memset(p, 0, sizeof *p);
  strncpy(p->name, name, sizeof p->name - 1);
  strncpy(p->type, type, sizeof p->type - 1);
  ps_init(&p->props);
  setString((OfxPropertySetHandle)&p->props, kOfxParamPropType, 0, type);
  if (out) *out = (OfxPropertySetHandle)&p->props;
  return kOfxStatOK;
}
static OfxStatus paramGetHandle(OfxParamSetHandle h, const char *name, OfxParamHandle *out, OfxPropertySetHandle *props) {
  Param *p;
  if (!h) return kOfxStatErrBadHandle;
  p = find_param((ParamSet *)h, name);
  if (!p) return kOfxStatErrUnknown;
  *out = (OfxParamHandle)p;
  if (props) *props = (OfxPropertySetHandle)&p->props;
  return kOfxStatOK;
}
static OfxStatus paramSetGetPropertySet(OfxParamSetHandle h, OfxPropertySetHandle *out) {
  if (!h) return kOfxStatErrBadHandle;
  *out = (OfxPropertySetHandle) & ((ParamSet *)h)->props;
  return kOfxStatOK;
}
static OfxStatus paramGetPropertySet(OfxParamHandle h, OfxPropertySetHandle *out) {
  if (!h) return kOfxStatErrBadHandle;
  *out = (OfxPropertySetHandle) & ((Param *)h)->props;
  return kOfxStatOK;
}
static OfxStatus param_value(Param *p, va_list ap) {
  if (!p) return kOfxStatErrBadHandle;
  if (strcmp(p->type, kOfxParamTypeDouble) == 0) *va_arg(ap, double *) = p->dval;
  else if (strcmp(p->type, kOfxParamTypeDouble2D) == 0) {
    *va_arg(ap, double *) = p->dval;
    *va_arg(ap, double *) = p->dval2;
  }
  else if (strcmp(p->type, kOfxParamTypeString) == 0) *va_arg(ap, char **) = p->sval;
  else *va_arg(ap, int *) = p->ival;
  return kOfxStatOK;
}
static OfxStatus paramGetValue(OfxParamHandle h, ...) {
  va_list ap;
  OfxStatus st;
  va_start(ap, h);
  st = param_value((Param *)h, ap);
  va_end(ap);
  return st;
}
static OfxStatus paramGetValueAtTime(OfxParamHandle h, OfxTime time, ...) {
  va_list ap;
  OfxStatus st;
  va_start(ap, time);
  st = param_value((Param *)h, ap);
  va_end(ap);
  return st;
}

static char last_message[4096];
static OfxStatus message(void *handle, const char *type, const char *id, const char *format, ...) {
  va_list ap;
  (void)handle;
  (void)id;
  va_start(ap, format);
  vsnprintf(last_message, sizeof last_message, format, ap);
  va_end(ap);
  fprintf(stderr, "[%s] %s\n", type, last_message);
  return kOfxStatOK;
}

static OfxStatus memoryAlloc(void *h, size_t n, void **out) {
  (void)h;
  *out = malloc(n);
  return *out ? kOfxStatOK : kOfxStatErrMemory;
}
static OfxStatus memoryFree(void *p) {
  free(p);
  return kOfxStatOK;
}
static OfxStatus multiThread(OfxThreadFunctionV1 func, unsigned int n, void *arg) {
  unsigned int k;
  for (k = 0; k < n; k++) func(k, n, arg);
  return kOfxStatOK;
}
/* The processors the host reports (--threads sets it). */
static unsigned int host_cpus = 1;
static OfxStatus numCPUs(unsigned int *n) {
  *n = host_cpus;
  return kOfxStatOK;
}

static OfxPropertySuiteV1 prop_suite = {setPointer, setString, setDouble, setInt, NULL, NULL, NULL, NULL,
                                        getPointer, getString, getDouble, getInt, NULL, NULL, NULL, NULL,
                                        propReset, getDimension};
static OfxParameterSuiteV1 param_suite = {paramDefine, paramGetHandle, paramSetGetPropertySet, paramGetPropertySet,
                                          paramGetValue, paramGetValueAtTime, NULL, NULL, NULL, NULL, NULL, NULL,
                                          NULL, NULL, NULL, NULL, NULL, NULL};
static OfxImageEffectSuiteV1 effect_suite = {getPropertySet, getParamSet, clipDefine, clipGetHandle,
                                             clipGetPropertySet, clipGetImage, clipReleaseImage,
                                             clipGetRegionOfDefinition, abortNever, NULL, NULL, NULL, NULL};
static OfxMemorySuiteV1 memory_suite = {memoryAlloc, memoryFree};
static OfxMultiThreadSuiteV1 thread_suite = {multiThread, numCPUs, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
static OfxMessageSuiteV1 message_suite = {message};

static const void *fetchSuite(OfxPropertySetHandle host, const char *name, int version) {
  (void)host;
  if (version != 1) return NULL;
  if (strcmp(name, kOfxPropertySuite) == 0) return &prop_suite;
  if (strcmp(name, kOfxParameterSuite) == 0) return &param_suite;
  if (strcmp(name, kOfxImageEffectSuite) == 0) return &effect_suite;
  if (strcmp(name, kOfxMemorySuite) == 0) return &memory_suite;
  if (strcmp(name, kOfxMultiThreadSuite) == 0) return &thread_suite;
  if (strcmp(name, kOfxMessageSuite) == 0) return &message_suite;
  return NULL;
}

/* ---------------------------------------------------------------- driving the plugin */

static OfxPlugin *plugin;
static PropSet host_props;
static OfxHost host_record;

static OfxStatus act(const char *action, void *handle, PropSet *in, PropSet *out) {
  return plugin->mainEntry(action, handle, (OfxPropertySetHandle)in, (OfxPropertySetHandle)out);
}

static void effect_init(Effect *e) {
  memset(e, 0, sizeof *e);
  ps_init(&e->props);
  ps_init(&e->params.props);
}

/* A host image: the packed top-down W x H x 4 `pixels` laid out with bottom-left pixel (x0, y0),
 * `pad` extra floats per row, bottom-up in memory (top_down = 0) or top-down (negative row bytes). */
typedef struct {
  float *mem;
  int w, h, stride, top_down;
  Image img;
} Buffer;

static void buffer_make(Buffer *b, const float *pixels, int w, int h, int x0, int y0, int pad, int top_down) {
  int r, m;
  b->w = w;
  b->h = h;
  b->stride = w * 4 + pad;
  b->top_down = top_down;
  b->mem = (float *)malloc(sizeof(float) * b->stride * h);
  for (r = 0; r < b->stride * h; r++) b->mem[r] = -7.0f;
  if (pixels)
    for (r = 0; r < h; r++) {
      m = top_down ? r : h - 1 - r;
      memcpy(b->mem + m * b->stride, pixels + (size_t)r * w * 4, sizeof(float) * w * 4);
    }
  b->img.have = 1;
  b->img.data = b->mem + (top_down ? (h - 1) * b->stride : 0);
  b->img.bounds[0] = x0;
  b->img.bounds[1] = y0;
  b->img.bounds[2] = x0 + w;
  b->img.bounds[3] = y0 + h;
  b->img.row_bytes = (top_down ? -1 : 1) * b->stride * (int)sizeof(float);
}

/* Writes the buffer as packed top-down floats. */
static void buffer_save(const Buffer *b, const char *prefix, const char *name) {
  char path[1024];
  FILE *f;
  int r, m;
  snprintf(path, sizeof path, "%s.%s.raw", prefix, name);
  f = fopen(path, "wb");
  if (!f) {
    failures++;
    return;
  }
  for (r = 0; r < b->h; r++) {
    m = b->top_down ? r : b->h - 1 - r;
    fwrite(b->mem + m * b->stride, sizeof(float), (size_t)b->w * 4, f);
  }
  fclose(f);
}

static float *read_raw(const char *path, int n) {
  float *p = (float *)malloc(sizeof(float) * n);
  FILE *f = fopen(path, "rb");
  if (!f || fread(p, sizeof(float), n, f) != (size_t)n) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(2);
  }
  fclose(f);
  return p;
}

static void attach(Effect *inst, int time, Buffer *src, Buffer *depth, Buffer *out) {
  find_clip(inst, "Source")->images[time] = src->img;
  find_clip(inst, "Depth")->images[time] = depth ? depth->img : find_clip(inst, "Depth")->images[time];
  if (!depth) find_clip(inst, "Depth")->images[time].have = 0;
  find_clip(inst, "Output")->images[time] = out->img;
}

static PropSet *render_args(double time, int x1, int y1, int x2, int y2, double scale) {
  static __thread PropSet a;
  OfxPropertySetHandle h = (OfxPropertySetHandle)&a;
  ps_init(&a);
  setDouble(h, kOfxPropTime, 0, time);
  setInt(h, kOfxImageEffectPropRenderWindow, 0, x1);
  setInt(h, kOfxImageEffectPropRenderWindow, 1, y1);
  setInt(h, kOfxImageEffectPropRenderWindow, 2, x2);
  setInt(h, kOfxImageEffectPropRenderWindow, 3, y2);
  setDouble(h, kOfxImageEffectPropRenderScale, 0, scale);
  setDouble(h, kOfxImageEffectPropRenderScale, 1, scale);
  setString(h, kOfxImageEffectPropFieldToRender, 0, kOfxImageFieldNone);
  return &a;
}

typedef struct {
  Effect *inst;
  double time;
  int w, h;
  OfxStatus status;
} Job;

static void *render_job(void *arg) {
  Job *j = (Job *)arg;
  j->status = act(kOfxImageEffectActionRender, j->inst, render_args(j->time, 0, 0, j->w, j->h, 1.0), NULL);
  return NULL;
}

static void set_d(Effect *e, const char *n, double v) { find_param(&e->params, n)->dval = v; }
static void set_i(Effect *e, const char *n, int v) { find_param(&e->params, n)->ival = v; }

/* Loads the plugin at `plugin_path`, describes it in the Filter context and returns an instance
 * (every clip connected, W x H) with the test scene's parameters and `bundle` as its custom file. */
static Effect *start(const char *plugin_path, const char *bundle, int W, int H) {
  void *lib;
  OfxPlugin *(*get_plugin)(int) = NULL;
  Effect *desc, *ctx, *inst;
  PropSet in;
  int k;

  lib = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    exit(2);
  }
  *(void **)(&get_plugin) = dlsym(lib, "OfxGetPlugin");
  plugin = get_plugin(0);
  ps_init(&host_props);
  setString((OfxPropertySetHandle)&host_props, kOfxPropName, 0, "org.sparsebokeh.CTestHost");
  host_record.host = (OfxPropertySetHandle)&host_props;
  host_record.fetchSuite = fetchSuite;
  plugin->setHost(&host_record);

  EXPECT(act(kOfxActionLoad, NULL, NULL, NULL) == kOfxStatOK, "Load");
  desc = (Effect *)malloc(sizeof *desc);
  effect_init(desc);
  EXPECT(act(kOfxActionDescribe, desc, NULL, NULL) == kOfxStatOK, "Describe");
  ctx = (Effect *)malloc(sizeof *ctx);
  effect_init(ctx);
  ps_init(&in);
  setString((OfxPropertySetHandle)&in, kOfxImageEffectPropContext, 0, kOfxImageEffectContextFilter);
  EXPECT(act(kOfxImageEffectActionDescribeInContext, ctx, &in, NULL) == kOfxStatOK, "DescribeInContext");
  EXPECT(ctx->nclips == 3 && ctx->params.n >= 13, "clips and params defined");

  /* The instance: the context's clips and parameters with their defaults. */
  inst = (Effect *)malloc(sizeof *inst);
  effect_init(inst);
  setPointer((OfxPropertySetHandle)&inst->props, kOfxPropInstanceData, 0, NULL);
  for (k = 0; k < ctx->nclips; k++) {
    OfxPropertySetHandle cp;
    clipDefine((OfxImageEffectHandle)inst, ctx->clips[k].name, &cp);
    setInt(cp, kOfxImageClipPropConnected, 0, 1);
    setString(cp, kOfxImageEffectPropComponents, 0, kOfxImageComponentRGBA);
    inst->clips[k].rod.x2 = W;
    inst->clips[k].rod.y2 = H;
  }
  for (k = 0; k < ctx->params.n; k++) {
    Param *d = &ctx->params.params[k], *p;
    OfxPropertySetHandle pp;
    char *sv = NULL;
    paramDefine((OfxParamSetHandle)&inst->params, d->type, d->name, &pp);
    p = find_param(&inst->params, d->name);
    getInt((OfxPropertySetHandle)&d->props, kOfxParamPropDefault, 0, &p->ival);
    getDouble((OfxPropertySetHandle)&d->props, kOfxParamPropDefault, 0, &p->dval);
    getDouble((OfxPropertySetHandle)&d->props, kOfxParamPropDefault, 1, &p->dval2);
    if (getString((OfxPropertySetHandle)&d->props, kOfxParamPropDefault, 0, &sv) == kOfxStatOK && sv)
      strncpy(p->sval, sv, sizeof p->sval - 1);
  }
  EXPECT(act(kOfxActionCreateInstance, inst, NULL, NULL) == kOfxStatOK, "CreateInstance");

  /* Parameters of the scene (the Rust test uses the same). */
  set_i(inst, "filter_type", 7);
  strncpy(find_param(&inst->params, "filter_file")->sval, bundle, 1023);
  set_i(inst, "math", 0);
  set_i(inst, "depth_channel", 1);
  set_d(inst, "center", 1.5);
  set_d(inst, "dof", 0.2);
  set_d(inst, "size", 6.0);
  set_d(inst, "max_size", 10.0);
  set_d(inst, "mix", 1.0);
  set_i(inst, "edges", 0);
  return inst;
}

/* Seconds on a monotonic clock. */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Threads of this process (entries of /proc/self/task). */
static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* ofx_host --threads PLUGIN BUNDLE W H CPUS: the host reports CPUS processors; two W x H frames
 * are rendered one after the other and then at once from two threads (best of 5 each), and the
 * threads the process holds afterwards are counted. Prints
 * "threads cpus N sequential_ms S concurrent_ms C tasks T". */
static int threads_mode(char **argv) {
  int W = atoi(argv[4]), H = atoi(argv[5]), k, rep;
  float *src, *depth;
  Buffer bs, bd, bo[4];
  Effect *inst;
  double seq = 1e9, conc = 1e9, t;
  unsigned int seed = 12345;
  host_cpus = (unsigned int)atoi(argv[6]);
  src = (float *)malloc(sizeof(float) * W * H * 4);
  depth = (float *)malloc(sizeof(float) * W * H * 4);
  for (k = 0; k < W * H * 4; k++) {
    seed = seed * 1103515245u + 12345u;
    src[k] = (float)((seed >> 8) & 0xffff) / 65535.0f;
    depth[k] = 0.4f + 4.6f * (float)((k / 4) % W) / (float)W;
  }
  inst = start(argv[2], argv[3], W, H);
  buffer_make(&bs, src, W, H, 0, 0, 0, 0);
  buffer_make(&bd, depth, W, H, 0, 0, 0, 0);
  for (k = 0; k < 4; k++) {
    buffer_make(&bo[k], NULL, W, H, 0, 0, 0, 0);
    attach(inst, k + 1, &bs, &bd, &bo[k]);
  }
  EXPECT(act(kOfxImageEffectActionRender, inst, render_args(1, 0, 0, W, H, 1), NULL) == kOfxStatOK, "warm-up");
  for (rep = 0; rep < 5; rep++) {
    pthread_t a, b;
    Job ja, jb;
    t = now();
    EXPECT(act(kOfxImageEffectActionRender, inst, render_args(1, 0, 0, W, H, 1), NULL) == kOfxStatOK, "frame 1");
    EXPECT(act(kOfxImageEffectActionRender, inst, render_args(2, 0, 0, W, H, 1), NULL) == kOfxStatOK, "frame 2");
    t = now() - t;
    if (t < seq) seq = t;
    ja.inst = jb.inst = inst;
    ja.w = jb.w = W;
    ja.h = jb.h = H;
    ja.time = 3;
    jb.time = 4;
    t = now();
    pthread_create(&a, NULL, render_job, &ja);
    pthread_create(&b, NULL, render_job, &jb);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    t = now() - t;
    if (t < conc) conc = t;
    EXPECT(ja.status == kOfxStatOK && jb.status == kOfxStatOK, "concurrent frames");
  }
  EXPECT(memcmp(bo[0].mem, bo[2].mem, sizeof(float) * W * H * 4) == 0, "a concurrent frame equals a sequential one");
  printf("threads cpus %u sequential_ms %.2f concurrent_ms %.2f tasks %d\n", host_cpus, seq * 1e3, conc * 1e3,
         count_threads());
  EXPECT(act(kOfxActionDestroyInstance, inst, NULL, NULL) == kOfxStatOK, "DestroyInstance");
  EXPECT(act(kOfxActionUnload, NULL, NULL, NULL) == kOfxStatOK, "Unload");
  return failures ? 1 : 0;
}

int main(int argc, char **argv) {
  Effect *inst;
  PropSet in, out;
  int W, H, k, j;
  float *src, *depth, *src_half, *depth_half;
  Buffer bs, bd, bo, bs2, bd2, bo2;
  const char *prefix;
  double roi[4];
  char *name = NULL;

  if (argc == 7 && strcmp(argv[1], "--threads") == 0) return threads_mode(argv);
  if (argc != 10) {
    fprintf(stderr, "usage: ofx_host PLUGIN BUNDLE W H SRC DEPTH SRC_HALF DEPTH_HALF OUT_PREFIX\n");
    return 2;
  }
  W = atoi(argv[3]);
  H = atoi(argv[4]);
  src = read_raw(argv[5], W * H * 4);
  depth = read_raw(argv[6], W * H * 4);
  src_half = read_raw(argv[7], (W / 2) * (H / 2) * 4);
  depth_half = read_raw(argv[8], (W / 2) * (H / 2) * 4);
  prefix = argv[9];

  inst = start(argv[1], argv[2], W, H);

  /* Regions of interest. */
  ps_init(&in);
  ps_init(&out);
  setDouble((OfxPropertySetHandle)&in, kOfxPropTime, 0, 1.0);
  setDouble((OfxPropertySetHandle)&in, kOfxImageEffectPropRenderScale, 0, 1.0);
  setDouble((OfxPropertySetHandle)&in, kOfxImageEffectPropRenderScale, 1, 1.0);
  setDouble((OfxPropertySetHandle)&in, kOfxImageEffectPropRegionOfInterest, 0, 10);
  setDouble((OfxPropertySetHandle)&in, kOfxImageEffectPropRegionOfInterest, 1, 12);
  setDouble((OfxPropertySetHandle)&in, kOfxImageEffectPropRegionOfInterest, 2, 20);
  setDouble((OfxPropertySetHandle)&in, kOfxImageEffectPropRegionOfInterest, 3, 18);
  EXPECT(act(kOfxImageEffectActionGetRegionsOfInterest, inst, &in, &out) == kOfxStatOK, "GetRegionsOfInterest");
  for (k = 0; k < 4; k++) getDouble((OfxPropertySetHandle)&out, "OfxImageClipPropRoI_Source", k, &roi[k]);
  printf("roi %.17g %.17g %.17g %.17g\n", roi[0], roi[1], roi[2], roi[3]);

  /* IsIdentity: not while blurring, yes at size 0. */
  ps_init(&out);
  EXPECT(act(kOfxImageEffectActionIsIdentity, inst, render_args(1, 0, 0, W, H, 1), &out) == kOfxStatReplyDefault,
         "IsIdentity while blurring");
  set_d(inst, "size", 0.0);
  EXPECT(act(kOfxImageEffectActionIsIdentity, inst, render_args(1, 0, 0, W, H, 1), &out) == kOfxStatOK,
         "IsIdentity at size 0");
  EXPECT(getString((OfxPropertySetHandle)&out, kOfxPropName, 0, &name) == kOfxStatOK && name &&
             strcmp(name, "Source") == 0,
         "identity clip");
  set_d(inst, "size", 6.0);

  /* 1. Whole frame, bottom-up images with padded rows. */
  buffer_make(&bs, src, W, H, 0, 0, 4, 0);
  buffer_make(&bd, depth, W, H, 0, 0, 0, 0);
  buffer_make(&bo, NULL, W, H, 0, 0, 8, 0);
  attach(inst, 1, &bs, &bd, &bo);
  EXPECT(act(kOfxImageEffectActionRender, inst, render_args(1, 0, 0, W, H, 1), NULL) == kOfxStatOK, "Render full");
  buffer_save(&bo, prefix, "full");

  /* 2. A render window smaller than the image. */
  buffer_make(&bo, NULL, W, H, 0, 0, 0, 0);
  attach(inst, 2, &bs, &bd, &bo);
  EXPECT(act(kOfxImageEffectActionRender, inst, render_args(2, 5, 7, 30, 25, 1), NULL) == kOfxStatOK, "Render window");
  buffer_save(&bo, prefix, "window");

  /* 3. Negative row bytes on every image. */
  buffer_make(&bs2, src, W, H, 0, 0, 0, 1);
  buffer_make(&bd2, depth, W, H, 0, 0, 12, 1);
  buffer_make(&bo2, NULL, W, H, 0, 0, 4, 1);
  attach(inst, 3, &bs2, &bd2, &bo2);
  EXPECT(act(kOfxImageEffectActionRender, inst, render_args(3, 0, 0, W, H, 1), NULL) == kOfxStatOK, "Render negative");
  buffer_save(&bo2, prefix, "negative");

  /* 4. Four tiles. */
  buffer_make(&bo, NULL, W, H, 0, 0, 0, 0);
  attach(inst, 4, &bs, &bd, &bo);
  for (k = 0; k < 2; k++)
    for (j = 0; j < 2; j++) {
      int x1 = k ? W / 2 - 3 : 0, x2 = k ? W : W / 2 - 3, y1 = j ? H / 2 + 2 : 0, y2 = j ? H : H / 2 + 2;
      EXPECT(act(kOfxImageEffectActionRender, inst, render_args(4, x1, y1, x2, y2, 1), NULL) == kOfxStatOK, "tile");
    }
  buffer_save(&bo, prefix, "tiles");

  /* 5. Two renders at once from two threads (frames 5 and 6). */
  {
    Buffer o5, o6;
    pthread_t t5, t6;
    Job j5, j6;
    buffer_make(&o5, NULL, W, H, 0, 0, 0, 0);
    buffer_make(&o6, NULL, W, H, 0, 0, 0, 1);
    attach(inst, 5, &bs, &bd, &o5);
    attach(inst, 6, &bs2, &bd2, &o6);
    j5.inst = j6.inst = inst;
    j5.w = j6.w = W;
    j5.h = j6.h = H;
    j5.time = 5;
    j6.time = 6;
    pthread_create(&t5, NULL, render_job, &j5);
    pthread_create(&t6, NULL, render_job, &j6);
    pthread_join(t5, NULL);
    pthread_join(t6, NULL);
    EXPECT(j5.status == kOfxStatOK && j6.status == kOfxStatOK, "concurrent renders");
    buffer_save(&o5, prefix, "thread5");
    buffer_save(&o6, prefix, "thread6");
  }

  /* 6. Render scale 0.5 on half-size images. */
  {
    Buffer hs, hd, ho;
    buffer_make(&hs, src_half, W / 2, H / 2, 0, 0, 0, 0);
    buffer_make(&hd, depth_half, W / 2, H / 2, 0, 0, 0, 1);
    buffer_make(&ho, NULL, W / 2, H / 2, 0, 0, 0, 0);
    attach(inst, 7, &hs, &hd, &ho);
    EXPECT(act(kOfxImageEffectActionRender, inst, render_args(7, 0, 0, W / 2, H / 2, 0.5), NULL) == kOfxStatOK,
           "Render scale 0.5");
    buffer_save(&ho, prefix, "half");
  }

  /* Bad host behaviour: a status, never a crash. */
  buffer_make(&bo, NULL, W, H, 0, 0, 0, 0);
  attach(inst, 0, &bs, NULL, &bo);
  EXPECT(act(kOfxImageEffectActionRender, inst, render_args(0, 0, 0, W, H, 1), NULL) == kOfxStatFailed,
         "missing Depth image");
  {
    Buffer small;
    buffer_make(&small, depth, W / 2, H / 2, 0, 0, 0, 0);
    attach(inst, 0, &bs, &small, &bo);
    EXPECT(act(kOfxImageEffectActionRender, inst, render_args(0, 0, 0, W, H, 1), NULL) == kOfxStatFailed,
           "Depth of another size");
  }
  attach(inst, 0, &bs, &bd, &bo);
  find_clip(inst, "Source")->images[0].have = 0;
  EXPECT(act(kOfxImageEffectActionRender, inst, render_args(0, 0, 0, W, H, 1), NULL) == kOfxStatFailed,
         "NULL Source image");
  EXPECT(strstr(last_message, "Source") != NULL, "message names the Source clip");
  EXPECT(act("OfxActionNotInTheStandard", inst, NULL, NULL) == kOfxStatReplyDefault, "unknown action");

  EXPECT(act(kOfxActionDestroyInstance, inst, NULL, NULL) == kOfxStatOK, "DestroyInstance");
  EXPECT(act(kOfxActionUnload, NULL, NULL, NULL) == kOfxStatOK, "Unload");
  EXPECT(outstanding_images == 0, "every image released");
  if (failures) fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
