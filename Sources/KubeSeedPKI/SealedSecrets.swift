import Crypto
import Foundation
import KubeSeedCore

/// The secrets every master must share (CA keys, the service-account key pair, the encryption key),
/// sealed for a control-plane join file with AES-256-GCM under a one-time key that is shown once on
/// the minting master and given on the new one, as kubeadm's certificate key is. The cluster, the
/// node and the deadline are authenticated with the ciphertext: a file copied to another node, or
/// given more time, does not open. The file alone is useless to whoever finds it.
public struct SealedSecrets: Sendable, Equatable {
    /// The one-time key, 32 bytes, shown as 64 hex digits.
    public struct Key: Sendable, Equatable, CustomStringConvertible {
        public let bytes: [UInt8]

        public static func generate() -> Key {
            var generator = SystemRandomNumberGenerator()
            return Key(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }

        init(bytes: [UInt8]) { self.bytes = bytes }

        /// The key from its 64 hex digits; `nil` for anything else.
        public init?(hex: String) {
            let digits = Array(hex.utf8)
            guard digits.count == 64, digits.allSatisfy({ (48...57).contains($0) || (65...70).contains($0) || (97...102).contains($0) }) else { return nil }
            var bytes: [UInt8] = []
            for index in stride(from: 0, to: 64, by: 2) {
                guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
                bytes.append(byte)
            }
            self.bytes = bytes
        }

        public var hex: String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        /// Never the key itself: descriptions end up in logs.
        public var description: String { "<certificate key>" }
    }

    /// Why a sealed bundle does not open.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case expired(Date)
        /// A wrong key, or a bundle, node, cluster or deadline changed since sealing: AES-GCM cannot tell which.
        case doesNotOpen
        case malformed(String)

        public var description: String {
            switch self {
            case .expired(let date): return "the sealed secrets expired at \(Timestamp.string(date)); mint a new control-plane join file"
            case .doesNotOpen: return "the sealed secrets do not open with this key: a wrong key, or the join file was changed"
            case .malformed(let why): return "the sealed secrets are not a bundle KubeSeed made (\(why))"
            }
        }
    }

    /// The sealed bundle: nonce, ciphertext and tag, base64.
    public var sealed: String
    public var cluster: String
    public var node: String
    public var expires: Date

    public init(sealed: String, cluster: String, node: String, expires: Date) {
        self.sealed = sealed
        self.cluster = cluster
        self.node = node
        self.expires = expires
    }

    /// What is authenticated with the ciphertext.
    static func associatedData(cluster: String, node: String, expires: Date) -> Data {
        Data("kubeseed.io/v1alpha1 sealed-secrets\ncluster=\(cluster)\nnode=\(node)\nexpires=\(Timestamp.string(expires))\n".utf8)
    }

    /// Seals `files` (name → content) for `node` of `cluster` until `expires`.
    public static func seal(_ files: [String: Data], key: Key, cluster: String, node: String, expires: Date) throws -> SealedSecrets {
        let plaintext = try JSONEncoder.sorted.encode(files)
        let box = try AES.GCM.seal(plaintext, using: SymmetricKey(data: key.bytes),
                                   authenticating: associatedData(cluster: cluster, node: node, expires: expires))
        guard let combined = box.combined else { throw Failure.malformed("no combined form") }
        return SealedSecrets(sealed: combined.base64EncodedString(), cluster: cluster, node: node, expires: expires)
    }

    /// The files, when `key` opens the bundle for this cluster and node before its deadline.
    public func open(with key: Key, now: Date = Date()) throws -> [String: Data] {
        // The deadline is checked before and (authenticated) after opening: moving it breaks the tag.
        guard now < expires else { throw Failure.expired(expires) }
        guard let combined = Data(base64Encoded: sealed), combined.count > 28 else { throw Failure.malformed("not base64 of nonce, ciphertext and tag") }
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            plaintext = try AES.GCM.open(box, using: SymmetricKey(data: key.bytes),
                                         authenticating: Self.associatedData(cluster: cluster, node: node, expires: expires))
        } catch {
            throw Failure.doesNotOpen
        }
        guard let files = try? JSONDecoder().decode([String: Data].self, from: plaintext) else { throw Failure.malformed("not the files KubeSeed seals") }
        return files
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
