import Foundation
import Glibc
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
@testable import KubeSeedPKI
import KubeSeedHostFakes

/// `seed join-file --role control-plane` and the refusals of `seed join`, for real against temporary
/// roots (real PKI, sealing and files; systemd is the recording fake). The minting master's etcd is
/// "at" 127.0.0.1, where nothing listens: every refusal here comes before etcd would be asked, but for
/// the last, which is that no etcd member answers. The three-master VM run joins for real.
@Suite struct ControlPlaneJoinTests {
    final class Output: @unchecked Sendable { var text = "" }

    func operations(_ host: TemporaryHost) -> (MasterOperations, Output) {
        let output = Output()
        var operations = MasterOperations(root: host.root, effects: host.effects, effectiveUID: 0)
        operations.write = { output.text += $0 }
        return (operations, output)
    }

    /// A first master with its whole PKI (made a day ago) and encryption config.
    func firstMaster() throws -> TemporaryHost {
        let host = try TemporaryHost()
        var config = ClusterConfig()
        config.name = "test"
        config.masterName = "master-1"
        config.masterIP = "127.0.0.1"
        config.keyAlgorithm = .ecdsaP256
        try TemporaryHost.write(host.root, ClusterConfig.recordPath, config.render())
        try FileManager.default.createDirectory(atPath: host.root.resolve(ControlPlane.certDir), withIntermediateDirectories: true)
        _ = try PKIStore(root: host.root).ensure(PKIParameters(config), algorithm: .ecdsaP256, journal: ChangeJournal(root: host.root),
                                                 now: Date().addingTimeInterval(-86400))
        try TemporaryHost.write(host.root, ControlPlane.encryptionConfigPath, ControlPlane.encryptionConfig(key: Array(repeating: 9, count: 32)))
        return host
    }

