import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

/// Hidden: writes a oneshot unit through KubeSeed's one unit writer whose `ExecStart=` prints each given
/// argument NUL-terminated, so a test on a real host can have systemd itself parse, verify and run it,
/// and compare the words it got with the words given (whatever they hold: spaces, quotes, `%`, `$`,
/// control characters).
struct UnitProbe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unit-probe", shouldDisplay: false)
    @Option(help: "Where to write the unit.") var unit: String
    @Option(help: "The file the unit's output goes to.") var output: String
    @Argument(parsing: .captureForPassthrough) var words: [String] = []

    func run() throws {
        let arguments = words.first == "--" ? Array(words.dropFirst()) : words
        let text = SystemdUnit(comment: "KubeSeed unit-writer probe (a test)", [
            .init("Unit", [("Description", .text("KubeSeed unit-writer probe"))]),
            .init("Service", [
                ("Type", .text("oneshot")),
                ("StandardOutput", .text("file:\(output)")),
                ("ExecStart", .command("/usr/bin/printf", ["%s\\0"] + arguments)),
            ]),
        ]).render()
        try HostRoot().writeAtomically(unit, Data(text.utf8), mode: 0o644)
    }
}
