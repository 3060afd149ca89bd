#!/usr/bin/env bash
# Baseline for the PKI benchmark: the same certificate set as `seed pki` (the guide's cfssl steps,
# chapter 02 and per component, transcribed to the openssl command line): the cluster CA and etcd's CA, etcd server and peer,
# kube-apiserver with every SAN, apiserver→etcd and apiserver→kubelet clients, controller-manager,
# scheduler, admin, kube-proxy, front-proxy client, and the service-account key pair.
# Usage: pki-openssl.sh DIR rsa|ecdsa MASTER_IP
set -euo pipefail
dir=$1 alg=$2 ip=$3
mkdir -p "$dir" && cd "$dir"
if [ "$alg" = rsa ]; then newkey=(-newkey rsa:2048); genkey=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048)
else newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); genkey=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256); fi
umask 077
for ca in ca:kubernetes-ca etcd-ca:etcd-ca; do
  openssl req -x509 "${newkey[@]}" -nodes -days 3650 -subj "/O=kubeseed/CN=${ca#*:}" -keyout "${ca%%:*}-key.pem" -out "${ca%%:*}.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,digitalSignature,keyCertSign,cRLSign 2>/dev/null
done
# leaf NAME SUBJECT EKU [SANS] [CA]
leaf() {
  local name=$1 subject=$2 eku=$3 sans=${4:-} ca=${5:-ca}
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    [ -z "$sans" ] || echo "subjectAltName=$sans"
  } > "$name.ext"
  openssl req -new "${newkey[@]}" -nodes -subj "$subject" -keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca-key.pem" -CAcreateserial -days 1825 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
leaf etcd-server "/O=kubeseed/CN=etcd" serverAuth,clientAuth "DNS:localhost,IP:127.0.0.1,IP:$ip" etcd-ca
leaf etcd-peer "/O=kubeseed/CN=etcd-peer" serverAuth,clientAuth "DNS:localhost,IP:127.0.0.1,IP:$ip" etcd-ca
leaf kube-apiserver "/O=kubeseed/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$ip,IP:10.254.0.1"
leaf apiserver-etcd-client "/O=system:masters/CN=kube-apiserver-etcd-client" clientAuth "" etcd-ca
leaf apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth
leaf kube-controller-manager "/O=system:kube-controller-manager/CN=system:kube-controller-manager" serverAuth,clientAuth "IP:127.0.0.1,IP:$ip"
leaf kube-scheduler "/O=system:kube-scheduler/CN=system:kube-scheduler" serverAuth,clientAuth "IP:127.0.0.1,IP:$ip"
leaf admin "/O=system:masters/CN=admin" clientAuth
leaf kube-proxy "/O=system:node-proxier/CN=system:kube-proxy" clientAuth
leaf front-proxy-client "/CN=aggregator" clientAuth
openssl genpkey "${genkey[@]}" -out sa.key 2>/dev/null
openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
chmod 644 ./*.pem sa.pub && chmod 600 ./*-key.pem sa.key
