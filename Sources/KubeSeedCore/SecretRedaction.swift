import Foundation
import Yams

/// Messages about a file that holds a secret (the join file and its bootstrap token) never repeat a
/// value from that file: a typo can put the token anywhere (`bootstrap: abcdef.…` on one line, a
/// missing colon), and a message reaches the journal, `STATUS=` and the status file. This is the one
/// place such messages pass through; the field path and line still say where the problem is.
public enum SecretRedaction {
    /// What stands in for a withheld value.
    public static let placeholder = "…"
    static let note = " (values from this file are not repeated: it holds a bootstrap token)"

    /// `message` with every value of `fileText` withheld: quoted spans, each scalar of the document
    /// (6 characters or more), and anything shaped like a token or its secret half.
    public static func withholdValues(in message: String, of fileText: String) -> String {
        var text = message
        // Longest first, so a value that contains another is withheld whole.
        for value in scalars(of: fileText).filter({ $0.count >= 6 }).sorted(by: { $0.count > $1.count }) {
            text = text.replacingOccurrences(of: value, with: placeholder)
        }
        for pattern in ["'[^']*'", "\"[^\"]*\"", "[A-Za-z0-9]{6}\\.[A-Za-z0-9]{6,}", "\\b[a-z0-9]{16}\\b"] {
            text = text.replacingOccurrences(of: pattern, with: pattern.hasPrefix("'") ? "'\(placeholder)'" : placeholder,
                                             options: .regularExpression)
        }
        return text == message ? text : text + note
    }

    /// Every scalar value in the document (keys left out); none when it does not parse.
    static func scalars(of text: String) -> [String] {
        guard let node = try? Yams.compose(yaml: text) else { return [] }
        var values: [String] = []
        func visit(_ node: Node) {
            switch node {
            case .scalar(let scalar): values.append(scalar.string)
            case .mapping(let mapping): for (_, value) in mapping { visit(value) }
            case .sequence(let sequence): for item in sequence { visit(item) }
            case .alias: break
            }
        }
        visit(node)
        return values
    }
}

extension ConfigError {
    /// This error with every value of `fileText` withheld from its message (see `SecretRedaction`).
    public func withholdingValues(of fileText: String) -> ConfigError {
        var error = self
        error.message = SecretRedaction.withholdValues(in: message, of: fileText)
        return error
    }
}
