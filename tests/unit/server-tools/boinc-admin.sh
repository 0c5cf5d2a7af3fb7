#!/bin/sh
# boinc-admin.sh - agora-admin boinc: keygen (BOINC's key layout, 0600,
# no overwrite), sign and verify a binary (a changed byte or another key
# fails), publish (the copy, its signature, the public key and the
# 'current' line the scheduler reads), publish --plan-class (a GPU version
# beside the CPU one: its own file, one line per plan class in 'current',
# a new publish replacing its own line only; an unknown class refused).
# Prints TAP; skips when agora-admin was built without BOINC support.
top_builddir=${top_builddir:-.}
admin="$top_builddir/agora-admin"
n=0
fail=0

ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		fail=1
	fi
}

if [ ! -x "$admin" ]; then
	echo "1..0 # SKIP agora-admin not built"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agora-boinc-admin-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! "$admin" boinc keygen --out "$tmp" >"$tmp/out" 2>&1; then
	if grep -q "without BOINC support" "$tmp/out"; then
		echo "1..0 # SKIP agora-admin built without BOINC support"
		exit 0
	fi
	ok 1 "boinc keygen"
fi
ok 0 "boinc keygen"
[ "$(stat -c %a "$tmp/code_sign.key")" = 600 ]
ok $? "the private key is 0600"
[ "$(head -n 1 "$tmp/code_sign.pub")" = 1024 ] && [ "$(tail -n 1 "$tmp/code_sign.pub")" = . ]
ok $? "the public key has BOINC's layout (bits, hex, '.')"
"$admin" boinc keygen --out "$tmp" >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "keygen never overwrites"
mkdir "$tmp/other" && "$admin" boinc keygen --out "$tmp/other" >/dev/null 2>&1
ok $? "a second key"

printf '#!/bin/sh\necho agora\n' >"$tmp/app"
"$admin" boinc sign "$tmp/app" --key "$tmp/code_sign.key" >"$tmp/app.sig"
ok $? "boinc sign"
[ "$(tail -n 1 "$tmp/app.sig")" = . ] && [ "$(wc -l <"$tmp/app.sig")" -eq 5 ]
ok $? "the signature: 4 lines of hex and '.'"
"$admin" boinc verify "$tmp/app" --pub "$tmp/code_sign.pub" --sig "$tmp/app.sig" >/dev/null
ok $? "boinc verify accepts it"
cp "$tmp/app" "$tmp/app2" && printf 'x' >>"$tmp/app2"
"$admin" boinc verify "$tmp/app2" --pub "$tmp/code_sign.pub" --sig "$tmp/app.sig" \
	>/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "does not verify" "$tmp/err"
ok $? "a changed binary fails with a reason"
"$admin" boinc verify "$tmp/app" --pub "$tmp/other/code_sign.pub" --sig "$tmp/app.sig" \
	>/dev/null 2>&1
[ $? -eq 1 ]
ok $? "another key fails"

mkdir "$tmp/state"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/app" \
	--version 7 >/dev/null
ok $? "boinc publish"
name=agora-boinc_7_x86_64-pc-linux-gnu
[ -x "$tmp/state/boinc/app/$name" ] && cmp -s "$tmp/app" "$tmp/state/boinc/app/$name"
ok $? "the app is copied, executable"
"$admin" boinc verify "$tmp/state/boinc/app/$name" --pub "$tmp/state/boinc/code_sign.pub" \
	--sig "$tmp/state/boinc/app/$name.sig" >/dev/null
ok $? "its signature verifies with the published key"
md5=$(md5sum "$tmp/app" | cut -d' ' -f1)
[ "$(cat "$tmp/state/boinc/app/current")" = "$name 7 x86_64-pc-linux-gnu $md5 $(wc -c <"$tmp/app")" ]
ok $? "'current' names it with its MD5 and size"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/app" \
	--platform 'bad/platform' >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "a platform with a slash is a usage error"


printf '#!/bin/sh\necho agora gpu\n' >"$tmp/gpuapp"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/gpuapp" \
	--version 8 --plan-class opencl_nvidia >/dev/null
ok $? "boinc publish --plan-class opencl_nvidia"
gname=agora-boinc_8_x86_64-pc-linux-gnu__opencl_nvidia
[ -x "$tmp/state/boinc/app/$gname" ] && cmp -s "$tmp/gpuapp" "$tmp/state/boinc/app/$gname"
ok $? "the GPU app has its own file, named with its plan class"
"$admin" boinc verify "$tmp/state/boinc/app/$gname" --pub "$tmp/state/boinc/code_sign.pub" \
	--sig "$tmp/state/boinc/app/$gname.sig" >/dev/null
ok $? "its signature verifies"
gmd5=$(md5sum "$tmp/gpuapp" | cut -d' ' -f1)
gline="$gname 8 x86_64-pc-linux-gnu $gmd5 $(wc -c <"$tmp/gpuapp") opencl_nvidia"
[ "$(wc -l <"$tmp/state/boinc/app/current")" -eq 2 ] &&
	grep -qx "$name 7 x86_64-pc-linux-gnu $md5 $(wc -c <"$tmp/app")" "$tmp/state/boinc/app/current" &&
	grep -qx "$gline" "$tmp/state/boinc/app/current"
ok $? "'current' has two lines: the CPU version and the GPU version with its plan class"

printf '#!/bin/sh\necho agora gpu 2\n' >"$tmp/gpuapp2"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/gpuapp2" \
	--version 9 --plan-class opencl_nvidia >/dev/null
ok $? "a second opencl_nvidia publish"
[ "$(wc -l <"$tmp/state/boinc/app/current")" -eq 2 ] &&
	grep -q "^agora-boinc_9_x86_64-pc-linux-gnu__opencl_nvidia 9 .* opencl_nvidia\$" \
		"$tmp/state/boinc/app/current" &&
	! grep -q "^$gname " "$tmp/state/boinc/app/current" &&
	grep -q "^$name 7 " "$tmp/state/boinc/app/current"
ok $? "it replaces the opencl_nvidia line and keeps the CPU line"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/gpuapp" \
	--version 9 --plan-class opencl_intel_gpu >/dev/null &&
	[ "$(wc -l <"$tmp/state/boinc/app/current")" -eq 3 ]
ok $? "an opencl_intel_gpu version is a third line"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/app" \
	--version 10 >/dev/null &&
	[ "$(wc -l <"$tmp/state/boinc/app/current")" -eq 3 ] &&
	grep -q "^agora-boinc_10_x86_64-pc-linux-gnu 10 " "$tmp/state/boinc/app/current" &&
	! grep -q "^$name " "$tmp/state/boinc/app/current"
ok $? "a CPU publish replaces the CPU line only"

cp "$tmp/state/boinc/app/current" "$tmp/current.before"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/app" \
	--plan-class cuda >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "unknown plan class 'cuda'" "$tmp/err" &&
	cmp -s "$tmp/current.before" "$tmp/state/boinc/app/current" &&
	[ ! -e "$tmp/state/boinc/app/agora-boinc_100_x86_64-pc-linux-gnu__cuda" ]
ok $? "an unknown plan class is refused by name, nothing written"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/app" \
	--plan-class '' >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "an empty plan class is refused"
printf 'garbage\n' >"$tmp/state/boinc/app/current"
"$admin" boinc publish --state "$tmp/state" --key "$tmp/code_sign.key" --exe "$tmp/app" \
	--plan-class opencl_amd >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "cannot read" "$tmp/err" &&
	[ "$(cat "$tmp/state/boinc/app/current")" = garbage ]
ok $? "a broken 'current' is refused, not overwritten"

echo "1..$n"
exit $fail
