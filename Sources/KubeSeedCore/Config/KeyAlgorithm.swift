/// Key algorithm for every key of the cluster PKI (`pki.keyAlgorithm`, `--key-algorithm`).
public enum KeyAlgorithm: String, Sendable, CaseIterable {
    /// RSA-2048: kubeadm's default and the guide's.
    case rsa2048 = "rsa"
    /// ECDSA P-256: much faster to generate, smaller.
    case ecdsaP256 = "ecdsa"

    /// What a valid value is, for messages.
    public static let rule = "rsa or ecdsa"

    /// The algorithm's name as people write it.
    public var displayName: String {
        switch self {
        case .rsa2048: return "RSA-2048"
        case .ecdsaP256: return "ECDSA P-256"
        }
    }
}
