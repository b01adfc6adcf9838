/* SPDX-License-Identifier: MIT */
/*
 * clock.h: the clocks the broker and the clients read, in the units the
 * protocol uses (`ts` is wall-clock milliseconds since the Unix epoch;
 * timeouts and latencies are monotonic).
 */
#ifndef WSB_COMMON_CLOCK_H
#define WSB_COMMON_CLOCK_H

#include <stdint.h>

int64_t clock_mono_us(void);
int64_t clock_mono_ms(void);
int64_t clock_wall_us(void);
int64_t clock_wall_ms(void);

#endif
