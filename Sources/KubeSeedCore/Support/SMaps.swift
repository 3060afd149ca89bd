/// `/proc/PID/smaps` read for the mappings whose pages can be dropped from a process's page tables and
/// read again from their file unchanged: mapped from `file`, not writable, and without an anonymous page,
/// resident or swapped out (a relocated read-only segment was written once: its pages are copies, not the
/// file's). A mapping whose Anonymous or Swap line is missing is never named. Dirty counts do not matter:
/// a file just written has dirty pages in the page cache, which are the file's. Pure.
public enum SMaps {
    public struct Range: Sendable, Equatable {
        public var start: UInt
        public var end: UInt
        public var resident: Int
    }

    /// The clean, read-only mappings of `file`, with their resident kB.
    public static func cleanReadOnlyMappings(_ text: String, file: String) -> [Range] {
        var ranges: [Range] = []
        // Eligible once its Anonymous and Swap lines both say 0: a copied page swapped out counts under Swap only.
        var current: (range: Range, candidate: Bool, anonymousZero: Bool, swapZero: Bool)?
        func close() {
            if let done = current, done.candidate, done.anonymousZero, done.swapZero, done.range.resident > 0 { ranges.append(done.range) }
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":"), fields.count >= 5 {
                close()
                let bounds = first.split(separator: "-")
                guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), start < end else {
                    current = nil
                    continue
                }
                let permissions = fields[1]
                let path = fields.count >= 6 ? fields[5...].joined(separator: " ") : ""
                current = (Range(start: start, end: end, resident: 0), path == file && permissions.hasPrefix("r-"), false, false)
                continue
            }
            guard current != nil, fields.count >= 2, let value = Int(fields[1]) else { continue }
            switch fields[0] {
            case "Rss:": current!.range.resident = value
            case "Anonymous:": current!.anonymousZero = value == 0
            case "Swap:": current!.swapZero = value == 0
            default: break
            }
        }
        close()
        return ranges
    }
}
