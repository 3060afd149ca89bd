/// Why a configuration file (agent config, later the join file) was rejected. Nothing on the host
/// has changed when one of these is thrown.
public struct ConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case unreadable, permissions, empty, tooLarge, syntax, aliasNotAllowed
        case unknownKey, wrongType, invalidValue, missingField
    }

    public var code: Code
    /// The file the problem is in.
    public var file: String
    /// Dotted path of the field, e.g. `host.extraSysctls.vm.swappiness`; `nil` for whole-file problems.
    public var field: String?
    /// 1-based line, when known.
    public var line: Int?
    public var message: String

    public init(_ code: Code, file: String, field: String? = nil, line: Int? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.field = field
        self.line = line
        self.message = message
    }

    /// The one rendering of every configuration error: no control character a value carried gets
    /// through (see `Validate.printable`).
    public var description: String {
        var location = Validate.printable(file)
        if let line { location += ":\(line)" }
        if let field { return "\(location): field '\(Validate.printable(field))': \(Validate.printable(message))" }
        return "\(location): \(Validate.printable(message))"
    }
}
