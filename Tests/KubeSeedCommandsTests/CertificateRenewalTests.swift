import Foundation
import Glibc
import Testing
import X509
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedPKI
import KubeSeedHostFakes

/// `seed certs renew` after `seed init`, against a temporary root (real files, PKI and journal; systemd the
/// recording fake) and `FakeCluster`. The VM renews on a real master with the real binaries.
@Suite struct CertificateRenewalTests {
    let paths = MasterSuccessPathTests()

    func initialized() async throws -> (TemporaryHost, MasterOperations, MasterSuccessPathTests.Output) {
        try await paths.initializedMaster()
    }

    func certificate(_ host: TemporaryHost, _ name: String) throws -> Certificate {
        try Certificate(pemEncoded: try #require(try host.root.readText("\(NodePaths.certDir)/\(name).pem")))
    }

    @Test func renewingTheAPIServerAndAdminRestartsWhatReadsThemAndRewritesTheKubeconfigs() async throws {
        let (host, master, output) = try await initialized()
        let oldServer = try certificate(host, "kube-apiserver"), oldAdmin = try certificate(host, "admin")
        let adminKubeconfig = try #require(try host.root.readText(ControlPlane.adminKubeconfigPath))
        let schedulerKubeconfig = try #require(try host.root.readText("/etc/kubernetes/kube-scheduler.kubeconfig"))

        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: ["kube-apiserver", "admin"],
                                               all: false, dueWithinDays: nil) == 0, "\(output.text)")
        let newServer = try certificate(host, "kube-apiserver"), newAdmin = try certificate(host, "admin")
        #expect(newServer.serialNumber != oldServer.serialNumber && newAdmin.serialNumber != oldAdmin.serialNumber)
        #expect(newServer.subject == oldServer.subject)
        #expect(newServer.subjectAlternativeNameStrings == oldServer.subjectAlternativeNameStrings)
        #expect(newServer.publicKey != oldServer.publicKey, "a renewal makes a new key")
        #expect(host.root.mode("\(NodePaths.certDir)/kube-apiserver-key.pem") == 0o600)
        // The admin kubeconfig now carries the new certificate; the scheduler's, whose certificate stayed, is untouched.
        let rewritten = try #require(try host.root.readText(ControlPlane.adminKubeconfigPath))
        #expect(rewritten != adminKubeconfig)
        #expect(KubeconfigCredential.certificates(in: rewritten)?.first?.pem == newAdmin.pem)
        #expect(try host.root.readText("/etc/kubernetes/kube-scheduler.kubeconfig") == schedulerKubeconfig)
        #expect(try host.root.readText(RootKubectl.configPath) == rewritten, "root's copy follows")
        // Only what reads a renewed file restarts, once each; etcd and the controllers keep running.
        let restarts = host.services.calls.filter { $0.hasPrefix("restart ") }
        #expect(restarts == ["restart kube-apiserver.service", "restart kubeseed-csr-approver.service"], "\(host.services.calls)")
        #expect(output.text.contains("renewed kube-apiserver (until "), "\(output.text)")

