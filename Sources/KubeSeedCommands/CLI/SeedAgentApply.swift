import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prepare the node. Writes only what differs; every change is journaled for 'reset'.")
    @OptionGroup var options: ConfigOption

    func run() async throws { try finish(await try options.operations().apply()) }
}
