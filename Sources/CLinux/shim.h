// Linux headers Swift's Glibc module does not export.
#include <sys/swap.h>
#include <sys/timex.h>

// syncfs(2) is declared only under _GNU_SOURCE, which Glibc's module is built without.
extern int syncfs(int fd);
static inline int kubeseed_syncfs(int fd) { return syncfs(fd); }
