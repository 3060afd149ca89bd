// Linux headers Swift's Glibc module does not export.
#include <sys/swap.h>
#include <sys/timex.h>
