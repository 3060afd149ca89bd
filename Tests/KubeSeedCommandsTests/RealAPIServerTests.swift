import Foundation
import Testing
import KubeSeedAPI
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost

/// Against the real kube-apiserver and kube-controller-manager 1.20.2 over Debian's etcd (no fake):
/// what `seed init` creates, TLS bootstrap with a token `seed join-file` minted, the approver on a real
/// kubelet-serving CSR, node roles, the EndpointSlice read with a node's certificate, and tokens
/// refused once deleted or expired. Skipped, saying why, where the binaries were not built.
@Suite(.serialized) struct RealAPIServerTests {
    final class Output: @unchecked Sendable { var text = "" }

    /// A key and a PKCS#10 request made by openssl (an independent tool), as PEM.
    static func keyAndRequest(_ dir: String, _ name: String, subject: String, ips: [String] = []) throws -> (keyPath: String, request: String) {
        let key = "\(dir)/\(name)-key.pem", csr = "\(dir)/\(name).csr"
        var arguments = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", subject, "-out", csr]
        if !ips.isEmpty { arguments += ["-addext", "subjectAltName=" + ips.map { "IP:\($0)" }.joined(separator: ",")] }
        guard RealControlPlane.run("/usr/bin/openssl", arguments) == 0 else { throw TarError("openssl req failed") }
        return (key, try String(contentsOfFile: csr, encoding: .utf8))
    }

    static func csrObject(_ name: String, signer: String, usages: [String], request: String) -> String {
        let body: [String: Any] = [
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": ["name": name],
            "spec": ["signerName": signer, "usages": usages, "request": Data(request.utf8).base64EncodedString()],
        ]
        return String(decoding: try! JSONSerialization.data(withJSONObject: body), as: UTF8.self)
    }

    /// Polls `condition` every 500 ms for up to `seconds`.
    static func eventually(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return condition()
    }

