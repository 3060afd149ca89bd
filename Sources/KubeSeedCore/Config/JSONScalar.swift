import Foundation

/// Strict reads of scalars from `JSONSerialization` output. Foundation hands JSON numbers and
/// booleans back as one `NSNumber` type and converts between them on `as?` (`1 as? Bool` is `true`,
/// `true as? Int` is 1, `1.9 as? Int` is `nil` but `1.0` is 1): answers from other machines are read
/// only as the type they were written.
public enum JSONScalar {
    /// `true` or `false`, and nothing else.
    public static func bool(_ value: Any?) -> Bool? {
        guard let number = value as? NSNumber, String(cString: number.objCType) == "c" else { return nil }
        return number.boolValue
    }

    /// A JSON integer (no fraction, no exponent, not a boolean) that fits an `Int`.
    public static func integer(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber, ["i", "s", "l", "q"].contains(String(cString: number.objCType)) else { return nil }
        return number.intValue
    }
}
