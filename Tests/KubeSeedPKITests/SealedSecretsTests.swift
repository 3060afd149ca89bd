import Foundation
import Testing
@testable import KubeSeedCore
@testable import KubeSeedPKI

/// Sealing the masters' shared secrets for a control-plane join file: real AES-256-GCM (swift-crypto).
@Suite struct SealedSecretsTests {
    let files = ["ca-key.pem": Data("the CA key\n".utf8), "sa.key": Data("the service-account key\n".utf8), "encryption-key": Data(repeating: 7, count: 32)]
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    var expires: Date { now.addingTimeInterval(3600) }

    func sealed(_ key: SealedSecrets.Key) throws -> SealedSecrets {
        try SealedSecrets.seal(files, key: key, cluster: "kubernetes", node: "master-2", expires: expires)
    }

    @Test func theRightKeyOpensWhatWasSealedBeforeTheDeadline() throws {
        let key = SealedSecrets.Key.generate()
        #expect(try sealed(key).open(with: key, now: now) == files)
        #expect(try sealed(SealedSecrets.Key(hex: key.hex)!).open(with: key, now: now) == files, "the key survives being shown as hex")
    }

    @Test func aWrongKeyATamperedBundleAnotherNodeOrALaterDeadlineDoNotOpen() throws {
        let key = SealedSecrets.Key.generate()
        let bundle = try sealed(key)
        #expect(throws: SealedSecrets.Failure.doesNotOpen) { try bundle.open(with: .generate(), now: now) }
        var bytes = Array(Data(base64Encoded: bundle.sealed)!)
        bytes[20] ^= 1
        var tampered = bundle
        tampered.sealed = Data(bytes).base64EncodedString()
        #expect(throws: SealedSecrets.Failure.doesNotOpen) { try tampered.open(with: key, now: now) }
        var elsewhere = bundle
        elsewhere.node = "master-3"
        #expect(throws: SealedSecrets.Failure.doesNotOpen) { try elsewhere.open(with: key, now: now) }
        var otherCluster = bundle
        otherCluster.cluster = "staging"
        #expect(throws: SealedSecrets.Failure.doesNotOpen) { try otherCluster.open(with: key, now: now) }
        var extended = bundle
        extended.expires = expires.addingTimeInterval(86400)
        #expect(throws: SealedSecrets.Failure.doesNotOpen) { try extended.open(with: key, now: now) }
    }

    @Test func anExpiredBundleIsRefusedEvenWithTheRightKey() throws {
        let key = SealedSecrets.Key.generate()
        #expect(throws: SealedSecrets.Failure.expired(expires)) { try sealed(key).open(with: key, now: expires) }
    }

    @Test func keysAreExactly64HexDigitsAndNeverDescribed() {
        #expect(SealedSecrets.Key(hex: String(repeating: "ab", count: 32)) != nil)
        #expect(SealedSecrets.Key(hex: String(repeating: "ab", count: 31)) == nil)
        #expect(SealedSecrets.Key(hex: String(repeating: "zz", count: 32)) == nil)
        #expect(SealedSecrets.Key(hex: String(repeating: "+1", count: 32)) == nil, "UInt8(radix:) takes a sign; a key does not")
        let key = SealedSecrets.Key.generate()
        #expect("\(key)" == "<certificate key>" && !"\(key)".contains(key.hex))
    }

    @Test func garbageIsMalformedNotACrash() {
        let bundle = SealedSecrets(sealed: "not base64!", cluster: "kubernetes", node: "master-2", expires: expires)
        #expect(throws: SealedSecrets.Failure.malformed("not base64 of nonce, ciphertext and tag")) { try bundle.open(with: .generate(), now: now) }
    }
}
