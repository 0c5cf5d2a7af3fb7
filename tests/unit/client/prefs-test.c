/*
 * prefs-test.c - client/prefs.c, client/power.c and the idle gate's
 * decision: defaults, file, flags and their precedence; errors naming
 * file:line; `agora-client prefs` output; battery and temperature from a
 * fake sysfs tree; allowed hours; the reasons idle_decide gives.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client/idle.h"
#include "client/power.h"
#include "client/prefs.h"
#include "common/fileio.h"
#include "tests/tap.h"

static char tmp[256];

static void put(const char *rel, const char *text)
{
	char path[512], dir[512];
	struct error err;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	if (system(cmd) != 0 || fileio_write_atomic(path, text, strlen(text), 0644, 0, &err) < 0)
		tap_diag("cannot write %s", path);
}

static int parse(struct prefs *p, const char *text, struct error *err)
{
	error_clear(err);
	return prefs_parse(p, "prefs.conf", text, strlen(text), err);
}

static void test_defaults_and_file(void)
{
	struct prefs p;
	struct error err;
	char v[64];

	prefs_defaults(&p);
	TAP_IS(p.idle_only, 1, "idle-only defaults to yes");
	tap_ok(p.idle_s == 180.0, "idle-minutes defaults to 3 (180 s)");
	TAP_IS(p.cpu_percent, 100, "cpu-percent defaults to 100");
	TAP_IS(p.src[PREFS_HOURS], PREFS_SRC_DEFAULT, "defaults are marked default");
	TAP_IS(parse(&p,
		     "# comment\n\n  idle-minutes = 0.05  # 3 s\ncpu-percent=40\r\n"
		     "hours = 22-07:30\nuse-gpu = no\n",
		     &err),
	       0, "a file parses");
	tap_ok(p.idle_s > 2.999 && p.idle_s < 3.001, "decimal minutes (0.05 = 3 s)");
	TAP_IS(p.cpu_percent, 40, "cpu-percent from the file");
	TAP_IS(p.src[PREFS_CPU_PERCENT], PREFS_SRC_FILE, "marked file");
	TAP_IS(p.line[PREFS_CPU_PERCENT], 4, "with its line");
	TAP_IS(p.hours_from, 22 * 60, "hours from 22:00");
	TAP_IS(p.hours_to, 7 * 60 + 30, "to 07:30");
	prefs_format(&p, PREFS_HOURS, v, sizeof(v));
	tap_ok(strcmp(v, "22:00-07:30") == 0, "hours shown as %s", v);
	TAP_IS(p.use_gpu, 0, "use-gpu no");
	TAP_IS(p.pause_on_battery, 1, "keys not in the file keep their default");
}

static void test_errors(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"idle-minutes = 3\nbogus = 1\n", "prefs.conf:2: unknown key 'bogus'"},
	    {"cpu-percent = 0\n", "prefs.conf:1: cpu-percent: want an integer in 1..100"},
	    {"cpu-percent = 50%\n", "prefs.conf:1: cpu-percent"},
	    {"use-gpu = maybe\n", "prefs.conf:1: use-gpu: want yes or no"},
	    {"\n\nhours = 8-25\n", "prefs.conf:3: hours: want HH[:MM]-HH[:MM]"},
	    {"hours = 08:5-10\n", "prefs.conf:1: hours"},
	    {"idle-minutes 3\n", "prefs.conf:1: expected 'key = value'"},
	    {"idle-minutes =\n", "prefs.conf:1: missing value"},
	    {"max-temp-c = 80\nmax-temp-c = 70\n", "prefs.conf:2: max-temp-c given twice (first on line 1)"},
	    {"idle-minutes = -1\n", "prefs.conf:1: idle-minutes: want minutes"},
	    {"idle-minutes = nan\n", "prefs.conf:1: idle-minutes"},
	};
	struct prefs p;
	struct error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		prefs_defaults(&p);
		tap_ok(parse(&p, bad[i].text, &err) < 0 && strstr(err.msg, bad[i].want) == err.msg,
		       "bad line refused: %s", err.msg);
	}
}

static void test_precedence(void)
{
	char *argv[] = {"run", "--cpu-percent", "70", "--idle-only", "no", "--once", NULL};
	struct prefs p;
	struct error err;
	int i = 1;

	prefs_defaults(&p);
	TAP_IS(prefs_take_flag(&p, 6, argv, &i), 1, "--cpu-percent is a preference flag");
	TAP_IS(i, 2, "its value is taken");
	i = 3;
	TAP_IS(prefs_take_flag(&p, 6, argv, &i), 1, "--idle-only too");
	i = 5;
	TAP_IS(prefs_take_flag(&p, 6, argv, &i), 0, "--once is not");
	TAP_IS(parse(&p, "cpu-percent = 20\nmax-temp-c = 70\nidle-only = yes\n", &err), 0,
	       "file after flags parses");
	TAP_IS(p.cpu_percent, 70, "flag beats file");
	TAP_IS(p.src[PREFS_CPU_PERCENT], PREFS_SRC_FLAG, "and is marked flag");
	TAP_IS(p.idle_only, 0, "flag beats file (bool)");
	TAP_IS(p.max_temp_c, 70, "file beats default");
	TAP_IS(p.src[PREFS_MAX_TEMP_C], PREFS_SRC_FILE, "marked file");
	TAP_IS(p.max_disk_mb, 1024, "default when neither");
	TAP_OK(parse(&p, "cpu-percent = 900\n", &err) < 0,
	       "a bad file value is refused even where a flag wins");
	{
		char *bad[] = {"run", "--cpu-percent", "101", NULL};
		i = 1;
		TAP_IS(prefs_take_flag(&p, 3, bad, &i), -1, "a bad flag value is refused");
	}
}

static void test_load_and_show(void)
{
	struct prefs p;
	struct error err;
	char path[512], *out = NULL;
	size_t len = 0;
	FILE *f;

	prefs_defaults(&p);
	error_clear(&err);
	TAP_IS(prefs_load(&p, tmp, &err), 0, "no prefs.conf: defaults");
	put("prefs.conf", "hours = 08-18\n# x\nmax-memory-mb = 512\n");
	p.src[PREFS_USE_CPU] = PREFS_SRC_FLAG;
	TAP_IS(prefs_load(&p, tmp, &err), 0, "prefs.conf loads");
	f = open_memstream(&out, &len);
	prefs_show(&p, f);
	fclose(f);
	snprintf(path, sizeof(path), "file %s/prefs.conf:3", tmp);
	tap_ok(strstr(out, "max-memory-mb") && strstr(out, path), "show names file:line");
	tap_ok(strstr(out, "08:00-18:00") != NULL, "show prints the value");
	tap_ok(strstr(out, " default ") != NULL, "and default");
	tap_ok(strstr(out, " flag ") != NULL, "and flag");
	free(out);
	put("other.conf", "cpu-percent = 33\n");
	snprintf(path, sizeof(path), "%s/other.conf", tmp);
	setenv("AGORA_PREFS_FILE", path, 1);
	prefs_defaults(&p);
	TAP_IS(prefs_load(&p, tmp, &err), 0, "AGORA_PREFS_FILE names another file");
	TAP_IS(p.cpu_percent, 33, "which is read instead of STATE/prefs.conf");
	snprintf(path, sizeof(path), "%s/missing.conf", tmp);
	setenv("AGORA_PREFS_FILE", path, 1);
	TAP_OK(prefs_load(&p, tmp, &err) < 0, "a missing AGORA_PREFS_FILE is an error");
	unsetenv("AGORA_PREFS_FILE");
	put("prefs.conf", "hours = 08-18\nhours = 09-17\n");
	prefs_defaults(&p);
	tap_ok(prefs_load(&p, tmp, &err) < 0 && strstr(err.msg, "/prefs.conf:2: hours given twice"),
	       "load errors name the file and line: %s", err.msg);
}

static void test_power(void)
{
	char sys[300];
	double c = 0;

	snprintf(sys, sizeof(sys), "%s/sys", tmp);
	TAP_IS(power_on_battery(sys), 0, "no power supply: not on battery");
	TAP_IS(power_temp_c(sys, &c), -1, "no sensor: unknown temperature");
	put("sys/class/power_supply/BAT0/type", "Battery\n");
	put("sys/class/power_supply/BAT0/status", "Discharging\n");
	TAP_IS(power_on_battery(sys), 1, "a discharging battery, no mains listed: on battery");
	put("sys/class/power_supply/AC/type", "Mains\n");
	put("sys/class/power_supply/AC/online", "1\n");
	TAP_IS(power_on_battery(sys), 0, "mains online: not on battery");
	put("sys/class/power_supply/AC/online", "0\n");
	TAP_IS(power_on_battery(sys), 1, "mains offline: on battery");
	put("sys/class/hwmon/hwmon0/temp1_input", "51000\n");
	put("sys/class/hwmon/hwmon0/temp2_input", "64500\n");
	TAP_IS(power_temp_c(sys, &c), 0, "hwmon sensors are read");
	tap_ok(c == 64.5, "the hottest: %.1f C", c);
	put("sys/class/thermal/thermal_zone0/temp", "45000\n");
	put("sys/class/thermal/thermal_zone1/temp", "91000\n");
	TAP_IS(power_temp_c(sys, &c), 0, "thermal zones are read");
	tap_ok(c == 91.0, "before hwmon, the hottest: %.1f C", c);
	TAP_IS(power_hours_allow(8 * 60, 18 * 60, 12 * 60), 1, "12:00 in 08-18");
	TAP_IS(power_hours_allow(8 * 60, 18 * 60, 18 * 60), 0, "18:00 not in 08-18");
	TAP_IS(power_hours_allow(22 * 60, 7 * 60, 23 * 60), 1, "23:00 in 22-07");
	TAP_IS(power_hours_allow(22 * 60, 7 * 60, 3 * 60), 1, "03:00 in 22-07");
	TAP_IS(power_hours_allow(22 * 60, 7 * 60, 12 * 60), 0, "12:00 not in 22-07");
	TAP_IS(power_hours_allow(0, 0, 12 * 60), 1, "any: always");
}

static void test_decide(void)
{
	struct idle_inputs in = {.idle_known = 1, .idle_s = 600, .minute = 12 * 60};
	struct prefs p;
	char why[IDLE_REASON_MAX];
	double s = -1;

	prefs_defaults(&p);
	TAP_IS(idle_decide(&p, &in, why, sizeof(why)), 1, "idle 10 min: compute");
	in.idle_s = 5;
	tap_ok(!idle_decide(&p, &in, why, sizeof(why)) && strcmp(why, "user active") == 0,
	       "idle 5 s: %s", why);
	p.idle_only = 0;
	TAP_IS(idle_decide(&p, &in, why, sizeof(why)), 1, "idle-only no: compute anyway");
	p.idle_only = 1;
	in.idle_known = 0;
	tap_ok(!idle_decide(&p, &in, why, sizeof(why)) && strstr(why, "idle unknown"),
	       "no idle source: %s", why);
	in.idle_known = 1;
	in.idle_s = 600;
	in.on_battery = 1;
	tap_ok(!idle_decide(&p, &in, why, sizeof(why)) && strcmp(why, "on battery") == 0,
	       "on battery: %s", why);
	in.on_battery = 0;
	in.temp_known = 1;
	in.temp_c = 88;
	tap_ok(!idle_decide(&p, &in, why, sizeof(why)) && strstr(why, "too hot"), "88 C: %s", why);
	in.temp_c = 82;
	TAP_IS(idle_decide(&p, &in, why, sizeof(why)), 1, "82 C: compute");
	in.hot = 1;
	TAP_IS(idle_decide(&p, &in, why, sizeof(why)), 0, "82 C after a pause for heat: not yet");
	in.temp_c = 79;
	TAP_IS(idle_decide(&p, &in, why, sizeof(why)), 1, "79 C: resume");
	in.hot = 0;
	p.hours_from = 8 * 60;
	p.hours_to = 10 * 60;
	tap_ok(!idle_decide(&p, &in, why, sizeof(why)) && strcmp(why, "outside hours (08:00-10:00)") == 0,
	       "outside hours: %s", why);
	p.hours_from = p.hours_to = 0;
	p.use_cpu = 0;
	in.device_ref = 1;
	tap_ok(!idle_decide(&p, &in, why, sizeof(why)) && strcmp(why, "use-cpu is no") == 0,
	       "C reference with use-cpu no: %s", why);
	TAP_IS(idle_parse_logind("IdleHint=no\nIdleSinceHint=0\n", 1000, &s), 0, "logind: active");
	tap_ok(s == 0, "idle 0");
	TAP_IS(idle_parse_logind("IdleHint=yes\nIdleSinceHint=940000000\n", 1000, &s), 0,
	       "logind: idle");
	tap_ok(s > 59.9 && s < 60.1, "idle since 60 s: %.1f", s);
	TAP_IS(idle_parse_logind("garbage", 1000, &s), -1, "logind: nothing usable");
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The duty cycle: after a 0.1 s step at cpu-percent 25 the gate rests at
 * least 0.3 s (a lower bound: sleeps are never short). */
