/// An API server endpoint as a join file lists it: `https://HOST[:PORT][/]`, HOST an IP address (IPv6
/// in brackets) or a DNS name, PORT 1–65535 (443 when left out). The one parser for the value: it
/// reaches kubeconfigs and the node-local balancer's configuration, so nothing else (no percent
/// escapes, no user, path or query) is taken.
public struct APIEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public static func parse(_ text: String) -> APIEndpoint? {
        guard text.hasPrefix("https://") else { return nil }
        var rest = Substring(text.dropFirst("https://".count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            guard IPAddress.v6(String(host)) != nil else { return nil }
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else {
            let parts = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
            guard IPAddress.v4(String(host)) != nil || (Validate.isDNSDomain(String(host)) && host.contains { $0.isASCIILetter }) else { return nil }
        }
        var port = 443
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.isASCIIDigits,
                  let number = Int(portText), (1...65535).contains(number) else { return nil }
            port = number
        }
        return APIEndpoint(host: String(host), port: port)
    }

    /// Whether the host is a DNS name (resolved when used) rather than an IP address.
    public var hostIsName: Bool { IPAddress.bytes(host) == nil }
    /// `HOST:PORT`, an IPv6 host in brackets.
    public var hostPort: String { "\(IPAddress.urlHost(host)):\(port)" }
    public var url: String { "https://\(hostPort)" }
}
