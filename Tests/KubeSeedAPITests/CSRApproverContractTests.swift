import Foundation
import NIOConcurrencyHelpers
import Testing
import X509
@testable import KubeSeedAPI
@testable import KubeSeedCore

/// Contract tests of the kubelet-serving CSR approver against the mutual-TLS test server, which plays
/// an API server from a script: list, watch streams that end or expire, Nodes, and the approval
/// subresource. The CSRs are real PKCS#10 requests made with openssl (Tests/Fixtures/csr). No
/// Kubernetes here: what an API server does with the approval is not proven.
@Suite struct CSRApproverContractTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/csr")
    static let book = AddressBook(nodes: ["worker-1": "192.0.2.11", "worker-2": "192.0.2.12", "worker-3": "192.0.2.13"],
                                  masters: ["master-1": "192.0.2.10"], serviceCIDR: "10.254.0.0/16",
                                  roles: ["worker-1": ["worker"], "worker-2": ["worker"], "worker-3": ["worker"], "master-1": ["control-plane"]])

    static func csr(_ name: String, node: String, fixture: String, version: String, signer: String = KubeletServingReview.signer,
                    decided: Bool = false) throws -> String {
        let pem = try Data(contentsOf: fixtures.appendingPathComponent("\(fixture).pem"))
        let metadata: [String: Any] = ["name": name, "resourceVersion": version]
        let spec: [String: Any] = [
            "request": pem.base64EncodedString(), "signerName": signer, "usages": ["digital signature", "server auth"],
            "username": "system:node:\(node)", "groups": ["system:nodes", "system:authenticated"],
        ]
        let conditions: [[String: Any]] = decided ? [["type": "Approved", "status": "True"]] : []
        let object: [String: Any] = ["metadata": metadata, "spec": spec, "status": ["conditions": conditions]]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    static func node(_ ips: [String], hostname: String, labels: String = "{}", version: String = "5") -> String {
        let addresses = ips.map { "{\"type\":\"InternalIP\",\"address\":\"\($0)\"}" } + ["{\"type\":\"Hostname\",\"address\":\"\(hostname)\"}"]
        return "{\"kind\":\"Node\",\"metadata\":{\"name\":\"\(hostname)\",\"resourceVersion\":\"\(version)\",\"labels\":\(labels)},"
            + "\"status\":{\"addresses\":[\(addresses.joined(separator: ","))]}}"
    }

    final class Log: Sendable {
        let lines = NIOLockedValueBox<[String]>([])
        func add(_ line: String) { lines.withLockedValue { $0.append(line) } }
        var all: [String] { lines.withLockedValue { $0 } }
    }

    func approver(_ client: MutualTLSClient, _ log: Log, _ status: Log) -> CSRApprover {
        CSRApprover(client: client, addressBook: { Self.book }, watchSeconds: 5, initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(40),
                    log: { log.add($0) }, status: { status.add($0) })
    }

    /// The decision each approval PUT carried, by CSR name.
    static func decisions(_ requests: [RecordingServer.Request]) -> [String: (type: String, message: String)] {
        var result: [String: (String, String)] = [:]
        for request in requests where request.method == "PUT" {
            let name = request.uri.split(separator: "/").dropLast().last.map(String.init) ?? ""
            let condition = ((request.json?["status"] as? NSDictionary)?["conditions"] as? [NSDictionary])?.first
            result[name] = (condition?["type"] as? String ?? "", condition?["message"] as? String ?? "")
        }
        return result
    }

    @Test func listsJudgesEachPendingCSRWatchesResumesFromTheLastVersionAndListsAgainWhenExpired() async throws {
        let pki = try ContractTests.PKI()
        let list = """
        {"kind":"CertificateSigningRequestList","metadata":{"resourceVersion":"100"},"items":[
        \(try Self.csr("csr-good", node: "worker-1", fixture: "worker-1", version: "10")),
        \(try Self.csr("csr-liar", node: "worker-2", fixture: "worker-2-claims-master", version: "11")),
        \(try Self.csr("csr-client", node: "worker-1", fixture: "worker-1", version: "12", signer: "kubernetes.io/kube-apiserver-client-kubelet")),
        \(try Self.csr("csr-done", node: "worker-1", fixture: "worker-1", version: "13", decided: true))]}
        """
        // The first watch sends a new CSR and a bookmark, then the stream ends; the second is told its version expired.
        let firstWatch = """
        {"type":"ADDED","object":\(try Self.csr("csr-new", node: "worker-3", fixture: "worker-3", version: "101"))}
        {"type":"BOOKMARK","object":{"kind":"CertificateSigningRequest","metadata":{"resourceVersion":"105"}}}

        """
        let expired = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"message\":\"too old resource version: 105 (200)\"}}\n"
        let watches = NIOLockedValueBox(0)
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", CSRApprover.listPath): return (200, list)
            case ("GET", let uri) where uri.hasPrefix(CSRApprover.csrPath + "?watch=1"):
                return watches.withLockedValue { count in count += 1; return count == 1 ? (200, firstWatch) : (200, expired) }
            case ("GET", "/api/v1/nodes/worker-1"): return (200, Self.node(["192.0.2.11"], hostname: "worker-1"))
            // worker-2 writes the master's IP into its own status.addresses: the API server would believe it.
            case ("GET", "/api/v1/nodes/worker-2"): return (200, Self.node(["192.0.2.12", "192.0.2.10"], hostname: "worker-2"))
            case ("GET", "/api/v1/nodes/worker-3"):
                return (200, Self.node(["192.0.2.13"], hostname: "worker-3", labels: "{\"node-role.kubernetes.io/worker\":\"\"}"))
            case ("PUT", _), ("PATCH", _): return (200, "{}")
            default: return (404, "{\"kind\":\"Status\",\"code\":404}")
            }
        }) { server, client in
            let log = Log(), status = Log()
            let approver = approver(client, log, status)
            await approver.run(requests: 4)
            await approver.drain()
            let gets = server.requests.filter { $0.method == "GET" && $0.uri.hasPrefix(CSRApprover.csrPath) }.map(\.uri)
            #expect(gets == [
                CSRApprover.listPath,
                CSRApprover.csrPath + "?watch=1&allowWatchBookmarks=true&\(CSRApprover.signerSelector)&timeoutSeconds=5&resourceVersion=100",
                CSRApprover.csrPath + "?watch=1&allowWatchBookmarks=true&\(CSRApprover.signerSelector)&timeoutSeconds=5&resourceVersion=105",
                CSRApprover.listPath,
            ])
            let decisions = Self.decisions(server.requests)
            #expect(decisions["csr-good"]?.type == "Approved")
            #expect(decisions["csr-new"]?.type == "Approved")
            #expect(decisions["csr-liar"]?.type == "Denied")
            #expect(decisions["csr-liar"]?.message == "IP 192.0.2.10 is master master-1's")
            #expect(decisions["csr-client"] == nil && decisions["csr-done"] == nil, "another signer's and a decided CSR are not touched")
            #expect(log.all.contains("csr-approver: denied csr-liar: IP 192.0.2.10 is master master-1's"), "\(log.all)")
            #expect(log.all.contains("csr-approver: the watch's resourceVersion expired (410); listing again"), "\(log.all)")
            #expect(!status.all.contains { $0.hasPrefix("API server not answering") }, "an expired watch is not an outage: \(status.all)")
            // The second list shows csr-good pending again (the script never changes): judged again unless its
            // first review is still under way, never twice at once.
            #expect((1...2).contains(server.requests.filter { $0.method == "PUT" && $0.uri.contains("/csr-good/") }.count))
            let put = try #require(server.requests.first { $0.method == "PUT" && $0.uri.contains("/csr-good/") })
            #expect(put.uri == CSRApprover.csrPath + "/csr-good/approval")
            #expect(put.contentType == "application/json")
            let metadata = put.json?["metadata"] as? NSDictionary
            #expect(metadata?["name"] as? String == "csr-good" && metadata?["resourceVersion"] as? String == "10")
            // The Node of a kubelet asking for its serving certificate gets its role label (worker-3 has it already).
            let patch = try #require(server.requests.first { $0.method == "PATCH" && $0.uri == "/api/v1/nodes/worker-1" })
            #expect(patch.contentType == "application/merge-patch+json")
            #expect(String(decoding: patch.body, as: UTF8.self) == "{\"metadata\":{\"labels\":{\"node-role.kubernetes.io\\/worker\":\"\"},\"resourceVersion\":\"5\"}}")
            #expect(!server.requests.contains { $0.method == "PATCH" && $0.uri == "/api/v1/nodes/worker-3" })
            #expect(log.all.contains("csr-approver: Node worker-1 labelled node-role.kubernetes.io/worker"), "\(log.all)")
            #expect(put.clientCertificateDER.flatMap { try? Certificate(derEncoded: $0) } == pki.adminCertificate, "the approver presents the admin certificate")
        }
    }

    @Test func aNodeThatCannotBeReadLeavesItsCSRPendingAndHoldsUpNoOther() async throws {
        let pki = try ContractTests.PKI()
        let list = """
        {"metadata":{"resourceVersion":"7"},"items":[\(try Self.csr("csr-a", node: "worker-1", fixture: "worker-1", version: "1")),
        \(try Self.csr("csr-b", node: "worker-3", fixture: "worker-3", version: "2"))]}
        """
        let nodeAnswers = NIOLockedValueBox(0)
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", CSRApprover.listPath): return (200, list)
            case ("GET", let uri) where uri.hasPrefix(CSRApprover.csrPath + "?watch=1"): return (200, "")
            // worker-1's Node fails on every attempt of the first review (an API server restarting), then answers.
            case ("GET", "/api/v1/nodes/worker-1"):
                return nodeAnswers.withLockedValue { count in
                    count += 1
                    return count <= RetryPolicy.transient.attempts ? (500, "{}") : (200, Self.node(["192.0.2.11"], hostname: "worker-1"))
                }
            case ("GET", "/api/v1/nodes/worker-3"): return (200, Self.node(["192.0.2.13"], hostname: "worker-3"))
            case ("PUT", _), ("PATCH", _): return (200, "{}")
            default: return (404, "{}")
            }
        }) { server, client in
            let log = Log(), status = Log()
            let approver = approver(client, log, status)
            await approver.run(requests: 1)
            await approver.drain()
            var decisions = Self.decisions(server.requests)
            #expect(decisions["csr-b"]?.type == "Approved")
            #expect(decisions["csr-a"] == nil, "no decision on partial information")
            #expect(log.all.contains("csr-approver: csr-a: Node worker-1 answered 500; left pending"), "\(log.all)")
            // After the next request (an empty watch that ends), the pending CSR is judged again.
            await approver.run(requests: 1)
            await approver.drain()
            decisions = Self.decisions(server.requests)
            #expect(decisions["csr-a"]?.type == "Approved")
        }
    }

    @Test func anUnreachableAPIServerIsRetriedWithBackoffAndSaidInTheStatus() async throws {
        let pki = try ContractTests.PKI()
        // A port nothing listens on: bind the test server, note its port, stop it.
        let server = try await RecordingServer(certificatePEM: pki.server.cert, keyPEM: pki.server.key, clientCAPEM: pki.ca.certificate.pem) { _ in (200, "{}") }
        let port = server.port
        try await server.stop()
        let client = try MutualTLSClient(baseURL: "https://127.0.0.1:\(port)", identity: pki.adminIdentity, connectTimeout: .milliseconds(500))
        let log = Log(), status = Log()
        let approver = approver(client, log, status)
        await approver.run(requests: 3)
        await client.shutdown()
        #expect(status.all.count == 3)
        #expect(status.all.allSatisfy { $0.hasPrefix("API server not answering") }, "\(status.all)")
        #expect(status.all.map { $0.contains("retrying in 10 ms") || $0.contains("retrying in 20 ms") || $0.contains("retrying in 40 ms") } == [true, true, true])
        #expect(status.all[2].contains("retrying in 40 ms"), "backoff doubles: \(status.all)")
        #expect(await approver.counts == CSRApprover.Counts())
    }

    @Test func aNodeChangedWhileItIsLabelledIsReadAgainAndTheControlPlaneTaintSent() async throws {
        let pki = try ContractTests.PKI()
        let patches = NIOLockedValueBox(0)
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", "/api/v1/nodes/master-1"):
                return (200, Self.node(["192.0.2.10"], hostname: "master-1", version: patches.withLockedValue { "\(10 + $0)" }))
            case ("PATCH", "/api/v1/nodes/master-1"):
                return patches.withLockedValue { count in count += 1; return count == 1 ? (409, "{\"kind\":\"Status\",\"code\":409}") : (200, "{}") }
            case ("GET", "/api/v1/nodes/gone"): return (404, "{}")
            default: return (500, "{}")
            }
        }) { server, client in
            #expect(try await NodeLabeller.ensure("master-1", roles: ["control-plane"], with: client) == .patched)
            let sent = server.requests.filter { $0.method == "PATCH" }
            #expect(sent.count == 2)
            let second = try #require(sent.last?.json)
            #expect((second["metadata"] as? NSDictionary)?["resourceVersion"] as? String == "11", "the second patch carries the version read again")
            let taints = (second["spec"] as? NSDictionary)?["taints"] as? [NSDictionary]
            #expect(taints?.first?["key"] as? String == "node-role.kubernetes.io/control-plane" && taints?.first?["effect"] as? String == "NoSchedule")
            #expect(try await NodeLabeller.ensure("gone", roles: ["worker"], with: client) == .absent)
        }
    }

    @Test(arguments: [503, 0])
    func aNodeTheAPIServerDoesNotAnswerForEndsTheRoundAsUnansweredNotFailed(_ busy: Int) async throws {
        // status 0: the connection closed with no answer.
        let pki = try ContractTests.PKI()
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", "/api/v1/nodes/a-gone"): return (404, "{}")
            case ("GET", "/api/v1/nodes/b-master"): return (200, Self.node(["192.0.2.10"], hostname: "b-master"))
            case ("PATCH", "/api/v1/nodes/b-master"): return (200, "{}")
            case ("GET", "/api/v1/nodes/c-busy"): return (busy, "{\"kind\":\"Status\",\"message\":\"etcdserver: request timed out\"}")
            default: return (200, Self.node(["192.0.2.99"], hostname: "never-asked"))
            }
        }) { server, client in
            let roles = ["a-gone": ["worker"], "b-master": ["control-plane"], "c-busy": ["worker"], "d-later": ["worker"], "e-none": []]
            let retry = RetryPolicy(attempts: 2, firstPause: .milliseconds(10))
            let report = try await NodeLabeller.ensureAll(roles, with: client, retry: retry)
            #expect(report.absent == ["a-gone"] && report.patched == ["b-master"] && report.unchanged.isEmpty)
            #expect(report.unanswered == ["c-busy", "d-later"], "the round ends at the first node with no answer")
            #expect(report.cause?.contains("c-busy") == true, "\(report.cause ?? "")")
            #expect(server.requests.filter { $0.uri == "/api/v1/nodes/c-busy" }.count == 2, "sent again as the policy says")
            #expect(!server.requests.contains { $0.uri.contains("d-later") || $0.uri.contains("e-none") })
        }
    }

    @Test func aNodeTheAPIServerRefusesStillFails() async throws {
        try await ContractTests().withServer(try ContractTests.PKI(), responder: { _ in
            (403, "{\"kind\":\"Status\",\"message\":\"nodes is forbidden\"}")
        }) { _, client in
            do {
                _ = try await NodeLabeller.ensureAll(["worker-1": ["worker"]], with: client, retry: .none)
                Issue.record("a 403 was taken as no answer")
            } catch let error as APIError {
                #expect(error.httpStatus == 403 && !error.isNoAnswer && error.description.contains("forbidden"))
            }
        }
    }

    @Test func anApprovalThatConflictsIsLeftToTheWatchNotRetriedForever() async throws {
        let pki = try ContractTests.PKI()
        let list = "{\"metadata\":{\"resourceVersion\":\"7\"},\"items\":[\(try Self.csr("csr-a", node: "worker-1", fixture: "worker-1", version: "1"))]}"
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", CSRApprover.listPath): return (200, list)
            case ("GET", let uri) where uri.hasPrefix(CSRApprover.csrPath + "?watch=1"): return (200, "")
            case ("GET", "/api/v1/nodes/worker-1"): return (200, Self.node(["192.0.2.11"], hostname: "worker-1", labels: "{\"node-role.kubernetes.io/worker\":\"\"}"))
            // Someone else decided it since it was listed.
            case ("PUT", _): return (409, "{\"kind\":\"Status\",\"code\":409}")
            default: return (404, "{}")
            }
        }) { server, client in
            let log = Log(), status = Log()
            let approver = approver(client, log, status)
            await approver.run(requests: 1)
            await approver.drain()
            await approver.run(requests: 2)
            await approver.drain()
            #expect(server.requests.filter { $0.method == "PUT" }.count == 1)
            #expect(await approver.counts == CSRApprover.Counts())
            #expect(log.all.contains("csr-approver: csr-a changed or went away before it was approved (409); left to the watch"), "\(log.all)")
        }
    }

    /// Paging and the signer filter: the list asks only for kubelet-serving CSRs, a page at a time with
    /// `continue`, and watches from the last page's version. A watch line over the event limit and a line
    /// that is not an event are logged and skipped; the watch reads on and the event after them is judged.
    @Test func theListIsPagedAndFilteredAndAnOversizedOrMalformedEventIsSkipped() async throws {
        let pki = try ContractTests.PKI()
        let page1 = "{\"metadata\":{\"resourceVersion\":\"50\",\"continue\":\"tok/en+1=\"},\"items\":[\(try Self.csr("csr-a", node: "worker-1", fixture: "worker-1", version: "1"))]}"
        let page2 = "{\"metadata\":{\"resourceVersion\":\"50\"},\"items\":[\(try Self.csr("csr-b", node: "worker-3", fixture: "worker-3", version: "2"))]}"
        let huge = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"51\"},\"pad\":\"" + String(repeating: "a", count: 300_000) + "\"}}"
        let watch = huge + "\nnot json at all\n{\"type\":\"ADDED\",\"object\":\(try Self.csr("csr-c", node: "worker-1", fixture: "worker-1", version: "52"))}\n"
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", CSRApprover.listPath): return (200, page1)
            case ("GET", CSRApprover.listPath + "&continue=tok%2Fen%2B1%3D"): return (200, page2)
            case ("GET", let uri) where uri.hasPrefix(CSRApprover.csrPath + "?watch=1"): return (200, watch)
            case ("GET", "/api/v1/nodes/worker-1"): return (200, Self.node(["192.0.2.11"], hostname: "worker-1", labels: "{\"node-role.kubernetes.io/worker\":\"\"}"))
            case ("GET", "/api/v1/nodes/worker-2"): return (200, Self.node(["192.0.2.12"], hostname: "worker-2", labels: "{\"node-role.kubernetes.io/worker\":\"\"}"))
            case ("GET", "/api/v1/nodes/worker-3"): return (200, Self.node(["192.0.2.13"], hostname: "worker-3", labels: "{\"node-role.kubernetes.io/worker\":\"\"}"))
            case ("PUT", _): return (200, "{}")
            default: return (404, "{}")
            }
        }) { server, client in
            let log = Log(), status = Log()
            let approver = CSRApprover(client: client, addressBook: { Self.book }, watchSeconds: 5, maximumEvent: 100_000,
                                       initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(40), log: { log.add($0) }, status: { status.add($0) })
            await approver.run(requests: 2)
            await approver.drain()
            let gets = server.requests.filter { $0.method == "GET" && $0.uri.hasPrefix(CSRApprover.csrPath) }.map(\.uri)
            #expect(gets.count == 3 && gets[0] == CSRApprover.listPath && gets[1] == CSRApprover.listPath + "&continue=tok%2Fen%2B1%3D", "\(gets)")
            #expect(gets[2].contains(CSRApprover.signerSelector) && gets[2].hasSuffix("resourceVersion=50"), "\(gets)")
            let decisions = Self.decisions(server.requests)
            #expect(decisions["csr-a"]?.type == "Approved" && decisions["csr-b"]?.type == "Approved", "both pages judged")
            #expect(decisions["csr-c"]?.type == "Approved", "the event after the skipped ones is judged")
            #expect(log.all.contains { $0.contains("an event of") && $0.contains("skipped") }, "\(log.all)")
            #expect(log.all.contains("csr-approver: the CSR watch sent 15 bytes that are not an event: skipped"), "\(log.all)")
            #expect(await approver.skippedEvents == 2)
            #expect(!status.all.contains { $0.hasPrefix("API server not answering") }, "\(status.all)")
        }
    }

    /// At most `concurrentReviews` reviews at once: with Node reads that each take a while, the number of
    /// Node requests open at the same time never exceeds it, and every CSR is still judged.
    @Test func reviewsRunWithBoundedConcurrency() async throws {
        let pki = try ContractTests.PKI()
        let items = try (1...9).map { try Self.csr("csr-\($0)", node: "worker-1", fixture: "worker-1", version: "\($0)") }
        let list = "{\"metadata\":{\"resourceVersion\":\"20\"},\"items\":[\(items.joined(separator: ","))]}"
        let open = NIOLockedValueBox((now: 0, most: 0))
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", CSRApprover.listPath): return (200, list)
            case ("GET", "/api/v1/nodes/worker-1"):
                open.withLockedValue { $0.now += 1; $0.most = max($0.most, $0.now) }
                usleep(50_000)
                open.withLockedValue { $0.now -= 1 }
                return (200, Self.node(["192.0.2.11"], hostname: "worker-1", labels: "{\"node-role.kubernetes.io/worker\":\"\"}"))
            case ("PUT", _): return (200, "{}")
            default: return (404, "{}")
            }
        }) { server, client in
            let log = Log(), status = Log()
            let approver = CSRApprover(client: client, addressBook: { Self.book }, watchSeconds: 5, concurrentReviews: 2,
                                       initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(40), log: { log.add($0) }, status: { status.add($0) })
            await approver.run(requests: 1)
            await approver.drain()
            #expect(Self.decisions(server.requests).count == 9, "\(log.all)")
            #expect(open.withLockedValue { $0.most } <= 2)
        }
    }

    /// A deny reason quotes what the request holds; a control character in it never reaches the API or
    /// the log as one.
    @Test func aDenyReasonIsMadePrintable() async throws {
        let pki = try ContractTests.PKI()
        let list = "{\"metadata\":{\"resourceVersion\":\"7\"},\"items\":[\(try Self.csr("csr-a", node: "worker-1", fixture: "worker-1", version: "1"))]}"
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", CSRApprover.listPath): return (200, list)
            case ("GET", "/api/v1/nodes/worker-1"): return (200, "{}")
            case ("PUT", _): return (200, "{}")
            default: return (404, "{}")
            }
        }) { server, client in
            let log = Log(), status = Log()
            let approver = approver(client, log, status)
            try await approver.decide(CSRFacts(name: "csr-a", resourceVersion: "1", signerName: KubeletServingReview.signer, username: "system:node:worker-1",
                                               groups: [], usages: [], request: []), approved: false, reason: "DNS name a\nFORGED LINE is not")
            let message = Self.decisions(server.requests)["csr-a"]?.message ?? ""
            #expect(message == "DNS name a\\u{a}FORGED LINE is not", "\(message)")
            #expect(log.all.allSatisfy { !$0.contains("\n") }, "\(log.all)")
        }
    }

    /// Requests padded to the API server's size limit make a page of 250 larger than the client reads:
    /// the page is asked again a quarter as large, and the padded request is judged (and denied) with the rest.
    @Test func aPageTooLargeToReadIsAskedAgainSmaller() async throws {
        let pki = try ContractTests.PKI()
        let padded = String(decoding: try Data(contentsOf: Self.fixtures.appendingPathComponent("worker-1.pem")), as: UTF8.self) + String(repeating: "x", count: 4_500_000)
        let object: [String: Any] = ["metadata": ["name": "csr-padded", "resourceVersion": "3"],
                                     "spec": ["request": Data(padded.utf8).base64EncodedString(), "signerName": KubeletServingReview.signer,
                                              "usages": ["digital signature", "server auth"], "username": "system:node:worker-1", "groups": ["system:nodes"]]]
        let huge = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let small = "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[\(try Self.csr("csr-a", node: "worker-1", fixture: "worker-1", version: "1"))]}"
        try await ContractTests().withServer(pki, responder: { request in
            switch (request.method, request.uri) {
            case ("GET", CSRApprover.listPath): return (200, "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[\(huge)]}")
            case ("GET", CSRApprover.csrPath + "?limit=62&" + CSRApprover.signerSelector): return (200, small)
            case ("GET", "/api/v1/nodes/worker-1"): return (200, Self.node(["192.0.2.11"], hostname: "worker-1", labels: "{\"node-role.kubernetes.io/worker\":\"\"}"))
            case ("PUT", _): return (200, "{}")
            default: return (404, "{}")
            }
        }) { server, client in
            let log = Log(), status = Log()
            let approver = approver(client, log, status)
            await approver.run(requests: 1)
            await approver.drain()
            #expect(log.all.contains("csr-approver: a page of CSRs is over 4 MiB; asking 62 at a time"), "\(log.all)")
            #expect(Self.decisions(server.requests)["csr-a"]?.type == "Approved", "\(log.all)")
            #expect(!status.all.contains { $0.hasPrefix("API server not answering") }, "\(status.all)")
        }
    }
}