    @Test(.enabled(if: RealControlPlane.unavailable == nil, "needs the real Kubernetes 1.20.2 build and etcd (Tests/test.sh makes them)"))
    func seedsObjectsTokensApproverAndDiscoveryAgainstTheRealAPIServer() async throws {
        let plane = try #require(try await RealControlPlane.start())
        // The binaries were unpacked for this one test (250 MB): gone with it.
        defer { plane.stop(); try? FileManager.default.removeItem(atPath: plane.binDir) }
        let output = Output()
        var operations = plane.operations
        operations.write = { output.text += $0 }
        let address = RealControlPlane.address
        let journal = try ChangeJournal(root: plane.host.root)

        // What seed init creates once the API server is ready, twice: the second run changes nothing.
        #expect(try await operations.apiServerReady(address).state == .ok)
        let objects = try await operations.bootstrapObjects(address, journal: journal)
        #expect(objects.state == .changed, "\(objects.detail)")
        #expect(try await operations.bootstrapObjects(address, journal: journal).state == .ok)
        let config = try #require(try operations.recordedConfig())
        let dns = try await operations.clusterDNS(config, address)
        #expect(dns.state == .changed, "\(dns.detail)")
        #expect(try await operations.clusterDNS(config, address).state == .ok)
        let coredns = plane.kubectl(["-n", "kube-system", "get", "deployment/coredns", "service/kube-dns", "configmap/coredns", "-o", "name"])
        #expect(coredns.status == 0 && coredns.output.contains("deployment.apps/coredns"), "\(coredns.output)")

        // seed join-file mints a token; the real API authenticates it as a bootstrapper.
        let now = Date()
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-1", nodeIP: "192.0.2.11", expires: now.addingTimeInterval(3600)), output: nil) == 0, "\(output.text)")
        let joinText = try #require(try plane.host.root.readText("/var/lib/kubeseed/join-files/worker-1.yaml"))
        let join = try JoinFile.parse(joinText, file: "worker-1.yaml")
        let token = join.token.secretValue
        let canCreate = plane.kubectl(["auth", "can-i", "create", "certificatesigningrequests"], token: token)
        #expect(canCreate.output.split(separator: "\n").last == "yes", "the bootstrap token: \(canCreate.output)")

        // TLS bootstrap: a kubelet client CSR sent with the token is approved and signed by the real controller manager.
        let dir = plane.host.root.resolve("/tmp-csr")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let client = try Self.keyAndRequest(dir, "worker-1-client", subject: "/O=system:nodes/CN=system:node:worker-1")
        try Self.csrObject("worker-1-client", signer: "kubernetes.io/kube-apiserver-client-kubelet", usages: ["digital signature", "key encipherment", "client auth"],
                           request: client.request).write(toFile: "\(dir)/client.json", atomically: true, encoding: .utf8)
        let created = plane.kubectl(["create", "-f", "\(dir)/client.json"], token: token)
        #expect(created.status == 0, "\(created.output)")
        let certificate = { plane.kubectl(["get", "csr", "worker-1-client", "-o", "jsonpath={.status.certificate}"]).output }
        #expect(await Self.eventually(60) { !certificate().isEmpty }, "the client CSR was not approved and signed:\n\(plane.logTails())")
        let clientPEM = String(decoding: Data(base64Encoded: certificate()) ?? Data(), as: UTF8.self)
        try clientPEM.write(toFile: "\(dir)/worker-1-client.pem", atomically: true, encoding: .utf8)

        // As worker-1 (its bootstrapped certificate): its Node, then a serving CSR for its own IP and one for another's.
        let asNode = ["--client-certificate=\(dir)/worker-1-client.pem", "--client-key=\(client.keyPath)"]
        let node = #"{"apiVersion":"v1","kind":"Node","metadata":{"name":"worker-1"},"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.11"},{"type":"Hostname","address":"worker-1"}]}}"#
        try node.write(toFile: "\(dir)/node.json", atomically: true, encoding: .utf8)
        let nodeCreated = plane.kubectlAs(asNode, ["create", "-f", "\(dir)/node.json"])
        #expect(nodeCreated.status == 0, "\(nodeCreated.output)")
        for (name, ip) in [("worker-1-serving", "192.0.2.11"), ("worker-1-serving-other-ip", "192.0.2.12")] {
            let serving = try Self.keyAndRequest(dir, name, subject: "/O=system:nodes/CN=system:node:worker-1", ips: [ip])
            try Self.csrObject(name, signer: KubeletServingReview.signer, usages: ["digital signature", "key encipherment", "server auth"],
                               request: serving.request).write(toFile: "\(dir)/\(name).json", atomically: true, encoding: .utf8)
            let sent = plane.kubectlAs(asNode, ["create", "-f", "\(dir)/\(name).json"])
            #expect(sent.status == 0, "\(sent.output)")
        }
        let admin = try MutualTLSClient(baseURL: RealControlPlane.apiURL, identity: try operations.identity("admin"))
        defer { Task { await admin.shutdown() } }
        let book = try MasterOperations.addressBook(root: plane.host.root, etcdMembers: []).book
        let approver = CSRApprover(client: admin, addressBook: { book }, log: { _ in }, status: { _ in })
        await approver.run(requests: 1)
        await approver.drain()
        let condition = { (name: String) in plane.kubectl(["get", "csr", name, "-o", "jsonpath={.status.conditions[0].type}"]).output }
        #expect(condition("worker-1-serving") == "Approved")
        #expect(condition("worker-1-serving-other-ip") == "Denied")
        #expect(await Self.eventually(60) { !plane.kubectl(["get", "csr", "worker-1-serving", "-o", "jsonpath={.status.certificate}"]).output.isEmpty },
                "the approved serving CSR was not signed")

        // Node roles on the registered Node.
        // (the approver labels a node it approves; the phase finds it done or does it)
        let roles = try await operations.nodeRoles(address)
        #expect([.ok, .changed].contains(roles.state), "\(roles.detail)")
        let labels = plane.kubectl(["get", "node", "worker-1", "-o", "jsonpath={.metadata.labels}"]).output
        #expect(labels.contains("node-role.kubernetes.io/worker"), "\(labels)")

