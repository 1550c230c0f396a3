# The cluster tier, phase 2 (sourced by allinone.sh once its node is installed): the cluster of one grows
# to three. Two more system containers boot from the same root, each in its own network namespace on the
# same bridges (10.20.0.12 and .13, data 10.30.0.12 and .13); each joins with a code the first node issued
# (an expired code, a wrong fingerprint and a wrong code are refused first, five wrong tries lock the code
# even for the right one, and the refused join is retried with a new code); the first
# node's wizard shows each joined node's hardware and assigns its roles (the grown configuration it writes
# must be the three-node answer file's); the first node's coordinator (`stackboxd cluster install`) runs the three-node plan across the nodes' agents, is
# killed with -9 in the middle while node 3 loses power, and is run again from the wizard ("Grow the
# cluster", followed per node to the end) once node 3 is back (nothing is done twice); then every node must be a synced
# Galera member of three, RabbitMQ must run three nodes with OpenStack's quorum queues on all three, every
# API must answer at the API address from the client namespace, the admin must sign in to the dashboard
# from there, and the smoke test boots a VM. The cluster CA is rotated (trust, sign, retire). Then node 1
# (the API address's holder) is lost: the address moves, every API answers and a VM boots on a survivor.
# Then all power is lost and comes back: the cluster recovers without a command and boots a VM again, and
# the first node's wizard shows the status with how each node's MariaDB started.
# Last, node 3 is removed: `stackboxd cluster remove` refuses while it hosts a server and for the
# coordinator itself, then the wizard removes it: Galera and RabbitMQ shrink to two and the remaining two boot a VM.
#
# Uses allinone.sh's variables and functions (check, inside, client_get, api, $work, $sw, $cl, $leader).

declare -A root ns pid init
for n in node2 node3; do
  i=${n#node}
  root[$n]=$work/root-$n ns[$n]=sbx-$n-$$
  rm -rf "${root[$n]}" && mkdir -p "${root[$n]}"
  tar xf "$rootfs_tar" -C "${root[$n]}"
  command install -m 0755 "$stackboxd" "${root[$n]}/usr/local/sbin/stackboxd"
  command install -m 0755 "$stackboxd" "${root[$n]}/usr/bin/stackboxd"
  printf '[Match]\nName=eth0\n[Network]\nAddress=10.20.0.1%s/24\n' "$i" > "${root[$n]}/etc/systemd/network/10-eth0.network"
  printf '[Match]\nName=eth1\n[Network]\nAddress=10.30.0.1%s/24\n' "$i" > "${root[$n]}/etc/systemd/network/10-eth1.network"
  echo STACKBOX_PROFILE=lab > "${root[$n]}/etc/default/stackbox"
  echo "$n" > "${root[$n]}/etc/hostname" # the image names every machine stackbox; each node has its own name
  # The rack's DNS, as an operator would have it: every node's name resolves before the join.
  printf '10.20.0.11 stackbox\n10.20.0.12 node2\n10.20.0.13 node3\n' >> "${root[$n]}/etc/hosts"
  ip netns add "${ns[$n]}"
  ip -n "$sw" link add "$n-m" type veth peer name eth0 netns "${ns[$n]}"
  ip -n "$sw" link add "$n-d" type veth peer name eth1 netns "${ns[$n]}"
  ip -n "$sw" link set "$n-m" master br-mgmt up
  ip -n "$sw" link set "$n-d" master br-data up
done
grow_cleanup() { # every container of this run (node 1's too: after a reboot it is no child of this shell)
  if [ -n "${KEEP:-}" ]; then echo "cluster: KEEP set, containers left running"; return; fi
  local m p
  for m in stackbox node2 node3; do
    for p in $(pgrep -f "systemd-nspawn .*-D $work/.*--machine=$m" || true); do kill "$p" 2>/dev/null || true; done
  done
  # A container whose services hang in their shutdown is killed after 20 s, with its init.
  for _ in $(seq 20); do pgrep -f "systemd-nspawn .*-D $work/" > /dev/null || break; sleep 1; done
  for p in $(pgrep -f "systemd-nspawn .*-D $work/" || true); do pkill -9 -P "$p" || true; kill -9 "$p" 2>/dev/null || true; done
  for n in node2 node3; do ip netns del "${ns[$n]}" 2>/dev/null || true; done
  nspawn_pid=
}
trap 'grow_cleanup; cleanup' EXIT

boot_peer() { # boot_peer NODE: boots a joining node's container (again) and waits for its first boot
  local n=$1
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn --register=no --keep-unit -q -D "${root[$n]}" -b --machine="$n" \
    --network-namespace-path="/run/netns/${ns[$n]}" --bind=/dev/net/tun --property=DeviceAllow='/dev/net/tun rwm' \
    --capability=all >> "$work/console-$n.log" 2>&1 &
  pid[$n]=$!
  init[$n]=
  for _ in $(seq 900); do
    if [ -e "${root[$n]}/var/lib/stackbox/firstboot.done" ]; then
      init[$n]=$(container_init "${pid[$n]}")
      [ -n "${init[$n]}" ] && break
    fi
    kill -0 "${pid[$n]}" 2>/dev/null || break
    sleep 0.2
  done
  for _ in $(seq 300); do
    case $(on "$n" systemctl is-system-running 2>/dev/null || true) in running|degraded) break ;; esac
    sleep 0.2
  done
}
gone() { for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done; } # gone PID: waits until it ended
on() { # on NODE CMD...: runs CMD inside node2 or node3 (node1 is `inside`)
  local n=$1; shift
  nsenter -t "${init[$n]}" -a -- env -i PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
}
# Both at once, each in a subshell (wait for those two only: node 1's container is a child of this shell).
# A code that expires in a minute, issued before the nodes boot: node 2 tries it once they are up.
inside stackboxd cluster code --expires 1 > "$work/code-expiring.txt"
expiring_at=$SECONDS
(umask 077; sed -n 's/^join code: *//p' "$work/code-expiring.txt" > "${root[node2]}/root/code")
boot_peer node2 & b2=$!
boot_peer node3 & b3=$!
wait "$b2" "$b3"
# (boot_peer ran in subshells: find the containers' inits again here.)
for n in node2 node3; do
  pid[$n]=$(pgrep -f "systemd-nspawn .*--machine=$n" | head -1)
  init[$n]=$(container_init "${pid[$n]}")
  check "$n booted and ran its first boot" test -n "${init[$n]}"
