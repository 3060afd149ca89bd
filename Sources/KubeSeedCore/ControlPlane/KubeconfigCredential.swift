import Foundation
import Yams

/// The client certificates a kubeconfig carries inline (`client-certificate-data`), for `seed certs`.
public enum KubeconfigCredential {
    /// The kubeconfigs KubeSeed writes with a certificate inside (root's copy of the admin one is the
    /// same certificate, and may be root's own).
    public static let paths = ControlPlane.embeddedKubeconfigs.map(\.path)

    /// Each user's name with its certificate's PEM text; users that name a file or carry nothing are left out.
    /// `nil` when the text is not a kubeconfig.
    public static func certificates(in text: String) -> [(user: String, pem: String)]? {
        guard let node = try? YAMLTags.compose(text), let users = node["users"]?.sequence else { return nil }
        return users.compactMap { entry in
            guard let name = entry["name"]?.string, let data = entry["user"]?["client-certificate-data"]?.string,
                  let bytes = Data(base64Encoded: data) else { return nil }
            return (name, String(decoding: bytes, as: UTF8.self))
        }
    }
}
