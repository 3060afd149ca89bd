import Foundation
import Glibc
import KubeSeedCore

/// What a command needs of its own process (who it runs as, where, its standard output and error),
/// so the command layer never calls the OS itself.
public enum CurrentProcess {
    /// The effective user ID (0: root).
    public static var effectiveUID: UInt32 { geteuid() }

    /// The working directory, for making a path on the command line absolute.
    public static var workingDirectory: String { FileManager.default.currentDirectoryPath }

    /// Writes `text` to standard output at once (unbuffered: the journal reads it through a pipe), every
    /// control character but line feeds and tabs escaped (`Validate.printableLines`): paths and names an
    /// operator or a file gave reach many messages, and none may move the cursor, clear the screen or
    /// overwrite a line. A line feed inside a value is kept: values from files and API answers are
    /// `Validate.printable`d where they are put into a message.
    public static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(Validate.printableLines(text).utf8))
    }

    /// Writes `text` to standard error at once, escaped as `write` does.
    public static func writeError(_ text: String) {
        FileHandle.standardError.write(Data(Validate.printableLines(text).utf8))
    }
}
