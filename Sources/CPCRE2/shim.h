// The system PCRE2 library (8-bit code units), the engine MongoDB uses for $regex.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
