import Foundation
import KubeSeedCore

/// Creates or deletes API objects, treating "already there" (create) and "already gone" (delete) as done.
public enum ObjectApplier {
    /// `metadata.name` of a JSON object body, when it is a plain path segment.
    static func objectName(_ body: Data?) -> String? {
        guard let body, let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let name = (object["metadata"] as? [String: Any])?["name"] as? String, !name.isEmpty,
              name.allSatisfy({ $0.isLowercaseASCIILetter || $0.isASCIIDigit || "-.:".contains($0) }) else { return nil }
        return name
    }

    public enum Outcome: String, Sendable, Equatable { case created, exists, deleted, absent }

    /// A named create whose answer never came (the server too busy to answer in time, the connection
    /// lost) is tried again as `retry` says: the object is read first, so one that was made meanwhile
    /// counts as there.
    public static func apply(_ request: APIRequest, with client: any APIClient, retry: RetryPolicy = .transient) async throws -> Outcome {
        let name = request.method == .post ? objectName(request.body) : nil
        var attempt = 1
        while true {
            // An object already there is left without a POST: for some kinds the API server checks other
            // fields before the name (1.20 answers a Service's second create 422, its cluster IP taken).
            if let name {
                let existing = try await client.send(APIRequest(.get, request.path + "/" + name, object: request.object), retry: retry)
                if existing.status == 200 { return .exists }
            }
            let response: APIResponse
            do {
                response = try await client.send(request, retry: retry)
            } catch let error as APIError where error.code == .unreachable && name != nil {
                guard let pause = retry.pause(before: attempt + 1) else { throw error }
                try await Task.sleep(for: pause)
                attempt += 1
                continue
            }
            switch (request.method, response.status) {
            case (.post, 200...202): return .created
            case (.post, 409): return .exists
            case (.delete, 200...202): return .deleted
            case (.delete, 404): return .absent
            default:
                throw APIError(.status, "\(request.object): \(request.method.rawValue) \(request.path) answered \(response.status)", cause: response.message)
            }
        }
    }
}
