import Foundation

/// One call to the Kubernetes API: data, so the requests are checked without a server.
public struct APIRequest: Sendable, Equatable, CustomStringConvertible {
    public enum Method: String, Sendable { case get = "GET", post = "POST", put = "PUT", patch = "PATCH", delete = "DELETE" }
    public var method: Method
    public var path: String
    /// JSON; may hold a secret, so it is never part of `description`.
    public var body: Data?
    /// What the request makes, for progress lines ("ClusterRoleBinding kubeseed:…").
    public var object: String
    /// The body's media type (a merge patch is `application/merge-patch+json`).
    public var contentType: String

    public init(_ method: Method, _ path: String, body: Data? = nil, object: String, contentType: String = "application/json") {
        self.method = method
        self.path = path
        self.body = body
        self.object = object
        self.contentType = contentType
    }

    public var description: String { "\(method.rawValue) \(path) (\(object))" }
}
