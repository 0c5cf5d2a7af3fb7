/*
 * power.h - what the machine says about itself through sysfs: on battery
 * or not, the CPU temperature, and whether the clock is inside the allowed
 * hours. Every reader takes the sysfs root ("/sys" normally) so that tests
 * can point it at a fake tree.
 *
 *  - battery: SYSFS/class/power_supply/<name>/{type,online,status}. On
 *    battery when a supply of type Mains exists and none is online, or,
 *    with no Mains supply listed, when a Battery's status is Discharging.
 *    No supply at all (a desktop, a container): not on battery.
 *  - temperature: the highest SYSFS/class/thermal/thermal_zone<N>/temp
 *    (millidegrees C); without thermal zones, the highest
 *    SYSFS/class/hwmon/hwmon<N>/temp<M>_input. None readable: unknown.
 */
#ifndef AGORA_CLIENT_POWER_H
#define AGORA_CLIENT_POWER_H

#include <time.h>

/* 1 on battery, 0 on mains or unknown. */
int power_on_battery(const char *sysfs);

/* The hottest sensor in degrees C into *c: 0, or -1 when none is readable. */
int power_temp_c(const char *sysfs, double *c);

/* 1 when minute-of-day `now_min` is in [from, to) (wrapping past midnight
 * when from > to; from == to means all day). */
int power_hours_allow(int from, int to, int now_min);

/* The local minute of the day of t. */
int power_minute_of_day(time_t t);

#endif
