import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prepare the node. Writes only what differs; every change is journaled for 'reset'.")
    @OptionGroup var options: ConfigOption

    func run() throws { try finish(try options.operations().apply()) }
}
