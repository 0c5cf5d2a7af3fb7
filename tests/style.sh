#!/bin/sh
# style.sh - enforces the house rules a compiler cannot: no banned string
# functions in C sources, and every C file opening with a comment that says
# what it is for. Prints TAP.
top=${srcdir:-.}
n=0
fail=0
files=$(cd "$top" && find common workunits kernels server-tools client tests bench \
	-name '*.[ch]' 2>/dev/null | sort)

n=$((n + 1))
hits=$(cd "$top" && grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll)[[:space:]]*\(' $files /dev/null)
if [ -z "$hits" ]; then
	echo "ok $n - no strcpy/strcat/sprintf/gets/atoi in C sources"
else
	echo "not ok $n - banned calls found"
	echo "$hits" | sed 's/^/# /'
	fail=1
fi

n=$((n + 1))
missing=""
for f in $files; do
	head -c 2 "$top/$f" | grep -q '/\*' || missing="$missing $f"
done
if [ -z "$missing" ]; then
	echo "ok $n - every C file opens with a comment"
else
	echo "not ok $n - files without an opening comment:$missing"
	fail=1
fi

echo "1..$n"
exit $fail
