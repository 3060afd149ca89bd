import Foundation
import Synchronization
import KubeSeedAPI
import KubeSeedCore

/// A fake (for unit tests of the commands' success paths): an API server and an etcd cluster in memory,
/// answering what `MasterOperations` sends through `connect`. The API server stores each object by its
/// path (create 201 / exists 409, get 200 / 404, delete); etcd keeps a member list that member add,
/// promote and remove change, as etcd's JSON gateway answers them. Requests to port 2379 are etcd's;
/// any other port is the API server's. The real API server and etcd tests (RealAPIServerTests) and the
/// VM run the live client against the real ones.
final class FakeCluster: Sendable {
    struct State {
        var objects: [String: Data] = [:]
        var members: [EtcdMember] = []
        /// Names a learner publishes once promoted, by peer IP (a real member publishes it when it starts).
        var names: [String: String] = [:]
        var nextID: UInt64 = 0x1000
        /// The cluster's ID in every member list's header (a restore makes a new one).
        var clusterID: UInt64 = 0xc1
        /// Every request, as "METHOD base path".
        var requests: [String] = []
    }

    let state = Mutex(State())

    /// A cluster whose etcd has one voting member, `name` on `ip`.
    init(firstMember name: String, ip: String) {
        state.withLock { state in
            state.members = [EtcdMember(id: 0xa1, name: name, peerURLs: [IPAddress.httpsURL(ip, port: 2380)],
                                        clientURLs: [IPAddress.httpsURL(ip, port: 2379)])]
        }
    }

    /// A `MasterOperations.connect` that talks to this cluster.
    var connect: APIConnect {
        { baseURL, _, _ in Client(baseURL: baseURL, cluster: self) }
    }

    var requests: [String] { state.withLock { $0.requests } }
    var members: [EtcdMember] { state.withLock { $0.members } }
    func object(_ path: String) -> Data? { state.withLock { $0.objects[path] } }

    final class Client: APIClient {
        let baseURL: String
        let cluster: FakeCluster
        init(baseURL: String, cluster: FakeCluster) {
            self.baseURL = baseURL
            self.cluster = cluster
        }
        func send(_ request: APIRequest, timeout: Duration, retry: RetryPolicy) async throws -> APIResponse {
            cluster.answer(request, at: baseURL)
        }
        /// A watch here ends at once with no event (the fake keeps no history to replay).
        func streamLines(_ request: APIRequest, timeout: Duration, maximumLine: Int, oversized: @Sendable (Int) async -> Void,
                         line: @Sendable (Data) async throws -> Void) async throws -> APIResponse {
            let answer = cluster.answer(request, at: baseURL)
            return answer.status == 200 ? APIResponse(status: 200, body: Data()) : answer
        }
        func shutdown() async {}
    }

    func answer(_ request: APIRequest, at baseURL: String) -> APIResponse {
        state.withLock { state in
            state.requests.append("\(request.method.rawValue) \(baseURL) \(request.path)")
            return baseURL.hasSuffix(":2379") ? Self.etcd(request, &state) : Self.apiServer(request, &state)
        }
    }

    private static func json(_ status: Int, _ object: Any) -> APIResponse {
        APIResponse(status: status, body: try! JSONSerialization.data(withJSONObject: object))
    }

    private static func memberJSON(_ member: EtcdMember) -> [String: Any] {
        ["ID": String(member.id), "name": member.name, "peerURLs": member.peerURLs, "clientURLs": member.clientURLs, "isLearner": member.isLearner]
    }

    private static func id(in body: Data?) -> UInt64? {
        guard let body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return (object["ID"] as? String).flatMap { UInt64($0) }
    }

    private static func etcd(_ request: APIRequest, _ state: inout State) -> APIResponse {
        switch (request.method, request.path) {
        case (.get, "/health"):
            return json(200, ["health": "true"])
        case (.post, EtcdMembership.listPath):
            return json(200, ["header": ["cluster_id": String(state.clusterID)], "members": state.members.map(memberJSON)])
        case (.post, EtcdMembership.addPath):
            guard let body = request.body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                  let peers = object["peerURLs"] as? [String] else { return json(400, ["message": "bad request"]) }
            state.nextID += 1
            let member = EtcdMember(id: state.nextID, name: "", peerURLs: peers, isLearner: object["isLearner"] as? Bool ?? false)
            state.members.append(member)
            return json(200, ["member": memberJSON(member), "members": state.members.map(memberJSON)])
        case (.post, EtcdMembership.promotePath):
            guard let id = id(in: request.body), let index = state.members.firstIndex(where: { $0.id == id }) else {
                return json(404, ["message": "etcdserver: member not found"])
            }
            guard state.members[index].isLearner else { return json(400, ["message": "etcdserver: can only promote a learner member"]) }
            state.members[index].isLearner = false
            let ip = APIEndpoint.parse(state.members[index].peerURLs[0])?.host ?? ""
            state.members[index].name = state.names[ip] ?? state.members[index].name
            state.members[index].clientURLs = [IPAddress.httpsURL(ip, port: 2379)]
            return json(200, ["members": state.members.map(memberJSON)])
        case (.post, EtcdMembership.removePath):
            guard let id = id(in: request.body), state.members.contains(where: { $0.id == id }) else {
                return json(404, ["message": "etcdserver: member not found"])
            }
            state.members.removeAll { $0.id == id }
            return json(200, ["members": state.members.map(memberJSON)])
        default:
            return json(404, ["message": "not found"])
        }
    }

    private static func apiServer(_ request: APIRequest, _ state: inout State) -> APIResponse {
        let notFound = json(404, ["kind": "Status", "message": "\(request.path) not found", "code": 404])
        switch request.method {
        case .get where request.path == "/readyz":
            return APIResponse(status: 200, body: Data("ok".utf8))
        case .get:
            return state.objects[request.path].map { APIResponse(status: 200, body: $0) } ?? notFound
        case .post:
            guard let body = request.body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                  let name = (object["metadata"] as? [String: Any])?["name"] as? String else { return json(422, ["message": "no name"]) }
            let path = request.path + "/" + name
            guard state.objects[path] == nil else { return json(409, ["kind": "Status", "message": "\(name) already exists", "code": 409]) }
            state.objects[path] = body
            return APIResponse(status: 201, body: body)
        case .put, .patch:
            guard state.objects[request.path] != nil else { return notFound }
            if request.method == .put, let body = request.body { state.objects[request.path] = body }
            return APIResponse(status: 200, body: state.objects[request.path]!)
        case .delete:
            return state.objects.removeValue(forKey: request.path) == nil ? notFound : json(200, ["kind": "Status", "status": "Success"])
        }
    }
}
