import Foundation

/// What "no secret in the message" means for a given input: every token-shaped string in it and its
/// secret half, so that each test checks for the input's own token, not one fixed literal.
public enum TokenShapes {
    /// Everything in `text` shaped like a bootstrap token (six characters, a dot, sixteen or more; the
    /// secret half has a digit, so dotted field names like `cluster.apiServerEndpoints` are not taken),
    /// and each secret half.
    public static func secrets(in text: String) -> [String] {
        var found: [String] = []
        let regex = try! NSRegularExpression(pattern: "[A-Za-z0-9]{6}\\.(?=[A-Za-z]*[0-9])[A-Za-z0-9]{16,}")
        for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            let token = String(text[Range(match.range, in: text)!])
            found += [token, String(token.split(separator: ".")[1])]
        }
        return found
    }

    /// The first of `secrets(in: input)` that `output` repeats, if any.
    public static func leaked(from input: String, into output: String) -> String? {
        secrets(in: input).first { output.contains($0) }
    }
}
