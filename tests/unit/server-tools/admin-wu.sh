#!/bin/sh
# admin-wu.sh - drives agora-admin end to end: keygen (files, modes, no
# overwrite), wu sign, wu verify (ok; tampered, wrong key and mode-0640
# secret key fail with a one-line reason), wu show. Prints TAP.
srcdir=${srcdir:-.}
top_builddir=${top_builddir:-.}
admin="$top_builddir/agora-admin"
fixture="$srcdir/tests/fixtures/workunits/unit-valid.json"
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
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agora-admin-test-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

"$admin" --help >"$tmp/help" 2>&1
ok $? "--help exits 0"
grep -q "keygen" "$tmp/help" && grep -q "wu" "$tmp/help"
ok $? "--help lists keygen and wu"
"$admin" frobnicate >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "unknown command exits 2"

"$admin" keygen --out "$tmp" >"$tmp/keygen.out" 2>&1
ok $? "keygen --out DIR"
[ -f "$tmp/admin.pub" ] && [ -f "$tmp/admin.key" ]
ok $? "keygen wrote admin.pub and admin.key"
[ "$(stat -c %a "$tmp/admin.key")" = 600 ]
ok $? "secret key file has mode 600"
grep -q "^fingerprint [0-9a-f:]*$" "$tmp/keygen.out"
ok $? "keygen prints a fingerprint"
"$admin" keygen --out "$tmp" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "already exists" "$tmp/err"
ok $? "keygen refuses to overwrite"
"$admin" keygen --out "$tmp" --name other >/dev/null 2>&1
ok $? "keygen --name other"

fp=$(sed -n 's/^fingerprint //p' "$tmp/keygen.out")
"$admin" fingerprint "$tmp/admin.pub" "$tmp/admin.key" >"$tmp/fp.out" 2>&1
[ $? -eq 0 ] && [ "$(cut -d' ' -f1 "$tmp/fp.out" | sort -u)" = "$fp" ] &&
	[ "$(cut -d' ' -f2 "$tmp/fp.out" | sort -u)" = "$(sed -n 2p "$tmp/admin.pub")" ]
ok $? "fingerprint of the .pub and the .key agree with keygen's"
"$admin" fingerprint "$srcdir/tests/fixtures/workunits/fixture-signer.pub" >"$tmp/fp.out" 2>&1 &&
	grep -q " 03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8 " "$tmp/fp.out"
ok $? "fingerprint prints the key's hex"

"$admin" wu sign --key "$tmp/admin.key" "$fixture" --out "$tmp/unit.env" 2>"$tmp/sign.err"
ok $? "wu sign"
head -n 1 "$tmp/unit.env" | grep -q "^agora-envelope v1$"
ok $? "wu sign wrote an envelope"

"$admin" wu verify --pub "$tmp/admin.pub" "$tmp/unit.env" >"$tmp/verify.out" 2>&1
ok $? "wu verify accepts the signed unit"
grep -q "^ok: unit [0-9a-f]\{64\}$" "$tmp/verify.out"
ok $? "wu verify prints 'ok: unit <id>'"
grep -q "$(sed -n 's/^ok: unit //p' "$tmp/verify.out")" "$tmp/sign.err"
ok $? "sign and verify agree on the unit id"

# Tamper: change the round from 3 to 4 in the payload.
sed 's/"round":3,/"round":4,/' "$tmp/unit.env" >"$tmp/tampered.env"
! cmp -s "$tmp/unit.env" "$tmp/tampered.env"
ok $? "tampered copy differs"
"$admin" wu verify --pub "$tmp/admin.pub" "$tmp/tampered.env" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "signature" "$tmp/err"
ok $? "tampered unit fails with one line: $(cat "$tmp/err")"
"$admin" wu verify --pub "$tmp/other.pub" "$tmp/unit.env" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "signed by key" "$tmp/err"
ok $? "wrong public key fails: $(cat "$tmp/err")"
"$admin" wu verify --pub "$tmp/admin.key" "$tmp/unit.env" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "is a secret key, not a public key" "$tmp/err"
ok $? "secret key given as --pub fails: $(cat "$tmp/err")"

chmod 640 "$tmp/admin.key"
"$admin" wu sign --key "$tmp/admin.key" "$fixture" --out "$tmp/unit2.env" 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "chmod 600" "$tmp/err" && [ ! -e "$tmp/unit2.env" ]
ok $? "mode 0640 secret key refused: $(cat "$tmp/err")"
chmod 600 "$tmp/admin.key"

sed 's/"steps": 100/"steps": 0/' "$fixture" >"$tmp/bad.json"
"$admin" wu sign --key "$tmp/admin.key" "$tmp/bad.json" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "field 'steps'" "$tmp/err"
ok $? "invalid unit refused: $(cat "$tmp/err")"

"$admin" wu verify --pub "$srcdir/tests/fixtures/workunits/fixture-signer.pub" \
	"$srcdir/tests/fixtures/workunits/unit-signed.env" >"$tmp/verify.out" 2>&1 &&
	grep -q "^ok: unit 264278974acdf32aa56100751beaabd93835b77027dc80d4ebaed188f62ca53c$" "$tmp/verify.out"
ok $? "wu verify accepts the committed python-signed fixture with its id"

"$admin" wu show "$tmp/unit.env" >"$tmp/show.out" 2>&1
ok $? "wu show"
grep -q "UNVERIFIED" "$tmp/show.out" && grep -q "tiny-shakespeare" "$tmp/show.out"
ok $? "wu show without --pub says UNVERIFIED"
"$admin" wu show --pub "$tmp/admin.pub" "$tmp/unit.env" >"$tmp/show.out" 2>&1
[ $? -eq 0 ] && grep -q "verified with" "$tmp/show.out" && ! grep -q UNVERIFIED "$tmp/show.out"
ok $? "wu show --pub says verified"
"$admin" wu show --pub "$tmp/admin.pub" "$tmp/tampered.env" >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "wu show --pub of a tampered unit fails"
"$admin" wu sign "$fixture" >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "wu sign without --key is a usage error"

echo "1..$n"
exit $fail
