// The scripts inside the lab guests' initramfs. One /init, three roles chosen by the kernel
// command line:
// - netboot (default): brings the NIC up with udhcpc and phones home to `bootlab.phone_home=<url>`;
// - installer (`bootlab.disk=<url>` as well): first writes the disk image at <url> (gzip) onto
//   /dev/vda, then writes an install record (id + phone-home URL) into the disk's record
//   partition, then phones home with `source=install&install=<id>`;
// - local boot (`bootlab.boot=disk`, set by the GRUB on that disk): reads the install record,
//   prints `booted from disk, install <id>` and phones home with `source=disk&install=<id>`.
// Afterwards it powers off, or with `bootlab.after=idle` stays up (a machine that runs until its
// PoE port is switched off). Every line it prints starts with GUEST_MARK for the console parser.

export const GUEST_MARK = 'bootlab-lab:'

/** first 512-byte sector of the install record partition on the lab disk (src/lab/disk.ts) */
export const INSTALL_RECORD_LBA = 2048 * 71

export const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
log() { echo "${GUEST_MARK} $*"; }
arg() { sed -n "s/.*$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
log "init $(uname -m) $(uname -r)"
while read -r m; do
  [ -n "$m" ] && { insmod "/lib/modules/$m" || log "insmod $m failed"; }
done < /etc/modules.load
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
url=$(arg bootlab.phone_home)
disk=$(arg bootlab.disk)
source=netboot
install=
if grep -q 'bootlab.boot=disk' /proc/cmdline; then
  source=disk
  rec=$(dd if=/dev/vda bs=512 skip=${INSTALL_RECORD_LBA} count=1 2>/dev/null | tr -d '\\000')
  install=$(echo "$rec" | sed -n 's/^bootlab-install id=\\([0-9a-f]*\\) .*/\\1/p')
  url=$(echo "$rec" | sed -n 's/^bootlab-install id=[0-9a-f]* url=\\([^ ]*\\)$/\\1/p')
  log "booted from disk, install \${install:-none}"
fi
ip link set lo up
ip link set eth0 up
if udhcpc -i eth0 -s /etc/udhcpc.script -f -q -n -t 8 -T 2 >/tmp/udhcpc.log 2>&1; then
  log "address $(cat /tmp/ip)"
else
  log "dhcp failed"; cat /tmp/udhcpc.log
fi
if [ -n "$disk" ] && [ "$source" = netboot ]; then
  source=install
  install=$(cut -c1-8 /proc/sys/kernel/random/uuid)
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  log "install $install: writing $disk to /dev/vda"
  if timeout 120 wget -q -O /tmp/disk.gz "$disk" && gunzip -c /tmp/disk.gz | dd of=/dev/vda bs=1M conv=fsync 2>/tmp/dd.log; then
    rm -f /tmp/disk.gz
    echo "bootlab-install id=$install url=$url" | dd of=/dev/vda bs=512 seek=${INSTALL_RECORD_LBA} conv=sync,notrunc,fsync 2>/dev/null
    sync
    log "installed $install"
  else
    log "install failed"; cat /tmp/dd.log
  fi
fi
if [ -z "$url" ]; then
  log "phone-home failed: no bootlab.phone_home= on the kernel command line"
elif timeout 30 wget -q -O /tmp/reply --post-data "mac=$(cat /sys/class/net/eth0/address)&ip=$(cat /tmp/ip 2>/dev/null)&hostname=lab-$(uname -m)&kernel=$(uname -r)&source=$source&install=$install" "$url"; then
  log "phone-home ok $url"
else
  log "phone-home failed $url"
fi
if [ "$(arg bootlab.after)" = idle ]; then
  log "idle"
  while :; do sleep 3600; done
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
