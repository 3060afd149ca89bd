import FuzzSupport
import KubeSeedCore

/// JoinFile.parse on any text. Findings: a trap (overflow, index out of range, force unwrap, stack
/// overflow…), a memory error (ASan), a hang or blow-up (libFuzzer's -timeout / -rss_limit_mb), an error
/// that is not a `ConfigError`, and a `ConfigError` whose description repeats the secret half of a
/// token-shaped value of the input ([a-z0-9]{6}.[a-z0-9]{16}): the join file's promise, checked by the
/// unit tests on the fixtures, is that no message repeats the bootstrap token.
@main enum FuzzJoinFileMain {
    static func main() { Fuzz.main { data, size in fuzz(data ?? Fuzz.empty, size) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = Fuzz.text(data, size)
    do {
        _ = try JoinFile.parse(text, file: "/etc/kubeseed/join.yaml", now: Fuzz.now)
    } catch let error as ConfigError {
        let description = error.description
        for secret in tokenSecrets(data, size) where description.contains(secret) {
            Fuzz.finding("join-file", "the message repeats the token's secret half '\(secret)': \(description)")
        }
    } catch {
        Fuzz.unexpected("join-file", error)
    }
    return 0
}

/// The secret halves of every token-shaped run of the input (6 of [a-z0-9], '.', 16 of [a-z0-9]).
func tokenSecrets(_ data: UnsafePointer<UInt8>, _ size: Int) -> [String] {
    func tokenByte(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) }
    var secrets: [String] = []
    var index = 6
    while index + 16 < size {
        if data[index] == UInt8(ascii: "."), (index - 6..<index).allSatisfy({ tokenByte(data[$0]) }),
           (index + 1...index + 16).allSatisfy({ tokenByte(data[$0]) }) {
            secrets.append(String(decoding: UnsafeBufferPointer(start: data + index + 1, count: 16), as: UTF8.self))
        }
        index += 1
    }
    return secrets
}
