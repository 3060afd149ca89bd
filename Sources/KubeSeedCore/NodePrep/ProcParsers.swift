/// Pure parsers for the kernel's text files, so the host layer only reads bytes.
public enum ProcParsers {
    /// `MemTotal` and `MemAvailable` (KiB) from `/proc/meminfo`.
    public static func meminfo(_ text: String) -> (totalKiB: UInt64, availableKiB: UInt64) {
        var total: UInt64 = 0, available: UInt64 = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == ":" })
            guard fields.count >= 2, let value = UInt64(fields[1]) else { continue }
            if fields[0] == "MemTotal" { total = value }
            if fields[0] == "MemAvailable" { available = value }
        }
        return (total, available)
    }

    /// Number of CPUs in a list such as `/sys/devices/system/cpu/online` (`0-3,6`).
    public static func cpuCount(_ list: String) -> Int {
        list.trimmingSpaces().split(separator: ",").reduce(0) { count, range in
            let bounds = range.split(separator: "-").compactMap { Int($0.trimmingSpaces()) }
            if bounds.count == 2 { return count + bounds[1] - bounds[0] + 1 }
            return count + (bounds.count == 1 ? 1 : 0)
        }
    }

    /// Ports in LISTEN state from `/proc/net/tcp` or `/proc/net/tcp6`.
    public static func listeningPorts(_ text: String) -> Set<Int> {
        var ports = Set<Int>()
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            // sl local_address rem_address st ...; LISTEN is state 0A.
            guard fields.count > 3, fields[3] == "0A", let colon = fields[1].lastIndex(of: ":"),
                  let port = Int(fields[1][fields[1].index(after: colon)...], radix: 16) else { continue }
            ports.insert(port)
        }
        return ports
    }
}
