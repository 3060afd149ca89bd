import Crypto
import Foundation
import SwiftASN1
import KubeSeedTestSupport
import Testing
import X509
@testable import KubeSeedCore

/// Test certificates made here (swift-certificates), not fetched: a CA, a leaf, an expired CA.
enum TestPKI {
    static func certificate(ca: Bool, notBefore: Date = Date(timeIntervalSinceNow: -3600),
                            notAfter: Date = Date(timeIntervalSinceNow: 86400 * 365)) -> String {
        let key = P256.Signing.PrivateKey()
        let name = try! DistinguishedName { CommonName(ca ? "kubernetes-ca" : "some-leaf") }
        let extensions = try! Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        }
        let leafExtensions = try! Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
        }
        let certificate = try! Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: notBefore, notValidAfter: notAfter, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: ca ? extensions : leafExtensions,
            issuerPrivateKey: .init(key))
        return try! certificate.serializeAsPEM().pemString
    }

    static let ca = certificate(ca: true)
}

func indented(_ pem: String, by spaces: Int) -> String {
    pem.split(separator: "\n").map { String(repeating: " ", count: spaces) + $0 }.joined(separator: "\n")
}

/// A complete, valid join file (fake data for unit tests; the token is made up).
func sampleJoinFile(ca: String = TestPKI.ca, token: String = "abcdef.0123456789abcdef", expires: String = "2099-01-01T00:00:00Z",
                    extra: String = "") -> String {
    """
    apiVersion: kubeseed.io/v1alpha1
    kind: JoinConfiguration
    cluster:
      name: prod
      kubernetesVersion: v1.31.2
      apiServerEndpoints: ["https://192.0.2.10:6443"]
      caCertificate: |
    \(indented(ca, by: 4))
      serviceCIDR: 10.254.0.0/16
      podCIDR: 172.30.0.0/16
      clusterDNS: 10.254.0.2
      clusterDomain: cluster.local
    bootstrap:
      token: \(token)
      expires: \(expires)
    node:
      name: worker-1
      ip: 192.0.2.11
      roles: [worker]
      labels:
        topology.kubernetes.io/zone: rack-1
    containerd:
      sandboxImage: registry.k8s.io/pause:3.9
      registryMirrors:
        docker.io: ["https://mirror.example.internal"]
    kubelet:
      maxPods: 110
    kubeProxy:
      ipvsScheduler: wrr
    host:
      timezone: Asia/Shanghai
    \(extra)
    """
}

/// Unit tests (pure logic): join file parsing and the corpus of bad join files.
@Suite struct JoinFileTests {
    let file = "/etc/kubeseed/join.yaml"

    @Test func parsesASampleFile() throws {
        let join = try JoinFile.parse(sampleJoinFile(), file: file)
        #expect(join.clusterName == "prod")
        #expect(join.kubernetesVersion == "v1.31.2")
        #expect(join.apiServerEndpoints == ["https://192.0.2.10:6443"])
        #expect(join.token.id == "abcdef")
        #expect(join.nodeName == "worker-1")
        #expect(join.nodeIP == "192.0.2.11")
        #expect(join.labels == ["topology.kubernetes.io/zone": "rack-1"])
        #expect(join.containerd.registryMirrors == ["docker.io": ["https://mirror.example.internal"]])
        #expect(join.kubelet.maxPods == 110)
        #expect(join.kubeProxy.ipvsScheduler == "wrr")
        #expect(join.host.timezone == "Asia/Shanghai")
        #expect(join.caCertificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
    }

    @Test func tokenNeverAppearsInDescriptions() throws {
        let join = try JoinFile.parse(sampleJoinFile(), file: file)
        #expect("\(join.token)" == "abcdef.<redacted>")
        #expect(!"\(join)".contains("0123456789abcdef"))
        #expect(!String(reflecting: join).contains("0123456789abcdef"))
    }

    struct Bad: Sendable, CustomStringConvertible {
        var name: String
        var text: String
        var code: ConfigError.Code
        var field: String?
        var description: String { name }
    }

