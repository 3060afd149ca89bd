import Testing
@testable import KubeSeedCore

/// `cluster.kubeletCertificateDuration` reaches the controller manager's `--cluster-signing-duration`, survives the
/// record, and is refused, naming the field and line, outside 10m to 87600h.
@Suite struct KubeletCertificateDurationTests {
    func config(_ value: String) -> String {
        "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\ncluster:\n  kubeletCertificateDuration: \(value)\nmaster:\n  name: master-1\n  ip: 192.0.2.10\n"
    }

    @Test(arguments: [("8760h", 525_600), ("15m", 15), ("10m", 10), ("87600h", 5_256_000), ("600m", 600)])
    func aDurationIsTakenAndRendered(text: String, minutes: Int) throws {
        #expect(Validate.signingDurationMinutes(text) == minutes)
        let parsed = try ClusterConfig.parse(config(text), file: "cluster.yaml")
        #expect(parsed.kubeletCertificateDuration == text)
        #expect(try ClusterConfig.parse(parsed.render(), file: "record").kubeletCertificateDuration == text)
        #expect(ControlPlane.controllerManagerFlags(parsed.controlPlaneCluster(masterIP: "192.0.2.10")).contains("--cluster-signing-duration=\(text)"))
    }

    @Test func theDefaultIsAYearAndTheRecordDoesNotNameIt() {
        let config = ClusterConfig()
        #expect(ControlPlane.controllerManagerFlags(config.controlPlaneCluster(masterIP: "192.0.2.10")).contains("--cluster-signing-duration=8760h"))
        #expect(!config.render().contains("kubeletCertificateDuration"))
    }

    @Test(arguments: ["9m", "0h", "87601h", "1d", "-5h", "05h", "h", "m", "5", "5H", "1h30m", "99999999999999999h", "10 m", "\"\"", "\"15m\\n--v=9\""])
    func anythingElseIsRefusedNamingTheFieldAndLine(text: String) {
        let error = #expect(throws: ConfigError.self) { try ClusterConfig.parse(config(text), file: "cluster.yaml") }
        #expect(error?.field == "cluster.kubeletCertificateDuration" && error?.line == 4 && error?.description.hasPrefix("cluster.yaml:4: ") == true,
                "\(String(describing: error))")
    }
}
