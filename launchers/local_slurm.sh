#!/usr/bin/env bash
# A real single-node Slurm cluster on localhost, for development and CI.
#
#   launchers/local_slurm.sh start    install (apt, only what is missing), configure and start
#                                     munged, MariaDB, slurmdbd, slurmctld, slurmd; wait until the
#                                     node is idle and sacct answers. Idempotent; fast when healthy.
#   launchers/local_slurm.sh stop     stop the daemons by their PID files; idempotent.
#   launchers/local_slurm.sh status   which daemons run, sinfo; exit 0 if healthy.
#   launchers/local_slurm.sh env      `export` lines that Slurm clients need (SLURM_CONF).
#
# Everything (configs, munge key, MariaDB datadir, spool, PID files, logs) lives in the state
# dir ${REFUSAL_LAB_SLURM_DIR:-/tmp/refusal-lab-slurm}. Runs as root, without systemd or
# cgroups (proctrack/linuxproc, task/none). Partitions: `debug` (default, low PriorityTier,
# PreemptMode=REQUEUE) and `high` (high PriorityTier, preempts `debug`). With
# preempt_send_user_signal a preempted job gets its --signal (submitit: USR2) at preemption,
# so submitit checkpoints and requeues it.
#
# Environment knobs (all optional):
#   REFUSAL_LAB_SLURM_DIR         state dir (default /tmp/refusal-lab-slurm)
#   REFUSAL_LAB_SLURM_PORTS       "ctld slurmd dbd mysql" ports (default "6817 6818 6819 3307")
#   REFUSAL_LAB_SLURM_LINK_ETC=0  do not symlink /etc/slurm/slurm.conf to the state dir's config
#                                 (by default it is linked when /etc/slurm/slurm.conf is absent
#                                 or already such a link, so plain `sinfo` works without SLURM_CONF)
#   REFUSAL_LAB_SLURM_TIMEOUT     seconds to wait for each daemon / the node (default 60)
set -euo pipefail

STATE=${REFUSAL_LAB_SLURM_DIR:-/tmp/refusal-lab-slurm}
read -r CTLD_PORT SLURMD_PORT DBD_PORT DB_PORT <<<"${REFUSAL_LAB_SLURM_PORTS:-6817 6818 6819 3307}"
TIMEOUT=${REFUSAL_LAB_SLURM_TIMEOUT:-60}
CLUSTER=refusal-lab
ACCOUNT=refusal-lab
DB_NAME=slurm_acct_db
DB_USER=slurm
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server-core mariadb-client-core)

ETC=$STATE/etc
RUN=$STATE/run
LOG=$STATE/log
SPOOL=$STATE/spool
MUNGE=$STATE/munge
MYSQL=$STATE/mysql
export SLURM_CONF=$ETC/slurm.conf

DAEMONS=(munged mysqld slurmdbd slurmctld slurmd)   # start order; stop is the reverse

say() { echo "[local_slurm] $*" >&2; }
die() { echo "[local_slurm] ERROR: $*" >&2; exit 1; }

pidfile_of() {
  case $1 in
    munged) echo "$MUNGE/munged.pid" ;;
    mysqld) echo "$MYSQL/mysqld.pid" ;;
    *) echo "$RUN/$1.pid" ;;
  esac
}
logfile_of() {
  case $1 in
    munged) echo "$LOG/munged.log" ;;
    mysqld) echo "$LOG/mysqld.log" ;;
    *) echo "$LOG/$1.log" ;;
  esac
}
# The process name a PID must have to be ours (guards against a recycled PID in a stale file).
comm_of() {
  case $1 in
    mysqld) echo "mariadbd mysqld" ;;
    *) echo "$1" ;;
  esac
}

# Prints the daemon's PID if its PID file names a live process of that daemon.
daemon_pid() {
  local f pid comm c
  f=$(pidfile_of "$1")
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  for c in $(comm_of "$1"); do
    if [ "$comm" = "$c" ]; then echo "$pid"; return 0; fi
  done
  return 1
}
running() { daemon_pid "$1" >/dev/null; }

log_tail() {
  local f
  f=$(logfile_of "$1")
  echo "----- last lines of $f -----" >&2
  tail -n 40 "$f" >&2 2>/dev/null || echo "(no log)" >&2
  echo "-----" >&2
}

