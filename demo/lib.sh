# demo/lib.sh - what `make demo` (demo/run-demo.sh) and its test
# (tests/e2e/demo-test.sh) share: start agora-server on loopback with a
# fresh state directory and an admin key, ingest a corpus, create a
# gpt-tiny job, start three honest agora-client processes and bad-client,
# read the job status, stop everything. Sourced by a POSIX shell; the
# caller sets $top (the build directory) and $work (a scratch directory
# it owns) and calls demo_cleanup from its EXIT trap.
#
# Every process started here is recorded in $demo_pids and stopped by
# demo_stop_all; the server listens on 127.0.0.1 on a port the kernel
# picks (--listen 127.0.0.1:0).

demo_server=$top/agora-server
demo_admin=$top/agora-admin
demo_client=$top/agora-client
demo_bad=$top/tests/e2e/bad-client
demo_sample=$top/demo/sample
demo_pids=""
demo_spid=""
demo_url=""
demo_device_flag=""

# The compute device: the first usable OpenCL device, else the C
# reference (slow, but every machine has it). Sets $demo_device_flag and
# $demo_device_name.
demo_pick_device() {
	if "$demo_client" devices 2>/dev/null | grep -q '^    usable$'; then
		demo_device_flag=""
		demo_device_name=$("$demo_client" devices 2>/dev/null | sed -n 's/^\[0\] //p' |
			sed 's/ *(default)$//' | head -n 1)
	else
		demo_device_flag="--device ref"
		demo_device_name="the C reference (no usable OpenCL device)"
	fi
}

# agora-admin against the demo's server.
demo_adm() {
	"$demo_admin" --server "$demo_url" --key "$work/keys/admin.key" "$@"
}

# Makes the admin key and starts the server; sets $demo_url. 0 when up.
demo_start_server() {
	mkdir -p "$work/keys" || return 1
	"$demo_admin" keygen --out "$work/keys" >/dev/null 2>&1 || return 1
	"$demo_server" --state "$work/server" --listen 127.0.0.1:0 --threads 2 \
		--admin-key "$work/keys/admin.pub" >"$work/server.log" 2>&1 &
	demo_spid=$!
	demo_pids="$demo_pids $demo_spid"
	port=""
	i=0
	while [ $i -lt 300 ] && [ -z "$port" ] && kill -0 "$demo_spid" 2>/dev/null; do
		port=$(sed -n 's/.*(port \([0-9][0-9]*\)).*/\1/p' "$work/server.log" 2>/dev/null | head -n 1)
		[ -n "$port" ] || sleep 0.1
		i=$((i + 1))
	done
	[ -n "$port" ] || return 1
	demo_url=http://127.0.0.1:$port
}

# demo_spec NAME DATASET ROUNDS UNITS STEPS BATCH EVAL_SEQS > SPEC.json
demo_spec() {
	cat <<SPEC
{"name": "$1", "preset": "gpt-tiny", "dataset": "$2", "seed": 42,
 "hyper": {"lr": 0.0015, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
           "weight_decay": 0.0, "clip": 1.0, "batch": $6},
 "inner_steps": $5, "units_per_round": $4, "quorum": 2, "rounds": $3,
 "outer": {"lr": 0.7, "momentum": 0.5}, "validation": {"mode": "exact"},
 "eval": {"bytes": 8192, "sequences": $7}, "deadline_s": 600}
SPEC
}

# Starts bad-client (account mallory) first: it takes a replica of every
# unit of round 0 and attacks each (tests/e2e/bad-client.c), so every
# attack happens whatever the machine's speed; once it hears "no work"
# (or after 120 s) the honest clients ann, bob and cat attach and run.
# Logs in $work/NAME.log.
demo_start_clients() {
	# shellcheck disable=SC2086
	"$demo_bad" --server "$demo_url" --state "$work/mallory" $demo_device_flag \
		--idle 1 >"$work/mallory.log" 2>&1 &
	demo_pids="$demo_pids $!"
	i=0
	while [ $i -lt 1200 ] && ! grep -q '^bad-client: \(no work\|blocked\)' "$work/mallory.log" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	fp=""
	for name in ann bob cat; do
		if [ -z "$fp" ]; then
			"$demo_client" attach "$demo_url" --account $name --state "$work/$name" \
				>"$work/$name.log" 2>&1 || return 1
			fp=$(sed -n 's/^coordinator key fingerprint: //p' "$work/$name.log")
		else
			"$demo_client" attach "$demo_url" --account $name --fingerprint "$fp" \
				--state "$work/$name" >"$work/$name.log" 2>&1 || return 1
		fi
	done
	for name in ann bob cat; do
		# shellcheck disable=SC2086
		"$demo_client" run --idle-max 1 --idle-only no $demo_device_flag --state "$work/$name" \
			>>"$work/$name.log" 2>&1 &
		demo_pids="$demo_pids $!"
	done
}

# The bad host's id, from its log ("" until it registered).
demo_bad_host() {
	sed -n 's/^bad-client: host \([0-9]*\) .*/\1/p' "$work/mallory.log" 2>/dev/null | head -n 1
}

# Stops the clients (not the server), politely, then for good.
demo_stop_clients() {
	for p in $demo_pids; do
		[ "$p" = "$demo_spid" ] || kill -TERM "$p" 2>/dev/null
	done
	for p in $demo_pids; do
		[ "$p" = "$demo_spid" ] || wait "$p" 2>/dev/null
	done
	demo_pids=$demo_spid
}

# Stops every process this file started.
demo_stop_all() {
	for p in $demo_pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $demo_pids; do wait "$p" 2>/dev/null; done
	demo_pids=""
	demo_spid=""
}

# demo_flip_byte FILE [OFFSET]: alters the byte at OFFSET (default: the
# middle) of FILE, a copy (never the server's own files).
demo_flip_byte() {
	off=${2:-$(($(wc -c <"$1") / 2))}
	old=$(dd if="$1" bs=1 skip="$off" count=1 2>/dev/null | od -An -c | tr -d ' ')
	if [ "$old" = "7" ]; then new=8; else new=7; fi
	printf '%s' "$new" | dd of="$1" bs=1 seek="$off" count=1 conv=notrunc 2>/dev/null
}
