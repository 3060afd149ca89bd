import Foundation
import Testing
@testable import KubeSeedCommands
@testable import KubeSeedCore
@testable import KubeSeedHost
import KubeSeedHostFakes

/// When `seed init` mints its master's join file again (real files and journal on a temporary root).
@Suite struct MasterAsNodeTests {
    func joinText(_ host: NodePrepSettings) throws -> String {
        var cluster = ClusterConfig()
        cluster.masterName = "master-1"
        cluster.masterIP = "192.0.2.10"
        var request = JoinRequest(nodeName: "master-1", nodeIP: "192.0.2.10", roles: ["control-plane"], expires: Date().addingTimeInterval(3600))
        request.host = host
        return JoinFile.render(cluster: cluster, caPEM: ConvergeTests.ca, token: BootstrapToken("abcdef.0123456789abcdef")!, request: request)
    }

    @Test func kubeSeedsJoinFileIsMintedAgainWhenTheClustersHostSettingsChangedAndAnOperatorsNever() throws {
        let host = try TemporaryHost()
        let operations = MasterOperations(root: host.root, effects: host.effects, effectiveUID: 0)
        let journal = try ChangeJournal(root: host.root)
        var before = NodePrepSettings()
        before.timezone = "Asia/Shanghai"
        var after = before
        after.timezone = "UTC"
        let text = try joinText(before)
        try TemporaryHost.write(host.root, JoinFile.defaultPath, text)
        #expect(try operations.needsJoinFile(JoinFile.defaultPath, host: after, journal: journal, now: Date()) == false, "not KubeSeed's: never replaced")
        _ = try journal.record([.fileWritten(path: JoinFile.defaultPath, sha256: ChangeJournal.sha256(Data(text.utf8)))])
        #expect(try operations.needsJoinFile(JoinFile.defaultPath, host: before, journal: journal, now: Date()) == false)
        #expect(try operations.needsJoinFile(JoinFile.defaultPath, host: after, journal: journal, now: Date()) == true)
    }

    @Test func theMasterAsNodeLineNamesTheSlowestStepsAndTheirTotal() {
        let performed = ["write /etc/crictl.yaml (18 ms)", "restart containerd.service (9120 ms)", "reload systemd (2210 ms)",
                         "start kubeseed-api-balancer.service (1004 ms)", "imported the images in /var/lib/kubeseed/images/pause.tar"]
        #expect(MasterOperations.slowestSteps(performed)
                == "5 steps in 12352 ms, the slowest: restart containerd.service (9120 ms), reload systemd (2210 ms), start kubeseed-api-balancer.service (1004 ms)")
    }
}