# wait_for SECONDS DESCRIPTION DAEMON COMMAND...: poll COMMAND every 0.2 s; on timeout print
# the daemon's log tail and fail. Also fails early if the daemon died.
wait_for() {
  local secs=$1 what=$2 daemon=$3; shift 3
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$daemon" ] && ! running "$daemon"; then
      sleep 0.5
      if ! running "$daemon" && ! "$@" >/dev/null 2>&1; then
        log_tail "$daemon"
        die "$daemon died while waiting for: $what"
      fi
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      [ -n "$daemon" ] && log_tail "$daemon"
      die "timed out after ${secs}s waiting for: $what"
    fi
    sleep 0.2
  done
}

node_name() { uname -n | cut -d. -f1; }

node_state() { sinfo -h -N -n "$(node_name)" -o '%t' 2>/dev/null | head -n1; }
node_ready() {
  local s
  s=$(node_state) || return 1
  case $s in idle | mix | mixed | alloc | allocated | comp | completing) return 0 ;; *) return 1 ;; esac
}
sacct_ok() { sacct -n -X -S now-1hours -o JobID >/dev/null 2>&1; }

healthy() {
  local d
  for d in "${DAEMONS[@]}"; do running "$d" || return 1; done
  command -v sinfo >/dev/null 2>&1 || return 1
  node_ready && sacct_ok
}

# ---------------------------------------------------------------- install

pkg_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  local apt=(apt-get -q -y -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 --no-install-recommends)
  # Keep package maintainer scripts from starting system-wide munge/slurm services: this
  # script runs its own copies from the state dir.
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0 out
  out=$(mktemp)
  # A fresh machine (or container) often has empty apt lists: update first, not after a failure.
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    say "apt lists are empty; running apt-get update"
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >"$out" 2>&1 || rc=$?
  fi
  [ "$rc" = 0 ] && {
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >"$out" 2>&1 || {
      say "apt-get install failed; running apt-get update and retrying"
      DEBIAN_FRONTEND=noninteractive "${apt[@]}" update >>"$out" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" >>"$out" 2>&1
    }
  } || rc=$?
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "$rc" != 0 ]; then
    tail -n 30 "$out" >&2
    rm -f "$out"
    die "could not install ${missing[*]}"
  fi
  rm -f "$out"
  for p in "${PACKAGES[@]}"; do pkg_installed "$p" || die "package $p still not installed"; done
}

# ---------------------------------------------------------------- config

write_if_changed() {  # write_if_changed FILE MODE  (content on stdin); returns 0 if changed
  local f=$1 mode=$2 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$f"
  return 0
}

gen_slurm_conf() {
  local node cpus mem defmem
  node=$(node_name)
  cpus=$(nproc)
  mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)  # = `free -m` total
  defmem=$((mem / cpus))
  cat <<EOF
# Generated by launchers/local_slurm.sh; rewritten on every start.
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
# cred_expire=10 (default 120): a requeued job may start again after ~cred_expire seconds.
AuthInfo=socket=$MUNGE/munge.socket.2,cred_expire=10
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no systemd, no cgroups
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
SwitchType=switch/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# for the slurmdbd connection, Slurm takes the munge socket from here, not from AuthInfo
AccountingStoragePass=$MUNGE/munge.socket.2
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$defmem
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
# send the job's --signal (submitit: USR2) at preemption, so it can checkpoint and requeue
SlurmctldParameters=preempt_send_user_signal
JobRequeue=1
KillWait=5
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MailProg=/bin/true
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=30
PartitionName=high Nodes=$node Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
}

gen_slurmdbd_conf() {
  cat <<EOF
# Generated by launchers/local_slurm.sh; rewritten on every start.
AuthType=auth/munge
AuthInfo=socket=$MUNGE/munge.socket.2
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=$DB_USER
StoragePass=$(cat "$ETC/db.pass")
StorageLoc=$DB_NAME
EOF
}