done

# Join codes: printed on node 1's console only.
code_for() { # code_for NODE: a fresh code from node 1, into NODE's root as a 0600 file; prints the fingerprint
  inside stackboxd cluster code > "$work/code.txt"
  (umask 077; sed -n 's/^join code: *//p' "$work/code.txt" > "${root[$1]}/root/code")
  sed -n 's/^fingerprint: *//p' "$work/code.txt"
}
join() { # join NODE FINGERPRINT: NODE joins node 1
  on "$1" stackboxd cluster join 10.20.0.11 --code-file /root/code --fingerprint "$2"
}
fp=$(sed -n 's/^fingerprint: *//p' "$work/code-expiring.txt")
while [ $((SECONDS - expiring_at)) -lt 62 ]; do sleep 1; done
join node2 "$fp" > "$work/join-expired.log" 2>&1 && expired_rc=0 || expired_rc=$?
check "an expired code is refused" sh -c "[ $expired_rc -ne 0 ] && grep -q 'expired' '$work/join-expired.log'"
fp=$(code_for node2)
case $fp in SHA256:00*) wrong_fp=SHA256:11${fp#SHA256:00} ;; *) wrong_fp=SHA256:00${fp#SHA256:??} ;; esac
join node2 "$wrong_fp" > "$work/join-wrong-fp.log" 2>&1 && wrong_fp_rc=0 || wrong_fp_rc=$?
check "a wrong fingerprint is refused before anything is sent" \
  sh -c "[ $wrong_fp_rc -ne 0 ] && grep -q 'nothing was sent' '$work/join-wrong-fp.log'"
(umask 077; echo "AAAA-BBBB-CCCC" > "${root[node2]}/root/code")
join node2 "$fp" > "$work/join-wrong-code.log" 2>&1 && wrong_code_rc=0 || wrong_code_rc=$?
check "a wrong code is refused with the tries left" \
  sh -c "[ $wrong_code_rc -ne 0 ] && grep -qi 'tries left\|wrong' '$work/join-wrong-code.log'"
# Four more wrong tries lock the code: then even the right one is refused until a new code is issued.
for _ in 1 2 3 4; do join node2 "$fp" > "$work/join-wrong-code-more.log" 2>&1 || true; done
sed -n 's/^join code: *//p' "$work/code.txt" | (umask 077; cat > "${root[node2]}/root/code")
join node2 "$fp" > "$work/join-locked.log" 2>&1 && locked_rc=0 || locked_rc=$?
check "after five wrong tries the code is locked, even the right one refused" \
  sh -c "[ $locked_rc -ne 0 ] && grep -q 'locked' '$work/join-locked.log'"
check "a refused join leaves nothing behind" test ! -e "${root[node2]}/var/lib/stackbox/cluster/node"
join_start=$SECONDS
fp=$(code_for node2)
join node2 "$fp" > "$work/join-node2.log" 2>&1 || true
check "the refused node joins when it retries with the right code" test -s "${root[node2]}/var/lib/stackbox/cluster/node/node.crt"
fp=$(code_for node3)
node3_join=$(date +%s%N)
join node3 "$fp" > "$work/join-node3.log" 2>&1 || true
echo "figure: node 3's join (code typed to node certificate, pre-join checks included) took $(( ($(date +%s%N) - node3_join) / 1000000 )) ms"
check "node3 joins" test -s "${root[node3]}/var/lib/stackbox/cluster/node/node.crt"

# The three-node configuration: node 1 as it was installed, nodes 2 and 3 with every role but the console
# proxy (as examples/three-node.toml assigns them).
sed -e '/^\[overcommit\]/,$d' "$here/examples/allinone.toml" > "$work/three.toml"
cat >> "$work/three.toml" <<'EOF'
[[nodes]]
name = "node2"
address = "10.20.0.12"
data_address = "10.30.0.12"
roles = ["compute", "management", "message-bus", "storage-metadata"]

[[nodes]]
name = "node3"
address = "10.20.0.13"
data_address = "10.30.0.13"
roles = ["compute", "management", "message-bus", "storage-metadata"]

[overcommit]
cpu = 4.0
ram = 1.0
disk = 1.0
EOF
# Node 1's wizard shows each joined node's hardware and assigns it the answer file's roles; the grown
# configuration it writes is what the coordinator runs.
wizard grow "$work/three.toml"
grow() { inside stackboxd cluster install --config /var/lib/stackbox/cluster/config.toml; }
# Killed in the middle (while node 2 installs its packages), then run again to the end.
grow > "$work/grow-killed.log" 2>&1 &
coordinator=$!
for _ in $(seq 6000); do
  grep -q "node2/packages: install" "$work/grow-killed.log" && break
  kill -0 "$coordinator" 2>/dev/null || break # it stopped (failed) before: the check below says so
  sleep 0.2
done
pkill -9 -f "stackboxd cluster install --config /var/lib/stackbox/cluster/config.toml" || true
wait "$coordinator" 2>/dev/null || true
check "the coordinator was killed in the middle of growing" grep -q "node2/packages: install" "$work/grow-killed.log"
# Node 3 loses power at the same moment (its init is killed mid-step) and boots again before the rerun.
kill -9 "${init[node3]}"; gone "${pid[node3]}"
boot_peer node3
check "node3 booted again after losing power in the middle of growing" test -n "${init[node3]}"
# The rerun is the wizard's "Grow the cluster" (it writes grow.log as the command prints a run).
wizard grow-run "$work/grow.log"
echo "figure: join and grow from one node to three took $((SECONDS - join_start)) s"
tail -3 "$work/grow.log"
check "the rerun (from the wizard) completes the three-node plan" grep -q "^cluster install complete" "$work/grow.log"
done_twice() { # done_twice: no step finished in the killed run acts again in the rerun, but to repair
  # on node 3, which lost power meanwhile, a unit found stopped after its boot (named, with the unit's journal).
  # A repair on a node that kept its power is a defect: a peer's loss must not stop a node's services.
  local twice id line node unit bad=""
  twice=$(comm -12 <(sed -n 's/^[a-z0-9]* *\([^ ]*\): done in .*/\1/p' "$work/grow-killed.log" | sort -u) \
                   <(sed -n 's/^[a-z0-9]* *\([^ ]*\): done in .*/\1/p' "$work/grow.log" | sort -u))
  for id in $twice; do
    line=$(grep -m1 -F " $id: " "$work/grow.log")
    node=${id%%/*}
    case $line in
      *"(repair: not running: "*) unit=${line##*not running: } unit=${unit%)} ;;
      *) unit="" ;;
    esac
    if [ -n "$unit" ] && [ "$node" = node3 ]; then
      echo "repaired in the rerun: $line"
    else
      echo "done twice: $line"; bad=1
    fi
    for u in ${unit//,/ }; do
      if [ "$node" = stackbox ]; then inside journalctl -u "$u" -n 15 --no-pager; else on "$node" journalctl -u "$u" -n 15 --no-pager; fi
    done
  done
  [ -z "$bad" ]
}
check "nothing the killed coordinator finished is done again (but to repair node 3 after its power loss)" done_twice
# Each node's memory with three nodes (figures for bench/cluster.sh).
node_memory | sed 's/node memory after the install/node 1 memory with three nodes/'
for n in node2 node3; do (leader=${init[$n]}; node_memory | sed "s/node memory after the install/$n memory with three nodes/"); done

wsrep() { # wsrep NODE: the node's Galera status
  local run=(on "$1"); [ "$1" = node1 ] && run=(inside)
  "${run[@]}" mysql --protocol=socket -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_local_state_comment', 'wsrep_cluster_status')" 2>&1
}
synced3() { local s; s=$(wsrep "$1"); grep -Eq "wsrep_cluster_size[[:space:]]+3" <<<"$s" && grep -q Synced <<<"$s" && grep -q Primary <<<"$s"; }
for n in node1 node2 node3; do check "$n is a synced Galera member of three" synced3 "$n"; done
on node2 stackboxd cluster status > "$work/status.txt" 2>&1 && status_rc=0 || status_rc=$?
on node2 stackboxd cluster status --format json > "$work/status.json" 2>&1 || true
cat "$work/status.txt"
check "cluster status (from node2) says healthy" sh -c "[ $status_rc -eq 0 ] && grep -q '^healthy' '$work/status.txt'"
check "cluster status names the API address's holder" grep -q "API address $api held by stackbox" "$work/status.txt"
check "cluster status lists the quorum queues each node leads, with three replicas" \
  sh -c "! grep -q 'listing the queues' '$work/status.txt' && grep -Eq '[1-9][0-9]* quorum queues led here, each with at least 3 replicas' '$work/status.txt'"
inside rabbitmqctl --quiet cluster_status > "$work/rabbit-status.txt" 2>&1 || true
check "RabbitMQ runs three nodes" sh -c "grep -q 'rabbit@node2' '$work/rabbit-status.txt' && grep -q 'rabbit@node3' '$work/rabbit-status.txt'"
# The conductor queue's raft members (listing every queue with its members took a minute here).
inside rabbitmq-queues --quiet quorum_status conductor > "$work/queues3.txt" 2>&1 && quorum_rc=0 || quorum_rc=$?
cat "$work/queues3.txt"
check "nova's conductor queue is a quorum queue on all three nodes" \
  sh -c "[ $quorum_rc -eq 0 ] && grep -q 'rabbit@stackbox' '$work/queues3.txt' && grep -q 'rabbit@node2' '$work/queues3.txt' && grep -q 'rabbit@node3' '$work/queues3.txt'"
# TLS inside the cluster: from node 2 (a member), node 1's MariaDB refuses a plain connection with the
# right password and takes one over TLS verified against the cluster CA; Galera replicates over TLS and
# the joiners' state transfers were encrypted; nothing listens on AMQP's plain port, the bus's TLS port
# presents a certificate of the cluster CA for node 1's address, and every OpenStack connection to the
# bus is TLS. The password travels in the environment only.
db_as_stackbox() { # db_as_stackbox MYSQL-ARGS...: mysql on node 2 to node 1 as stackbox, the password from node 1's secrets
  local pw; pw=$(sed -n 's/^db-stackbox = "\(.*\)"$/\1/p' "$work/root/etc/stackbox/secrets.toml")
  on node2 env MYSQL_PWD="$pw" mysql -h 10.20.0.11 -u stackbox -N -B "$@"
}
db_as_stackbox --skip-ssl -e 'SELECT 1' > "$work/db-plain.txt" 2>&1 && plain_rc=0 || plain_rc=$?
cat "$work/db-plain.txt"
check "MariaDB refuses a plain connection from a member" \
  sh -c "[ $plain_rc -ne 0 ] && grep -Eq 'insecure transport|Access denied' '$work/db-plain.txt'"
db_as_stackbox --ssl --ssl-ca=/etc/stackbox/ca.pem --ssl-verify-server-cert \
  -e "SHOW SESSION STATUS LIKE 'Ssl_version'" > "$work/db-tls.txt" 2>&1 || true
cat "$work/db-tls.txt"
check "MariaDB takes a TLS connection verified against the cluster CA" grep -Eq 'Ssl_version[[:space:]]+TLSv1\.[23]' "$work/db-tls.txt"
for n in node1 node2 node3; do
  run=(on "$n"); [ "$n" = node1 ] && run=(inside)
  "${run[@]}" mysql --protocol=socket -N -B -e "SHOW GLOBAL VARIABLES LIKE 'wsrep_provider_options'" > "$work/wsrep-options-$n.txt" 2>&1 || true
  check "$n replicates over TLS (Galera's socket.ssl)" grep -Eq 'socket\.ssl = (YES|yes|1|true)' "$work/wsrep-options-$n.txt"
done
for n in node2 node3; do
  on "$n" sh -c 'journalctl -u mariadb --no-pager; cat /var/log/mysql/error.log' > "$work/mariadb-log-$n.txt" 2>/dev/null || true
  check "$n's state transfer was encrypted with the cluster's certificates" \
    grep -q 'OpenSSL-Encrypted\|openssl based encryption with socat' "$work/mariadb-log-$n.txt"
done
inside ss -Htln > "$work/listening-bus.txt" 2>&1 || true
check "nothing listens on AMQP's plain port 5672" sh -c "! grep -Eq ':5672[[:space:]]' '$work/listening-bus.txt'"
on node2 openssl s_client -connect 10.20.0.11:5671 -CAfile /etc/stackbox/ca.pem -verify_return_error \
  -verify_ip 10.20.0.11 < /dev/null > "$work/bus-tls.txt" 2>&1 || true
check "RabbitMQ's TLS port presents a certificate of the cluster CA for node 1's address" \
  grep -q 'Verify return code: 0 (ok)' "$work/bus-tls.txt"
# (By the sockets: `rabbitmqctl list_connections ssl` asks every connection's process and, in this run,
# one of them never answered.)
inside ss -Htn state established '( sport = :5671 or sport = :5672 )' > "$work/bus-connections.txt" 2>&1 || true
check "OpenStack's connections to the bus are on its TLS port, none on the plain one" \
  sh -c "grep -Eq ':5671[[:space:]]' '$work/bus-connections.txt' && ! grep -Eq ':5672[[:space:]]' '$work/bus-connections.txt'"
# Rotating the cluster CA (`stackboxd cluster rotate-ca`), with three nodes, from node 1 (the CA's
# holder): out of order and on a node without the CA's key it is refused; then trust, sign and retire.
# After each stage every node is a synced Galera member; after sign every daemon a client meets (each
# node's MariaDB and RabbitMQ, the API) presents a certificate of the new CA; after retire every ca.pem
# holds the new CA alone and every agent refuses node 1's certificate of the old CA while it takes its
# new one. Everything after this (the dashboard, the bundle, the diagnoses, the losses of nodes and of
# power, the removal) runs on the rotated CA.
agent_with() { # agent_with DIR ADDRESS: the health of the agent at ADDRESS, asked with the credentials in DIR from node3's namespace
  ip netns exec "${ns[node3]}" python3 -c "
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1] + '/ca.pem')
ctx.load_cert_chain(sys.argv[1] + '/node.crt', sys.argv[1] + '/node.key')
urllib.request.urlopen('https://' + sys.argv[2] + ':8444/agent/v1/health', context=ctx, timeout=10)
" "$1" "$2"
}
refused_with() { ! agent_with "$@" 2>"$work/agent-refused.txt"; }
presents_new() { # presents_new NODE-ADDRESS PORT [STARTTLS]: the daemon's certificate verifies against the new CA alone, from node 2
  on node2 openssl s_client -connect "$1:$2" ${3:+-starttls "$3"} -CAfile /root/ca-new.pem -verify_return_error \
    -verify_ip "$1" < /dev/null 2>&1 | grep -q 'Verify return code: 0 (ok)'
}
not_the_old_ca() { [ "$(cat "$work/ca-new.pem")" != "$(sed '/-----END CERTIFICATE-----/q' "$work/ca-old.pem")" ]; }
certs_in() { # certs_in NODE N: the node's /etc/stackbox/ca.pem holds N certificates
  local run=(on "$1"); [ "$1" = node1 ] && run=(inside)
  [ "$("${run[@]}" grep -c 'BEGIN CERTIFICATE' /etc/stackbox/ca.pem)" -eq "$2" ]
}
creds=$work/root/var/lib/stackbox/cluster/node
mkdir -m 700 "$work/node1-old"
cp "$creds/node.crt" "$creds/node.key" "$creds/ca.pem" "$work/node1-old/"
cp "$work/root/etc/stackbox/ca.pem" "$work/ca-old.pem"
check "before the rotation, node 1's credentials of the old CA reach node 2's agent" agent_with "$work/node1-old" 10.20.0.12
inside stackboxd cluster rotate-ca sign > "$work/rotate-early.txt" 2>&1 && early_rc=0 || early_rc=$?
cat "$work/rotate-early.txt"
check "rotate-ca sign before trust is refused, naming the stage to run first" \
  sh -c "[ $early_rc -eq 1 ] && grep -q 'rotate-ca trust. first' '$work/rotate-early.txt'"
on node2 stackboxd cluster rotate-ca trust > "$work/rotate-node2.txt" 2>&1 && n2_rc=0 || n2_rc=$?
cat "$work/rotate-node2.txt"
check "rotate-ca on a node without the CA's key is refused" \
  sh -c "[ $n2_rc -eq 1 ] && grep -q 'does not hold the cluster CA' '$work/rotate-node2.txt'"
rotate_start=$SECONDS
for stage in trust sign retire; do
  stage_start=$SECONDS
  inside stackboxd cluster rotate-ca "$stage" > "$work/rotate-$stage.txt" 2>&1 && rc=0 || rc=$?
  cat "$work/rotate-$stage.txt"
  echo "figure: rotate-ca $stage took $((SECONDS - stage_start)) s"
  check "rotate-ca $stage completes" [ "$rc" -eq 0 ]
  for n in node1 node2 node3; do check "after rotate-ca $stage, $n is a synced Galera member of three" synced3 "$n"; done
  case $stage in
    trust)
      for n in node1 node2 node3; do check "after trust, $n's ca.pem holds the old and the new CA" certs_in "$n" 2; done
      check "after trust, node 1's credentials of the old CA still reach node 2's agent" agent_with "$work/node1-old" 10.20.0.12
      ;;
    sign)
      # The new CA is the first certificate of node 1's ca.pem now.
      sed '/-----END CERTIFICATE-----/q' "$work/root/etc/stackbox/ca.pem" > "$work/ca-new.pem"
      check "after sign, the new CA is not the old one" not_the_old_ca
      on node2 sh -c 'cat > /root/ca-new.pem' < "$work/ca-new.pem"
      for a in 10.20.0.11 10.20.0.12 10.20.0.13; do
        check "after sign, MariaDB on $a presents a certificate of the new CA" presents_new "$a" 3306 mysql
        check "after sign, RabbitMQ on $a presents a certificate of the new CA" presents_new "$a" 5671
      done
      check "after sign, the API answers a laptop that trusts the new CA alone" \
        client_get "https://$api:5000/v3" "$work/ca-new.pem"
      ;;
    retire)
      for n in node1 node2 node3; do check "after retire, $n's ca.pem holds the new CA alone" certs_in "$n" 1; done
      # (The caller trusts the new CA: the handshake fails on the agent's refusal, not on the caller's.)
      mkdir -m 700 "$work/node1-old-cert"
      cp "$work/node1-old/node.crt" "$work/node1-old/node.key" "$work/node1-old-cert/"
      cp "$work/ca-new.pem" "$work/node1-old-cert/ca.pem"
      check "after retire, node 1's certificate of the old CA is refused by node 2's agent" refused_with "$work/node1-old-cert" 10.20.0.12
      for a in 10.20.0.12 10.20.0.13; do
        check "after retire, node 1's new credentials reach the agent at $a" agent_with "$creds" "$a"
      done
      inside stackboxd cluster rotate-ca status > "$work/rotate-status.txt" 2>&1 || true
      cat "$work/rotate-status.txt"
      check "rotate-ca status: no rotation under way, one CA that signs" \
        sh -c "grep -q '^no rotation under way' '$work/rotate-status.txt' && [ \$(grep -c '^signs: SHA256:' '$work/rotate-status.txt') -eq 1 ] && ! grep -q '^trusted:' '$work/rotate-status.txt'"
      ;;
  esac
done
echo "figure: rotating the cluster CA (trust, sign, retire) on three nodes took $((SECONDS - rotate_start)) s"
for endpoint in 5000/v3 9292/ 8778/ 8774/v2.1 9696/ 443/dashboard/; do
  check "three nodes: https://$api:$endpoint answers from the client namespace" \
    client_get "https://$api:$endpoint" "$work/root/etc/stackbox/ca.pem"
done
# The firewall with three members: node 3 (a member) reaches node 1's cluster ports too, which grew to let
# it in (the database's and the bus's, the backends, memcached, noVNC, the VMs' consoles); the laptop
# still reaches only node 2's public ports.
inside ss -Htln > "$work/listening-node1.txt" 2>&1 || true
scan member "${ns[node3]}" 10.20.0.11 "$work/listening-node1.txt" "$public,$members_only,4444,4568,5900-6923" \
  "5000,3306,4567,5671,6080,11211,15000,18080,25672"
on node2 ss -Htln > "$work/listening-node2.txt" 2>&1 || true
scan laptop-node2 "$cl" 10.20.0.12 "$work/listening-node2.txt" "$public" "5000,3306,4567,5671,15000,18080,25672"
# The dashboard as the operator's browser uses it, from the laptop's namespace: TLS 1.3 only, verified
# with the cluster's CA; its login page; the admin signs in with the wizard's openrc (Django's form and
# CSRF token), sees an admin page and signs out. Three management nodes serve it behind haproxy, so the
# requests of one sign-in land on different nodes: the session lives in their shared memcached.
api dashboard dashboard "https://$api/dashboard/"
# The support bundle of the three-node cluster, made on node 1: every node's part (asked of its agent),
# none with a generated secret.
inside stackboxd bundle --out /root/bundle-three.tar.gz > "$work/bundle-three.log" 2>&1 || true
cat "$work/bundle-three.log"
mkdir -p "$work/bundle-three"
tar -xzf "$work/root/root/bundle-three.tar.gz" -C "$work/bundle-three" >> "$work/bundle-three.log" 2>&1 || true
check "the cluster's bundle holds every node's part" \
  sh -c "cd '$work/bundle-three/stackbox-bundle/nodes' && test -s stackbox/etc/nova/nova.conf && test -s node2/status/galera.txt && test -s node3/etc/nova/nova.conf"
check "the cluster's bundle holds no generated secret" no_secret_in "$work/bundle-three"
# The admin desk: who holds keystone's public port on every node (haproxy), and memcached restarted on
# every node in turn, each active again before the next.
inside stackboxd cluster port 5000 > "$work/desk-port.txt" 2>&1 && port_rc=0 || port_rc=$?
cat "$work/desk-port.txt"
check "cluster port 5000 names haproxy on each of the three nodes" \
  sh -c "[ $port_rc -eq 0 ] && for n in stackbox node2 node3; do grep -q \"^\$n: tcp .*:5000 held by haproxy (pid [0-9]*)\" '$work/desk-port.txt' || exit 1; done"
inside stackboxd cluster restart memcached > "$work/desk-restart.txt" 2>&1 && restart_rc=0 || restart_rc=$?
cat "$work/desk-restart.txt"
check "cluster restart memcached restarts it on every node in turn, each active again" \
  sh -c "[ $restart_rc -eq 0 ] && [ \$(grep -c 'memcached restarted, active again' '$work/desk-restart.txt') -eq 3 ]"
# The troubleshooting matrix, live. First as the cluster is (printed: a figure, not a verdict), then with
# four faults induced at once: node 3's neutron agent stopped, MariaDB stopped on node 2, keystone's
# internal port on node 2 taken by another process, and a small loop file system on node 3 filled. Each
# must be diagnosed on its node with its cause (and the desk's action where one repairs it); the actions
# then repair them and the findings are gone.
diagnosed() { python3 "$here/tests/cluster/diagnosed.py" "$@"; }
diagnose_json() { # diagnose_json NAME: `stackboxd diagnose --format json` on node 1 into $work/diagnose-NAME.json; prints its exit status
  local rc=0
  inside stackboxd diagnose --format json > "$work/diagnose-$1.json" 2> "$work/diagnose-$1.err" || rc=$?
  echo "$rc"
}
diag_start=$(date +%s%N)
inside stackboxd diagnose > "$work/diagnose-baseline.txt" 2>&1 || true
echo "figure: stackboxd diagnose across three nodes took $(( ($(date +%s%N) - diag_start) / 1000000 )) ms"
cat "$work/diagnose-baseline.txt"
on node3 systemctl stop neutron-linuxbridge-agent
on node2 systemctl stop mariadb
on node2 systemctl stop keystone
on node2 systemd-run --unit=stackbox-squatter python3 -c \
  'import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 15000)); s.listen(); time.sleep(3600)'
fill_img=$work/fill.img
rm -f "$fill_img" && truncate -s 16M "$fill_img" && mkfs.ext4 -q -F "$fill_img"
fill_dev=$(losetup --find --show "$fill_img")
# The loop device's node inside node 3 (its /dev is its own), mounted in its mount namespace, then filled.
nsenter -t "${init[node3]}" -m -- mknod /dev/stackbox-fill b $(lsblk -dno MAJ:MIN "$fill_dev" | tr ':' ' ')
nsenter -t "${init[node3]}" -m -- sh -c 'mkdir -p /srv/fill && mount /dev/stackbox-fill /srv/fill && (dd if=/dev/zero of=/srv/fill/big bs=1M 2>/dev/null || true)'
for _ in $(seq 20); do on node2 ss -Hltn 2>/dev/null | grep -q ':15000 ' && break; sleep 0.5; done
faults_rc=$(diagnose_json faults)
inside stackboxd diagnose > "$work/diagnose-faults.txt" 2>&1 || true
cat "$work/diagnose-faults.txt"
f=$work/diagnose-faults.json
check "diagnose exits 1 when it finds something" test "$faults_rc" -eq 1
check "diagnose: node3's stopped neutron agent is down because it was stopped, with the restart action" \
  diagnosed "$f" node3 agent.down stopped neutron-linuxbridge-agent neutron-linuxbridge-agent
check "diagnose: Galera stopped on node2 (cause stopped, restart offered), a member missing seen from node 1" \
  sh -c "python3 '$here/tests/cluster/diagnosed.py' '$f' node2 galera.unhealthy stopped mariadb mariadb && python3 '$here/tests/cluster/diagnosed.py' '$f' stackbox galera.unhealthy member-missing mariadb"
check "diagnose: keystone's port on node2 is held by another process (named with its pid)" \
  sh -c "python3 '$here/tests/cluster/diagnosed.py' '$f' node2 port.taken other-process 'port 15000' keystone && grep -q 'port 15000 is held by python3 (pid [0-9]*), not by keystone' '$work/diagnose-faults.txt'"
check "diagnose: node3's full loop file system" diagnosed "$f" node3 disk.full filling /srv/fill
check "diagnose's text gives each finding's evidence, cause, remedy and action" \
  sh -c "grep -q '^node3: agent.down neutron-linuxbridge-agent' '$work/diagnose-faults.txt' && grep -q '  action: stackboxd cluster restart neutron-linuxbridge-agent --node node3' '$work/diagnose-faults.txt' && grep -q '    probe: /srv/fill (ext4 on /dev/stackbox-fill): 100% used' '$work/diagnose-faults.txt'"
# The repairs: the desk's actions the findings offered, the squatter stopped first, the file system gone.
inside stackboxd cluster restart neutron-linuxbridge-agent --node node3 > "$work/repair.log" 2>&1 || true
inside stackboxd cluster restart mariadb --node node2 >> "$work/repair.log" 2>&1 || true
on node2 systemctl stop stackbox-squatter || true
inside stackboxd cluster restart keystone --node node2 >> "$work/repair.log" 2>&1 || true
nsenter -t "${init[node3]}" -m -- sh -c 'umount /srv/fill; rm -f /dev/stackbox-fill' || true
losetup -d "$fill_dev" || true
rm -f "$fill_img"
cat "$work/repair.log"
for _ in $(seq 60); do synced3 node2 && break; sleep 2; done
diagnose_json repaired > /dev/null
f=$work/diagnose-repaired.json
check "after the desk's repairs, none of the four findings is left" \
  sh -c "for a in 'node3 agent.down neutron-linuxbridge-agent' 'node2 galera.unhealthy mariadb' 'stackbox galera.unhealthy mariadb' 'node2 port.taken 15000' 'node3 disk.full /srv/fill'; do set -- \$a; python3 '$here/tests/cluster/diagnosed.py' --absent '$f' \"\$1\" \"\$2\" \"\$3\" || exit 1; done"
smoke_on() { # smoke_on NODE ROOT LOG [HOST [--keep]]: the smoke test from NODE (its root ROOT) with the wizard's openrc, its VM on HOST
  command install -m 0600 "$work/admin-openrc.sh" "$2/root/admin-openrc.sh"
  local run=(on "$1"); [ "$1" = node1 ] && run=(inside)
  "${run[@]}" sh -c '. /root/admin-openrc.sh && OS_CACERT=/etc/stackbox/ca.pem stackboxd smoke ${1:+--host "$1"} $2' sh "${4:-}" "${5:-}" > "$3" 2>&1 || true
  grep -q "STACKBOX-SMOKE-OK" "$3"
}
# A VM on each compute node (the first node's was booted by its own install).
check "three nodes: the smoke test boots a VM on node2" smoke_on node2 "${root[node2]}" "$work/smoke-node2.log" node2
check "three nodes: the smoke test boots a VM on node3" smoke_on node3 "${root[node3]}" "$work/smoke-node3.log" node3 --keep
# A hung VM (paused at the hypervisor behind nova's back) recovered by the desk: by nova's hard reboot;
# then, with node 3's nova-compute down (nova cannot act), at the hypervisor, nova's state reset after.
os_node3() { on node3 sh -c '. /root/admin-openrc.sh && OS_CACERT=/etc/stackbox/ca.pem openstack "$@"' sh "$@"; }
command install -m 0600 "$work/admin-openrc.sh" "$work/root/root/admin-openrc.sh"
recover() { inside sh -c '. /root/admin-openrc.sh && OS_CACERT=/etc/stackbox/ca.pem stackboxd cluster recover "$@"' sh "$@"; }
kept=$(os_node3 server list --name stackbox-smoke -f value -c ID 2>/dev/null | head -1)
domain=$(os_node3 server show "$kept" -f value -c OS-EXT-SRV-ATTR:instance_name 2>/dev/null || true)
echo "kept server $kept, domain $domain"
on node3 virsh suspend "$domain" || true
recover "$kept" > "$work/recover-nova.log" 2>&1 && recover_rc=0 || recover_rc=$?
cat "$work/recover-nova.log"
check "a paused VM is recovered by nova's hard reboot through the desk, running again" \
  sh -c "[ $recover_rc -eq 0 ] && grep -q 'the hypervisor says paused' '$work/recover-nova.log' && grep -q \"recovered by nova's hard reboot\" '$work/recover-nova.log' && [ \"\$(nsenter -t ${init[node3]} -a -- virsh domstate '$domain')\" = running ]"
on node3 systemctl stop nova-compute
on node3 virsh suspend "$domain" || true
recover "$kept" --wait 30 > "$work/recover-hypervisor.log" 2>&1 && recover_rc=0 || recover_rc=$?
cat "$work/recover-hypervisor.log"
on node3 systemctl start nova-compute
check "with nova-compute down, the desk recovers the paused VM at the hypervisor and resets nova's state" \
  sh -c "[ $recover_rc -eq 0 ] && grep -q 'restarting it at the hypervisor' '$work/recover-hypervisor.log' && grep -q 'virsh destroy, virsh start: now running' '$work/recover-hypervisor.log' && grep -q 'recovered at the hypervisor' '$work/recover-hypervisor.log'"
# A VM in ERROR: the kept server's disk image made unreadable, then a hard reboot that fails on it. The
# diagnosis names the server on node3, the permission error (nova's fault, the QEMU log). The next smoke
# run deletes the server.
on node3 chmod 000 "/var/lib/nova/instances/$kept/disk" || true
os_node3 server reboot --hard "$kept" > "$work/reboot-unreadable.log" 2>&1 || true
for _ in $(seq 90); do [ "$(os_node3 server show "$kept" -f value -c status 2>/dev/null)" = ERROR ] && break; sleep 2; done
os_node3 server show "$kept" -f value -c status -c fault >> "$work/reboot-unreadable.log" 2>&1 || true
cat "$work/reboot-unreadable.log"
diagnose_json vm-error > /dev/null
inside stackboxd diagnose --node node3 > "$work/diagnose-vm-error.txt" 2>&1 || true
cat "$work/diagnose-vm-error.txt"
check "diagnose: the server in ERROR on node3 is found with its disk image's permission error" \
  sh -c "[ -n '$kept' ] && python3 '$here/tests/cluster/diagnosed.py' '$work/diagnose-vm-error.json' node3 vm.error disk-permission '$kept'"
# The overcommit ratios changed on every compute node at once, read back from placement by the command
# and by the test itself.
inside sh -c '. /root/admin-openrc.sh && OS_CACERT=/etc/stackbox/ca.pem stackboxd cluster overcommit --cpu 8 --ram 1.5 --disk 2' \
  > "$work/overcommit.log" 2>&1 && oc_rc=0 || oc_rc=$?
cat "$work/overcommit.log"
check "overcommit: nova-compute restarted on every compute node in turn and placement shows the new ratios" \
  sh -c "[ $oc_rc -eq 0 ] && for n in stackbox node2 node3; do grep -q \"^\$n: placement shows the allocation ratios .*VCPU 8\" '$work/overcommit.log' || exit 1; done"
inside sh -c '. /root/admin-openrc.sh && export OS_CACERT=/etc/stackbox/ca.pem && rp=$(openstack resource provider list --name node2 -f value -c uuid | head -1) && openstack resource provider inventory list "$rp" -f value -c resource_class -c allocation_ratio' \
  > "$work/placement-node2.txt" 2>&1 || true
cat "$work/placement-node2.txt"
check "placement, asked by the test, has node2's new ratios" \
  sh -c "grep -q '^VCPU 8.0' '$work/placement-node2.txt' && grep -q '^MEMORY_MB 1.5' '$work/placement-node2.txt' && grep -q '^DISK_GB 2.0' '$work/placement-node2.txt'"
check "overcommit: the cluster configuration's [overcommit] says so" grep -q "^cpu = 8.0" "$work/root/etc/stackbox/cluster.toml"
command install -m 0600 "$work/admin-openrc.sh" "$work/root/root/admin-openrc.sh"
inside sh -c '. /root/admin-openrc.sh && OS_CACERT=/etc/stackbox/ca.pem openstack compute service list -f value -c Binary -c Host -c State' \
  > "$work/compute-services.txt" 2>&1 || true
check "nova-compute is up on node2 and node3" \
  sh -c "grep -q 'nova-compute node2 up' '$work/compute-services.txt' && grep -q 'nova-compute node3 up' '$work/compute-services.txt'"

# Losing node 1, which holds the API address: it moves, the APIs answer, a VM boots on a survivor.
loss_start=$SECONDS
kill -9 "$leader"; wait "$nspawn_pid" 2>/dev/null || true; gone "$nspawn_pid"
for _ in $(seq 60); do ip -n "${ns[node2]}" -4 -o addr show dev eth0 | grep -q " $api/24 " && break
  ip -n "${ns[node3]}" -4 -o addr show dev eth0 | grep -q " $api/24 " && break; sleep 1; done
on node2 stackboxd cluster status > "$work/status-without-node1.txt" 2>&1 && status_rc=0 || status_rc=$?
check "without node 1, cluster status is not healthy and names the lost agent" \
  sh -c "[ $status_rc -eq 1 ] && grep -q 'UNREACHABLE' '$work/status-without-node1.txt'"
check "the API address moved to a surviving node" \
  sh -c "ip -n '${ns[node2]}' -4 -o addr show dev eth0 | grep -q ' $api/24 ' || ip -n '${ns[node3]}' -4 -o addr show dev eth0 | grep -q ' $api/24 '"
for endpoint in 5000/v3 9292/ 8778/ 8774/v2.1 9696/ 443/dashboard/; do
  check "without node 1: https://$api:$endpoint answers" client_get "https://$api:$endpoint" "$work/root/etc/stackbox/ca.pem"
done
echo "figure: losing node 1 to every API answering at the moved address took $((SECONDS - loss_start)) s"
# nova's cells name each node's own database (templated cell URLs), so a survivor's nova builds a server.
check "without node 1: the smoke test boots a VM on node2" smoke_on node2 "${root[node2]}" "$work/smoke-without-node1.log" node2
echo "figure: losing node 1 to a VM booted on a survivor took $((SECONDS - loss_start)) s"

# A full power loss: every node's init is killed, then all three boot again; nothing is typed.
power_start=$SECONDS
for n in node2 node3; do kill -9 "${init[$n]}"; gone "${pid[$n]}"; done
boot_node & b1=$!
boot_peer node2 & b2=$!
boot_peer node3 & b3=$!
wait "$b1" "$b2" "$b3"
nspawn_pid=$(pgrep -f 'systemd-nspawn .*--machine=stackbox' | head -1)
leader=$(container_init "$nspawn_pid")
for n in node2 node3; do
  pid[$n]=$(pgrep -f "systemd-nspawn .*--machine=$n" | head -1)
  init[$n]=$(container_init "${pid[$n]}")
done
for _ in $(seq 120); do synced3 node1 && synced3 node2 && synced3 node3 && break; sleep 5; done
for _ in $(seq 60); do client_get "https://$api:5000/v3" "$work/root/etc/stackbox/ca.pem" && break; sleep 2; done
echo "figure: after a full power loss, Galera and keystone were back in $((SECONDS - power_start)) s"
for n in node1 node2 node3; do check "after a full power loss, $n is a synced Galera member of three without a command" synced3 "$n"; done
# Node 1 was lost before the power loss, so its saved component is stale: it never restores it, it joins
# the others once they are primary (it says it waits when it asks before they are).
inside journalctl -u mariadb -b --no-pager > "$work/galera-start-node1.txt" 2>&1 || true
check "after a full power loss, node 1 (left out while it was lost) joined the others instead of restoring its component" \
  sh -c "grep -q 'joining .*a member of the primary component' '$work/galera-start-node1.txt' && ! grep -q 'restoring the last primary component' '$work/galera-start-node1.txt'"
check "after a full power loss, keystone answers at the API address" client_get "https://$api:5000/v3" "$work/root/etc/stackbox/ca.pem"
# Its VM is kept on node3 for the removal below (one VM boot less in the tier).
check "after a full power loss, the smoke test boots a VM" smoke_on node3 "${root[node3]}" "$work/smoke-after-full-power-loss.log" node3 --keep
# The first node's wizard says what the recovery did: healthy, and how each MariaDB started.
wizard status after-full-power-loss

# Removing node 3. While it hosts a server it is refused, the server named; the coordinator cannot remove
# itself. Then it leaves: Galera and RabbitMQ shrink to two, nova and neutron forget it, and the two
# remaining nodes are reinstalled without it (with a warning that two nodes have no quorum to spare).
# (The server kept by the smoke test after the power loss is on node3.)
inside stackboxd cluster remove node3 > "$work/remove-refused.log" 2>&1 && refused_rc=0 || refused_rc=$?
cat "$work/remove-refused.log"
check "removing node3 is refused while it hosts a server, the server named" \
  sh -c "grep -q STACKBOX-SMOKE-OK '$work/smoke-after-full-power-loss.log' && [ $refused_rc -eq 1 ] && grep -q 'hosts servers' '$work/remove-refused.log' && grep -q stackbox-smoke '$work/remove-refused.log'"
inside stackboxd cluster remove stackbox > "$work/remove-self.log" 2>&1 && self_rc=0 || self_rc=$?
check "the coordinator is refused removing itself" sh -c "[ $self_rc -eq 1 ] && grep -q 'cannot remove itself' '$work/remove-self.log'"
# The next smoke run (on node2) deletes the kept server first.
check "a smoke test on node2 deletes the kept server and boots its own" smoke_on node2 "${root[node2]}" "$work/smoke-before-remove.log" node2
# A copy of node3's cluster credentials, made before it leaves (a disk that walks away): node2's agent
# takes them now and must refuse them once node3 is removed (its certificate is revoked).
stolen=$work/node3-credentials
mkdir -p "$stolen" && chmod 700 "$stolen"
cp -a "${root[node3]}/var/lib/stackbox/cluster/node/." "$stolen/"
check "before the removal, node2's agent takes node3's credentials" agent_with "$stolen" 10.20.0.12
remove_start=$SECONDS
wizard remove node3 # its output is wizard-remove.log
echo "figure: removing node 3 took $((SECONDS - remove_start)) s"
check "the wizard removes node3 to the end" grep -q '^node3 removed' "$work/wizard-remove.log"
check "removing node3 warns that two nodes have no quorum to spare" grep -q 'warning: .*add a third node' "$work/wizard-remove.log"
check "removing node3 revoked its node certificate" grep -q "revoked node3's node certificate" "$work/wizard-remove.log"
check "after the removal, node2's agent refuses node3's copied credentials" refused_with "$stolen" 10.20.0.12
tail -2 "$work/agent-refused.txt"
st1=$work/root/var/lib/stackbox
check "node 1 forgot node3's join, and the configuration it installed has no node3" \
  sh -c "grep -q node2 '$st1/cluster/members.json' && ! grep -q node3 '$st1/cluster/members.json' && grep -q node2 '$st1/cluster/config.toml' && ! grep -q node3 '$st1/cluster/config.toml'"
synced2() { local s; s=$(wsrep "$1"); grep -Eq "wsrep_cluster_size[[:space:]]+2" <<<"$s" && grep -q Synced <<<"$s" && grep -q Primary <<<"$s"; }
for n in node1 node2; do check "after the removal, $n is a synced Galera member of two" synced2 "$n"; done
inside rabbitmqctl cluster_status --formatter json > "$work/rabbit-after-remove.json" 2>&1 || true
check "after the removal, RabbitMQ runs two nodes and knows no node3" \
  sh -c "grep -q 'rabbit@node2' '$work/rabbit-after-remove.json' && ! grep -q 'rabbit@node3' '$work/rabbit-after-remove.json'"
check "node3 stopped its services and deleted its cluster credentials" \
  sh -c "! nsenter -t ${init[node3]} -a -- systemctl is-active --quiet mariadb rabbitmq-server nova-compute haproxy keepalived && test ! -e '${root[node3]}/var/lib/stackbox/cluster/node/node.key'"
on node2 stackboxd cluster status > "$work/status-after-remove.txt" 2>&1 && after_rc=0 || after_rc=$?
cat "$work/status-after-remove.txt"
check "after the removal, cluster status (from node2) says healthy without node3" \
  sh -c "[ $after_rc -eq 0 ] && grep -q '^healthy' '$work/status-after-remove.txt' && ! grep -q node3 '$work/status-after-remove.txt'"
inside sh -c '. /root/admin-openrc.sh && OS_CACERT=/etc/stackbox/ca.pem openstack compute service list -f value -c Host; OS_CACERT=/etc/stackbox/ca.pem openstack network agent list -f value -c Host' \
  > "$work/services-after-remove.txt" 2>&1 || true
check "nova and neutron no longer list node3" sh -c "grep -q node2 '$work/services-after-remove.txt' && ! grep -q node3 '$work/services-after-remove.txt'"
for endpoint in 5000/v3 9292/ 8778/ 8774/v2.1 9696/ 443/dashboard/; do
  check "after the removal: https://$api:$endpoint answers" client_get "https://$api:$endpoint" "$work/root/etc/stackbox/ca.pem"
done
# The removal's own smoke test (the coordinator's last step) booted its VM on a node that stays.
check "after the removal, the smoke test boots a VM on a remaining node" \
  sh -c "grep -Eq '^remove smoke: *server ACTIVE after [0-9]+s on (stackbox|node2)$' '$work/wizard-remove.log' && grep -q '^remove smoke: .*STACKBOX-SMOKE-OK address=' '$work/wizard-remove.log'"
