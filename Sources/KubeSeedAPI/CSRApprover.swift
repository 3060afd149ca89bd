import Foundation
import KubeSeedCore

/// Watches CertificateSigningRequests and approves or denies kubelet-serving ones by
/// `KubeletServingReview`. Lists, then watches from the list's resourceVersion; a watch that ends or
/// breaks resumes from the last version seen, and one the server has expired (410) lists again. Each
/// CSR is judged in its own task, at most `concurrentReviews` at once (the rest wait their turn), so a slow
/// Node lookup never holds up the watch and a flood of requests never holds up the API server.
///
/// Only kubelet-serving CSRs are asked for (a field selector on `spec.signerName`), a page at a time: no
/// number of other requests can make a list too large to read. A watch event that is not one, or is over
/// `maximumEvent` bytes, is logged and skipped, and the watch goes on past it.
public actor CSRApprover {
    public static let csrPath = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    /// `fieldSelector=spec.signerName=kubernetes.io/kubelet-serving`, escaped for a query.
    public static let signerSelector = "fieldSelector=spec.signerName%3Dkubernetes.io%2Fkubelet-serving"
    public static let pageSize = 250
    /// The first page of the list.
    public static let listPath = "\(csrPath)?limit=\(pageSize)&\(signerSelector)"

    /// What the approver has done so far, for its status line.
    public struct Counts: Sendable, Equatable {
        public var approved = 0
        public var denied = 0
        public var failed = 0
    }

    let client: any APIClient
    /// Read for each review: join files minted since the approver started count.
    let addressBook: @Sendable () async throws -> AddressBook
    let log: @Sendable (String) -> Void
    let status: @Sendable (String) -> Void
    let watchSeconds: Int
    let concurrentReviews: Int
    let maximumEvent: Int
    let initialBackoff: Duration
    let maximumBackoff: Duration
    /// A review's requests are sent again after a transient answer as a request of the commands is, their
    /// pauses starting at `initialBackoff`; the list has the run loop's backoff, which the status reports.
    var retry: RetryPolicy { RetryPolicy(attempts: RetryPolicy.transient.attempts, firstPause: initialBackoff) }
    public private(set) var counts = Counts()
    /// The last resourceVersion seen (from a list or an event).
    public private(set) var resourceVersion: String?
    private var inFlight: [String: Task<Void, Never>] = [:]
    /// Pending CSRs waiting for a free review slot, in arrival order.
    private var queued: [CSRFacts] = []
    /// Events skipped (not an event, or too large), for the status line.
    public private(set) var skippedEvents = 0
    /// CSRs left pending by a review that could not decide, judged again after the next request.
    private var deferred: [String: CSRFacts] = [:]

    public init(client: any APIClient, addressBook: @escaping @Sendable () async throws -> AddressBook, watchSeconds: Int = 300,
                concurrentReviews: Int = 4, maximumEvent: Int = 4 << 20,
                initialBackoff: Duration = .seconds(1), maximumBackoff: Duration = .seconds(30), log: @escaping @Sendable (String) -> Void, status: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.addressBook = addressBook
        self.watchSeconds = watchSeconds
        self.concurrentReviews = max(1, concurrentReviews)
        self.maximumEvent = maximumEvent
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
        self.log = log
        self.status = status
    }

    /// Lists and watches until cancelled, or for `requests` list and watch requests (tests). An API
    /// server that cannot be reached is retried with backoff (`initialBackoff` doubling to `maximumBackoff`) and
    /// the status says so; nothing is approved meanwhile.
    public func run(requests: Int? = nil) async {
        var backoff = initialBackoff
        var sent = 0
        while !Task.isCancelled, requests.map({ sent < $0 }) ?? true {
            sent += 1
            do {
                if let version = resourceVersion {
                    try await watch(from: version)
                } else {
                    try await list()
                }
                backoff = initialBackoff
                retryDeferred()
                status("watching kubelet-serving CSRs; \(summary)")
            } catch is WatchExpired {
                log("csr-approver: the watch's resourceVersion expired (410); listing again")
            } catch {
                status("API server not answering (\(error)); retrying in \(backoff.milliseconds) ms; \(summary)")
                log("csr-approver: \(error); retrying in \(backoff.milliseconds) ms")
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, maximumBackoff)
            }
        }
    }

    /// The server no longer has the watch's resourceVersion (410 Gone): list again, at once.
    struct WatchExpired: Error {}

    var summary: String {
        "approved \(counts.approved), denied \(counts.denied), failed \(counts.failed)" + (skippedEvents > 0 ? ", \(skippedEvents) watch events skipped" : "")
    }

    /// Waits for every review under way (tests, and before exiting).
    public func drain() async {
        while let (name, task) = inFlight.first {
            await task.value
            if inFlight[name] == task { inFlight[name] = nil }
        }
    }

    /// One list, a page at a time: every pending kubelet-serving CSR is judged; the list's resourceVersion
    /// is where the watch starts. A continue token the server has expired (410) starts the list again; a
    /// page over 4 MiB (requests padded to the API server's size limit) is asked again a quarter as large,
    /// down to one CSR, which always fits.
    func list() async throws {
        var token: String?
        var version: String?
        var limit = Self.pageSize
        while true {
            var path = "\(Self.csrPath)?limit=\(limit)&\(Self.signerSelector)"
            if let token { path += "&continue=" + (token.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? "") }
            let response: MutualTLSClient.Response
            do {
                response = try await client.send(APIRequest(.get, path, object: "CertificateSigningRequests"), retry: .none)
            } catch let error as APIError where error.code == .tooLarge && limit > 1 {
                // Requests padded to the API server's size limit: smaller pages, down to one (which always fits).
                limit = max(1, limit / 4)
                log("csr-approver: a page of CSRs is over 4 MiB; asking \(limit) at a time")
                continue
            }
            if response.status == 410 { throw WatchExpired() }
            guard response.status == 200, let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
                  let metadata = object["metadata"] as? [String: Any], let pageVersion = metadata["resourceVersion"] as? String else {
                throw APIError(.status, "listing CSRs answered \(response.status)", cause: response.message)
            }
            for item in object["items"] as? [[String: Any]] ?? [] { consider(item) }
            version = pageVersion
            token = (metadata["continue"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            if token == nil { break }
        }
        resourceVersion = version
    }

    static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// One watch from `version`, until the server ends it. A 410 (expired version) clears it: the next request lists.
    func watch(from version: String) async throws {
        let path = "\(Self.csrPath)?watch=1&allowWatchBookmarks=true&\(Self.signerSelector)&timeoutSeconds=\(watchSeconds)"
            + "&resourceVersion=" + (version.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? "")
        let response = try await client.streamLines(APIRequest(.get, path, object: "CSR watch"), timeout: .seconds(Int64(watchSeconds) + 30),
                                                    maximumLine: maximumEvent, oversized: { bytes in await self.skip("an event of \(bytes) bytes (over \(self.maximumEvent))") }) { line in
            try await self.event(line)
        }
        if response.status == 410 { resourceVersion = nil; throw WatchExpired() }
        guard response.status == 200 else { throw APIError(.status, "watching CSRs answered \(response.status)", cause: response.message) }
    }

    /// Logs and counts a watch event that is passed over; the watch goes on.
    func skip(_ what: String) {
        skippedEvents += 1
        log("csr-approver: the CSR watch sent \(what): skipped")
    }

    func event(_ line: Data) throws {
        guard let event = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let type = event["type"] as? String,
              let object = event["object"] as? [String: Any] else {
            skip("\(line.count) bytes that are not an event")
            return
        }
        if type == "ERROR" {
            // A Status: 410 Gone means the version is too old; list again.
            if object["code"] as? Int == 410 { resourceVersion = nil; throw WatchExpired() }
            throw APIError(.status, "the CSR watch failed", cause: object["message"] as? String)
        }
        if let version = (object["metadata"] as? [String: Any])?["resourceVersion"] as? String { resourceVersion = version }
        if type == "ADDED" || type == "MODIFIED" { consider(object) }
        if type == "DELETED", let name = (object["metadata"] as? [String: Any])?["name"] as? String { deferred[name] = nil; queued.removeAll { $0.name == name } }
    }

    /// Starts a review of a pending kubelet-serving CSR, unless one is under way for it.
    func consider(_ object: [String: Any]) {
        guard let csr = CSRFacts(json: object) else { return }
        consider(csr)
    }

    func consider(_ csr: CSRFacts) {
        // The newest facts replace older ones; a decided CSR is no longer anyone's to retry.
        deferred[csr.name] = nil
        guard csr.signerName == KubeletServingReview.signer, !csr.decided else { return }
        guard !csr.resourceVersion.isEmpty else {
            log("csr-approver: \(csr.name) has no resourceVersion: left pending (an approval must be guarded by one)")
            return
        }
        // Under review already: judged again with these facts once that review is over.
        guard inFlight[csr.name] == nil else { deferred[csr.name] = csr; return }
        guard inFlight.count < concurrentReviews else {
            queued.removeAll { $0.name == csr.name }
            queued.append(csr)
            return
        }
        inFlight[csr.name] = Task { await self.review(csr, node: KubeletServingReview.nodeName(csr)) }
    }

    /// A review slot came free: the next queued CSR gets it.
    func startQueued() {
        while inFlight.count < concurrentReviews, !queued.isEmpty {
            let next = queued.removeFirst()
            if inFlight[next.name] == nil { inFlight[next.name] = Task { await self.review(next, node: KubeletServingReview.nodeName(next)) } }
        }
    }

    /// Judges again the CSRs left pending (no Node yet, or no answer), after each list or watch.
    func retryDeferred() {
        for csr in deferred.values.sorted(by: { $0.name < $1.name }) { consider(csr) }
    }

    func review(_ csr: CSRFacts, node: String?) async {
        defer { inFlight[csr.name] = nil; startQueued() }
        do {
            let book = try await addressBook()
            var addresses: [NodeAddress] = []
            if let node {
                let response = try await client.send(APIRequest(.get, "/api/v1/nodes/\(node)", object: "Node \(node)"), timeout: .seconds(10), retry: retry)
                guard response.status == 200, let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
                    // No Node (yet), or no answer: decide nothing now; the next list judges it again.
                    log("csr-approver: \(csr.name): Node \(node) answered \(response.status); left pending")
                    deferred[csr.name] = csr
                    return
                }
                addresses = NodeAddress.of(node: object)
                await label(node, response.body, roles: book.roles[node] ?? [])
            }
            let verdict = KubeletServingReview.review(csr, nodeAddresses: addresses, book: book)
            switch verdict {
            case .notOurs: return
            case .approve(let reason): try await decide(csr, approved: true, reason: reason)
            case .deny(let reason): try await decide(csr, approved: false, reason: reason)
            case .leave(let reason): log("csr-approver: \(csr.name): \(reason)")
            }
        } catch {
            counts.failed += 1
            deferred[csr.name] = csr
            log("csr-approver: \(csr.name): \(error); left pending")
        }
    }

    /// A kubelet asks for its serving certificate right after it registers its Node: the moment to give
    /// the Node the roles its join file names. A failure here is logged and decides nothing about the CSR.
    func label(_ node: String, _ nodeJSON: Data, roles: [String]) async {
        guard !roles.isEmpty else { return }
        do {
            if try await NodeLabeller.ensure(node, roles: roles, nodeJSON: nodeJSON, with: client) == .patched {
                log("csr-approver: Node \(node) labelled \(roles.sorted().map { NodeRoles.labelPrefix + $0 }.joined(separator: ", "))"
                    + (roles.contains("control-plane") ? " and tainted \(NodeRoles.controlPlaneTaintKey):NoSchedule" : ""))
            }
        } catch {
            log("csr-approver: Node \(node): roles not set: \(error)")
        }
    }

    func decide(_ csr: CSRFacts, approved: Bool, reason unfiltered: String) async throws {
        // The reason can quote what the CSR holds: never a line of its own in the API or the log.
        let reason = Validate.printable(unfiltered)
        let condition: [String: Any] = [
            "type": approved ? "Approved" : "Denied", "status": "True",
            "reason": approved ? "KubeSeedApproved" : "KubeSeedDenied", "message": reason,
        ]
        let body: [String: Any] = [
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": ["name": csr.name, "resourceVersion": csr.resourceVersion],
            "spec": ["request": Data(csr.request).base64EncodedString(), "signerName": csr.signerName, "usages": csr.usages,
                     "username": csr.username, "groups": csr.groups],
            "status": ["conditions": [condition]],
        ]
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        let response = try await client.send(APIRequest(.put, "\(Self.csrPath)/\(csr.name)/approval", body: data, object: "CSR \(csr.name) approval"), retry: retry)
        if response.status == 404 || response.status == 409 {
            // Deleted or changed since it was read (decided by someone else, say): the watch brings what it is now.
            log("csr-approver: \(csr.name) changed or went away before it was \(approved ? "approved" : "denied") (\(response.status)); left to the watch")
            return
        }
        guard response.status == 200 else {
            throw APIError(.status, "\(approved ? "approving" : "denying") \(csr.name) answered \(response.status)", cause: response.message)
        }
        if approved { counts.approved += 1 } else { counts.denied += 1 }
        log("csr-approver: \(approved ? "approved" : "denied") \(csr.name): \(reason)")
    }
}
