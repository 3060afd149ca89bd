import Foundation

/// The one PEM form the approver judges: exactly one block, of the expected type, whose bytes equal
/// the PEM re-encoded from its DER (base64 in lines of 64, `\n` line ends, nothing before the BEGIN line
/// and nothing after the END line but its one `\n`).
///
/// Why so strict: the API server and the kubelet-serving signer read `spec.request` with Go's
/// `encoding/pem`, which skips junk before a block, takes the first of several, ignores what follows,
/// allows headers, whitespace after the armour and CRLF. Any reader that differs from it on such input
/// can be shown one request while the signer signs another; with one canonical form there is nothing
/// left to read differently.
public enum CanonicalPEM {
    /// Why `bytes` is not one canonical block.
    public struct Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The DER of `bytes` when it is exactly one canonical PEM block of `type`.
    public static func der(_ bytes: [UInt8], type: String) throws(Refusal) -> [UInt8] {
        let begin = Array("-----BEGIN \(type)-----\n".utf8), end = Array("-----END \(type)-----\n".utf8)
        if bytes.contains(13) { throw Refusal("it holds a carriage return (CRLF line ends)") }
        let beginCount = occurrences(of: Array("-----BEGIN ".utf8), in: bytes)
        if beginCount == 0 { throw Refusal("it holds no PEM block") }
        if beginCount > 1 { throw Refusal("it holds \(beginCount) PEM blocks; the signer would sign the first, whatever it is") }
        guard bytes.starts(with: begin) else {
            if let start = firstIndex(of: Array("-----BEGIN ".utf8), in: bytes), start > 0 { throw Refusal("it has \(start) bytes before the BEGIN line") }
            throw Refusal("its block is not a \(type), or its BEGIN line has more on it")
        }
        guard let endStart = firstIndex(of: Array("-----END ".utf8), in: bytes) else { throw Refusal("it is truncated: no END line") }
        guard Array(bytes[endStart...]) == end else {
            let after = bytes.count - endStart - end.count
            throw Refusal(after > 0 && Array(bytes[endStart..<min(bytes.count, endStart + end.count)]) == end
                          ? "it has \(after) bytes after the END line" : "its END line is not '-----END \(type)-----' and one line end")
        }
        let body = bytes[begin.count..<endStart]
        guard body.last == 10 || body.isEmpty, let der = Data(base64Encoded: Data(body.filter { $0 != 10 })), !der.isEmpty else {
            throw Refusal("its body is not base64 in canonical form (headers or spaces inside it)")
        }
        guard encode(Array(der), type: type) == bytes else {
            throw Refusal("it is not in canonical form (headers, spaces, or lines other than 64 characters)")
        }
        return Array(der)
    }

    /// `der` as one canonical PEM block of `type`.
    public static func encode(_ der: [UInt8], type: String) -> [UInt8] {
        let base64 = Array(Data(der).base64EncodedString().utf8)
        var out = Array("-----BEGIN \(type)-----\n".utf8)
        for start in stride(from: 0, to: base64.count, by: 64) {
            out += base64[start..<min(start + 64, base64.count)]
            out.append(10)
        }
        out += Array("-----END \(type)-----\n".utf8)
        return out
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] && Array(haystack[index..<index + needle.count]) == needle {
            return index
        }
        return nil
    }

    static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> Int {
        guard haystack.count >= needle.count else { return 0 }
        var count = 0
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0] && Array(haystack[index..<index + needle.count]) == needle { count += 1; index += needle.count } else { index += 1 }
        }
        return count
    }
}
