import Foundation

/// The lease one master holds while `seed upgrade apply` runs on it: a coordination.k8s.io/v1 Lease,
/// `kube-system/kubeseed-upgrade`, so two masters never restart their control planes at the same time.
/// Taken at the end of the upgrade check, given back after the record; a run that stops after a change keeps
/// it (its next run takes it again) until it expires. Pure: the decision, the objects sent, the answers read.
public enum UpgradeLease {
    public static let name = "kubeseed-upgrade"
    public static let namespace = "kube-system"
    public static let collectionPath = "/apis/coordination.k8s.io/v1/namespaces/\(namespace)/leases"
    public static var path: String { "\(collectionPath)/\(name)" }

    /// The lease as the API server holds it.
    public struct Held: Sendable, Equatable {
        /// The master holding it; empty when none is named.
        public var holder: String
        /// When it was last taken or renewed; `nil` when the lease has none.
        public var renewed: Date?
        /// `nil` when the lease has none (or not a whole number).
        public var durationSeconds: Int?
        /// What a replacement or a deletion must name, so it acts only on the lease it read.
        public var resourceVersion: String?

        public init(holder: String, renewed: Date?, durationSeconds: Int?, resourceVersion: String? = nil) {
            self.holder = holder
            self.renewed = renewed
            self.durationSeconds = durationSeconds
            self.resourceVersion = resourceVersion
        }

        /// Until when it keeps other masters out; `nil` when the lease does not say (it keeps them out then).
        public var expires: Date? {
            guard let renewed, let durationSeconds else { return nil }
            return renewed.addingTimeInterval(TimeInterval(durationSeconds))
        }
    }

    public enum Decision: Sendable, Equatable {
        /// No lease: create it.
        case create
        /// This master holds it already (a run that stopped): replace it with a fresh one.
        case renew(Held)
        /// Nobody holds it, or another master did and it has expired: replace it.
        case takeOver(Held)
        /// Another master holds it, until its expiry or (a lease without a time or duration) until it is deleted: refuse.
        case heldElsewhere(Held)
    }

    /// What `holder` does about `existing` at `now`. A lease that does not say when it ends keeps others out.
    public static func decide(_ existing: Held?, holder: String, now: Date) -> Decision {
        guard let existing else { return .create }
        if existing.holder == holder { return .renew(existing) }
        if existing.holder.isEmpty { return .takeOver(existing) }
        if let expires = existing.expires, expires <= now { return .takeOver(existing) }
        return .heldElsewhere(existing)
    }

    /// Reads the Lease the API server answered with.
    public static func parse(_ body: Data) throws -> Held {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw ConfigError(.invalidValue, file: path, "the answer is not a JSON object")
        }
        let spec = object["spec"] as? [String: Any] ?? [:]
        let metadata = object["metadata"] as? [String: Any] ?? [:]
        let renewed = (spec["renewTime"] as? String ?? spec["acquireTime"] as? String).flatMap(date)
        return Held(holder: spec["holderIdentity"] as? String ?? "", renewed: renewed,
                    durationSeconds: JSONScalar.integer(spec["leaseDurationSeconds"]), resourceVersion: metadata["resourceVersion"] as? String)
    }

    /// The Lease `holder` sends to take it at `now` for `durationSeconds`; `replacing` names the
    /// resourceVersion of the one read, so a replacement fails (409) if another master changed it since.
    public static func object(holder: String, durationSeconds: Int, now: Date, replacing resourceVersion: String? = nil) -> Data {
        var metadata: [String: Any] = ["name": name, "namespace": namespace]
        if let resourceVersion { metadata["resourceVersion"] = resourceVersion }
        let time = microTime(now)
        let lease: [String: Any] = [
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": ["holderIdentity": holder, "leaseDurationSeconds": durationSeconds, "acquireTime": time, "renewTime": time],
        ]
        return try! JSONSerialization.data(withJSONObject: lease, options: [.sortedKeys])
    }

    /// The DeleteOptions that give the lease back only while it is the one read (`resourceVersion`).
    public static func releaseOptions(resourceVersion: String?) -> Data {
        var options: [String: Any] = ["apiVersion": "v1", "kind": "DeleteOptions"]
        if let resourceVersion { options["preconditions"] = ["resourceVersion": resourceVersion] }
        return try! JSONSerialization.data(withJSONObject: options, options: [.sortedKeys])
    }

    /// Kubernetes' MicroTime: RFC 3339 in UTC with six fractional digits (its parser wants them).
    public static func microTime(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let micros = Int((date.timeIntervalSince1970 - seconds) * 1_000_000)
        let whole = Timestamp.string(Date(timeIntervalSince1970: seconds))
        return String(whole.dropLast()) + "." + String(format: "%06d", min(max(micros, 0), 999_999)) + "Z"
    }

    /// A MicroTime or Time, to the second.
    static func date(_ text: String) -> Date? {
        guard let dot = text.firstIndex(of: ".") else { return Timestamp.date(text) }
        let zone = text[dot...].firstIndex { !("0"..."9").contains($0) && $0 != "." } ?? text.endIndex
        return Timestamp.date(String(text[..<dot]) + String(text[zone...]))
    }
}
