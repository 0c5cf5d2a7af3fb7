# boinc-lib.sh - what the BOINC end-to-end tests (boinc-flow.sh,
# boinc-tamper.sh) share: the skip checks, a BOINC client data directory
# that computes on a busy machine, starting and asking that client.
# Sourced by a POSIX shell after demo/lib.sh (server start, agora-admin,
# demo_pids); the caller sets $top and $work.

bl_app=$top/agora-boinc

# Prints the TAP plan of a skipped test and exits when the stock BOINC
# client, agora-boinc or a usable OpenCL device is missing.
bl_require() {
	reason=""
	if ! command -v boinc >/dev/null 2>&1 || ! command -v boinccmd >/dev/null 2>&1; then
		reason="boinc and boinccmd (boinc-client) not installed"
	elif [ ! -x "$bl_app" ]; then
		reason="agora-boinc not built"
	elif ! "$demo_client" devices 2>/dev/null | grep -q '^    usable$'; then
		reason="no usable OpenCL device"
	fi
	[ -z "$reason" ] || { echo "1..0 # SKIP $reason"; exit 0; }
}

# agora-admin boinc keygen + publish of agora-boinc into the server's
# state; the code-signing key stays in $work/keys.
bl_publish() {
	"$demo_admin" boinc keygen --out "$work/keys" >/dev/null &&
		"$demo_admin" boinc publish --state "$work/server" \
			--key "$work/keys/code_sign.key" --exe "$bl_app" >/dev/null
}

# bl_prepare DIR: a fresh BOINC data directory: no GUI RPC password
# (loopback only), preferences that compute on a busy machine with a
# small work buffer, results reported at once, logs of scheduler RPCs,
# transfers and tasks, no GPUs, one CPU.
bl_prepare() {
	mkdir -p "$1" || return 1
	: >"$1/gui_rpc_auth.cfg"
	cat >"$1/global_prefs_override.xml" <<'PREFS'
<global_preferences>
  <run_on_batteries>1</run_on_batteries>
  <run_if_user_active>1</run_if_user_active>
  <run_gpu_if_user_active>1</run_gpu_if_user_active>
  <idle_time_to_run>0</idle_time_to_run>
  <suspend_cpu_usage>0</suspend_cpu_usage>
  <cpu_usage_limit>100</cpu_usage_limit>
  <max_ncpus_pct>100</max_ncpus_pct>
  <work_buf_min_days>0.01</work_buf_min_days>
  <work_buf_additional_days>0</work_buf_additional_days>
  <disk_min_free_gb>0.1</disk_min_free_gb>
  <disk_max_used_pct>100</disk_max_used_pct>
</global_preferences>
PREFS
	cat >"$1/cc_config.xml" <<'CC'
<cc_config><log_flags><sched_op_debug>1</sched_op_debug><file_xfer_debug>1</file_xfer_debug>
<task_debug>1</task_debug></log_flags>
<options><allow_multiple_clients>1</allow_multiple_clients><no_gpus>1</no_gpus>
<ncpus>1</ncpus><report_results_immediately>1</report_results_immediately></options></cc_config>
CC
}

# bl_port BASE: prints a loopback port for a client's GUI RPC, from
# BASE + 0..999 (by this shell's pid), the first that nothing listens on
# (curl: connection refused), so that tests running at the same time
# (another build's `make check`) do not take the same one. Keep BASE
# below Linux's ephemeral ports (32768 and up): a port some outgoing
# connection has as its local port cannot be bound either.
bl_port() {
	p=$(($1 + $$ % 1000))
	k=0
	while [ $k -lt 50 ]; do
		curl -s -o /dev/null --connect-timeout 1 "http://127.0.0.1:$p/" 2>/dev/null
		[ $? -eq 7 ] && { echo "$p"; return 0; }
		p=$((p + 1))
		k=$((k + 1))
	done
	echo "$p"
}

# bl_start DIR PORT [URL KEY]: starts the BOINC client on DIR with its GUI
# RPC on PORT (attached to URL with account KEY from the start when
# given); its log is DIR.log, its pid joins $demo_pids.
bl_start() {
	if [ $# -ge 4 ]; then set -- "$1" "$2" --attach_project "$3" "$4"; fi
	d=$1
	p=$2
	shift 2
	(cd "$d" && exec env -u DISPLAY boinc --dir "$d" --allow_multiple_clients \
		--gui_rpc_port "$p" "$@") >"$d.log" 2>&1 &
	demo_pids="$demo_pids $!"
}

# bl_cmd DIR PORT ARGS...: boinccmd against the client of DIR.
bl_cmd() {
	d=$1
	p=$2
	shift 2
	(cd "$d" && boinccmd --host "127.0.0.1:$p" "$@")
}

# bl_wait SECONDS COMMAND: 0 as soon as COMMAND (eval'd) succeeds, 1 when
# SECONDS pass first. Every 5 s it also evals $bl_nudge when set (a
# project update: a client that saw a task fail backs off for minutes
# before it reports, unless asked).
bl_nudge=""
bl_wait() {
	i=0
	while [ $i -lt $(($1 * 4)) ]; do
		eval "$2" && return 0
		sleep 0.25
		i=$((i + 1))
		if [ -n "$bl_nudge" ] && [ $((i % 20)) -eq 0 ]; then eval "$bl_nudge"; fi
	done
	return 1
}

# bl_update DIR PORT: asks the client of DIR to contact the project now.
bl_update() {
	bl_cmd "$1" "$2" --project "$demo_url/boinc/" update >/dev/null 2>&1
}

# bl_dump DIR: the tail of a BOINC client's log and its slots' stderr,
# as TAP comments (after a failure).
bl_dump() {
	echo "# --- $1.log"
	tail -n 40 "$1.log" | sed 's/^/# /'
	for f in "$1"/slots/*/stderr.txt; do [ -f "$f" ] && sed 's/^/# /' "$f"; done
}