        // The agent's EndpointSlice read, with the node's own certificate, on 1.20's discovery.k8s.io/v1beta1.
        let nodeIdentity = TLSIdentity(caPEM: try operations.identity("admin").caPEM, certificatePEM: clientPEM,
                                       keyPEM: try String(contentsOfFile: client.keyPath, encoding: .utf8))
        let nodeClient = try MutualTLSClient(baseURL: RealControlPlane.apiURL, identity: nodeIdentity)
        var servers: [String]?
        do { servers = try await APIServerLookup.fetch(nodeClient, version: RealControlPlane.version) } catch { Issue.record("the node's EndpointSlice read: \(error)") }
        await nodeClient.shutdown()
        #expect(servers == ["https://\(RealControlPlane.advertised):6443"])

        // A deleted token is refused by the real API; so is one whose Secret has expired.
        #expect(await operations.deleteToken(id: join.token.id) == 0, "\(output.text)")
        #expect(await Self.eventually(10) { plane.kubectl(["auth", "can-i", "create", "certificatesigningrequests"], token: token).output.contains("Unauthorized") })
        let expired = BootstrapToken("abcdef.0123456789abcdef")!
        let secret = BootstrapObjects.createTokenSecret(expired, expires: now.addingTimeInterval(-60), node: "worker-9")
        #expect(try await admin.send(secret).status == 201)
        let refused = plane.kubectl(["auth", "can-i", "create", "certificatesigningrequests"], token: expired.secretValue)
        #expect(refused.output.contains("Unauthorized"), "an expired token: \(refused.output)")

        // etcd snapshots from the real etcd's maintenance API: each checked against the SHA-256 etcd sent,
        // 0600, and the scheduled ones (--keep) pruned to the newest two, the one taken by hand before them
        // kept; a file altered by one byte fails the same check.
        let snapshots = EtcdSnapshotFiles(root: plane.host.root, directory: config.host.etcdSnapshotDir)
        #expect(await operations.saveSnapshot(file: nil, keep: nil) == 0, "\(output.text)")
        try await Task.sleep(for: .milliseconds(1100))
        for round in 1...3 {
            #expect(plane.kubectl(["create", "configmap", "snapshot-\(round)"]).status == 0)
            output.text = ""
            #expect(await operations.saveSnapshot(file: nil, keep: 2) == 0, "\(output.text)")
            // Names are per second.
            try await Task.sleep(for: .milliseconds(1100))
        }
        let kept = snapshots.list()
        #expect(kept.count == 3 && kept.filter { EtcdSnapshot.isOnDemand($0.name) }.count == 1 && EtcdSnapshot.isOnDemand(kept[2].name), "\(kept)")
        let newest = try #require(kept.first)
        let path = "\(snapshots.directory)/\(newest.name)"
        #expect(plane.host.root.mode(path) == 0o600)
        #expect(plane.host.root.mode(snapshots.directory) == 0o700)
        let check = try EtcdSnapshotFiles.check(plane.host.root, path)
        #expect(check.hashMatches == true && check.size == newest.size && check.size > 16384, "\(check)")
        var altered = try #require(try plane.host.root.read(path))
        altered[altered.count / 2] ^= 0xff
        try plane.host.root.writeAtomically("/altered.db", altered, mode: 0o600)
        #expect(try EtcdSnapshotFiles.check(plane.host.root, "/altered.db").hashMatches == false)
        #expect(snapshots.lastResult()?.contains(" ok \(path) ") == true, "\(snapshots.lastResult() ?? "")")
        output.text = ""
        #expect(await operations.saveSnapshot(file: path, keep: nil) == 1)
        #expect(output.text.contains("exists"), "\(output.text)")

        // seed upgrade plan against the real API server's /version: one minor up is allowed, two or a downgrade not.
        for (target, code) in [("v1.21.0", Int32(0)), ("v1.22.0", 1), ("v1.19.16", 1)] {
            output.text = ""
            #expect(await operations.upgradePlan(to: KubernetesVersion(target)!) == code, "\(target): \(output.text)")
            #expect(output.text.contains("API server https://\(address):6443  v1.20.2"), "\(output.text)")
        }

