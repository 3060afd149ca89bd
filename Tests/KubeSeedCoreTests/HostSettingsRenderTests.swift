import Foundation
import Testing
import Yams
@testable import KubeSeedCore

/// The host block KubeSeed writes into the master's own join file reads back into the same settings,
/// so the agent on the master prepares the host exactly as `seed init` did (no pass undoes another).
@Suite struct HostSettingsRenderTests {
    static let blocks = [
        "",
        "  timezone: Asia/Shanghai\n  dataDir: /srv/kubeseed-data\n",
        "  extraSysctls: {net.core.somaxconn: \"4096\", vm.swappiness: \"1\"}\n  disableIPv6: true\n  extraModules: [dummy]\n",
        "  disableIPv6: true\n  extraSysctls: {vm.swappiness: \"1\"}\n  localRTC: true\n  ntpService: systemd-timesyncd.service\n",
        "  selinux: disabled\n  disableFirewalld: false\n  dataDir: /data2\n  timezone: UTC\n",
        "  extraSysctls: {vm.swappiness: \"0\", net.ipv4.ip_forward: \"1\"}\n",
        "  disableIPv6: true\n  extraSysctls: {net.ipv6.conf.all.disable_ipv6: \"1\", net.core.somaxconn: \"1024\"}\n",
        "  extraSysctls: {net.ipv6.conf.all.disable_ipv6: \"0\"}\n  disableIPv6: true\n",
    ]

    func settings(_ block: String) throws -> NodePrepSettings {
        try AgentConfig.parse("apiVersion: kubeseed.io/v1alpha1\nkind: AgentConfig\nhost:\n" + (block.isEmpty ? "  {}\n" : block), file: "agent.yaml")
    }

    @Test(arguments: blocks)
    func aRenderedHostBlockReadsBackIntoTheSameSettings(_ block: String) throws {
        let original = try settings(block)
        let rendered = HostSettingsParser.render(original)
        let text = YAMLDocument.render(header: "", [("apiVersion", .string("kubeseed.io/v1alpha1")), ("kind", .string("AgentConfig")),
                                                    ("host", .map(rendered))])
        #expect(try AgentConfig.parse(rendered.isEmpty ? text.replacingOccurrences(of: "host: {}", with: "") : text, file: "rendered.yaml") == original,
                "\(text)")
    }

    @Test func theOrderOfKeysInTheFileDoesNotChangeTheSettings() throws {
        let one = try settings("  extraSysctls: {net.ipv6.conf.all.disable_ipv6: \"0\"}\n  disableIPv6: true\n")
        let other = try settings("  disableIPv6: true\n  extraSysctls: {net.ipv6.conf.all.disable_ipv6: \"0\"}\n")
        #expect(one == other)
    }

    @Test func theMastersJoinFileCarriesTheMastersHostSettings() throws {
        var cluster = ClusterConfig()
        cluster.masterName = "master-1"
        cluster.masterIP = "192.0.2.10"
        cluster.host = try settings("  dataDir: /srv/kubeseed-data\n  timezone: Asia/Shanghai\n  extraSysctls: {net.core.somaxconn: \"4096\"}\n")
        var request = JoinRequest(nodeName: "master-1", nodeIP: "192.0.2.10", roles: ["control-plane"], expires: Date().addingTimeInterval(3600))
        request.host = cluster.host
        let text = JoinFile.render(cluster: cluster, caPEM: try golden("test-ca.pem"), token: BootstrapToken("abcdef.0123456789abcdef")!, request: request)
        #expect(try JoinFile.parse(text, file: "join.yaml").host == cluster.host)
    }
}