    /// Mints master-2's file on `master`; returns its text and the key the output showed.
    func mint(on master: TemporaryHost, now: Date = Date(), lifetime: TimeInterval = 7200) async throws -> (text: String, key: String, output: String) {
        let (operations, output) = operations(master)
        let request = JoinRequest(nodeName: "master-2", nodeIP: "192.0.2.12", roles: ["control-plane"], expires: now.addingTimeInterval(lifetime))
        let path = "/root/master-2-\(Int(now.timeIntervalSince1970)).yaml"
        #expect(await operations.mintJoinFile(request, output: path, now: now) == 0, "\(output.text)")
        let key = try #require(output.text.split(whereSeparator: { !$0.isHexDigit }).first { $0.count == 64 }.map(String.init))
        return (try #require(try master.root.readText(path)), key, output.text)
    }

    @Test func aMastersJoinFileSealsTheSharedKeysAndShowsTheKeyOnceWithoutStoringIt() async throws {
        let master = try firstMaster()
        let (text, key, output) = try await mint(on: master)
        let join = try JoinFile.parse(text, file: "master-2.yaml")
        #expect(join.roles == ["control-plane"] && join.nodeIP == "192.0.2.12" && join.controlPlane != nil)
        #expect(output.contains("shown once"))
        // Neither the key nor any shared secret is in the file, the journal or anywhere under the root.
        let caKey = try #require(try master.root.readText("/etc/kubernetes/cert/ca-key.pem"))
        #expect(!text.contains(key) && !text.contains("PRIVATE KEY"))
        for (path, content) in try master.snapshot() where !path.hasPrefix("/etc/kubernetes/cert") {
            #expect(!content.contains(key), "\(path) holds the certificate key")
            #expect(!content.contains(caKey), "\(path) holds the CA key")
        }
        let files = try SealedSecrets(sealed: join.controlPlane!.sealed, cluster: "test",
                                      node: MasterOperations.sealedBinding("master-2", "192.0.2.12", endpoints: join.apiServerEndpoints, caPEM: join.caCertificatePEM),
                                      expires: join.controlPlane!.expires)
            .open(with: try #require(SealedSecrets.Key(hex: key)))
        #expect(Set(files.keys) == Set(SharedSecretFile.all))
        #expect(files[SharedSecretFile.caKey] == Data(caKey.utf8))
        // The etcd CA travels only here, and it is not the cluster CA.
        #expect(files[SharedSecretFile.etcdCAKey] == (try master.root.read("/etc/kubernetes/cert/etcd-ca-key.pem")))
        #expect(files[SharedSecretFile.etcdCACertificate] != Data(join.caCertificatePEM.utf8))
        #expect(files[SharedSecretFile.encryptionKey] == Data(repeating: 9, count: 32))
    }

    @Test func everyBadJoinIsRefusedWithTheFieldAndExit2AndChangesNothing() async throws {
        let master = try firstMaster()
        let (text, key, _) = try await mint(on: master)
        let (expiredText, expiredKey, _) = try await mint(on: master, now: Date().addingTimeInterval(-3 * 3600), lifetime: 3600)
        let join = try JoinFile.parse(text, file: "m.yaml")
        let sealed = join.controlPlane!.sealed
        var tampered = Array(sealed)
        tampered[40] = tampered[40] == "A" ? "B" : "A"
        let otherKey = String(repeating: "0", count: 64)

        let newHost = try TemporaryHost()
        try TemporaryHost.write(newHost.root, "/root/m.yaml", text)
        try TemporaryHost.write(newHost.root, "/root/tampered.yaml", text.replacingOccurrences(of: sealed, with: String(tampered)))
        try TemporaryHost.write(newHost.root, "/root/expired.yaml", expiredText)
        try TemporaryHost.write(newHost.root, "/root/node.yaml", text.components(separatedBy: "controlPlane:")[0])
        try TemporaryHost.write(newHost.root, "/root/other-ip.yaml", text.replacingOccurrences(of: "192.0.2.12", with: "192.0.2.99"))
        // The API servers edited to send the join's etcd questions to another machine (a worker's kubelet).
        try TemporaryHost.write(newHost.root, "/root/other-peer.yaml", text.replacingOccurrences(of: "https://127.0.0.1:6443", with: "https://192.0.2.21:6443"))
        try TemporaryHost.write(newHost.root, "/root/more-peers.yaml", try Self.addingEndpoint("https://192.0.2.21:6443", to: text))
        let before = try newHost.snapshot()
        var (operations, output) = operations(newHost)
        operations.localAddresses = { ["127.0.0.1", "192.0.2.12"] }
        let cases: [(file: String, key: String, expected: String)] = [
            ("/root/m.yaml", otherKey, "controlPlane.secrets"),
            ("/root/m.yaml", "not-a-key", "--certificate-key"),
            ("/root/tampered.yaml", key, "controlPlane.secrets"),
            ("/root/expired.yaml", expiredKey, "controlPlane.expires"),
            ("/root/node.yaml", key, "controlPlane"),
            ("/root/absent.yaml", key, "no such file"),
            // The file's IP edited: the sealed secrets are bound to it.
            ("/root/other-ip.yaml", key, "controlPlane.secrets"),
            // The endpoints edited: bound too, so refused before any is asked.
            ("/root/other-peer.yaml", key, "controlPlane.secrets"),
            ("/root/more-peers.yaml", key, "controlPlane.secrets"),
            // Everything right, but no etcd member answers (127.0.0.1:2379 is closed).
            ("/root/m.yaml", key, "no etcd member answered"),
        ]
        for item in cases {
            output.text = ""
            #expect(await operations.joinControlPlane(joinPath: item.file, keyText: item.key) == 2, "\(item.file): \(output.text)")
            #expect(output.text.contains("nothing changed") && output.text.contains(item.expected), "\(item.file): \(output.text)")
            #expect(!output.text.contains(key) && !output.text.contains("PRIVATE"))
            #expect(try newHost.snapshot() == before, "\(item.file) changed the host")
        }

        // Another host's IP, and an earlier member's etcd data left here: refused before etcd is asked.
        operations.localAddresses = { ["127.0.0.1"] }
        output.text = ""
        #expect(await operations.joinControlPlane(joinPath: "/root/m.yaml", keyText: key) == 2)
        #expect(output.text.contains("field 'node.ip'") && output.text.contains("not an address of this host"), "\(output.text)")
        operations.localAddresses = { ["192.0.2.12"] }
        try TemporaryHost.write(newHost.root, "/data/k8s/etcd/data/member/snap/db", "old")
        output.text = ""
        #expect(await operations.joinControlPlane(joinPath: "/root/m.yaml", keyText: key) == 2)
        #expect(output.text.contains("field 'host.dataDir'"), "\(output.text)")
        try newHost.root.remove("/data/k8s/etcd/data/member/snap/db")

        // A host that already holds another cluster's CA is refused before etcd is asked.
        try TemporaryHost.write(newHost.root, "/etc/kubernetes/cert/ca.pem", "-----BEGIN CERTIFICATE-----\nanother cluster's\n-----END CERTIFICATE-----\n")
        output.text = ""
        #expect(await operations.joinControlPlane(joinPath: "/root/m.yaml", keyText: key) == 2)
        #expect(output.text.contains("cluster.caCertificate"), "\(output.text)")
    }

    /// A join that stopped right after etcd added its member (before the unit and the record) leaves only
    /// the journal's record of the add: reset acts on it, asking the peers it names to remove the member.
    /// Here no etcd answers at them, so the reset is refused (exit 2) instead of leaving a learner behind.
    @Test func resetFindsAMemberAddedByAJoinThatStoppedThroughTheJournal() async throws {
        let host = try firstMaster()
        try host.root.remove(ClusterConfig.recordPath)
        var (operations, _) = operations(host)
        #expect(await operations.leaveEtcd(force: false).output.isEmpty, "no unit, no record, no add: nothing to leave")
        try ChangeJournal(root: host.root).record([.etcdMemberAdded(peerURL: "https://192.0.2.12:2380", via: ["https://127.0.0.1:2379"])])
        operations.location.journalPath = Journal.defaultPath
        let leave = await operations.leaveEtcd(force: false)
        #expect(leave.refused, "\(leave.output)")
        #expect(leave.output.contains("could not remove this master's etcd member") && leave.output.contains("127.0.0.1:2379"), "\(leave.output)")
    }

    /// `text` with one more API server after the first it lists, in the file's own list style.
    static func addingEndpoint(_ endpoint: String, to text: String) throws -> String {
        let lines = text.components(separatedBy: "\n")
        let index = try #require(lines.firstIndex { $0.contains("https://127.0.0.1:6443") })
        var copy = lines
        if lines[index].contains("[") {
            copy[index] = lines[index].replacingOccurrences(of: "https://127.0.0.1:6443", with: "https://127.0.0.1:6443, \(endpoint)")
        } else {
            copy.insert(lines[index].replacingOccurrences(of: "https://127.0.0.1:6443", with: endpoint), at: index + 1)
        }
        let edited = copy.joined(separator: "\n")
        #expect(try JoinFile.parse(edited, file: "edited.yaml").apiServerEndpoints.count == 2)
        return edited
    }

    @Test func theAgentRefusesAMastersJoinFileAndChangesNothing() async throws {
        let master = try firstMaster()
        let (text, _, _) = try await mint(on: master)
        let node = try TemporaryHost()
        try TemporaryHost.write(node.root, JoinFile.defaultPath, text)
        chmod(node.root.resolve(JoinFile.defaultPath), 0o600)
        let before = try node.snapshot()
        let pass = await AgentOperations(root: node.root, effects: node.effects, settings: NodePrepSettings(), effectiveUID: 0).converge()
        #expect(!pass.status.ready && !pass.retryable)
        #expect(pass.output.contains("field 'controlPlane'") && pass.output.contains("seed join"), "\(pass.output)")
        #expect(try node.snapshot() == before)
    }
}

/// How `seed-agent reset` on a master finds its own IP and its peers in its etcd unit when a join
/// stopped before recording (pure reading of the unit KubeSeed renders).
@Suite struct EtcdLeaveUnitReadingTests {
    @Test func theAdvertisedPeerAndTheInitialClusterAreReadFromTheRenderedUnit() {
        let unit = EtcdUnit.render(this: .init(name: "master-3", ip: "192.0.2.13"),
                                   cluster: [.init(name: "master-1", ip: "192.0.2.11"), .init(name: "master-2", ip: "2001:db8::12"), .init(name: "master-3", ip: "192.0.2.13")],
                                   state: .existing)
        #expect(EtcdUnit.advertisedPeerHost(unit) == "192.0.2.13")
        #expect(EtcdUnit.initialClusterHosts(unit) == ["192.0.2.11", "2001:db8::12", "192.0.2.13"])
        #expect(EtcdUnit.advertisedPeerHost("[Service]\nExecStart=/usr/bin/etcd\n") == nil)
    }
}

/// `seed init` and `seed pki` on a PKI made before the etcd CA, against a temporary root (systemd is the
/// recording fake; no etcd listens at 127.0.0.1): the move needs etcd to count its members and `seed
/// init`'s restarts, so both refuse here with exit 2 and change nothing. The move itself is in
/// PKIStoreTests and, with etcd and its data, in the VM's master scenario.
@Suite struct EtcdCAMoveRefusalTests {
    @Test func anOldLayoutIsNotMovedWithoutCountingTheMembersOrBySeedPKIAlone() async throws {
        let host = try ControlPlaneJoinTests().firstMaster()
        var config = try #require(try ClusterConfig.parse(try #require(try host.root.readText(ClusterConfig.recordPath)), file: "record"))
        config.masterName = "master-1"
        try host.makeLegacyEtcdLayout(PKIStore(root: host.root), PKIParameters(config))
        #expect(try PKIStore(root: host.root).legacyEtcdLayout())
        let before = try host.snapshot()
        let (operations, output) = ControlPlaneJoinTests().operations(host)
        #expect(await operations.run("seed pki", [.pki], config, source: "cluster.yaml") == 2)
        #expect(output.text.contains("nothing changed") && output.text.contains("run 'seed init'"), "\(output.text)")
        output.text = ""
        #expect(await operations.run("seed init", InitPhase.initialization, config, source: "cluster.yaml") == 2)
        #expect(output.text.contains("needs etcd running to count its members") && output.text.contains("systemctl start etcd"), "\(output.text)")
        // Single phases that would put etcd and the API server on different CAs are refused the same way.
        for (only, skipping) in [(["control-plane"], []), (["pki", "control-plane"], []), (["etcd"], []), (nil, ["etcd"]), (nil, ["pki"])] as [([String]?, [String])] {
            output.text = ""
            #expect(await operations.initialize(config, source: "cluster.yaml", only: only, skipping: skipping) == 2, "\(only ?? []) less \(skipping)")
            #expect(output.text.contains("nothing changed") && output.text.contains("run 'seed init'"), "\(output.text)")
        }
        #expect(try host.snapshot() == before)
    }
}
