/* webpimg.h - nothing: the decoder is webpimg_decoder in decoder.h's list, its
 * version its version() there. Kept only while clippie.c includes it. */
#include "decoder.h"
