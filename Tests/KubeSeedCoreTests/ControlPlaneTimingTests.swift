import Foundation
import Testing
import Yams
@testable import KubeSeedCore

/// Unit tests (pure logic): the `timing` section of the cluster configuration and where its values go
/// (etcd's unit, kube-controller-manager's flags, the KubeSchedulerConfiguration).
@Suite struct ControlPlaneTimingTests {
    let file = "/etc/kubeseed/cluster.yaml"
    let head = "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\n"

    var slow: ControlPlaneTiming {
        var timing = ControlPlaneTiming()
        timing.etcdHeartbeatMilliseconds = 500
        timing.etcdElectionMilliseconds = 5000
        timing.leaseDurationSeconds = 60
        timing.renewDeadlineSeconds = 40
        timing.retryPeriodSeconds = 10
        return timing
    }

    @Test func theDefaultsAreTheGuidesAndUpstreamsAndWriteNothingNew() throws {
        let timing = ControlPlaneTiming()
        #expect(timing.problem() == nil)
        #expect(timing.etcdFlags == ["--heartbeat-interval=250", "--election-timeout=2000"])
        #expect(timing.controllerManagerFlags.isEmpty && timing.schedulerLeaderElection.isEmpty && timing.rendered.isEmpty)
        #expect(!ClusterConfig().render().contains("timing"))
    }

    @Test func aSectionIsReadRenderedIntoTheRecordAndReadBack() throws {
        let text = head + """
        timing:
          etcdHeartbeatInterval: 500
          etcdElectionTimeout: 5000
          leaderElection:
            leaseDuration: 60
            renewDeadline: 40
            retryPeriod: 10
        """
        let config = try ClusterConfig.parse(text, file: file)
        #expect(config.timing == slow)
        let record = config.render()
        _ = try Yams.load(yaml: record)
        #expect(try ClusterConfig.parse(record, file: ClusterConfig.recordPath).timing == slow)
        #expect(config.controlPlaneCluster(masterIP: "192.0.2.10").timing == slow)
    }

    @Test func theValuesReachEtcdTheControllerManagerAndTheScheduler() throws {
        var cluster = ControlPlane.Cluster(masterIP: "192.0.2.10", etcdEndpoints: ["https://192.0.2.10:2379"])
        cluster.timing = slow
        let member = EtcdUnit.Member(name: "master-1", ip: "192.0.2.10")
        let unit = EtcdUnit.render(this: member, cluster: [member], timing: slow)
        #expect(unit.contains("--heartbeat-interval=500") && unit.contains("--election-timeout=5000") && !unit.contains("=250"))
        let flags = ControlPlane.controllerManagerFlags(cluster)
        #expect(flags.contains("--leader-elect-lease-duration=60s") && flags.contains("--leader-elect-renew-deadline=40s")
                && flags.contains("--leader-elect-retry-period=10s"))
        let scheduler = try #require(try Yams.load(yaml: ControlPlane.schedulerConfig(.init("v1.20.2")!, timing: slow)) as? [String: Any])
        let election = try #require(scheduler["leaderElection"] as? [String: Any])
        #expect(election["leaderElect"] as? Bool == true && election["leaseDuration"] as? String == "60s"
                && election["renewDeadline"] as? String == "40s" && election["retryPeriod"] as? String == "10s")
        // Only what differs from upstream is written.
        cluster.timing.renewDeadlineSeconds = 10
        cluster.timing.retryPeriodSeconds = 2
        #expect(ControlPlane.controllerManagerFlags(cluster).filter { $0.hasPrefix("--leader-elect-") } == ["--leader-elect-lease-duration=60s"])
    }

    @Test(arguments: [
        ("timing:\n  etcdHeartbeatInterval: 5\n", "timing.etcdHeartbeatInterval", 4),
        ("timing:\n  etcdHeartbeatInterval: 0x10\n", "timing.etcdHeartbeatInterval", 4),
        ("timing:\n  etcdHeartbeatInterval: -250\n", "timing.etcdHeartbeatInterval", 4),
        ("timing:\n  etcdHeartbeatInterval: 250ms\n", "timing.etcdHeartbeatInterval", 4),
        ("timing:\n  etcdHeartbeatInterval: 500\n", "timing.etcdElectionTimeout", 4),
        ("timing:\n  etcdElectionTimeout: 60000\n", "timing.etcdElectionTimeout", 4),
        ("timing:\n  etcdElectionTimeout: ~\n", "timing.etcdElectionTimeout", 4),
        ("timing:\n  leaderElection:\n    renewDeadline: 15\n", "timing.leaderElection.leaseDuration", 4),
        ("timing:\n  leaderElection:\n    retryPeriod: 9\n", "timing.leaderElection.renewDeadline", 4),
        ("timing:\n  leaderElection:\n    leaseDuration: 15s\n", "timing.leaderElection.leaseDuration", 5),
        ("timing:\n  leaderElection:\n    leaseDuration: 7200\n    renewDeadline: 60\n", "timing.leaderElection.leaseDuration", 5),
        ("timing:\n  leaderElection:\n    retry: 2\n", "timing.leaderElection.retry", 5),
        ("timing:\n  etcdTimeout: 2000\n", "timing.etcdTimeout", 4),
        ("timing: fast\n", "timing", 3),
    ] as [(String, String, Int)])
    func aBadValueIsNamedWithItsLine(_ body: String, _ field: String, _ line: Int) {
        do {
            _ = try ClusterConfig.parse(head + body, file: file)
            Issue.record("accepted: \(body)")
        } catch let error as ConfigError {
            #expect(error.field == field && error.line == line, "\(error)")
            #expect(error.description.contains(file))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