write_configs() {  # returns 0 if any config changed
  local changed=1
  [ -s "$ETC/db.pass" ] || { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$ETC/db.pass"; chmod 600 "$ETC/db.pass"; }
  gen_slurm_conf | write_if_changed "$ETC/slurm.conf" 644 && changed=0
  gen_slurmdbd_conf | write_if_changed "$ETC/slurmdbd.conf" 600 && changed=0
  return $changed
}

# True if the configs on disk are what this version of the script would write.
configs_current() {
  [ -f "$ETC/slurm.conf" ] && [ -f "$ETC/slurmdbd.conf" ] && [ -s "$ETC/db.pass" ] &&
    gen_slurm_conf | cmp -s - "$ETC/slurm.conf" && gen_slurmdbd_conf | cmp -s - "$ETC/slurmdbd.conf"
}

link_etc() {
  [ "${REFUSAL_LAB_SLURM_LINK_ETC:-1}" = 1 ] || return 0
  local target=/etc/slurm/slurm.conf
  if [ -L "$target" ] || [ ! -e "$target" ]; then
    mkdir -p /etc/slurm
    ln -sfn "$SLURM_CONF" "$target"
  fi
}

# ---------------------------------------------------------------- daemons

mysql_cli() { mariadb --no-defaults --protocol=socket -S "$MYSQL/mysqld.sock" -u root "$@"; }

start_munged() {
  running munged && return 0
  if [ ! -s "$MUNGE/munge.key" ]; then
    say "creating munge key"
    (umask 077; head -c 1024 /dev/urandom >"$MUNGE/munge.key")
  fi
  chmod 700 "$MUNGE"; chmod 400 "$MUNGE/munge.key"
  rm -f "$MUNGE/munge.socket.2" "$MUNGE/munge.socket.2.lock"
  say "starting munged"
  munged --force --num-threads=10 --key-file="$MUNGE/munge.key" --socket="$MUNGE/munge.socket.2" \
    --pid-file="$MUNGE/munged.pid" --log-file="$LOG/munged.log" --seed-file="$MUNGE/munged.seed" \
    >>"$LOG/munged.log" 2>&1 9>&- || { log_tail munged; die "munged failed to start"; }
  wait_for "$TIMEOUT" "munge credential round trip" munged \
    sh -c "munge -S '$MUNGE/munge.socket.2' -n | unmunge -S '$MUNGE/munge.socket.2'"
}

start_mysqld() {
  if ! running mysqld; then
    if [ ! -d "$MYSQL/data/mysql" ]; then
      say "initialising MariaDB datadir $MYSQL/data"
      rm -rf "$MYSQL/data"
      mariadb-install-db --no-defaults --user=root --datadir="$MYSQL/data" \
        --auth-root-authentication-method=socket --skip-test-db >"$LOG/mariadb-install-db.log" 2>&1 || {
        tail -n 30 "$LOG/mariadb-install-db.log" >&2
        die "mariadb-install-db failed"
      }
    fi
    say "starting MariaDB on 127.0.0.1:$DB_PORT"
    rm -f "$MYSQL/mysqld.sock"
    # setsid + nohup: detached from this shell; it writes its own PID file.
    setsid nohup mariadbd --no-defaults --user=root --datadir="$MYSQL/data" \
      --socket="$MYSQL/mysqld.sock" --pid-file="$MYSQL/mysqld.pid" --port="$DB_PORT" \
      --bind-address=127.0.0.1 --log-error="$LOG/mysqld.log" --skip-name-resolve \
      --innodb-buffer-pool-size=256M --innodb-log-file-size=64M --innodb-lock-wait-timeout=900 \
      --max-allowed-packet=64M --skip-log-bin >/dev/null 2>&1 </dev/null 9>&- &
    # The PID file appears only once it is up; wait on the socket instead of `running`.
    local deadline=$((SECONDS + TIMEOUT))
    until mysql_cli -e 'SELECT 1' >/dev/null 2>&1; do
      if [ "$SECONDS" -ge "$deadline" ]; then log_tail mysqld; die "MariaDB did not come up"; fi
      sleep 0.2
    done
  fi
  # idempotent DB/user setup (password from $ETC/db.pass, also written into slurmdbd.conf)
  local pass
  pass=$(cat "$ETC/db.pass")
  mysql_cli <<EOF || { log_tail mysqld; die "could not create the accounting database/user"; }
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pass';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
EOF
}

start_slurmdbd() {
  running slurmdbd && return 0
  say "starting slurmdbd on 127.0.0.1:$DBD_PORT"
  slurmdbd >>"$LOG/slurmdbd.log" 2>&1 9>&- || { log_tail slurmdbd; die "slurmdbd failed to start"; }
  wait_for "$TIMEOUT" "slurmdbd to answer sacctmgr" slurmdbd sacctmgr -n show cluster
}

register_accounting() {
  # idempotent: only add what is missing
  if [ -z "$(sacctmgr -n -P show cluster "$CLUSTER" format=cluster 2>/dev/null)" ]; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
  fi
  if [ -z "$(sacctmgr -n -P show account "$ACCOUNT" format=account 2>/dev/null)" ]; then
    sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" description="refusal-lab local" organization=local \
      >/dev/null || die "sacctmgr add account failed"
  fi
  if [ -z "$(sacctmgr -n -P show user root format=user 2>/dev/null)" ]; then
    sacctmgr -i add user root account="$ACCOUNT" cluster="$CLUSTER" >/dev/null || die "sacctmgr add user failed"
  fi
}

start_slurmctld() {
  running slurmctld && return 0
  say "starting slurmctld on 127.0.0.1:$CTLD_PORT"
  slurmctld >>"$LOG/slurmctld.log" 2>&1 9>&- || { log_tail slurmctld; die "slurmctld failed to start"; }
  wait_for "$TIMEOUT" "slurmctld to answer (scontrol ping)" slurmctld \
    sh -c 'scontrol ping | grep -q "is UP"'
}

start_slurmd() {
  running slurmd && return 0
  say "starting slurmd (node $(node_name), $(nproc) CPUs)"
  slurmd -N "$(node_name)" >>"$LOG/slurmd.log" 2>&1 9>&- || { log_tail slurmd; die "slurmd failed to start"; }
}

wait_node() {
  local deadline=$((SECONDS + TIMEOUT)) s
  while ! node_ready; do
    s=$(node_state || true)
    case $s in
      drain* | drng | down* | fail*)
        # e.g. after an unclean stop; ReturnToService=2 usually handles DOWN
        scontrol update nodename="$(node_name)" state=resume >/dev/null 2>&1 || true ;;
    esac
    if ! running slurmd; then log_tail slurmd; die "slurmd died"; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      sinfo -N -l >&2 || true
      scontrol show node "$(node_name)" >&2 || true
      log_tail slurmd; log_tail slurmctld
      die "node $(node_name) not idle after ${TIMEOUT}s (state: ${s:-unknown})"
    fi
    sleep 0.2
  done
  wait_for "$TIMEOUT" "sacct to answer" slurmdbd sacct_ok
}

