import Foundation
import Glibc
import Testing
@testable import KubeSeedHost

/// Reading the certificate key, for real on pipes and files in a temporary directory: at most 256
/// bytes, and a key file only when it is a regular file its owner alone can read.
@Suite struct SecretInputTests {
    func pipe(_ text: String) -> Int32 {
        var fds: [Int32] = [0, 0]
        _ = Glibc.pipe(&fds)
        var bytes = Array(text.utf8)
        _ = write(fds[1], &bytes, bytes.count)
        close(fds[1])
        return fds[0]
    }

    @Test func aLineIsReadToItsNewlineAndNoFurther() {
        let fd = pipe("abc123\nrest")
        defer { close(fd) }
        #expect(readLimitedLine(fd: fd) == "abc123")
        #expect(readLimitedLine(fd: fd) == "rest")
    }

    @Test func aLineOverTheLimitIsRefusedNotTruncated() {
        let fd = pipe(String(repeating: "a", count: secretInputLimit + 1) + "\n")
        defer { close(fd) }
        #expect(readLimitedLine(fd: fd) == nil)
        let exact = pipe(String(repeating: "b", count: secretInputLimit) + "\nabc\r\n")
        defer { close(exact) }
        #expect(readLimitedLine(fd: exact) == String(repeating: "b", count: secretInputLimit))
        #expect(readLimitedLine(fd: exact) == "abc", "a CR before the newline (a key pasted from Windows) is not part of the key")
    }

    @Test func aKeyFileMustBeARegularFileOnlyItsOwnerCanRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubeseed-secret-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = String(repeating: "ab", count: 32) + "\n"
        let good = "\(dir)/good.key", shared = "\(dir)/shared.key", big = "\(dir)/big.key", link = "\(dir)/link.key"
        try key.write(toFile: good, atomically: false, encoding: .utf8)
        chmod(good, 0o600)
        #expect(try readSecretFile(good) == key)
        try key.write(toFile: shared, atomically: false, encoding: .utf8)
        chmod(shared, 0o640)
        #expect { try readSecretFile(shared) } throws: { "\($0)".contains("readable or writable by group or others") && "\($0)".contains("chmod 600") }
        try String(repeating: "c", count: secretInputLimit + 1).write(toFile: big, atomically: false, encoding: .utf8)
        chmod(big, 0o600)
        #expect { try readSecretFile(big) } throws: { "\($0)".contains("more than \(secretInputLimit) bytes") }
        #expect { try readSecretFile("/dev/zero") } throws: { "\($0)".contains("not a regular file") }
        symlink(good, link)
        #expect(throws: HostError.self) { try readSecretFile(link) }
        #expect(throws: HostError.self) { try readSecretFile("\(dir)/absent.key") }
    }
}
