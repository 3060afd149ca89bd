// The declaration in include/CFuzzerDriver.h is all there is; SwiftPM wants a source file.
#include "CFuzzerDriver.h"