    static let bad: [Bad] = [
        .init(name: "unknown top-level key", text: sampleJoinFile(extra: "extras: 1"), code: .unknownKey, field: "extras"),
        .init(name: "unknown nested key", text: sampleJoinFile().replacingOccurrences(of: "  maxPods: 110", with: "  maxPod: 110"), code: .unknownKey, field: "kubelet.maxPod"),
        .init(name: "wrong type", text: sampleJoinFile().replacingOccurrences(of: "roles: [worker]", with: "roles: worker"), code: .wrongType, field: "node.roles"),
        .init(name: "bad service CIDR", text: sampleJoinFile().replacingOccurrences(of: "serviceCIDR: 10.254.0.0/16", with: "serviceCIDR: 10.254.0.1/16"), code: .invalidValue, field: "cluster.serviceCIDR"),
        .init(name: "bad pod CIDR", text: sampleJoinFile().replacingOccurrences(of: "podCIDR: 172.30.0.0/16", with: "podCIDR: 172.300.0.0/16"), code: .invalidValue, field: "cluster.podCIDR"),
        .init(name: "bad node IP", text: sampleJoinFile().replacingOccurrences(of: "ip: 192.0.2.11", with: "ip: 192.0.2"), code: .invalidValue, field: "node.ip"),
        .init(name: "DNS outside service CIDR", text: sampleJoinFile().replacingOccurrences(of: "clusterDNS: 10.254.0.2", with: "clusterDNS: 10.96.0.10"), code: .invalidValue, field: "cluster.clusterDNS"),
        .init(name: "http endpoint", text: sampleJoinFile().replacingOccurrences(of: "https://192.0.2.10:6443", with: "http://192.0.2.10:6443"), code: .invalidValue, field: "cluster.apiServerEndpoints[0]"),
        .init(name: "bad token", text: sampleJoinFile(token: "ABCDEF.0123456789abcdef"), code: .invalidValue, field: "bootstrap.token"),
        .init(name: "short token", text: sampleJoinFile(token: "abcdef.0123"), code: .invalidValue, field: "bootstrap.token"),
        .init(name: "expired token", text: sampleJoinFile(expires: "2001-01-01T00:00:00Z"), code: .invalidValue, field: "bootstrap.expires"),
        .init(name: "bad expiry", text: sampleJoinFile(expires: "tomorrow"), code: .invalidValue, field: "bootstrap.expires"),
        .init(name: "malformed PEM", text: sampleJoinFile(ca: "-----BEGIN CERTIFICATE-----\nnotbase64!!\n-----END CERTIFICATE-----"), code: .invalidValue, field: "cluster.caCertificate"),
        .init(name: "no PEM", text: sampleJoinFile(ca: "just text"), code: .invalidValue, field: "cluster.caCertificate"),
        .init(name: "not a CA", text: sampleJoinFile(ca: TestPKI.certificate(ca: false)), code: .invalidValue, field: "cluster.caCertificate"),
        .init(name: "expired CA", text: sampleJoinFile(ca: TestPKI.certificate(ca: true, notBefore: Date(timeIntervalSinceNow: -7200), notAfter: Date(timeIntervalSinceNow: -3600))), code: .invalidValue, field: "cluster.caCertificate"),
        .init(name: "two certificates", text: sampleJoinFile(ca: TestPKI.ca + TestPKI.ca), code: .invalidValue, field: "cluster.caCertificate"),
        .init(name: "old Kubernetes", text: sampleJoinFile().replacingOccurrences(of: "v1.31.2", with: "v1.16.0"), code: .invalidValue, field: "cluster.kubernetesVersion"),
        .init(name: "bad label", text: sampleJoinFile().replacingOccurrences(of: "rack-1", with: "-rack"), code: .invalidValue, field: "node.labels.topology.kubernetes.io/zone"),
        .init(name: "role label kubelet may not set", text: sampleJoinFile().replacingOccurrences(of: "topology.kubernetes.io/zone: rack-1", with: "node-role.kubernetes.io/worker: \"\""), code: .invalidValue, field: "node.labels.node-role.kubernetes.io/worker"),
        .init(name: "bad scheduler", text: sampleJoinFile().replacingOccurrences(of: "ipvsScheduler: wrr", with: "ipvsScheduler: fastest"), code: .invalidValue, field: "kubeProxy.ipvsScheduler"),
        .init(name: "bad mirror", text: sampleJoinFile().replacingOccurrences(of: "https://mirror.example.internal", with: "ftp://mirror"), code: .invalidValue, field: "containerd.registryMirrors.docker.io[0]"),
        .init(name: "missing bootstrap", text: "apiVersion: kubeseed.io/v1alpha1\nkind: JoinConfiguration\ncluster: {}\n", code: .missingField, field: "bootstrap"),
        .init(name: "wrong kind", text: "apiVersion: kubeseed.io/v1alpha1\nkind: AgentConfig\n", code: .invalidValue, field: "kind"),
        .init(name: "alias", text: sampleJoinFile(extra: "node2: &n {name: a}\nnode3: *n"), code: .aliasNotAllowed, field: nil),
        .init(name: "empty", text: "", code: .empty, field: nil),
        .init(name: "not YAML", text: "cluster: [\n", code: .syntax, field: nil),
    ]

