import Foundation
import Testing
import Yams
@testable import KubeSeedCore

/// Unit tests (pure logic): values the parsers once let through, each refused with the field and line,
/// and values the renderers write so that no YAML reader takes them for anything but strings.
@Suite struct ValidationClassTests {
    func cluster(_ body: String) -> String { "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\ncluster:\n" + body }

    @Test(arguments: [("10.254.0.0/16", "10.254.128.0/17"), ("10.0.0.0/8", "10.254.0.0/16"), ("10.254.0.0/16", "10.254.0.0/16")])
    func overlappingServiceAndPodRangesAreRefused(_ service: String, _ pod: String) {
        let text = cluster("  serviceCIDR: \(service)\n  podCIDR: \(pod)\n  clusterDNS: \(service.split(separator: "/")[0].dropLast())2\n")
        #expect { _ = try ClusterConfig.parse(text, file: "cluster.yaml") } throws: { error in
            let error = error as? ConfigError
            return error?.field == "cluster.podCIDR" && error?.line == 4
        }
    }

    @Test func separateRangesPass() throws {
        #expect(!IPAddress.overlaps("10.254.0.0/16", "172.30.0.0/16"))
        #expect(!IPAddress.overlaps("10.254.0.0/17", "10.254.128.0/17"))
        #expect(IPAddress.overlaps("fd00:10::/108", "fd00:10::/64"))
        _ = try ClusterConfig.parse(cluster("  serviceCIDR: 10.254.0.0/16\n  podCIDR: 172.30.0.0/16\n"), file: "cluster.yaml")
    }

    @Test(arguments: ["30000-32767-", "30000--32767", "+30000-32767", "030000-32767", "30000", "30000-", "-32767", "32767-30000", "0-100", "1-65536", "1 - 2", "0x10-0x20"])
    func portRangesAreNMOnly(_ range: String) {
        #expect { _ = try ClusterConfig.parse(cluster("  nodePortRange: \"\(range)\"\n"), file: "cluster.yaml") } throws: { error in
            (error as? ConfigError)?.field == "cluster.nodePortRange" && (error as? ConfigError)?.line == 4
        }
    }

    @Test func aGoodPortRangePasses() throws {
        #expect(try ClusterConfig.parse(cluster("  nodePortRange: 30000-32767\n"), file: "cluster.yaml").nodePortRange == "30000-32767")
    }

    @Test(arguments: ["docker.io:-1", "docker.io:0", "docker.io:65536", "docker.io:+80", "docker.io:080", "docker.io:", ":5000", "Docker.io", "a..b"])
    func registryHostsWithBadPortsAreRefused(_ host: String) {
        #expect(!Validate.isRegistryHost(host))
    }

    @Test(arguments: ["docker.io", "registry.example.internal:5000", "localhost:5000", "quay.io"])
    func registryHostsPass(_ host: String) { #expect(Validate.isRegistryHost(host)) }

    @Test(arguments: ["registry.k8s.io/pause:3.9", "pause", "library/pause:3.9", "registry.example.internal:5000/k8s/pause:3.9",
                      "registry.k8s.io/pause@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097",
                      "localhost/pause:latest", "my_org/my__image-name:v1.2"])
    func imageReferencesPass(_ image: String) { #expect(Validate.isImageReference(image), "\(image)") }

    @Test(arguments: ["registry.k8s.io/pause:3.9\n", "registry.k8s.io/pause:3.9\nx", "Registry.K8s.io/Pause", "pause:", "pause:-x", "/pause",
                      "pause//x", "pause@sha256:xyz", "a b", "pause:3.9\"", "pause:%H", "pause:$X", "ré/pause", String(repeating: "a", count: 256),
                      "registry.k8s.io:-1/pause", "-pause", "pause-", "pau..se"])
    func notImageReferencesAreRefused(_ image: String) { #expect(!Validate.isImageReference(image), "\(image)") }

    @Test(arguments: ["+0002000", "0002000", "2_000", "0x7d0", "2e3", " 110", "110 ", "-0", "1.0", "", "99999999999999999999"])
    func integersAreWrittenAsPeopleWriteThem(_ text: String) { #expect(Validate.decimalInteger(text) == nil, "\(text)") }

    @Test func plainIntegersParse() {
        #expect(Validate.decimalInteger("110") == 110)
        #expect(Validate.decimalInteger("-1") == -1)
        #expect(Validate.decimalInteger("0") == 0)
    }

    /// Strings a YAML 1.1 reader (the Go YAML the kubelet and kube-proxy use) would turn into numbers,
    /// booleans, nulls or timestamps when written bare.
    static let yaml11Lookalikes = ["0o17", "017", "0x1F", "1_000", "1:20", "1:20:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
                                   ".inf", "-.inf", ".NaN", "1e3", "+12", "~", "null", "Null", "y", "Y", "yes", "No", "on", "OFF",
                                   "true", "False", "", " leading", "a: b", "#x", "192.0.2.11", "10.254.0.2"]

    @Test(arguments: yaml11Lookalikes)
    func renderedStringsThatLookLikeOtherTypesAreQuoted(_ value: String) throws {
        let text = YAMLDocument.render(header: "", [("key", .string(value))])
        #expect(text.hasPrefix("key: \""), "\(text)")
        let node = try #require(try Yams.compose(yaml: text))
        #expect(node["key"]?.string == value)
    }

    @Test(arguments: ["cluster.local", "/etc/kubernetes/cert/ca.pem", "ipvs", "systemd", "kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"])
    func plainWordsStayPlain(_ value: String) {
        #expect(YAMLDocument.render(header: "", [("key", .string(value))]) == "key: \(value)\n")
    }
}

/// Unit tests (pure logic) of what the red-team pass found.
@Suite struct RedTeamFindingTests {
    @Test func redactingAnAliasBombNeverComposesIt() throws {
        let url = BadJoinCorpus.directory.appendingPathComponent("35-alias-bomb-fourteen-levels.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        // 9^14 scalars if aliases were followed; the text's words when it is not composed.
        let words = SecretRedaction.scalars(of: text)
        #expect(words.count <= 300 && words.contains("o"), "\(words.count)")
    }

    @Test(arguments: ["tokenabcdef.0123456789abcdef", "aabcdef.0123456789abcdefpi", "sssabcdef.0123456789abcdefsss"])
    func aTokenGluedToOtherLettersStaysOutOfTheFieldPath(_ key: String) throws {
        let text = "bootstrap:\n  \(key): x\n"
        let error = ConfigError(.unknownKey, file: "join.yaml", field: "bootstrap.\(key)", line: 2, "unknown key")
        #expect(!error.withholdingValues(of: text).description.contains("0123456789abcdef"))
    }

    @Test func aTokenInAKeyStaysOutOfTheFieldPath() throws {
        let error = ConfigError(.unknownKey, file: "join.yaml", field: "bootstrap.token abcdef.0123456789abcdef", line: 3, "unknown key")
            .withholdingValues(of: "bootstrap: {token abcdef.0123456789abcdef}\n")
        #expect(!error.description.contains("0123456789abcdef"), "\(error)")
        #expect(error.description.contains("field 'bootstrap.token …'"), "\(error)")
    }

    @Test func controlCharactersNeverReachAMessage() {
        let error = ConfigError(.invalidValue, file: "agent.yaml", field: "host.x\nREADY=1", line: 2, "'a\rb' is bad\u{85}")
        #expect(!error.description.unicodeScalars.contains { Validate.isControl($0) }, "\(error)")
    }

    @Test(arguments: ["/.", "//", "/./", "/srv/./k8s", "/srv//k8s", "/srv/k8s/", "/srv/.."])
    func pathsWithDotOrEmptyPartsAreRefused(_ path: String) { #expect(!Validate.isCleanAbsolutePath(path), "\(path)") }

    @Test(arguments: ["1-65535", "80-90", "2000-3000", "6000-7000", "10000-11000"])
    func nodePortRangesThatTakeTheControlPlanesPortsAreRefused(_ range: String) {
        let text = "apiVersion: kubeseed.io/v1alpha1\nkind: ClusterConfiguration\ncluster:\n  nodePortRange: \(range)\n"
        #expect { _ = try ClusterConfig.parse(text, file: "cluster.yaml") } throws: { error in
            (error as? ConfigError)?.field == "cluster.nodePortRange"
        }
    }

    @Test func containerdRootAndStateMustDiffer() {
        let text = sampleJoinFile().replacingOccurrences(of: "containerd:\n", with: "containerd:\n  root: /srv/containerd\n  state: /srv/containerd\n")
        #expect { _ = try JoinFile.parse(text, file: "join.yaml") } throws: { error in
            (error as? ConfigError)?.field == "containerd"
        }
    }
}
