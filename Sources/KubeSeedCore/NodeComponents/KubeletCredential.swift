import Foundation
import X509

/// Whether a kubelet has bootstrapped: its client certificate (`kubelet-client-current.pem`, certificate
/// then key) is valid now and signed by the cluster CA. A file left from another cluster, or expired,
/// does not count. Pure.
public enum KubeletCredential {
    public static func isValid(_ pem: String?, caPEM: String, now: Date = Date()) -> Bool {
        guard let pem, let begin = pem.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = pem.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<pem.endIndex),
              let certificate = try? Certificate(pemEncoded: String(pem[begin.lowerBound..<end.upperBound])),
              let ca = try? Certificate(pemEncoded: caPEM) else { return false }
        return certificate.issuer == ca.subject
            && ca.publicKey.isValidSignature(certificate.signature, for: certificate)
            && certificate.notValidBefore <= now && now < certificate.notValidAfter
    }
}

extension KubeletCredential {
    /// For a file the kubelet rotates in its certificate directory (`kubelet-client-…pem`, `kubelet-server-…pem`):
    /// whether it is the one in use (`-current.pem`, the kubelet's link) rather than one rotated away from;
    /// `nil` for any other file.
    public static func rotatedFileInUse(_ name: String) -> Bool? {
        for prefix in ["kubelet-client-", "kubelet-server-"] where name.hasPrefix(prefix) && name.hasSuffix(".pem") {
            return name == "\(prefix)current.pem"
        }
        return nil
    }
}
