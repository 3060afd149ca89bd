import ArgumentParser
import Foundation
import KubeSeedCore
import KubeSeedHost
import KubeSeedPKI

struct CSRApproverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csr-approver",
        abstract: "Approve kubelets' serving certificates that pass every check, deny the rest with a reason (run by \(ControlPlane.csrApproverUnit)).",
        discussion: """
            Watches CertificateSigningRequests for kubernetes.io/kubelet-serving with the admin credentials. Approves \
            one only when the requester is system:node:NAME in system:nodes and a join file was minted here for \
            NAME, the subject is exactly CN=system:node:NAME and O=system:nodes, the usages are the serving ones, \
            only subject alternative names are requested, and every name is one of the Node's addresses: the only \
            DNS name is NAME itself, and each IP is the one NAME's join file was minted with, never another \
            node's, a master's or in the service range. Anything else is denied with the failed check as the reason.
            """)

    func run() async throws {
        let operations = MasterOperations(root: HostRoot(), effects: try HostEffects.live(), effectiveUID: CurrentProcess.effectiveUID)
        let code = await operations.approveCSRs()
        if code != 0 { throw ExitCode(code) }
    }
}
