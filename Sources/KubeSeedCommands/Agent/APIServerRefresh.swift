import Foundation
import KubeSeedAPI
import KubeSeedCore
import KubeSeedHost

extension AgentOperations {
    /// The API servers this node's balancer fronts: the last list found in the `default/kubernetes`
    /// EndpointSlice, else the join file's.
    func apiServers(_ join: JoinFile) -> [String] {
        guard let text = (try? root.readText(APIServerDiscovery.statePath)) ?? nil else { return join.apiServerEndpoints }
        return APIServerDiscovery.parse(text, caDigest: Self.caDigest(join)) ?? join.apiServerEndpoints
    }

    /// Asks the API server, through this node's balancer (`server`) and with the kubelet's own client
    /// certificate, which API servers the `default/kubernetes` EndpointSlice lists, and keeps that list
    /// (journaled) when it differs from the one in use. Returns whether it changed, and a line to log;
    /// before the kubelet has its certificate, or when no API server answers, nothing changes.
    public func refreshAPIServers(joinPath: String = JoinFile.defaultPath, server: String = APIBalancer.server, now: Date = Date()) async -> (changed: Bool, message: String) {
        guard let join = try? Self.loadJoinFile(root: root, path: joinPath, effectiveUID: effectiveUID, now: now),
              let credential = try? root.readText(NodePaths.kubeletClientCertificate),
              KubeletCredential.isValid(credential, caPEM: join.caCertificatePEM, now: now) else {
            return (false, "API servers: no kubelet client certificate yet; the join file's list stays")
        }
        let identity = TLSIdentity(caPEM: join.caCertificatePEM, certificatePEM: APIServerLookup.pemBlocks(credential, kind: "CERTIFICATE"),
                                   keyPEM: APIServerLookup.pemBlocks(credential, kind: "PRIVATE KEY"))
        let found: [String]?
        do {
            found = try await connect(server, identity, APITimeouts(connect: .seconds(2))).closing { try await APIServerLookup.fetch($0, version: join.version) }
        } catch {
            return (false, "API servers: \(error); the list in use stays")
        }
        return keepAPIServers(found, join: join)
    }

    /// Keeps `found` as the balancer's list (journaled) when it names a server and differs from the list in use.
    func keepAPIServers(_ found: [String]?, join: JoinFile) -> (changed: Bool, message: String) {
        let current = apiServers(join)
        guard let found, found.sorted() != current.sorted() else { return (false, "API servers: \(current.joined(separator: ", ")) (unchanged)") }
        do {
            try HostSession.with(root, effects: effects, at: location) { session in
                try session.apply([.writeFile(path: APIServerDiscovery.statePath, content: APIServerDiscovery.render(found, caDigest: Self.caDigest(join)), mode: 0o644)])
            }
        } catch {
            return (false, "API servers: could not keep \(found.joined(separator: ", ")): \(error)")
        }
        return (true, "API servers: now \(found.joined(separator: ", ")) (was \(current.joined(separator: ", ")))")
    }

    /// Which cluster a kept list belongs to: the SHA-256 of the join file's CA certificate.
    static func caDigest(_ join: JoinFile) -> String { ChangeJournal.sha256(Data(join.caCertificatePEM.utf8)) }
}
