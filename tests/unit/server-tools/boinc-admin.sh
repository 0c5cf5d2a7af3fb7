#!/bin/sh
# boinc-admin.sh - agora-admin boinc: keygen (BOINC's key layout, 0600,
# no overwrite), sign and verify a binary (a changed byte or another key
# fails), publish (the copy, its signature, the public key and the
# 'current' line the scheduler reads). Prints TAP; skips when agora-admin
# was built without BOINC support.
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

echo "1..$n"
exit $fail
