import Foundation

/// etcd snapshots (`seed etcd snapshot`): the maintenance API's stream through the JSON gateway, the
/// file names KubeSeed gives them, and which ones a retention count drops. Pure.
public enum EtcdSnapshot {
    public static let path = "/v3/maintenance/snapshot"
    /// What a scheduled snapshot KubeSeed writes is called: `etcd-snapshot-NODE-YYYYMMDDTHHMMSSZ.db`.
    public static let prefix = "etcd-snapshot-"
    /// A save by hand (no `--keep`): never pruned, so the timer cannot delete one kept before an upgrade (k3s's rule).
    public static let onDemandPrefix = "on-demand-etcd-snapshot-"
    public static let suffix = ".db"
    /// etcd ends the stream with the SHA-256 of the database, and `etcdctl snapshot save` keeps it at
    /// the file's end: a database is whole pages, so a file whose size is 32 more than a multiple of 512 has it.
    public static let hashSize = 32

    public static func request() -> APIRequest {
        APIRequest(.post, path, body: Data("{}".utf8), object: "etcd snapshot")
    }

    /// What went wrong reading the stream.
    public struct StreamError: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// The bytes one line of the gateway's stream carries (`{"result":{"blob":BASE64,…}}`); an
    /// `{"error":…}` line, or anything else, throws.
    public static func blob(in line: Data) throws -> Data {
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            throw StreamError(description: "a line of etcd's snapshot stream is not a JSON object")
        }
        if let error = object["error"] {
            let message = (error as? [String: Any])?["message"] as? String ?? "\(error)"
            throw StreamError(description: "etcd ended the snapshot with an error: \(message)")
        }
        guard let result = object["result"] as? [String: Any] else {
            throw StreamError(description: "a line of etcd's snapshot stream has no result")
        }
        guard let text = result["blob"] as? String else { return Data() }
        guard let bytes = Data(base64Encoded: text) else { throw StreamError(description: "a snapshot chunk is not base64") }
        return bytes
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// `date` as snapshot names spell it: `YYYYMMDDTHHMMSSZ` (UTC).
    public static func stamp(_ date: Date) -> String {
        let c = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { let text = String(value ?? 0); return text.count < 2 ? "0" + text : text }
        return String(c.year ?? 0) + two(c.month) + two(c.day) + "T" + two(c.hour) + two(c.minute) + two(c.second) + "Z"
    }

    /// The file name of a snapshot of `node`'s member taken at `date`; `onDemand` for one never pruned.
    public static func fileName(node: String, at date: Date, onDemand: Bool = false) -> String {
        (onDemand ? onDemandPrefix : prefix) + node + "-" + stamp(date) + suffix
    }

    /// Whether `fileName` is one of KubeSeed's on-demand snapshots.
    public static func isOnDemand(_ fileName: String) -> Bool { fileName.hasPrefix(onDemandPrefix) && takenAt(fileName) != nil }

    /// When a snapshot KubeSeed named was taken (scheduled or on demand); `nil` for any other name.
    public static func takenAt(_ fileName: String) -> Date? {
        guard fileName.hasPrefix(prefix) || fileName.hasPrefix(onDemandPrefix), fileName.hasSuffix(suffix) else { return nil }
        let stem = fileName.dropLast(suffix.count)
        guard let dash = stem.lastIndex(of: "-") else { return nil }
        let stamp = Array(stem[stem.index(after: dash)...].utf8)
        guard stamp.count == 16, stamp[8] == UInt8(ascii: "T"), stamp[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            let digits = stamp[range]
            guard digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
            return Int(String(decoding: digits, as: UTF8.self))
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
              let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15) else { return nil }
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard components.isValidDate(in: utc), let date = utc.date(from: components) else { return nil }
        return stamp == Array(Self.stamp(date).utf8) ? date : nil
    }

    /// The snapshots to delete so that the `keep` newest of KubeSeed's scheduled ones stay; on-demand ones and
    /// other files are never named.
    public static func pruned(_ names: [String], keep: Int) -> [String] {
        let ours = names.filter { $0.hasPrefix(prefix) }.compactMap { name in takenAt(name).map { (name, $0) } }.sorted { ($0.1, $0.0) > ($1.1, $1.0) }
        return ours.dropFirst(max(keep, 0)).map(\.0).sorted()
    }

    /// The temporary files (`.partial-NAME`, NAME one of KubeSeed's) of saves that were killed: last written
    /// more than `age` before `now` (a save writes its file within seconds). Others are never named.
    public static func stalePartials(_ files: [(name: String, modified: Date)], now: Date, age: TimeInterval = 3600) -> [String] {
        files.filter { $0.name.hasPrefix(".partial-") && takenAt(String($0.name.dropFirst(".partial-".count))) != nil && now.timeIntervalSince($0.modified) > age }
            .map(\.name).sorted()
    }
}
