import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read-only preflight: what is ok, what apply will change, what fails. Changes nothing.")
    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws { try finish(try options.operations().check(json: json)) }
}
