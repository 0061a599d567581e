/* tr_version: the library's own version, compiled in from the generated
 * header, so a program can compare it with the headers it was built with. */
#include "troupe/version.h"

unsigned tr_version(void) { return TROUPE_VERSION_HEX; }

const char *tr_version_string(void) { return TROUPE_VERSION_STRING; }