        // The journal knows the new files: reset removes them as it removes the rest.
        let journal = try ChangeJournal(root: host.root)
        let key = try #require(try host.root.read("\(NodePaths.certDir)/kube-apiserver-key.pem"))
        #expect(journal.recordsWrite(of: key, at: "\(NodePaths.certDir)/kube-apiserver-key.pem"))
    }

    @Test func dueRenewsNothingWhenNothingIsNearItsEndAndRestartsNothing() async throws {
        let (host, master, output) = try await initialized()
        let before = try host.snapshot(withTimes: true)
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: [], all: false, dueWithinDays: 30) == 0,
                "\(output.text)")
        #expect(output.text.contains("none ends within 30 days"), "\(output.text)")
        #expect(output.text.contains("seed certs renew: unchanged"), "\(output.text)")
        #expect(!host.services.calls.contains { $0.hasPrefix("restart") || $0.hasPrefix("stop") }, "\(host.services.calls)")
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test func dueWithAWindowPastTheLeavesEndsRenewsEveryLeafAndEtcdFirst() async throws {
        let (host, master, output) = try await initialized()
        let caBefore = try certificate(host, "ca"), etcdCABefore = try certificate(host, "etcd-ca")
        // Leaves are issued for 5 years: a window of 6 takes them all, never a CA.
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: [], all: false, dueWithinDays: 6 * 366) == 0,
                "\(output.text)")
        for name in ClusterPKI.leafNames {
            #expect(output.text.contains("\(name) (until"), "\(name) not renewed: \(output.text)")
        }
        let caAfter = try certificate(host, "ca"), etcdCAAfter = try certificate(host, "etcd-ca")
        #expect(caAfter == caBefore && etcdCAAfter == etcdCABefore)
        let etcdServer = try certificate(host, "etcd-server"), apiServer = try certificate(host, "kube-apiserver")
        #expect(etcdServer.isSigned(by: etcdCABefore) && apiServer.isSigned(by: caBefore))
        let restarts = host.services.calls.filter { $0.hasPrefix("restart ") }
        #expect(restarts.first == "restart etcd.service", "\(restarts)")
        #expect(Set(restarts).count == restarts.count, "a unit restarted twice: \(restarts)")
        #expect(Set(restarts) == ["restart etcd.service", "restart kube-apiserver.service", "restart kube-controller-manager.service",
                                  "restart kube-scheduler.service", "restart kubeseed-csr-approver.service"], "\(restarts)")
    }

    @Test(arguments: [
        (["ca"], "ca is a CA"), (["etcd-ca"], "etcd-ca is a CA"), (["kube-apiserver\u{1b}[2J"], "a control character"), (["sa"], "is not a certificate KubeSeed renews"),
    ])
    func badNamesChangeNothing(_ names: [String], _ message: String) async throws {
        let (host, master, output) = try await initialized()
        let before = try host.snapshot(withTimes: true)
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: names, all: false, dueWithinDays: nil) == 2)
        #expect(output.text.contains("nothing changed") && output.text.contains(message), "\(output.text)")
        #expect(try host.snapshot(withTimes: true) == before)
    }

    @Test func namesWithAllOrDueTogetherAreRefused() async throws {
        let (_, master, output) = try await initialized()
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: ["admin"], all: true, dueWithinDays: nil) == 2)
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: [], all: true, dueWithinDays: 30) == 2)
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: [], all: false, dueWithinDays: nil) == 2)
        #expect(output.text.components(separatedBy: "give certificate names, --all, or --due").count == 4, "\(output.text)")
    }

    @Test func aPairWhoseKeyNoLongerMatchesIsRefusedAndNothingIsWritten() async throws {
        let (host, master, output) = try await initialized()
        let other = try #require(try host.root.read("\(NodePaths.certDir)/admin-key.pem"))
        try host.root.writeAtomically("\(NodePaths.certDir)/kube-scheduler-key.pem", other, mode: 0o600)
        let before = try host.snapshot(withTimes: true)
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: ["kube-proxy", "kube-scheduler"],
                                               all: false, dueWithinDays: nil) == 1)
        #expect(output.text.contains("kube-scheduler-key.pem does not belong to"), "\(output.text)")
        #expect(try host.snapshot(withTimes: true) == before, "the good one in the same batch is not written either")
    }
}

extension CertificateRenewalTests {
    @Test func aRenewalCutShortBeforeItsRestartsIsFinishedByTheNextDueRun() async throws {
        let (host, master, output) = try await initialized()
        // Written, as a renewal killed before its restarts leaves them; nothing is due afterwards.
        var store = PKIStore(root: host.root)
        store.directory = master.certDirectory
        _ = try store.renew(["apiserver-etcd-client", "kube-scheduler"], PKIParameters(paths.config()), journal: try ChangeJournal(root: host.root))
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: [], all: false, dueWithinDays: 30) == 0,
                "\(output.text)")
        let restarts = host.services.calls.filter { $0.hasPrefix("restart ") }
        #expect(restarts == ["restart kube-apiserver.service", "restart kube-scheduler.service"], "\(host.services.calls)")
        // And once restarted, the next run leaves them be.
        host.services.calls = []
        output.text = ""
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: [], all: false, dueWithinDays: 30) == 0)
        #expect(!host.services.calls.contains { $0.hasPrefix("restart") }, "\(host.services.calls)")
        #expect(output.text.contains("seed certs renew: unchanged"), "\(output.text)")
    }

    @Test func aUnitStoppedOnPurposeStaysStopped() async throws {
        let (host, master, output) = try await initialized()
        try host.services.stop("kube-scheduler.service")
        try host.services.stop(ControlPlane.certsRenewTimer)
        host.services.calls = []
        #expect(await master.renewCertificates(paths.config(), source: ClusterConfig.defaultPath, names: ["kube-scheduler"], all: false, dueWithinDays: nil) == 0,
                "\(output.text)")
        #expect(host.services.units["kube-scheduler.service"]?.activeState == "inactive")
        #expect(host.services.units[ControlPlane.certsRenewTimer]?.activeState == "inactive")
        #expect(!host.services.calls.contains { $0.hasPrefix("start") || $0.hasPrefix("enable") || $0.hasPrefix("restart") }, "\(host.services.calls)")
    }
}