static void test_duty(void)
{
	volatile sig_atomic_t stop = 0;
	char why[IDLE_REASON_MAX], sys[300];
	struct prefs p;
	double t0, dt;

	snprintf(sys, sizeof(sys), "%s/no-sys", tmp);
	prefs_defaults(&p);
	p.idle_only = 0;
	p.cpu_percent = 25;
	idle_gate_setup(&p, "ref", sys);
	TAP_IS(idle_gate_wait(&stop, NULL, NULL), 1, "idle-only no, no battery, no sensor: go");
	for (t0 = mono_s(); mono_s() - t0 < 0.1;)
		; /* a 0.1 s "step" */
	t0 = mono_s();
	TAP_IS(idle_gate_step(&stop, why, sizeof(why)), 1, "the gate lets the next step run");
	dt = mono_s() - t0;
	tap_ok(dt >= 0.29, "after resting the duty cycle's share (%.2fs >= 0.3s)", dt);
	p.hours_from = (power_minute_of_day(time(NULL)) + 120) % (24 * 60);
	p.hours_to = (p.hours_from + 60) % (24 * 60);
	idle_gate_setup(&p, "ref", sys);
	TAP_IS(idle_gate_step(&stop, why, sizeof(why)), 0, "outside the hours the gate says pause");
	tap_ok(strncmp(why, "outside hours", 13) == 0, "with the reason: %s", why);
}

int main(void)
{
	if (tap_tmpdir(tmp, sizeof(tmp)) < 0)
		tap_skip_all("no temporary directory");
	unsetenv("AGORA_PREFS_FILE"); /* make check sets it for the other tests */
	test_defaults_and_file();
	test_errors();
	test_precedence();
	test_load_and_show();
	test_power();
	test_decide();
	test_duty();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", tmp);
	}
	return tap_done();
}
