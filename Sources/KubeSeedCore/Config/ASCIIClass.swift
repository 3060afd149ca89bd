/// The character classes validators use, ASCII only. Swift's `Character.isNumber`, `isHexDigit`,
/// `isLetter` and `isLowercase` are Unicode properties: full-width `Ａ`, Arabic-Indic `٣` and the like
/// pass them, and then reach a parser or a file that expects ASCII. Every validator asks these instead.
extension Character {
    /// `0`–`9`.
    public var isASCIIDigit: Bool { asciiValue.map { (0x30...0x39).contains($0) } ?? false }
    /// `0`–`9`, `a`–`f`, `A`–`F`.
    public var isASCIIHexDigit: Bool { asciiValue.map { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) } ?? false }
    /// `0`–`9`, `a`–`f`.
    public var isLowercaseASCIIHexDigit: Bool { asciiValue.map { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) } ?? false }
    /// `a`–`z`, `A`–`Z`.
    public var isASCIILetter: Bool { asciiValue.map { (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) } ?? false }
    /// `a`–`z`.
    public var isLowercaseASCIILetter: Bool { asciiValue.map { (0x61...0x7a).contains($0) } ?? false }
    /// An ASCII letter or digit.
    public var isLetterOrDigitASCII: Bool { isASCIILetter || isASCIIDigit }
}

extension StringProtocol {
    /// Not empty, and every character an ASCII digit.
    public var isASCIIDigits: Bool { !isEmpty && allSatisfy(\.isASCIIDigit) }
    /// Not empty, and every character an ASCII hex digit.
    public var isASCIIHex: Bool { !isEmpty && allSatisfy(\.isASCIIHexDigit) }
}
