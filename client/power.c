/*
 * power.c - battery, temperature and allowed hours from sysfs and the
 * clock (see power.h). Every file read is small and capped; a file that
 * cannot be read counts as absent.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/power.h"

#define POWER_PATH_MAX 512

/* Reads the first line of dir/name/file (at most cap-1 bytes, newline cut). */
static int read_line(const char *dir, const char *name, const char *file, char *buf, size_t cap)
{
	char path[POWER_PATH_MAX];
	FILE *f;
	size_t n;

	if ((file[0] ? snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file)
		     : snprintf(path, sizeof(path), "%s/%s", dir, name)) >= (int)sizeof(path))
		return -1;
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int power_on_battery(const char *sysfs)
{
	char dir[POWER_PATH_MAX], type[32], val[32];
	int mains = 0, online = 0, discharging = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/class/power_supply", sysfs);
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || read_line(dir, de->d_name, "type", type, sizeof(type)) < 0)
			continue;
		if (strcmp(type, "Mains") == 0) {
			mains++;
			if (read_line(dir, de->d_name, "online", val, sizeof(val)) == 0 &&
			    strcmp(val, "1") == 0)
				online++;
		} else if (strcmp(type, "Battery") == 0 &&
			   read_line(dir, de->d_name, "status", val, sizeof(val)) == 0 &&
			   strcmp(val, "Discharging") == 0) {
			discharging++;
		}
	}
	closedir(d);
	if (mains)
		return online == 0;
	return discharging > 0;
}

/* The highest value of dir/<prefix>*, file `file` (or every
 * temp*_input file when file is NULL), in millidegrees. */
static int hottest(const char *dir, const char *prefix, const char *file, long *best)
{
	char val[32], sub[POWER_PATH_MAX];
	struct dirent *de;
	int found = 0;
	DIR *d;

	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d))) {
		char *end;
		long v;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (!file) { /* hwmon: every temp<N>_input of this device */
			struct dirent *e2;
			DIR *d2;

			if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub) ||
			    !(d2 = opendir(sub)))
				continue;
			while ((e2 = readdir(d2))) {
				size_t n = strlen(e2->d_name);

				if (strncmp(e2->d_name, "temp", 4) != 0 || n < 10 ||
				    strcmp(e2->d_name + n - 6, "_input") != 0 ||
				    read_line(sub, e2->d_name, "", val, sizeof(val)) < 0)
					continue;
				v = strtol(val, &end, 10);
				if (end != val && (!found || v > *best))
					*best = v, found = 1;
			}
			closedir(d2);
			continue;
		}
		if (read_line(dir, de->d_name, file, val, sizeof(val)) < 0)
			continue;
		v = strtol(val, &end, 10);
		if (end != val && (!found || v > *best))
			*best = v, found = 1;
	}
	closedir(d);
	return found;
}

int power_temp_c(const char *sysfs, double *c)
{
	char dir[POWER_PATH_MAX];
	long best = 0;

	snprintf(dir, sizeof(dir), "%s/class/thermal", sysfs);
	if (!hottest(dir, "thermal_zone", "temp", &best)) {
		snprintf(dir, sizeof(dir), "%s/class/hwmon", sysfs);
		if (!hottest(dir, "hwmon", NULL, &best))
			return -1;
	}
	*c = (double)best / 1000.0;
	return 0;
}

int power_hours_allow(int from, int to, int now_min)
{
	if (from == to)
		return 1;
	if (from < to)
		return now_min >= from && now_min < to;
	return now_min >= from || now_min < to;
}

int power_minute_of_day(time_t t)
{
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return 0;
	return tm.tm_hour * 60 + tm.tm_min;
}
