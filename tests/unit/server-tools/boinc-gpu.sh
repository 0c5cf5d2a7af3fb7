#!/bin/sh
# boinc-gpu.sh - agora-server hands BOINC hosts the app version their
# hardware can run: a CPU and an opencl_nvidia version published, a job
# with work; scheduler requests as BOINC 7.20 writes them (<coprocs>,
# per-resource <req_secs>) posted with curl to /boinc/cgi:
#   - an NVIDIA GPU with OpenCL, GPU work wanted: the GPU version (plan
#     class, <coproc> NVIDIA x1, avg_ncpus < 1), every result naming it,
#     its binary downloadable;
#   - no GPU: the CPU version, results without a plan class;
#   - GPU and CPU work wanted: one task of each, each naming its version;
#   - an NVIDIA GPU without OpenCL, with OpenCL 1.1 or with 256 MiB, or an
#     AMD GPU (no opencl_amd version published): the CPU version only, and
#     nothing when only GPU work is wanted;
#   - platforms: with a windows_x86_64 CPU version published beside the
#     Linux ones, a Windows host gets the Windows version only, a Linux
#     host the Linux one only, a Windows-on-ARM host that lists
#     windows_x86_64 as its alternative the Windows one, a Windows host
#     with an NVIDIA GPU no (Linux) GPU version, and a Mac nothing but a
#     message naming its platform.
# The real BOINC client cannot be used here (no GPU on CI machines; BOINC
# ignores CPU OpenCL devices). Prints TAP; skips without curl or BOINC
# support.
set -u
top=${top_builddir:-.}
src=${srcdir:-.}
adm=$top/agora-admin
n=0
fail=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }

[ -x "$top/agora-server" ] && [ -x "$adm" ] || skip_all "programs not built"
command -v curl >/dev/null 2>&1 || skip_all "curl not installed"
work=$(mktemp -d "${TMPDIR:-/tmp}/agora-boinc-gpu-XXXXXX") || exit 1
tmp=$work
. "$src/demo/lib.sh"
trap 'demo_stop_all; rm -rf "$work"' EXIT
# the server (state $work/server, admin key $work/keys) first: it reads the
# published versions on every scheduler request
demo_start_server || { ok 1 "agora-server starts"; sed 's/^/# /' "$work/server.log"; echo "1..$n"; exit 1; }
url=$demo_url
A=demo_adm
curl -fsS "$url/boinc/" >/dev/null 2>&1 || skip_all "agora-server built without BOINC support"
if ! "$adm" boinc keygen --out "$tmp/keys" >"$tmp/out" 2>&1; then
	grep -q "without BOINC support" "$tmp/out" && skip_all "agora-admin built without BOINC support"
	cat "$tmp/out"
	exit 1
fi
printf '#!/bin/sh\necho cpu\n' >"$tmp/cpuapp"
printf '#!/bin/sh\necho nvidia\n' >"$tmp/gpuapp"
"$adm" boinc publish --state "$tmp/server" --key "$tmp/keys/code_sign.key" --exe "$tmp/cpuapp" \
	--version 100 >/dev/null &&
	"$adm" boinc publish --state "$tmp/server" --key "$tmp/keys/code_sign.key" \
		--exe "$tmp/gpuapp" --version 100 --plan-class opencl_nvidia >/dev/null
ok $? "a CPU and an opencl_nvidia version published"

i=0
: >"$tmp/corpus.txt"
while [ $i -lt 400 ]; do echo "line $i of a small corpus for the boinc gpu test" >>"$tmp/corpus.txt"; i=$((i + 1)); done
cat >"$tmp/spec.json" <<'SPEC'
{"name":"gpu","preset":"gpt-test","dataset":"corpus","seed":1,
 "hyper":{"lr":0.01,"beta1":0.9,"beta2":0.95,"eps":1e-8,"weight_decay":0,"clip":1,"batch":2},
 "inner_steps":2,"units_per_round":12,"quorum":2,"rounds":1,
 "outer":{"lr":0.7,"momentum":0.9},"validation":{"mode":"exact"},
 "eval":{"bytes":512,"sequences":4}}
SPEC
$A dataset add "$tmp/corpus.txt" --owner tests --licence CC0-1.0 --source boinc-gpu.sh \
	--name corpus --shard-size 4096 >/dev/null 2>&1 && $A job create "$tmp/spec.json" >/dev/null 2>&1
ok $? "a job with 12 units, quorum 2"

