/* sparsebokeh: every OpenFX header this project declares, for bindgen and for C hosts. */
#ifndef SPARSEBOKEH_OFX_ALL_H
#define SPARSEBOKEH_OFX_ALL_H

#include "ofxCore.h"
#include "ofxImageEffect.h"
#include "ofxMemory.h"
#include "ofxMessage.h"
#include "ofxMultiThread.h"
#include "ofxParam.h"
#include "ofxProperty.h"

#endif
