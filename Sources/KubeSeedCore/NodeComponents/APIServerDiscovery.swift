import Foundation

/// Keeping a node's balancer current: the API servers the `default/kubernetes` EndpointSlice lists
/// (each API server publishes itself there), read with the node's own credentials. The list found
/// is kept at `statePath` and, when it holds any ready server, replaces the join file's, so a master
/// added after a node joined needs no edit on the node.
public enum APIServerDiscovery {
    /// The API servers last found, one `https://HOST:PORT` per line.
    public static let statePath = "/var/lib/kubeseed/api-servers"
    /// How often the agent asks, while it waits for changes.
    public static let interval: Duration = .seconds(60)

    /// The slice the API servers' endpoint reconciler keeps (by name: a slice anyone with rights in
    /// `default` adds under the service's label is not taken). Listed with a field selector, not read:
    /// nodes may list and watch EndpointSlices (`system:node-proxier`), not get them.
    public static func request(_ version: KubernetesVersion) -> APIRequest {
        APIRequest(.get, "/apis/\(version.endpointSliceGroupVersion)/namespaces/default/endpointslices?fieldSelector=metadata.name%3Dkubernetes",
                   object: "EndpointSlice default/kubernetes")
    }

    /// The ready API servers of an EndpointSlice (or a list of them), as endpoints for the balancer,
    /// sorted; `nil` when the answer is not one or names no ready server (the balancer is never emptied).
    public static func endpoints(in body: Data) -> [String]? {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        let items = object["items"] as? [[String: Any]] ?? (object["endpoints"] != nil ? [object] : [])
        var found = Set<String>()
        for slice in items {
            let ports = slice["ports"] as? [[String: Any]] ?? []
            // A port is a JSON integer 1–65535 (not "6443", not 6443.0, not true).
            let port = JSONScalar.integer((ports.first { $0["name"] as? String == "https" } ?? ports.first)?["port"])
            guard let port, (1...65535).contains(port) else { continue }
            for endpoint in slice["endpoints"] as? [[String: Any]] ?? [] {
                // Absent means ready (EndpointSlice v1); present, it must be a JSON boolean, and true.
                if let ready = (endpoint["conditions"] as? [String: Any])?["ready"], JSONScalar.bool(ready) != true { continue }
                for address in endpoint["addresses"] as? [String] ?? [] where isServerAddress(address) {
                    found.insert(IPAddress.httpsURL(address, port: port))
                }
            }
        }
        return found.isEmpty ? nil : found.sorted()
    }

    /// An address an API server can have: an IP that is not unspecified, loopback, multicast or
    /// link-local (a node's balancer must never be pointed at itself or at nothing).
    public static func isServerAddress(_ address: String) -> Bool {
        guard let bytes = IPAddress.bytes(address).map(IPAddress.unmapped) else { return false }
        if bytes.count == 4 {
            return !(bytes == [0, 0, 0, 0] || bytes[0] == 0 || bytes[0] == 127 || (224...255).contains(bytes[0]) || (bytes[0] == 169 && bytes[1] == 254))
        }
        let unspecified = bytes.allSatisfy { $0 == 0 }
        let loopback = bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1
        return !(unspecified || loopback || bytes[0] == 0xff || (bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80))
    }

    /// The state file's text for `endpoints` found in the cluster whose CA has the SHA-256 `caDigest`.
    public static func render(_ endpoints: [String], caDigest: String) -> String {
        "# API servers from the default/kubernetes EndpointSlice, found by seed-agent; the node-local balancer uses these.\n"
            + "ca-sha256 \(caDigest)\n" + endpoints.map { $0 + "\n" }.joined()
    }

    /// The endpoints in a state file, when it was found in the cluster whose CA has the SHA-256
    /// `caDigest` (a join file for another cluster put in place makes it stale); `nil` otherwise, or
    /// when any line is not an endpoint (the join file's list is used then).
    public static func parse(_ text: String, caDigest: String) -> [String]? {
        var lines = text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty }
        guard lines.first == "ca-sha256 \(caDigest)" else { return nil }
        lines.removeFirst()
        guard !lines.isEmpty, lines.allSatisfy({ APIEndpoint.parse($0).map { !$0.hostIsName && isServerAddress($0.host) } ?? false }) else { return nil }
        return lines
    }
}