# A scheduler request: authenticator, CPU seconds wanted, <coprocs> body.
request() {
	cat <<REQ
<scheduler_request>
    <authenticator>$1</authenticator>
    <hostid>0</hostid>
    <rpc_seqno>1</rpc_seqno>
    <core_client_major_version>7</core_client_major_version>
    <core_client_minor_version>20</core_client_minor_version>
    <core_client_release>4</core_client_release>
    <platform_name>${PLAT:-x86_64-pc-linux-gnu}</platform_name>
    <work_req_seconds>$2</work_req_seconds>
    <cpu_req_secs>$2</cpu_req_secs>
    <cpu_req_instances>0.000000</cpu_req_instances>
    <client_cap_plan_class>1</client_cap_plan_class>
    <host_info><p_ncpus>4</p_ncpus></host_info>
REQ
	[ -n "${ALT:-}" ] && printf '    <alt_platform>\n        <name>%s</name>\n    </alt_platform>\n' "$ALT"
	[ -n "$3" ] && printf '    <coprocs>\n%s\n    </coprocs>\n' "$3"
	echo "</scheduler_request>"
}
# <coproc_cuda> as BOINC 7.20 writes it: have_opencl, GPU seconds wanted.
nvidia() {
	cat <<GPU
<coproc_cuda>
   <count>1</count>
   <name>NVIDIA GeForce RTX 3060</name>
   <available_ram>12622168064.000000</available_ram>
   <have_cuda>1</have_cuda>
   <have_opencl>$1</have_opencl>
   <req_secs>$2</req_secs>
   <req_instances>1.000000</req_instances>
   <estimated_delay>0.000000</estimated_delay>
   <peak_flops>12740000000000.000000</peak_flops>
   <cudaVersion>12020</cudaVersion>
   <drvVersion>53586</drvVersion>
   <totalGlobalMem>12622168064.000000</totalGlobalMem>
   <major>8</major>
   <minor>6</minor>
   <multiProcessorCount>28</multiProcessorCount>
GPU
	[ "$1" = 1 ] && cat <<CL
   <coproc_opencl>
      <name>NVIDIA GeForce RTX 3060</name>
      <vendor>NVIDIA Corporation</vendor>
      <vendor_id>4318</vendor_id>
      <available>1</available>
      <global_mem_size>12622168064</global_mem_size>
      <opencl_platform_version>OpenCL 3.0 CUDA 12.2.138</opencl_platform_version>
      <opencl_device_version>OpenCL 3.0 CUDA</opencl_device_version>
      <opencl_driver_version>535.86.05</opencl_driver_version>
   </coproc_opencl>
CL
	echo "</coproc_cuda>"
}
amd='<coproc_ati>
   <count>1</count>
   <name>AMD Radeon RX 6600</name>
   <have_cal>0</have_cal>
   <have_opencl>1</have_opencl>
   <req_secs>8640.000000</req_secs>
   <peak_flops>8900000000000.000000</peak_flops>
   <coproc_opencl><name>gfx1032</name><available>1</available></coproc_opencl>
</coproc_ati>'
# Posts request $1 ($2, $3) and keeps the reply in $tmp/$1.xml.
rpc() {
	request "$1" "$2" "$3" >"$tmp/$1.req"
	curl -fsS --data-binary "@$tmp/$1.req" -H 'Content-Type: text/xml' "$url/boinc/cgi" \
		>"$tmp/$1.xml" 2>"$tmp/$1.err"
}
# The elements of block $2 (app_version or result) of reply $1, one block a line.
blocks() {
	tr -d '\n' <"$tmp/$1.xml" | sed "s|<$2>|\n<$2>|g; s|</$2>|</$2>\n|g" | grep "^<$2>.*</$2>\$"
}
count() { blocks "$1" "$2" | wc -l; }

rpc gpu 0 "$(nvidia 1 8640.000000)"
ok $? "an NVIDIA host with OpenCL asks for GPU work"
[ "$(count gpu result)" -eq 2 ] && [ "$(count gpu app_version)" -eq 1 ]
ok $? "it gets 2 tasks and one app version"
av=$(blocks gpu app_version)
echo "$av" | grep -q '<plan_class>opencl_nvidia</plan_class>' &&
	echo "$av" | grep -q '<coproc> *<type>NVIDIA</type> *<count>1</count> *</coproc>' &&
	echo "$av" | grep -q '<avg_ncpus>0\.5</avg_ncpus>' &&
	echo "$av" | grep -q '<file_name>agora-boinc_100_x86_64-pc-linux-gnu__opencl_nvidia</file_name>'
ok $? "the GPU version: plan class, one NVIDIA GPU, half a CPU, its own binary"
[ "$(blocks gpu result | grep -c '<platform>x86_64-pc-linux-gnu</platform> *<version_num>100</version_num> *<plan_class>opencl_nvidia</plan_class>')" -eq 2 ]
ok $? "every result names the GPU version (platform, version, plan class)"
gurl=$(tr -d '\n' <"$tmp/gpu.xml" | sed -n 's|.*<url>\([^<]*__opencl_nvidia\)</url>.*|\1|p')
[ -n "$gurl" ] && curl -fsS "$gurl" -o "$tmp/got" && cmp -s "$tmp/got" "$tmp/gpuapp"
ok $? "the GPU binary downloads from the URL in the reply"

