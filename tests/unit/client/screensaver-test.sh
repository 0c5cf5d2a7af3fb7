#!/bin/sh
# screensaver-test.sh - agora-screensaver --window under Xvfb, fed a
# STATE/status.json written here in the exact format agora-client writes
# (client/status.c: compact JSON, the same keys in the same order; the
# live client is covered by idle-test). Core fonts are bitmaps (no
# anti-aliasing), so a frame has exactly its palette's colours. Checks, on
# screenshots (xwd -> PNG with ImageMagick, kept as artefacts in
# tests/unit/client/):
#  - with no status file the window is not black: 4+ colours, and the
#    "No agora-client is running" message is drawn where --print-layout
#    says (ink in that box);
#  - with a computing client the frame has 5+ colours, the job line's
#    box holds ink, the same job name draws the same pixels there twice,
#    and another job name draws different pixels;
#  - the same through -root, -window-id ID and $XSCREENSAVER_WINDOW (the
#    root window's id), as xscreensaver runs hacks;
#  - SIGTERM ends it with exit status 0.
# Skips without agora-screensaver (no X11 at configure), xvfb-run, xwd or
# ImageMagick. Prints TAP.
set -u
top=${top_builddir:-.}
ss=$top/agora-screensaver
. "${srcdir:-.}/tests/tap.sh"

[ -x "$ss" ] || skip_all "agora-screensaver not built (no X11 at configure)"
for t in xvfb-run Xvfb xwd convert compare; do
	command -v "$t" >/dev/null 2>&1 || skip_all "no $t (Debian: xvfb x11-apps imagemagick)"
done
if [ -z "${AGORA_SS_XVFB:-}" ]; then
	AGORA_SS_XVFB=1 exec xvfb-run -a -s "-screen 0 900x640x24 -nolisten tcp" \
		"${SHELL:-/bin/sh}" "$0" "$@"
fi

art=$top/tests/unit/client
mkdir -p "$art"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agora-ss-XXXXXX") || exit 1
export XDG_CACHE_HOME=$tmp/cache
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# status JOB: the file agora-client's status_write() would write
status() {
	now=$(date +%s)
	printf '{"state":"computing","project":"http://127.0.0.1:8470","job":"%s","unit":"%s","replica":3,"round":2,"step":%s,"steps":100,"loss":%s,"device":"c reference","eta_s":12.5,"units_done":1,"pid":%s,"updated":%s,"reason":""}' \
		"$1" 6245991dab634197c0ffee0000000000000000000000000000000000000000aa "$2" "$3" $$ "$now" \
		>"$tmp/state/status.json.tmp" && mv "$tmp/state/status.json.tmp" "$tmp/state/status.json"
}

# shot NAME: runs the screensaver ~2.5 s, screenshots it, stops it
shot() {
	"$ss" --window --size 900x640 --still --no-text --print-layout --state "$tmp/state" \
		2>"$tmp/$1.err" &
	pid=$!
	sleep 2.5
	xwd -root -silent | convert xwd:- "png:$art/screensaver-$1.png"
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=""
	return $rc
}

# box NAME WHAT: "WxH+X+Y" of a layout line the screensaver printed
box() { awk -v w="$2" '$1 == "layout" && $2 == w { printf "%dx%d+%d+%d", $5, $6, $3, $4; exit }' "$tmp/$1.err"; }
colours() { convert "$1" -format %k info:; }
crop() { convert "$art/screensaver-$1.png" -crop "$2" +repage "$tmp/$1-$3.png"; }
diffpx() { compare -metric AE "$1" "$2" null: 2>&1 | awk '{ print int($1) }'; }

echo "1..14"
mkdir -p "$tmp/state"
chmod 700 "$tmp/state"

check 'shot none' "no status file: it runs and exits 0 on SIGTERM"
c=$(colours "$art/screensaver-none.png")
check '[ "$c" -ge 4 ]' "no status file: not blank ($c colours)"
b=$(box none message)
check '[ -n "$b" ]' "the 'no client' message is laid out ($b)"
crop none "$b" msg
check '[ "$(colours "$tmp/none-msg.png")" -ge 2 ]' "and drawn (ink in its box)"

status alpha-job 40 3.25
check 'shot alpha' "a computing client: exit 0 on SIGTERM"
c=$(colours "$art/screensaver-alpha.png")
check '[ "$c" -ge 5 ]' "the frame is not blank ($c colours)"
b=$(box alpha job)
check '[ -n "$b" ]' "the job line is laid out ($b)"
crop alpha "$b" job
check '[ "$(colours "$tmp/alpha-job.png")" -ge 2 ]' "ink in the job line's box"

status alpha-job 41 3.2
shot alpha2
crop alpha2 "$b" job
check '[ "$(diffpx "$tmp/alpha-job.png" "$tmp/alpha2-job.png")" -eq 0 ]' \
	"the same job name draws the same pixels"
status zeta-run 42 3.1
shot zeta
crop zeta "$b" job
d=$(diffpx "$tmp/alpha-job.png" "$tmp/zeta-job.png")
check '[ "$d" -gt 20 ]' "another job name draws other pixels ($d differ)"
grep -q 'zeta-run' "$tmp/state/status.json"
check '[ $? -eq 0 ] && [ -s "$art/screensaver-zeta.png" ]' "screenshots kept in $art"

# the ways xscreensaver hands over its window: -root, -window-id, $XSCREENSAVER_WINDOW
# (the root window here); each frame must show the job line
hack() { # NAME ARGS...: like shot, without --window
	name=$1
	shift
	"$@" --still --no-text --print-layout --state "$tmp/state" 2>"$tmp/$name.err" &
	pid=$!
	sleep 2.5
	xwd -root -silent | convert xwd:- "png:$art/screensaver-$name.png"
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=""
	return $rc
}
inked() { b=$(box "$1" job) && [ -n "$b" ] && crop "$1" "$b" job &&
	[ "$(colours "$tmp/$1-job.png")" -ge 2 ] && [ "$(colours "$art/screensaver-$1.png")" -ge 5 ]; }
check 'hack root "$ss" -root && inked root' "-root: draws on the root window"
root=$(awk '$1 == "window" { print $2; exit }' "$tmp/root.err")
check 'hack wid "$ss" -window-id "$root" && inked wid' "-window-id $root: draws into that window"
check 'hack env env XSCREENSAVER_WINDOW="$root" "$ss" && inked env' \
	"\$XSCREENSAVER_WINDOW=$root: draws into that window"
exit $fail
