import Foundation

/// Whether `seed init` mints a new join file for its own master at the agent's path, decided over what
/// it found there. A new one is needed when there is none, when KubeSeed's carries other host settings
/// than the cluster's (the agent would undo what the node phase just did) or another list of API servers
/// than the etcd members name, or when its token expired before the kubelet bootstrapped. Someone
/// else's file is never replaced.
public enum MasterJoinFile {
    /// What is at the agent's path.
    public struct Found {
        /// The bytes are a version KubeSeed wrote there (the journal says so).
        public var isKubeSeeds: Bool
        /// The file as the agent reads it, token expiry aside; `nil` when it does not read.
        public var join: JoinFile?
        /// Why it does not read.
        public var parseError: String?
        /// The kubelet holds a valid client certificate from the file's CA: its token is no longer needed.
        public var kubeletBootstrapped: Bool

        public init(isKubeSeeds: Bool, join: JoinFile?, parseError: String? = nil, kubeletBootstrapped: Bool = false) {
            self.isKubeSeeds = isKubeSeeds
            self.join = join
            self.parseError = parseError
            self.kubeletBootstrapped = kubeletBootstrapped
        }
    }

    public enum Decision: Equatable, Sendable {
        case keep
        case mint
        /// Someone else's file that the agent refuses: the operator must move it away.
        case refuse(String)
    }

    /// `found`: `nil` when there is no file. `endpoints`: the API servers the etcd members name (`nil`
    /// when etcd did not answer: the file's list is kept).
    public static func decide(_ found: Found?, host: NodePrepSettings, endpoints: [String]?, now: Date) -> Decision {
        guard let found else { return .mint }
        guard let join = found.join else { return found.isKubeSeeds ? .mint : .refuse(found.parseError ?? "it does not read") }
        let stale = join.host != host || endpoints.map { $0 != join.apiServerEndpoints } ?? false
        if join.tokenExpires > now { return found.isKubeSeeds && stale ? .mint : .keep }
        // Expired but bootstrapped: a stale list still needs a new file (with a new token the kubelet will not use).
        if found.isKubeSeeds && stale { return .mint }
        guard found.isKubeSeeds else { return .refuse("its bootstrap token has expired") }
        return found.kubeletBootstrapped ? .keep : .mint
    }
}
