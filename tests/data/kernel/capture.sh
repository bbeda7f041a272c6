#!/bin/sh
# Re-capture the sample outputs in this directory from a throw-away lab (run as root).
# Builds namespaces shaped like Docker's (a bridge, a container veth, a published port,
# MASQUERADE to an "uplink" netns), sends a few packets, saves what the tools print, cleans up.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
L=capl$$; C=capc$$; X=capx$$
cleanup() {
  ip netns del $L 2>/dev/null || true; ip netns del $C 2>/dev/null || true
  ip netns del $X 2>/dev/null || true
  for c in memory cpu cpuacct pids; do rmdir /sys/fs/cgroup/$c/dockerscope/capture/0123456789ab 2>/dev/null || true
    rmdir /sys/fs/cgroup/$c/dockerscope/capture 2>/dev/null || true; done
}
trap cleanup EXIT
ip netns add $L; ip netns add $C; ip netns add $X
ip -n $L link set lo up; ip -n $C link set lo up; ip -n $X link set lo up
ip -n $L link add docker0 type bridge; ip -n $L link set docker0 address 02:42:97:f1:7b:4f
ip -n $L addr add 172.17.0.1/16 dev docker0; ip -n $L link set docker0 up
ip -n $L link add vethd98d5a6 type veth peer name eth0 netns $C
ip -n $L link set vethd98d5a6 master docker0 up
ip -n $C addr add 172.17.0.2/16 dev eth0; ip -n $C link set eth0 up
ip -n $C route add default via 172.17.0.1
ip -n $L link add uplink type veth peer name eth0 netns $X
ip -n $L addr add 198.51.100.1/24 dev uplink; ip -n $L link set uplink up
ip -n $X addr add 198.51.100.2/24 dev eth0; ip -n $X link set eth0 up
ip netns exec $L sysctl -qw net.ipv4.ip_forward=1
ip netns exec $L iptables-restore <<'RULES'
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 8080 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:8080
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 8080 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
RULES
# Traffic: a published port (DNAT, from the lab host itself) and the container going out (MASQUERADE).
ip netns exec $C busybox nc -l -p 8080 -e /bin/busybox echo hello >/dev/null 2>&1 &
ncpid=$!
sleep 0.3
ip netns exec $L busybox nc -w 1 198.51.100.1 8080 </dev/null >/dev/null 2>&1 || true
ip netns exec $C busybox ping -c 2 -W 1 198.51.100.2 >/dev/null 2>&1 || true
kill $ncpid 2>/dev/null || true; wait 2>/dev/null || true
ip netns exec $L iptables-save -c | grep -v '^#' > "$here/iptables-save-c.txt"
ip netns exec $L conntrack -L -o extended > "$here/conntrack-L-extended.txt" 2>/dev/null || true
ip netns exec $L conntrack -L > "$here/conntrack-L.txt" 2>/dev/null || true
ip netns exec $L brctl show > "$here/brctl-show.txt"
# An overlay mount in a private mount namespace, and its mountinfo.
t=$(mktemp -d)
mkdir -p $t/lower/etc $t/lower/gone $t/upper $t/work $t/merged
echo base > $t/lower/etc/hostname; echo x > $t/lower/gone/f
unshare -m sh -c "mount --make-rprivate / && mount -t overlay overlay -o lowerdir=$t/lower,upperdir=$t/upper,workdir=$t/work $t/merged \
  && echo box > $t/merged/etc/hostname && rm -r $t/merged/gone && cat /proc/self/mountinfo" \
  | sed "s#$t#/var/lib/dockerscope/capture/overlay#g" > "$here/mountinfo-overlay.txt"
rm -rf $t
# /proc/<pid>/ns of a process in its own namespaces.
unshare -n -u -i sh -c 'for n in /proc/self/ns/*; do printf "%s %s\n" "${n##*/}" "$(readlink $n)"; done' > "$here/proc-ns.txt"
# cgroup v1 files of a container-like cgroup with limits.
d=dockerscope/capture/0123456789ab
for c in memory cpu cpuacct pids; do mkdir -p /sys/fs/cgroup/$c/$d; done
echo 67108864 > /sys/fs/cgroup/memory/$d/memory.limit_in_bytes
echo 512 > /sys/fs/cgroup/cpu/$d/cpu.shares; echo 50000 > /sys/fs/cgroup/cpu/$d/cpu.cfs_quota_us
echo 64 > /sys/fs/cgroup/pids/$d/pids.max
sh -c "echo \$\$ > /sys/fs/cgroup/memory/$d/cgroup.procs; echo \$\$ > /sys/fs/cgroup/cpuacct/$d/cgroup.procs; \
  echo \$\$ > /sys/fs/cgroup/pids/$d/cgroup.procs; echo \$\$ > /sys/fs/cgroup/cpu/$d/cgroup.procs; i=0; while [ \$i -lt 20000 ]; do i=\$((i+1)); done; \
  mkdir -p $here/cgroup-v1; for f in memory.usage_in_bytes memory.limit_in_bytes memory.oom_control; do cat /sys/fs/cgroup/memory/$d/\$f > $here/cgroup-v1/\$f; done; \
  for f in cpu.shares cpu.cfs_quota_us cpu.cfs_period_us; do cat /sys/fs/cgroup/cpu/$d/\$f > $here/cgroup-v1/\$f; done; \
  cat /sys/fs/cgroup/cpuacct/$d/cpuacct.usage > $here/cgroup-v1/cpuacct.usage; \
  for f in pids.current pids.max; do cat /sys/fs/cgroup/pids/$d/\$f > $here/cgroup-v1/\$f; done"
echo captured into "$here"
