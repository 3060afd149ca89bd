import Foundation

/// RFC 3339 times (`2026-12-01T00:00:00Z`) through FoundationEssentials' ISO 8601 style.
/// `ISO8601DateFormatter` goes through ICU, whose calendar and zone tables stay resident: the
/// idle agent's RSS was 2–3 MB higher with it (a small static program's, 8–9 MB).
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle()

    /// `date` in UTC, to the second, with a `Z` suffix.
    public static func string(_ date: Date) -> String { style.format(date) }

    /// Parses an RFC 3339 time with `Z` or a numeric offset; nil for anything else (a bare date too).
    public static func date(_ text: String) -> Date? { try? style.parse(text) }
}

extension BinaryInteger {
    /// The value in lowercase hexadecimal, left-padded with zeros to `width` digits.
    public func hexDigits(width: Int) -> String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
