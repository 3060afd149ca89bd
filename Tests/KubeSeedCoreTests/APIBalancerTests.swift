import Foundation
import Testing
@testable import KubeSeedCore

/// Unit tests (pure logic): the API endpoint parser (the one way an endpoint reaches a kubeconfig or
/// the balancer's configuration) and the balancer's rendered configuration.
@Suite struct APIBalancerTests {
    @Test(arguments: [
        ("https://192.0.2.10:6443", "192.0.2.10", 6443),
        ("https://192.0.2.10:6443/", "192.0.2.10", 6443),
        ("https://192.0.2.10", "192.0.2.10", 443),
        ("https://[2001:db8::10]:6443", "2001:db8::10", 6443),
        ("https://api.cluster.example:8443", "api.cluster.example", 8443),
    ])
    func endpointsParse(_ text: String, _ host: String, _ port: Int) throws {
        let endpoint = try #require(APIEndpoint.parse(text))
        #expect(endpoint.host == host && endpoint.port == port)
    }

    /// Everything that could carry a second directive, a flag or a path into haproxy's configuration or a
    /// kubeconfig: percent escapes (URL parsers decode them), white space, comments, users, paths, queries,
    /// bad ports, hosts that are neither an IP address nor a DNS name.
    @Test(arguments: ["http://192.0.2.10:6443", "https://%0Aserver:6443", "https://a%20b:6443", "https://a b:6443",
                      "https://host#x:6443", "https://user@host:6443", "https://host:6443/api", "https://host:6443?x=1",
                      "https://host:0", "https://host:65536", "https://host:+6443", "https://host:", "https://:6443",
                      "https://[::1", "https://[192.0.2.1]:6443", "https://[::1]x", "https://1.2.3.4.5:6443", "https://-host:6443",
                      "https://host_1:6443", "https://host:6443\n", "https://\u{2028}host:6443", "https://hóst:6443", "https://999.1.1.1:1"])
    func everythingElseIsRefused(_ text: String) {
        #expect(APIEndpoint.parse(text) == nil, "\(text.debugDescription)")
    }

    @Test func aJoinFileWithABadEndpointNamesTheField() throws {
        let text = sampleJoinFile().replacingOccurrences(of: "https://192.0.2.10:6443", with: "https://%0Aserver:6443")
        let error = try #require(throws: ConfigError.self) { try JoinFile.parse(text, file: "join.yaml") }
        #expect(error.field == "cluster.apiServerEndpoints[0]", "\(error)")
    }

    @Test func everyEndpointIsABackendBehindLoopback() throws {
        let endpoints = ["https://192.0.2.10:6443", "https://[2001:db8::11]:6443", "https://api-3.cluster.example"].compactMap(APIEndpoint.parse)
        let config = APIBalancer.config(endpoints)
        try expectGolden(config, "api-balancer-three.cfg")
        let servers = config.split(separator: "\n").filter { $0.hasPrefix("    server ") }
        #expect(servers == ["    server api-1 192.0.2.10:6443", "    server api-2 [2001:db8::11]:6443", "    server api-3 api-3.cluster.example:443 init-addr last,libc,none resolvers system"])
        #expect(!APIBalancer.config(Array(endpoints.prefix(2))).contains("resolvers"))
        #expect(config.contains("    bind 127.0.0.1:8443\n"))
        #expect(config.contains("inter 10000 fastinter 1000 downinter 1000 fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down"))
        #expect(!config.contains("shutdown-sessions"))
    }
}
