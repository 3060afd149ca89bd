#!/bin/bash
# Baseline for the node-preparation benchmark: what the guide (../shared/seeds/001_*.txt) has an
# operator paste on each node, transcribed for Debian with the corrected lists of DESIGN.md (the same
# modules, sysctls and directories seed-agent uses), package installs left out. It runs in the same
# guest as the agent. Chapter 01: firewall, swap, SELinux, modules, sysctls, time zone, chrony,
# directories. With --components, chapter 06 too: containerd config, crictl, kubelet and kube-proxy
# configuration and units, enable, and containerd restarted on its new config.
set -u
components=${1:-}
# Service start-up is reported apart (the benchmark compares with and without it); $EPOCHREALTIME
# costs no process.
timed() { local t0=${EPOCHREALTIME/./}; "$@"; local rc=$?; echo "service start-up: $* ($(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms)" >&2; return $rc; }

# 01: 关闭防火墙 (firewalld is not installed on Debian; the guide's commands fail harmlessly), iptables
systemctl stop firewalld 2>/dev/null; systemctl disable firewalld 2>/dev/null
iptables -P FORWARD ACCEPT
# 关闭 swap 分区
swapoff -a
sed -i '/ swap / s/^\(.*\)$/#\1/g' /etc/fstab
# 关闭 SELinux (not present on Debian)
setenforce 0 2>/dev/null; [ -f /etc/selinux/config ] && sed -i 's/^SELINUX=.*/SELINUX=disabled/' /etc/selinux/config
# modules (the guide loads them in later chapters; DESIGN.md's corrected list)
for m in ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh br_netfilter overlay nf_conntrack; do modprobe $m; done
printf '%s\n' ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh br_netfilter overlay nf_conntrack > /etc/modules-load.d/kubernetes.conf
# 优化内核参数
cat > /etc/sysctl.d/kubernetes.conf <<EOF2
net.bridge.bridge-nf-call-iptables=1
net.bridge.bridge-nf-call-ip6tables=1
net.ipv4.ip_forward=1
net.ipv4.neigh.default.gc_thresh1=1024
net.ipv4.neigh.default.gc_thresh2=2048
net.ipv4.neigh.default.gc_thresh3=4096
vm.swappiness=0
vm.overcommit_memory=1
vm.panic_on_oom=0
fs.inotify.max_user_instances=8192
fs.inotify.max_user_watches=1048576
fs.file-max=52706963
fs.nr_open=52706963
net.netfilter.nf_conntrack_max=2310720
EOF2
sysctl -p /etc/sysctl.d/kubernetes.conf > /dev/null
# 设置系统时区, 时钟同步
timedatectl set-timezone Asia/Shanghai
systemctl enable chrony 2>/dev/null
timed systemctl start chrony
timedatectl set-local-rtc 0
# 创建相关目录
mkdir -p /opt/k8s/{bin,work} /etc/{kubernetes,etcd}/cert /data/k8s/{etcd/data,etcd/wal,k8s,containerd} /etc/cni/net.d

[ "$components" = --components ] || exit 0
# 06-3 containerd
mkdir -p /etc/containerd /data/k8s/containerd/root
cat > /etc/containerd/config.toml <<EOF2
version = 2
root = "/data/k8s/containerd/root"
state = "/run/containerd"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.9"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
EOF2
cat > /etc/crictl.yaml <<EOF2
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
timeout: 10
debug: false
EOF2
systemctl enable containerd 2>/dev/null
timed systemctl restart containerd
# 06-4 kubelet (bootstrap kubeconfig, config, unit)
ca=$(base64 -w0 /usr/local/lib/kubeseed-vmtest/bench-ca.pem)
cat > /etc/kubernetes/kubelet-bootstrap.kubeconfig <<EOF2
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: $ca
    server: https://192.0.2.1:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubelet-bootstrap
  name: default
current-context: default
users:
- name: kubelet-bootstrap
  user:
    token: abcdef.0123456789abcdef
EOF2
chmod 600 /etc/kubernetes/kubelet-bootstrap.kubeconfig
cat > /etc/kubernetes/kubelet-config.yaml <<EOF2
kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
address: 0.0.0.0
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/cert/ca.pem
authorization:
  mode: Webhook
cgroupDriver: systemd
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
clusterDomain: cluster.local
clusterDNS: ["10.254.0.2"]
maxPods: 220
rotateCertificates: true
serverTLSBootstrap: true
EOF2
cp /usr/local/lib/kubeseed-vmtest/bench-ca.pem /etc/kubernetes/cert/ca.pem
mkdir -p /data/k8s/k8s/kubelet /data/k8s/k8s/kube-proxy
cat > /etc/systemd/system/kubelet.service <<EOF2
[Unit]
Description=Kubernetes Kubelet
After=containerd.service
Requires=containerd.service
ConditionFileIsExecutable=/opt/k8s/bin/kubelet
[Service]
WorkingDirectory=/data/k8s/k8s/kubelet
ExecStart=/opt/k8s/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/kubelet-bootstrap.kubeconfig --cert-dir=/etc/kubernetes/cert --kubeconfig=/etc/kubernetes/kubelet.kubeconfig --config=/etc/kubernetes/kubelet-config.yaml --hostname-override=worker-1 --root-dir=/data/k8s/k8s/kubelet --v=2
Restart=always
RestartSec=5
[Install]
WantedBy=multi-user.target
EOF2
# 06-5 kube-proxy (config, kubeconfig, unit)
cat > /etc/kubernetes/kube-proxy-config.yaml <<EOF2
kind: KubeProxyConfiguration
apiVersion: kubeproxy.config.k8s.io/v1alpha1
clientConnection:
  kubeconfig: /etc/kubernetes/kube-proxy.kubeconfig
bindAddress: 0.0.0.0
clusterCIDR: 172.30.0.0/16
hostnameOverride: worker-1
mode: ipvs
ipvs:
  scheduler: rr
EOF2
sed -e 's/kubelet-bootstrap/kube-proxy/g' -e 's#token: .*#client-certificate: /etc/kubernetes/cert/kubelet-client-current.pem#' \
  /etc/kubernetes/kubelet-bootstrap.kubeconfig > /etc/kubernetes/kube-proxy.kubeconfig
chmod 600 /etc/kubernetes/kube-proxy.kubeconfig
cat > /etc/systemd/system/kube-proxy.service <<EOF2
[Unit]
Description=Kubernetes Kube-Proxy Server
After=network.target
ConditionFileIsExecutable=/opt/k8s/bin/kube-proxy
[Service]
WorkingDirectory=/data/k8s/k8s/kube-proxy
ExecStart=/opt/k8s/bin/kube-proxy --config=/etc/kubernetes/kube-proxy-config.yaml --v=2
Restart=on-failure
RestartSec=5
LimitNOFILE=65536
[Install]
WantedBy=multi-user.target
EOF2
systemctl daemon-reload
systemctl enable kubelet kube-proxy 2>/dev/null
exit 0
