#!/usr/bin/env bash
# bash bench/slurm.sh [default|tuned|both] [--jobs N]
# bash bench/slurm.sh cli [--n N]
#
# Reference workload for `npm run bench`, on a single-node Slurm (Debian's slurm-wlm) that
# this script starts entirely under a temp dir (own munged, slurmctld, slurmd; its own ports)
# and stops again at exit. One node `localhost` with 64 (oversubscribed) CPUs, partition
# `bench`. Measures, per SchedulerParameters setting:
#   - throughput: N x `sbatch --wrap=/bin/true` (xargs -P 8), first submit until squeue is empty
#   - submit-to-start on an idle node, p50 of 10 (job writes `date +%s.%N`, compared with
#     the time taken right before sbatch)
#   - afterok gap, p50 of 10 pairs (child's first line minus parent's last line)
# `default` = stock SchedulerParameters; `tuned` = batch_sched_delay=0,sched_min_interval=0.
# Every setting gets a fresh controller (-c, state cleared). Prints a markdown table.
# `cli`: command latency instead (bench/cli-latency.ts): N x `sbatch -H` (held, so nothing runs),
# `squeue -j <id>`, `squeue` (whole queue) and `scancel <id>`, one process each on stock settings;
# prints one line per command, `cli <label> <microseconds of each run>`.
set -u

MODE=both
JOBS=500
N=30
while [ $# -gt 0 ]; do
  case "$1" in
    default|tuned|both|cli) MODE=$1 ;;
    --jobs) JOBS=$2; shift ;;
    --n) N=$2; shift ;;
    *) echo "usage: $0 [default|tuned|both] [--jobs N] | $0 cli [--n N]" >&2; exit 2 ;;
  esac
  shift
done

for b in slurmctld slurmd sbatch squeue sinfo scontrol munged mungekey; do
  command -v "$b" >/dev/null || { echo "slurm.sh: $b not found (apt-get install slurm-wlm)" >&2; exit 1; }
done
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
  echo "slurm.sh: a Slurm daemon is already running on this machine; not starting another" >&2
  exit 1
fi

T=$(mktemp -d /tmp/slurm-bench.XXXXXX)
chmod 0755 "$T"
PIDS=()
MUNGE_PID=

