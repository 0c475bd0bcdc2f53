/*
 * clock.h - deadlines for pthread_cond_timedwait().
 *
 * The condition variables here use the default clock (CLOCK_REALTIME),
 * so a timed wait needs an absolute realtime deadline. Safe from any
 * thread.
 */
#ifndef CRRFS_CLOCK_H
#define CRRFS_CLOCK_H

#include <time.h>

/* The CLOCK_REALTIME instant ms milliseconds from now. */
struct timespec clock_deadline_ms(unsigned long ms);

#endif