rpc cpu 8640.000000 ""
[ "$(count cpu result)" -eq 2 ] && [ "$(count cpu app_version)" -eq 1 ] &&
	! grep -q plan_class "$tmp/cpu.xml" && ! grep -q '<coproc>' "$tmp/cpu.xml" &&
	blocks cpu app_version | grep -q '<file_name>agora-boinc_100_x86_64-pc-linux-gnu</file_name>'
ok $? "a host without GPU gets the CPU version, no plan class anywhere"

rpc both 8640.000000 "$(nvidia 1 8640.000000)"
[ "$(count both result)" -eq 2 ] && [ "$(count both app_version)" -eq 2 ] &&
	[ "$(blocks both result | grep -c '<plan_class>opencl_nvidia</plan_class>')" -eq 1 ]
ok $? "GPU and CPU work wanted: both versions, one task of each"

rpc nocl 0 "$(nvidia 0 8640.000000)"
[ "$(count nocl result)" -eq 0 ] && ! grep -q '<app_version>' "$tmp/nocl.xml"
ok $? "an NVIDIA GPU without OpenCL asking only GPU work gets nothing"
rpc nocl2 8640.000000 "$(nvidia 0 8640.000000)"
[ "$(count nocl2 result)" -eq 2 ] && ! grep -q plan_class "$tmp/nocl2.xml"
ok $? "with CPU work wanted, the CPU version"
rpc amd 8640.000000 "$amd"
[ "$(count amd result)" -eq 2 ] && ! grep -q plan_class "$tmp/amd.xml"
ok $? "an AMD GPU (no opencl_amd version published) gets the CPU version"
nvidia 1 8640.000000 | sed 's|<global_mem_size>[0-9]*<|<global_mem_size>268435456<|' >"$tmp/small"
rpc small 8640.000000 "$(cat "$tmp/small")"
[ "$(count small result)" -eq 2 ] && ! grep -q plan_class "$tmp/small.xml"
ok $? "an NVIDIA GPU with 256 MiB (under the 512 MiB a GPU version needs) gets the CPU version"
nvidia 1 8640.000000 | sed 's|<opencl_device_version>OpenCL 3.0|<opencl_device_version>OpenCL 1.1|' >"$tmp/old"
rpc old 0 "$(cat "$tmp/old")"
[ "$(count old result)" -eq 0 ]
ok $? "one with OpenCL 1.1 asking only GPU work gets nothing"
rpc idle 0 "$(nvidia 1 0.000000)"
[ "$(count idle result)" -eq 0 ]
ok $? "a GPU host asking no work gets none"

printf '#!/bin/sh\necho windows\n' >"$tmp/winapp"
"$adm" boinc publish --state "$tmp/server" --key "$tmp/keys/code_sign.key" --exe "$tmp/winapp" \
	--version 100 --platform windows_x86_64 >/dev/null
ok $? "a windows_x86_64 CPU version published beside them"
PLAT=windows_x86_64 rpc win 8640.000000 ""
[ "$(count win result)" -eq 2 ] && [ "$(count win app_version)" -eq 1 ] &&
	blocks win app_version | grep -q '<file_name>agora-boinc_100_windows_x86_64</file_name>' &&
	[ "$(blocks win result | grep -c '<platform>windows_x86_64</platform>')" -eq 2 ]
ok $? "a Windows host gets the Windows version only"
rpc lin 8640.000000 ""
[ "$(count lin result)" -eq 2 ] && [ "$(count lin app_version)" -eq 1 ] &&
	! grep -q windows "$tmp/lin.xml"
ok $? "a Linux host still gets the Linux version only"
PLAT=windows_arm64 ALT=windows_x86_64 rpc arm 8640.000000 ""
[ "$(count arm result)" -eq 2 ] &&
	blocks arm app_version | grep -q '<platform>windows_x86_64</platform>'
ok $? "a Windows-on-ARM host listing windows_x86_64 as alternative gets that version"
PLAT=windows_x86_64 rpc wingpu 0 "$(nvidia 1 8640.000000)"
[ "$(count wingpu result)" -eq 0 ] && ! grep -q '<app_version>' "$tmp/wingpu.xml"
ok $? "a Windows host asking NVIDIA work gets no Linux GPU version"
PLAT=x86_64-apple-darwin rpc mac 8640.000000 ""
[ "$(count mac result)" -eq 0 ] &&
	grep -q 'no application for your platform (x86_64-apple-darwin)' "$tmp/mac.xml"
ok $? "a Mac gets nothing, and a message naming its platform"

if [ $fail -ne 0 ]; then
	for f in gpu cpu both; do echo "# --- $f.xml"; sed 's/^/# /' "$tmp/$f.xml" | head -n 60; done
	echo "# --- server log"; tail -n 20 "$tmp/server.log" | sed 's/^/# /'
fi
echo "1..$n"
exit $fail
