// The part of Snowball's libstemmer API that FolioText uses — Snowball is the stemming library
// MongoDB's text search uses. Declared here from libstemmer's documented, stable interface
// (libstemmer.h, unchanged since Snowball 2.0) instead of including <libstemmer.h>, so a
// build needs only the runtime library (Debian's libstemmer0d), not libstemmer-dev.
// module.modulemap links libstemmer.so.0d by its file name.

struct sb_stemmer;
typedef unsigned char sb_symbol;

/// The algorithms compiled in, as a NULL-terminated list of names.
extern const char **sb_stemmer_list(void);
/// A stemmer for `algorithm` ("english", ...) and `charenc` ("UTF_8"); NULL if unknown.
extern struct sb_stemmer *sb_stemmer_new(const char *algorithm, const char *charenc);
extern void sb_stemmer_delete(struct sb_stemmer *stemmer);
/// Stems `size` bytes; the result stays valid until the next call on this stemmer (NULL on
/// memory exhaustion). Not thread-safe: one stemmer per thread at a time.
extern const sb_symbol *sb_stemmer_stem(struct sb_stemmer *stemmer, const sb_symbol *word, int size);
/// The length in bytes of the last stemmed result.
extern int sb_stemmer_length(struct sb_stemmer *stemmer);