stop_slurm() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  PIDS=()
}
cleanup() {
  stop_slurm
  if [ -n "$MUNGE_PID" ]; then
    kill "$MUNGE_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$MUNGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$MUNGE_PID" 2>/dev/null
    wait "$MUNGE_PID" 2>/dev/null
  fi
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- munge, private socket and key ------------------------------------------------------
mkdir -p "$T/munge"
chmod 0700 "$T/munge"
mungekey -c -k "$T/munge/munge.key" 2>/dev/null ||
  dd if=/dev/urandom of="$T/munge/munge.key" bs=1 count=1024 2>/dev/null
chmod 0600 "$T/munge/munge.key"
munged -F -f --socket="$T/munge/munge.sock" --key-file="$T/munge/munge.key" \
  --log-file="$T/munge/munged.log" --pid-file="$T/munge/munged.pid" \
  --seed-file="$T/munge/munged.seed" >"$T/munge/stdout" 2>&1 &
MUNGE_PID=$!
for _ in $(seq 50); do [ -S "$T/munge/munge.sock" ] && break; sleep 0.1; done
if ! [ -S "$T/munge/munge.sock" ]; then
  echo "slurm.sh: munged did not start:" >&2; cat "$T/munge/stdout" "$T/munge/munged.log" >&2 2>/dev/null
  exit 1
fi
chmod 0755 "$T/munge"   # slurm clients need to reach the socket

export SLURM_CONF="$T/slurm.conf"
CTLD_PORT=${SLURM_BENCH_CTLD_PORT:-16817}
SLURMD_PORT=${SLURM_BENCH_SLURMD_PORT:-16818}

write_conf() { # $1 = SchedulerParameters value ('' for stock)
  mkdir -p "$T/state" "$T/spool" "$T/log"
  cat >"$SLURM_CONF" <<EOF
ClusterName=bench
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool/%n
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MaxJobCount=100000
$( [ -n "$1" ] && echo "SchedulerParameters=$1" )
NodeName=localhost NodeAddr=127.0.0.1 CPUs=64 State=UNKNOWN
PartitionName=bench Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start_slurm() { # $1 = SchedulerParameters value
  write_conf "$1"
  rm -rf "$T/state"/* "$T/spool"/*
  slurmctld -D -c -f "$SLURM_CONF" >>"$T/log/slurmctld.out" 2>&1 &
  PIDS+=($!)
  local ok=
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && { ok=1; break; }; sleep 0.1; done
  if [ -z "$ok" ]; then
    echo "slurm.sh: slurmctld did not come up:" >&2
    tail -20 "$T/log/slurmctld.out" "$T/log/slurmctld.log" >&2 2>/dev/null; exit 1
  fi
  slurmd -D -N localhost -f "$SLURM_CONF" >>"$T/log/slurmd.out" 2>&1 &
  PIDS+=($!)
  ok=
  for _ in $(seq 300); do
    st=$(sinfo -h -n localhost -o %T 2>/dev/null)
    [ "$st" = idle ] && { ok=1; break; }
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    echo "slurm.sh: node never became idle (state: ${st:-?}):" >&2
    tail -20 "$T/log/slurmd.out" "$T/log/slurmd.log" "$T/log/slurmctld.log" >&2 2>/dev/null; exit 1
  fi
}

now() { date +%s.%N; }
wait_empty() { # poll every 0.1 s until squeue shows no job; $1 = timeout s
  local deadline=$(( $(date +%s) + ${1:-180} ))
  while [ -n "$(squeue -h -o %i 2>/dev/null)" ] || ! squeue -h >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && { echo "slurm.sh: timeout waiting for squeue to drain" >&2; return 1; }
    sleep 0.1
  done
}
wait_file() { # $1 = path, $2 = timeout s
  local n=$(( ${2:-30} * 100 ))
  for _ in $(seq "$n"); do [ -s "$1" ] && return 0; sleep 0.01; done
  echo "slurm.sh: timeout waiting for $1" >&2; return 1
}
p50() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

declare -A R
measure() { # $1 = label
  local label=$1 W="$T/work.$1" i t0 id pid cid
  mkdir -p "$W"; chmod 0777 "$W"

  # (a) throughput; dirty data written back first, as bench/local.ts flushFileSystems does for metaqueue
  sync
  t0=$(now)
  seq "$JOBS" | xargs -P 8 -I{} sbatch --parsable -o /dev/null -e /dev/null --wrap=/bin/true >"$W/ids" 2>"$W/sbatch.err"
  local t_sub; t_sub=$(now)
  wait_empty 180 || return 1
  local t1; t1=$(now)
  local nsub; nsub=$(grep -c . "$W/ids")
  R[$label,tput]=$(awk -v n="$nsub" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", n/(b-a)}')
  R[$label,subrate]=$(awk -v n="$nsub" -v a="$t0" -v b="$t_sub" 'BEGIN{printf "%.1f", n/(b-a)}')
  R[$label,nsub]=$nsub
  sleep 1

  # (b) submit-to-start on an idle node
  : >"$W/lat"
  for i in $(seq 10); do
    t0=$(now)
    sbatch -Q -o /dev/null -e /dev/null --wrap="date +%s.%N > $W/s.$i" >/dev/null
    wait_file "$W/s.$i" 30 || return 1
    awk -v a="$t0" '{printf "%.3f\n", $1-a}' "$W/s.$i" >>"$W/lat"
    wait_empty 30 || return 1
    sleep 0.3
  done
  R[$label,start]=$(p50 <"$W/lat")

  # (c) afterok release gap
  : >"$W/gap"
  for i in $(seq 10); do
    pid=$(sbatch --parsable -o /dev/null -e /dev/null --wrap="sleep 0.2; date +%s.%N > $W/p.$i")
    cid=$(sbatch --parsable -o /dev/null -e /dev/null --dependency=afterok:"$pid" --wrap="date +%s.%N > $W/c.$i")
    wait_file "$W/c.$i" 60 || return 1
    awk -v a="$(cat "$W/p.$i")" '{printf "%.3f\n", $1-a}' "$W/c.$i" >>"$W/gap"
    wait_empty 30 || return 1
  done
  R[$label,gap]=$(p50 <"$W/gap")
}

us_since() { echo $(( ($(date +%s%N) - $1) / 1000 )); }
cli_latency() {
  local W="$T/work.cli" i t0 id ids=() sb="" one="" all="" del=""
  mkdir -p "$W"; chmod 0777 "$W"; cd "$W" || return 1
  # warm-up, as bench/cli-latency.ts does
  id=$(sbatch --parsable -H -o /dev/null -e /dev/null --wrap=/bin/true) || return 1
  squeue -h -j "$id" >/dev/null; scancel "$id"
  for i in $(seq "$N"); do
    t0=$(date +%s%N); id=$(sbatch --parsable -H -o /dev/null -e /dev/null --wrap=/bin/true) || return 1
    sb+=" $(us_since "$t0")"; ids+=("$id")
  done
  for id in "${ids[@]}"; do t0=$(date +%s%N); squeue -j "$id" >/dev/null || return 1; one+=" $(us_since "$t0")"; done
  for i in $(seq "$N"); do t0=$(date +%s%N); squeue >/dev/null || return 1; all+=" $(us_since "$t0")"; done
  for id in "${ids[@]}"; do t0=$(date +%s%N); scancel "$id" || return 1; del+=" $(us_since "$t0")"; done
  echo "cli sbatch_-H$sb"
  echo "cli squeue_-j_<id>$one"
  echo "cli squeue_(${N}_jobs)$all"
  echo "cli scancel_<id>$del"
}

VERSION=$(slurmctld -V 2>&1)
if [ "$MODE" = cli ]; then
  echo "== $VERSION, stock settings: command latency, $N runs per command" >&2
  start_slurm ""
  cli_latency || { echo "slurm.sh: command latency failed; logs:" >&2; tail -30 "$T/log/slurmctld.log" >&2; exit 1; }
  exit 0
fi
LABELS=()
case $MODE in
  default) LABELS=(default) ;;
  tuned) LABELS=(tuned) ;;
  both) LABELS=(default tuned) ;;
esac
for l in "${LABELS[@]}"; do
  sp=""; [ "$l" = tuned ] && sp="batch_sched_delay=0,sched_min_interval=0"
  echo "== $VERSION, SchedulerParameters=${sp:-(stock)}: starting" >&2
  start_slurm "$sp"
  measure "$l" || { echo "slurm.sh: measurement '$l' failed; logs:" >&2; tail -30 "$T/log/slurmctld.log" >&2; exit 1; }
  echo "== $l: ${R[$l,tput]} jobs/s, start p50 ${R[$l,start]} s, afterok gap p50 ${R[$l,gap]} s" >&2
  stop_slurm
done

echo
echo "Slurm: $VERSION, single node, 64 virtual CPUs, $(nproc) real cores"
echo
hdr="| metric |"; sep="|---|"
for l in "${LABELS[@]}"; do hdr+=" slurm $l |"; sep+="---|"; done
echo "$hdr"; echo "$sep"
row() { local s="| $1 |"; for l in "${LABELS[@]}"; do s+=" ${R[$l,$2]}$3 |"; done; echo "$s"; }
row "throughput, ${JOBS} x /bin/true (jobs/s)" tput ""
row "sbatch submit rate, xargs -P 8 (jobs/s)" subrate ""
row "submit-to-start p50, idle (s)" start ""
row "afterok release gap p50 (s)" gap ""
