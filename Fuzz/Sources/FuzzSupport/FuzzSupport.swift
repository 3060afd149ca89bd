import CFuzzerDriver
import Foundation
import Glibc

/// What the fuzz targets share.
public enum Fuzz {
    /// The clock the parsers see: fixed so that every input replays the same way. 2030-01-01T00:00:00Z
    /// lies inside the validity of the CA in Tests/Fixtures/bad-join-files and Fuzz/seeds (2026-11-21 to
    /// 2036-11-18) and before the seeds' token expiry (2099), so the seeds reach every check.
    public static let now = Date(timeIntervalSince1970: 1_893_456_000)

    /// The input as the agent reads a file: UTF-8, invalid sequences repaired (the commands refuse
    /// non-UTF-8 before parsing; the parser must take any `String`).
    public static func text(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    }

    public static func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// A finding that is not a crash by itself (an undocumented error type, a broken promise): say what
    /// it is on stderr and abort, so that libFuzzer keeps the input as a crash artifact.
    public static func finding(_ target: String, _ message: String) -> Never {
        let line = "FUZZ FINDING (\(target)): \(message)\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        abort()
    }

    /// The target's entry point: libFuzzer's driver with its options from the command line, calling
    /// `body` (the target's `LLVMFuzzerTestOneInput`) for each input.
    public static func main(_ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, body))
    }

    /// What an empty input points at, should libFuzzer pass no pointer for one.
    nonisolated(unsafe) public static let empty = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))

    /// An error outside the documented type(s) is a finding.
    public static func unexpected(_ target: String, _ error: any Error) -> Never {
        finding(target, "undocumented error type \(String(reflecting: type(of: error))): \(error)")
    }
}