    @Test(arguments: bad)
    func badJoinFilesAreRejectedWithFieldAndLine(_ bad: Bad) throws {
        let error = try #require(throws: ConfigError.self) { try JoinFile.parse(bad.text, file: file) }
        #expect(error.code == bad.code, "\(error)")
        if let field = bad.field { #expect(error.field == field, "\(error)") }
        if bad.code != .empty && bad.code != .missingField { #expect(error.line != nil, "\(error)") }
        // The input's own token never appears in a message.
        #expect(TokenShapes.leaked(from: bad.text, into: error.description) == nil, "\(error)")
    }

    @Test func ipAndCidrParsing() {
        #expect(IPAddress.v4("10.0.0.1") == [10, 0, 0, 1])
        #expect(IPAddress.v4("010.0.0.1") == nil)
        #expect(IPAddress.v6("fd00::1")?.count == 16)
        #expect(IPAddress.v6("::ffff:192.0.2.1")?.suffix(4) == [192, 0, 2, 1])
        #expect(IPAddress.v6("1::2::3") == nil)
        #expect(IPAddress.cidr("fd00:10::/108") != nil)
        #expect(IPAddress.cidr("10.0.0.0/33") == nil)
        #expect(IPAddress.contains(cidr: "10.254.0.0/16", ip: "10.254.3.4"))
        #expect(!IPAddress.contains(cidr: "10.254.0.0/16", ip: "10.255.0.1"))
    }
}

/// The corpus of bad join files in Tests/Fixtures/bad-join-files (shared with the host tests,
/// which prove each one changes nothing). Each file's first line names the expected error.
enum BadJoinCorpus {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bad-join-files")

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
    }
}

@Suite struct BadJoinCorpusTests {
    @Test func corpusIsThere() {
        #expect(BadJoinCorpus.names.count >= 28)
    }

    @Test(arguments: BadJoinCorpus.names)
    func rejected(_ name: String) throws {
        let text = try String(contentsOf: BadJoinCorpus.directory.appendingPathComponent(name), encoding: .utf8)
        let expect = text.prefix { $0 != "\n" }.dropFirst("# expect: ".count).split(separator: " ").map(String.init)
        let error = try #require(throws: ConfigError.self) { try JoinFile.parse(text, file: name) }
        #expect(error.code.rawValue == expect[0], "\(error)")
        if expect[1] != "-" { #expect(error.field == expect[1], "\(error)") }
        #expect(TokenShapes.leaked(from: text, into: error.description) == nil, "\(error)")
    }
}
