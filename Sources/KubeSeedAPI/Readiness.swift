import Foundation
import KubeSeedCore

/// Readiness checks and waits.
public enum Readiness {
    /// etcd's `/health` over mutual TLS: 200 with `"health":"true"`.
    public static func etcdHealthy(_ client: any APIClient) async -> Result<Void, APIError> {
        await probe(client, "/health") { response in
            guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else { return false }
            return object["health"] as? String == "true"
        }
    }

    /// The API server's `/readyz`: 200 once it serves (etcd reached, post-start hooks done).
    public static func apiServerReady(_ client: any APIClient) async -> Result<Void, APIError> {
        await probe(client, "/readyz") { _ in true }
    }

    static func probe(_ client: any APIClient, _ path: String, accept: (APIResponse) -> Bool) async -> Result<Void, APIError> {
        do {
            let response = try await client.send(APIRequest(.get, path, object: path), timeout: .seconds(5), retry: .none)
            guard response.status == 200, accept(response) else {
                return .failure(APIError(.status, "\(client.baseURL)\(path) answered \(response.status)", cause: response.message))
            }
            return .success(())
        } catch let error as APIError {
            return .failure(error)
        } catch {
            return .failure(APIError(.unreachable, "\(client.baseURL)\(path)", cause: "\(error)"))
        }
    }

    /// Runs `check` every `interval` until it succeeds or `limit` passes; the last failure is the cause.
    public static func wait(for what: String, limit: Duration, interval: Duration = .milliseconds(500),
                            _ check: () async -> Result<Void, APIError>) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while true {
            let result = await check()
            switch result {
            case .success: return
            case .failure(let error):
                if clock.now >= deadline {
                    throw APIError(.timeout, "\(what) not ready after \(limit.components.seconds) s", cause: error.description)
                }
            }
            try await Task.sleep(for: interval)
        }
    }
}