stop_daemon() {
  local d=$1 pid i
  pid=$(daemon_pid "$d") || return 0
  say "stopping $d (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 150); do  # up to 30 s
    [ -d "/proc/$pid" ] || break
    # a zombie child of ours counts as gone
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
    sleep 0.2
  done
  if [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    say "$d (pid $pid) did not exit after 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$(pidfile_of "$d")"
}

cmd_stop() {
  local i
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do stop_daemon "${DAEMONS[$i]}"; done
  say "stopped"
}

cmd_start() {
  [ "$(id -u)" = 0 ] || die "start must run as root (SlurmUser=root, apt-get, munged)"
  if [ -d "$STATE" ] && configs_current && healthy; then
    say "already running and healthy ($STATE)"
    return 0
  fi
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 120 9 || die "another start holds $STATE/.lock"
  if configs_current && healthy; then say "already running and healthy ($STATE)"; return 0; fi

  local t0=$SECONDS
  install_packages
  mkdir -p "$ETC" "$RUN" "$LOG" "$SPOOL/ctld" "$SPOOL/d" "$MUNGE" "$MYSQL"
  chmod 755 "$STATE" "$ETC" "$RUN" "$LOG"
  if write_configs; then
    local d any=0
    for d in "${DAEMONS[@]}"; do running "$d" && any=1; done
    if [ "$any" = 1 ]; then
      say "configuration changed; restarting the daemons"
      cmd_stop
    fi
  fi
  link_etc
  start_munged
  start_mysqld
  start_slurmdbd
  register_accounting
  start_slurmctld
  start_slurmd
  wait_node
  say "cluster up in $((SECONDS - t0))s: $(sinfo -h -o '%P %a %D %t' | tr '\n' ';')"
  say "clients need: $(cmd_env)"
}

cmd_status() {
  local d pid ok=0
  for d in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$d"); then
      printf '%-10s running (pid %s)\n' "$d" "$pid"
    else
      printf '%-10s not running\n' "$d"
      ok=1
    fi
  done
  if command -v sinfo >/dev/null 2>&1 && [ -f "$SLURM_CONF" ]; then
    # clients retry for many seconds against a dead daemon: only ask the ones that run
    if running slurmctld; then
      sinfo 2>&1 || ok=1
      if node_ready; then echo "node $(node_name): $(node_state)"; else echo "node $(node_name): not ready ($(node_state || true))"; ok=1; fi
    else
      echo "sinfo: skipped (slurmctld not running)"
    fi
    if running slurmdbd && sacct_ok; then echo "sacct: ok"; else echo "sacct: not answering"; ok=1; fi
  else
    echo "slurm not installed or not configured ($SLURM_CONF missing)"
    ok=1
  fi
  if [ "$ok" = 0 ]; then echo "healthy"; else echo "NOT healthy"; fi
  return $ok
}

cmd_env() { echo "export SLURM_CONF=$SLURM_CONF"; }

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 {start|stop|status|env}" >&2; exit 2 ;;
esac