        // seed upgrade apply against the real API server and etcd. One minor up passes the check (every API server
        // ready, the one etcd member healthy) and stops at the archive, which is not there; two minors up is
        // refused by the check; a downgrade before anything. seed init with another release is refused in each
        // phase that depends on it (binaries, the control plane's flags), renewals are not.
        try FileManager.default.createDirectory(atPath: plane.host.root.resolve(NodePaths.binDir), withIntermediateDirectories: true)
        var wanted = try #require(try operations.recordedConfig())
        wanted.serverArchive = "/no-such-archive.tar.gz"
        for (target, code, says) in [("v1.21.0", Int32(1), ["1 API servers ready (v1.20.2), 1 etcd members healthy; v1.21.0 allowed",
                                                           "took the upgrade lease", "stopped at 'binaries'", "/no-such-archive.tar.gz",
                                                           "the record still says v1.20.2", "nothing was changed: gave the upgrade lease back"]),
                                     ("v1.22.0", 1, ["nothing changed: not v1.22.0 now", "one minor at a time"]), ("v1.19.16", 2, ["would be a downgrade"])] {
            wanted.kubernetesVersion = target
            output.text = ""
            #expect(await operations.upgradeApply(wanted, source: "cluster.yaml") == code, "\(target): \(output.text)")
            #expect(says.allSatisfy(output.text.contains), "\(target): \(output.text)")
            #expect(!output.text.contains("[2/7]") || target == "v1.21.0", "\(target) went past the check: \(output.text)")
        }
        // The upgrade lease: the v1.21.0 run stopped with nothing changed and gave it back. Taken under this
        // master's name, another master is refused while it lasts; this master takes it again; given back,
        // another takes it; once that one has expired, this master takes it over, and the other's release
        // leaves it alone.
        let me = try #require(wanted.masterName)
        let leaseHolder = { plane.kubectl(["-n", "kube-system", "get", "lease", UpgradeLease.name, "-o", "jsonpath={.spec.holderIdentity}"]).output }
        #expect(plane.kubectl(["-n", "kube-system", "get", "lease", UpgradeLease.name]).output.contains("NotFound"))
        #expect(try await operations.takeUpgradeLease(address, holder: me) == "took the upgrade lease")
        #expect(leaseHolder() == me)
        do {
            _ = try await operations.takeUpgradeLease(address, holder: "master-9")
            Issue.record("master-9 took the lease master-1 holds")
        } catch let refusal as UpgradeRefusal {
            #expect(refusal.description.contains("\(me) holds the upgrade lease") && refusal.description.contains("kubectl -n kube-system delete lease"), "\(refusal)")
        }
        #expect(try await operations.takeUpgradeLease(address, holder: me) == "took the upgrade lease again (a run here had kept it)")
        #expect(try await operations.releaseUpgradeLease(address, holder: me) == "gave the upgrade lease back")
        #expect(plane.kubectl(["-n", "kube-system", "get", "lease", UpgradeLease.name]).output.contains("NotFound"))
        #expect(try await operations.takeUpgradeLease(address, holder: "master-9", now: Date().addingTimeInterval(-Double(operations.upgradeLeaseSeconds) - 60))
                == "took the upgrade lease")
        #expect(try await operations.takeUpgradeLease(address, holder: me) == "took the upgrade lease (master-9's had expired)")
        #expect(try await operations.releaseUpgradeLease(address, holder: "master-9") == "the upgrade lease is \(me)'s, not this master's: left as it is")
        #expect(leaseHolder() == me)
        #expect(try await operations.releaseUpgradeLease(address, holder: me) == "gave the upgrade lease back")
        #expect(try await operations.releaseUpgradeLease(address, holder: me) == "no upgrade lease to give back")

        wanted.kubernetesVersion = "v1.21.0"
        for phase in ["binaries", "control-plane"] {
            output.text = ""
            #expect(await operations.initialize(wanted, source: "cluster.yaml", only: [phase]) == 2, "\(phase): \(output.text)")
            #expect(output.text.contains("runs v1.20.2") && output.text.contains("seed upgrade apply"), "\(phase): \(output.text)")
        }

        // seed node remove: worker-1's pod is evicted through the real Eviction API (no kubelet here: it stays
        // terminating until the pod garbage collector sees its Node gone), the Node is deleted, and worker-1
        // leaves the address book, so a serving request under its name is never approved (left pending, as
        // for any name no join file here was minted for).
        let pod = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"on-worker-1","namespace":"default"},"spec":{"nodeName":"worker-1","containers":[{"name":"c","image":"kubeseed.local/busybox:1"}]}}"#
        try pod.write(toFile: "\(dir)/pod.json", atomically: true, encoding: .utf8)
        #expect(await Self.eventually(30) { plane.kubectl(["create", "-f", "\(dir)/pod.json"]).status == 0 })
        // A second join file for it: a token and its Secret that the removal takes too.
        #expect(await operations.mintJoinFile(JoinRequest(nodeName: "worker-1", nodeIP: "192.0.2.11", expires: now.addingTimeInterval(3600)), output: nil) == 0, "\(output.text)")
        let workerSecrets = try TokenStore(root: plane.host.root).load().filter { $0.node == "worker-1" }.map(\.secret)
        #expect(!workerSecrets.isEmpty)
        output.text = ""
        #expect(await operations.removeNode("worker-1", timeout: .seconds(60), pause: .milliseconds(500)) == 0, "\(output.text)")
        #expect(workerSecrets.allSatisfy { !output.text.contains($0) }, "a token secret reached the output")
        #expect(output.text.contains("cordoned worker-1") && output.text.contains("evicted default/on-worker-1") && output.text.contains("deleted Node worker-1"),
                "\(output.text)")
        #expect(plane.kubectl(["get", "node", "worker-1"]).output.contains("NotFound"))
        #expect(output.text.contains("deleted  Secret kube-system/bootstrap-token-"), "\(output.text)")
        #expect(try TokenStore(root: plane.host.root).load().allSatisfy { $0.node != "worker-1" })
        #expect(!plane.kubectl(["-n", "kube-system", "get", "secrets", "-o", "name"]).output.contains("bootstrap-token-"), "no token Secret is left for it")
        #expect(try MasterOperations.addressBook(root: plane.host.root).book.nodes["worker-1"] == nil)
        let afterRemoval = try Self.keyAndRequest(dir, "worker-1-serving-after", subject: "/O=system:nodes/CN=system:node:worker-1", ips: ["192.0.2.11"])
        try Self.csrObject("worker-1-serving-after", signer: KubeletServingReview.signer, usages: ["digital signature", "key encipherment", "server auth"],
                           request: afterRemoval.request).write(toFile: "\(dir)/after.json", atomically: true, encoding: .utf8)
        #expect(plane.kubectlAs(asNode, ["create", "-f", "\(dir)/after.json"]).status == 0)
        let bookAfter = try MasterOperations.addressBook(root: plane.host.root, etcdMembers: []).book
        let decisions = Output()
        let approverAfter = CSRApprover(client: admin, addressBook: { bookAfter }, log: { decisions.text += $0 + "\n" }, status: { _ in })
        await approverAfter.run(requests: 1)
        await approverAfter.drain()
        #expect(condition("worker-1-serving-after") == "", "not approved, not denied: left")
        #expect(decisions.text.contains("worker-1-serving-after") && decisions.text.contains("left pending"), "\(decisions.text)")
        // Again: nothing left to do. A bad name: exit 2.
        output.text = ""
        #expect(await operations.removeNode("worker-1") == 1, "\(output.text)")
        #expect(output.text.contains("no node worker-1"), "\(output.text)")
        #expect(await operations.removeNode("Worker_1") == 2)
    }
}

extension RealControlPlane {
    /// The real kubectl with other client credentials (a node's).
    func kubectlAs(_ credentials: [String], _ arguments: [String]) -> (status: Int32, output: String) {
        kubectl(credentials + arguments, token: nil, asAdmin: false)
    }
}
