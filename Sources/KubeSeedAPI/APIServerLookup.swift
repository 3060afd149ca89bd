import Foundation
import KubeSeedCore

/// Asks an API server which API servers the `default/kubernetes` EndpointSlice lists.
public enum APIServerLookup {
    /// The ready API servers (see `APIServerDiscovery.endpoints(in:)`); `nil` when the list names none.
    public static func fetch(_ client: any APIClient, version: KubernetesVersion) async throws -> [String]? {
        let request = APIServerDiscovery.request(version)
        let response = try await client.send(request, timeout: .seconds(5))
        guard response.status == 200 else {
            throw APIError(.status, "\(request.object): GET answered \(response.status)", cause: response.message)
        }
        return APIServerDiscovery.endpoints(in: response.body)
    }

    /// The PEM blocks of one kind (`CERTIFICATE`, or `PRIVATE KEY` for any key) in a file holding
    /// several, as the kubelet's `kubelet-client-current.pem` holds its certificate and key.
    public static func pemBlocks(_ text: String, kind: String) -> String {
        var out = "", inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("-----BEGIN ") && line.hasSuffix("\(kind)-----") { inside = true }
            if inside { out += line + "\n" }
            if inside && line.hasPrefix("-----END ") { inside = false }
        }
        return out
    }
}
