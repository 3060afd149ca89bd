import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import KubeSeedAPI
@testable import KubeSeedCore

/// Requests sent again against the mutual-TLS test server (a scripted responder, not an API
/// server): which methods and answers are retried, how often, and what the caller finally sees.
/// The real API servers of the three-master VM run are where a busy server is met for real.
@Suite struct RetryContractTests {
    static let quick = RetryPolicy(attempts: 4, firstPause: .milliseconds(5))

    @Test(arguments: [
        (APIRequest.Method.get, 503, 3), (.get, 500, 3), (.get, 429, 3), (.put, 504, 3), (.delete, 502, 3),
        (.get, 404, 1), (.get, 403, 1), (.get, 409, 1), (.put, 422, 1),
        (.post, 503, 1), (.patch, 503, 1),
    ])
    func aTransientAnswerIsRetriedOnlyForRequestsThatMayBeSentTwice(method: APIRequest.Method, status: Int, sent: Int) async throws {
        let count = NIOLockedValueBox(0)
        try await ContractTests().withServer(try ContractTests.PKI(), responder: { _ in
            count.withLockedValue { $0 += 1; return $0 } < 3 ? (status, #"{"kind":"Status","message":"busy"}"#) : (200, "{}")
        }) { server, client in
            let response = try await client.send(APIRequest(method, "/api/v1/nodes/n", body: method == .get ? nil : Data("{}".utf8), object: "Node n"),
                                                 retry: Self.quick)
            #expect(server.requests.count == sent)
            #expect(response.status == (sent == 1 ? status : 200))
        }
    }

    @Test func aServerThatStaysBusyGivesTheLastAnswerAfterTheAttempts() async throws {
        try await ContractTests().withServer(try ContractTests.PKI(), responder: { _ in (503, #"{"kind":"Status","message":"still busy"}"#) }) { server, client in
            let response = try await client.send(APIRequest(.get, "/api/v1/nodes/n", object: "Node n"), retry: Self.quick)
            #expect(response.status == 503 && response.message == "still busy")
            #expect(server.requests.count == 4)
            _ = try await client.send(APIRequest(.get, "/readyz", object: "/readyz"), retry: .none)
            #expect(server.requests.count == 5, "RetryPolicy.none sends once")
        }
    }

    @Test func noAnswerAtAllIsAnUnreachableErrorForEveryMethod() async throws {
        let pki = try ContractTests.PKI()
        let closed = try MutualTLSClient(baseURL: "https://127.0.0.1:1", identity: pki.adminIdentity, connectTimeout: .milliseconds(200))
        for method in [APIRequest.Method.get, .post] {
            do {
                _ = try await closed.send(APIRequest(method, "/api/v1/nodes", object: "Nodes"), retry: Self.quick)
                Issue.record("a closed port answered")
            } catch let error as APIError {
                #expect(error.code == .unreachable)
            }
        }
        await closed.shutdown()
    }

    @Test func aNamedCreateWhoseAnswerWasLostIsReadAgainAndFoundMade() async throws {
        // The create is made but its answer never comes (the connection closes): the next attempt's
        // GET finds the object, and no second POST is sent.
        let made = NIOLockedBool(false)
        try await ContractTests().withServer(try ContractTests.PKI(), responder: { request in
            switch request.method {
            case "GET": return made.value ? (200, "{}") : (404, "{}")
            default:
                made.value = true
                return (0, "")
            }
        }) { server, client in
            let outcome = try await ObjectApplier.apply(BootstrapObjects.createBinding(BootstrapObjects.bindings[0]), with: client, retry: Self.quick)
            #expect(outcome == .exists)
            #expect(server.requests.map(\.method) == ["GET", "POST", "GET"])
        }
    }

    @Test func aCreateThatIsNeverAnsweredFailsAfterTheAttempts() async throws {
        try await ContractTests().withServer(try ContractTests.PKI(), responder: { request in
            request.method == "GET" ? (404, "{}") : (0, "")
        }) { server, client in
            await #expect(throws: APIError.self) {
                try await ObjectApplier.apply(BootstrapObjects.createBinding(BootstrapObjects.bindings[0]), with: client, retry: Self.quick)
            }
            #expect(server.requests.map(\.method) == Array(repeating: ["GET", "POST"], count: 4).flatMap { $0 })
        }
    }

    @Test func thePausesDoubleAndStopAtTheLastAttempt() {
        let policy = RetryPolicy(attempts: 4, firstPause: .seconds(1))
        #expect((1...5).map { policy.pause(before: $0) } == [nil, .seconds(1), .seconds(2), .seconds(4), nil])
        #expect(RetryPolicy.none.pause(before: 2) == nil)
        #expect(RetryPolicy(attempts: 0, firstPause: .seconds(1)).attempts == 1)
        #expect(policy.pause(before: 2, method: .get, status: nil) == .seconds(1))
        #expect(policy.pause(before: 2, method: .get, status: 404) == nil)
        #expect(policy.pause(before: 2, method: .post, status: nil) == nil)
    }
}
