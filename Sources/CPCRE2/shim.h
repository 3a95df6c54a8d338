// The part of PCRE2's API (8-bit code units) that FolioQuery uses — PCRE2 is the regex
// engine MongoDB itself uses. Declared here from PCRE2's documented, stable interface
// (pcre2api(3); PCRE2 10.x keeps these values and signatures) instead of including
// <pcre2.h>, so a build needs only the runtime library every Debian system already has
// (grep depends on libpcre2-8-0), not the libpcre2-dev package: the README's first command
// builds on a fresh machine. module.modulemap links libpcre2-8.so.0 by its file name.
#include <stddef.h>
#include <stdint.h>

typedef struct pcre2_real_code_8 pcre2_code_8;
typedef struct pcre2_real_match_data_8 pcre2_match_data_8;
typedef struct pcre2_real_general_context_8 pcre2_general_context_8;
typedef struct pcre2_real_compile_context_8 pcre2_compile_context_8;
typedef struct pcre2_real_match_context_8 pcre2_match_context_8;

// Options for pcre2_compile.
#define PCRE2_CASELESS      0x00000008u
#define PCRE2_DOTALL        0x00000020u
#define PCRE2_EXTENDED      0x00000080u
#define PCRE2_MULTILINE     0x00000400u
#define PCRE2_UTF           0x00080000u
#define PCRE2_NO_UTF_CHECK  0x40000000u
// Option for pcre2_jit_compile.
#define PCRE2_JIT_COMPLETE  0x00000001u
// pcre2_pattern_info request.
#define PCRE2_INFO_CAPTURECOUNT 4
// pcre2_match result when nothing matches (other negative results are errors).
#define PCRE2_ERROR_NOMATCH (-1)

extern pcre2_code_8 *pcre2_compile_8(const uint8_t *pattern, size_t length, uint32_t options, int *errorcode,
                                     size_t *erroroffset, pcre2_compile_context_8 *ccontext);
extern int pcre2_jit_compile_8(pcre2_code_8 *code, uint32_t options);
extern void pcre2_code_free_8(pcre2_code_8 *code);
extern int pcre2_pattern_info_8(const pcre2_code_8 *code, uint32_t what, void *where);
extern pcre2_match_data_8 *pcre2_match_data_create_8(uint32_t ovecsize, pcre2_general_context_8 *gcontext);
extern void pcre2_match_data_free_8(pcre2_match_data_8 *match_data);
extern int pcre2_match_8(const pcre2_code_8 *code, const uint8_t *subject, size_t length, size_t startoffset,
                         uint32_t options, pcre2_match_data_8 *match_data, pcre2_match_context_8 *mcontext);
extern size_t *pcre2_get_ovector_pointer_8(pcre2_match_data_8 *match_data);
extern int pcre2_get_error_message_8(int errorcode, uint8_t *buffer, size_t bufflen);
