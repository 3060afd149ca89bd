import Yams

/// A YAML node with the field path that leads to it, for strict, well-located validation:
/// every accessor throws a `ConfigError` naming the field and line.
public struct YAMLField {
    public let node: Node
    public let path: String
    public let file: String

    /// Largest configuration file accepted (configs are a few KiB; this bounds parse time).
    public static let maxBytes = 256 * 1024

    /// Parses `text` into its root node. Anchors and aliases are refused before the text is composed
    /// (they are never needed in a config, and alias expansion is how a small file becomes a huge one;
    /// see `YAMLAnchorScan`).
    public static func parse(_ text: String, file: String) throws -> YAMLField {
        if text.utf8.count > maxBytes {
            throw ConfigError(.tooLarge, file: file, "file is \(text.utf8.count) bytes; the limit is \(maxBytes)")
        }
        if let anchor = YAMLAnchorScan.firstAnchorOrAlias(in: text) {
            throw ConfigError(.aliasNotAllowed, file: file, line: anchor.line,
                              "YAML anchors and aliases are not allowed (column \(anchor.column): an '&' or '*' that starts a word is one, inside quotes too)")
        }
        let node: Node?
        do {
            node = try YAMLTags.compose(text)
        } catch let error as YamlError {
            throw ConfigError(.syntax, file: file, line: errorLine(error), "not valid YAML: \(errorProblem(error))")
        } catch {
            throw ConfigError(.syntax, file: file, "not valid YAML: \(error)")
        }
        guard let node else {
            throw ConfigError(.empty, file: file, "file is empty")
        }
        return YAMLField(node: node, path: "", file: file)
    }

    public var line: Int? { node.mark.map { $0.line } }

    func error(_ code: ConfigError.Code, _ message: String) -> ConfigError {
        ConfigError(code, file: file, field: path.isEmpty ? nil : path, line: line, message)
    }

    private func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The mapping's entries in file order; any key outside `allowedKeys` is an error.
    public func mapping(allowedKeys: Set<String>? = nil) throws -> [(key: String, value: YAMLField)] {
        guard case .mapping(let mapping) = node else {
            throw error(.wrongType, "expected a mapping, found \(kind)")
        }
        var entries: [(key: String, value: YAMLField)] = []
        var seen: [String: Int?] = [:]
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw YAMLField(node: keyNode, path: path, file: file).error(.wrongType, "keys must be plain strings")
            }
            let key = keyScalar.string
            // Checked here, by the key's text: Yams's own check also compares tags, so `!!str a` and `a`,
            // or `1` and `"1"`, would pass it as two keys.
            if let first = seen[key] {
                throw ConfigError(.syntax, file: file, field: child(key), line: keyNode.mark?.line,
                                  "this key appears twice in the mapping" + (first.map { " (first on line \($0))" } ?? ""))
            }
            seen[key] = .some(keyNode.mark?.line)
            let field = YAMLField(node: valueNode, path: child(key), file: file)
            if let allowedKeys, !allowedKeys.contains(key) {
                let known = allowedKeys.sorted().joined(separator: ", ")
                throw ConfigError(.unknownKey, file: file, field: child(key), line: keyNode.mark?.line,
                                  "unknown key (known keys here: \(known))")
            }
            entries.append((key, field))
        }
        return entries
    }

    public func string() throws -> String {
        guard case .scalar(let scalar) = node else {
            throw error(.wrongType, "expected a string, found \(kind)")
        }
        if scalar.style == .plain, scalar.string == "~" || scalar.string == "null" || scalar.string.isEmpty {
            throw error(.wrongType, "expected a string, found null")
        }
        return scalar.string
    }

    public func bool() throws -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else {
            throw error(.wrongType, "expected true or false, found \(kind)")
        }
        switch scalar.string {
        case "true": return true
        case "false": return false
        default: throw error(.wrongType, "expected true or false, found '\(scalar.string)'")
        }
    }

    public func stringList() throws -> [String] {
        guard case .sequence(let sequence) = node else {
            throw error(.wrongType, "expected a list, found \(kind)")
        }
        return try sequence.enumerated().map { index, item in
            try YAMLField(node: item, path: "\(path)[\(index)]", file: file).string()
        }
    }

    /// A scalar as text, accepting plain numbers (`32768`) as well as strings.
    public func scalarText() throws -> String {
        guard case .scalar(let scalar) = node else {
            throw error(.wrongType, "expected a scalar value, found \(kind)")
        }
        return scalar.string
    }

    var kind: String {
        switch node {
        case .scalar(let s):
            if s.style == .plain, s.string == "~" || s.string == "null" || s.string.isEmpty { return "null" }
            return "scalar '\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

private func errorLine(_ error: YamlError) -> Int? {
    switch error {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
        return mark.line
    case .duplicatedKeysInMapping(_, let context):
        return context.mark.line
    default:
        return nil
    }
}

private func errorProblem(_ error: YamlError) -> String {
    switch error {
    case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
         .composer(let context, let problem, _, _):
        if let context { return "\(problem) (\(context.text))" }
        return problem
    case .duplicatedKeysInMapping(let duplicates, _):
        return "duplicate keys: \(duplicates.joined(separator: ", "))"
    case .reader(let problem, _, _, _):
        return problem
    default:
        return "\(error)"
    }
}

extension YAMLField {
    /// The sections of a KubeSeed document (`apiVersion` and `kind` checked, both required, then left
    /// out), in file order. The one place the three file kinds check their header.
    public static func document(_ text: String, file: String, apiVersion: String, kind: String,
                                sections: Set<String>) throws -> [(key: String, value: YAMLField)] {
        let root = try parse(text, file: file)
        let entries = try root.mapping(allowedKeys: sections.union(["apiVersion", "kind"]))
        guard let version = entries.first(where: { $0.key == "apiVersion" })?.value else {
            throw ConfigError(.missingField, file: file, field: "apiVersion", "required; use '\(apiVersion)'")
        }
        guard try version.string() == apiVersion else { throw version.error(.invalidValue, "unsupported apiVersion; expected '\(apiVersion)'") }
        guard let kindField = entries.first(where: { $0.key == "kind" })?.value else {
            throw ConfigError(.missingField, file: file, field: "kind", "required; use '\(kind)'")
        }
        guard try kindField.string() == kind else { throw kindField.error(.invalidValue, "expected kind '\(kind)'") }
        return entries.filter { $0.key != "apiVersion" && $0.key != "kind" }
    }
}
