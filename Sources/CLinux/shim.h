// Linux headers Swift's Glibc module does not export.
#include <sys/swap.h>
#include <sys/timex.h>

// syncfs(2) is declared only under _GNU_SOURCE, which Glibc's module is built without.
extern int syncfs(int fd);
static inline int kubeseed_syncfs(int fd) { return syncfs(fd); }

// renameat2(2) with RENAME_NOREPLACE: glibc declares it only under _GNU_SOURCE.
#include <stdio.h>
#include <fcntl.h>
extern int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
static inline int kubeseed_rename_noreplace(const char *from, const char *to) {
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
}
