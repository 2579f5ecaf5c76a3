// The scripts inside the lab guests' initramfs: /init brings the NIC up with udhcpc and phones
// home to the URL given as `bootlab.phone_home=<url>` on the kernel command line, then powers off.
// Every line it prints starts with GUEST_MARK so the console parser can find it.

export const GUEST_MARK = 'bootlab-lab:'

export const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
log() { echo "${GUEST_MARK} $*"; }
log "init $(uname -m) $(uname -r)"
while read -r m; do
  [ -n "$m" ] && { insmod "/lib/modules/$m" || log "insmod $m failed"; }
done < /etc/modules.load
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ip link set lo up
ip link set eth0 up
if udhcpc -i eth0 -s /etc/udhcpc.script -f -q -n -t 8 -T 2 >/tmp/udhcpc.log 2>&1; then
  log "address $(cat /tmp/ip)"
else
  log "dhcp failed"; cat /tmp/udhcpc.log
fi
url=$(sed -n 's/.*bootlab\\.phone_home=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
mac=$(cat /sys/class/net/eth0/address)
if [ -z "$url" ]; then
  log "phone-home failed: no bootlab.phone_home= on the kernel command line"
elif timeout 30 wget -q -O /tmp/reply --post-data "mac=$mac&ip=$(cat /tmp/ip 2>/dev/null)&hostname=lab-$(uname -m)&kernel=$(uname -r)" "$url"; then
  log "phone-home ok $url"
else
  log "phone-home failed $url"
fi
log "poweroff"
sync
poweroff -f
`

export const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "\${router%% *}" dev "$interface"
    echo "$ip" > /tmp/ip
    ;;
esac
exit 0
`
